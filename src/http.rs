//! The one HTTP client: user agent, trust anchors (`SSL_CERT_FILE`), proxies (`HTTPS_PROXY`,
//! `NO_PROXY`) and the one retry layer. GitHub (our own client, [`crate::github`]) and Azure
//! (through `azure_core`'s pipeline) both send through it, so retries, backoff and the request
//! count are shared.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::Rng as _;
use url::Url;

use crate::error::{Error, Result};

/// The user agent of every request.
pub const USER_AGENT: &str = concat!("aca-runner-action/", env!("CARGO_PKG_VERSION"));

/// How failed requests are retried.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// First backoff delay, doubled per attempt, with jitter.
    pub base_delay: Duration,
    /// Longest single wait.
    pub max_delay: Duration,
    /// Longest total wait across the retries of one request.
    pub budget: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            budget: Duration::from_secs(120),
        }
    }
}

/// A request as the retry layer sees it: replayable.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    /// The method.
    pub method: http::Method,
    /// The full URL.
    pub url: Url,
    /// Headers (credentials included; they never reach a log).
    pub headers: http::HeaderMap,
    /// The body.
    pub body: Bytes,
}

/// A complete response.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// The headers.
    pub headers: http::HeaderMap,
    /// The body.
    pub body: Bytes,
}

impl HttpResponse {
    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// The shared client.
#[derive(Debug)]
pub struct Http {
    client: reqwest::Client,
    policy: RetryPolicy,
    requests: AtomicU64,
}

impl Http {
    /// Builds the client from the environment: Mozilla's roots plus the certificates in
    /// `SSL_CERT_FILE`, proxies from `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY`.
    pub fn from_env(policy: RetryPolicy) -> Result<Arc<Http>> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        if let Some(path) = std::env::var_os("SSL_CERT_FILE").filter(|p| !p.is_empty()) {
            let shown = path.to_string_lossy().into_owned();
            let pem = std::fs::read(&path).map_err(|e| Error::TrustStore {
                path: shown.clone(),
                detail: format!(
                    "cannot be read ({e}); point it at a PEM file of CA certificates or unset it"
                ),
            })?;
            let mut added = 0;
            for cert in <rustls_pki_types::CertificateDer as rustls_pki_types::pem::PemObject>::pem_slice_iter(&pem) {
                let cert = cert.map_err(|_| Error::TrustStore {
                    path: shown.clone(),
                    detail: "is not a PEM file of certificates".into(),
                })?;
                if roots.add(cert).is_ok() {
                    added += 1;
                }
            }
            crate::debug!("trusting {added} extra CA certificate(s) from SSL_CERT_FILE");
        }
        let tls = rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let client = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .tls_backend_preconfigured(tls)
            .connect_timeout(Duration::from_secs(20))
            .timeout(Duration::from_secs(120))
            .redirect(reqwest::redirect::Policy::limited(5))
            .build()
            .map_err(|e| Error::Unexpected {
                service: "the TLS library",
                detail: format!("cannot build the HTTP client: {e}"),
            })?;
        Ok(Arc::new(Http {
            client,
            policy,
            requests: AtomicU64::new(0),
        }))
    }

    /// HTTP requests sent so far (retries included).
    pub fn request_count(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Sends a request, retrying connection failures, 429, 502, 503, 504 and GitHub's secondary
    /// rate limits with backoff and jitter, honouring `Retry-After`, within the policy's budget.
    /// Other statuses are returned as they are.
    pub async fn send(&self, req: HttpRequest) -> Result<HttpResponse> {
        let started = Instant::now();
        let mut waited = Duration::ZERO;
        let host = req.url.host_str().unwrap_or("?").to_string();
        let shown_url = format!(
            "{}{}",
            req.url.origin().ascii_serialization(),
            req.url.path()
        );
        let mut attempt = 1;
        loop {
            self.requests.fetch_add(1, Ordering::Relaxed);
            let t0 = Instant::now();
            let outcome = self.send_once(&req).await;
            let elapsed = t0.elapsed().as_millis();
            let (delay, reason, outcome) = match outcome {
                Ok(resp) => {
                    crate::debug!(
                        "HTTP {} {shown_url} -> {} ({elapsed} ms)",
                        req.method,
                        resp.status
                    );
                    match retry_reason(&req.method, &resp) {
                        None => return Ok(resp),
                        Some(reason) => (retry_after(&resp.headers), reason, Ok(resp)),
                    }
                }
                Err(e) => {
                    crate::debug!("HTTP {} {shown_url} -> {e} ({elapsed} ms)", req.method);
                    (None, format!("connection failed ({e})"), Err(e))
                }
            };
            let delay = delay.unwrap_or_else(|| self.backoff(attempt));
            if attempt >= self.policy.max_attempts || waited + delay > self.policy.budget {
                crate::say!(
                    "{host}: {reason}; giving up after {attempt} attempt(s) and {:.0?}",
                    started.elapsed()
                );
                return match outcome {
                    Ok(resp) => Ok(resp),
                    Err(detail) => Err(Error::Transport { host, detail }),
                };
            }
            crate::say!(
                "{host}: {reason}; retrying in {:.1}s (attempt {} of {})",
                delay.as_secs_f64(),
                attempt + 1,
                self.policy.max_attempts
            );
            sleep_with_heartbeat(delay, &format!("waiting to retry {host}")).await;
            waited += delay;
            attempt += 1;
        }
    }

    async fn send_once(&self, req: &HttpRequest) -> std::result::Result<HttpResponse, String> {
        let resp = self
            .client
            .request(req.method.clone(), req.url.clone())
            .headers(req.headers.clone())
            .body(req.body.clone())
            .send()
            .await
            .map_err(describe_reqwest)?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.bytes().await.map_err(describe_reqwest)?;
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .policy
            .base_delay
            .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)));
        let capped = exp.min(self.policy.max_delay);
        let jitter = rand::thread_rng().gen_range(0.5..1.0);
        capped.mul_f64(jitter)
    }
}

fn describe_reqwest(e: reqwest::Error) -> String {
    // reqwest's text ends with the full URL, query (SAS signatures) included: drop it.
    let e = e.without_url();
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection refused or TLS failed"
    } else if e.is_body() || e.is_decode() {
        "connection dropped while reading the answer"
    } else {
        "connection dropped"
    };
    let mut detail = kind.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        let text = s.to_string();
        if !detail.contains(&text) {
            detail.push_str(": ");
            detail.push_str(&text);
        }
        source = s.source();
    }
    detail
}

/// Why an answer is worth another try: throttling and unavailability, GitHub's secondary rate
/// limit, and a 500 to a request that doing twice cannot harm (a read, a token revocation).
fn retry_reason(method: &http::Method, resp: &HttpResponse) -> Option<String> {
    let idempotent = matches!(
        *method,
        http::Method::GET | http::Method::HEAD | http::Method::DELETE
    );
    match resp.status {
        429 | 502 | 503 | 504 => Some(format!("HTTP {}", resp.status)),
        500 if idempotent => Some("HTTP 500".into()),
        403 if is_secondary_rate_limit(resp) => Some("GitHub secondary rate limit".into()),
        _ => None,
    }
}

fn is_secondary_rate_limit(resp: &HttpResponse) -> bool {
    if resp.headers.contains_key(http::header::RETRY_AFTER) {
        return true;
    }
    let remaining_zero = resp
        .headers
        .get("x-ratelimit-remaining")
        .and_then(|v| v.to_str().ok())
        == Some("0");
    remaining_zero
        || resp
            .text()
            .to_ascii_lowercase()
            .contains("secondary rate limit")
}

/// Sleeps `total`, writing a line every 25 s so the log is never silent for 30 s.
pub async fn sleep_with_heartbeat(total: Duration, what: &str) {
    const BEAT: Duration = Duration::from_secs(25);
    let started = Instant::now();
    let mut left = total;
    while left > BEAT {
        tokio::time::sleep(BEAT).await;
        left = left.saturating_sub(BEAT);
        crate::say!(
            "  {what}: {} s of {} s",
            started.elapsed().as_secs(),
            total.as_secs()
        );
    }
    tokio::time::sleep(left).await;
}

/// What one look at a long-running operation found.
#[derive(Debug)]
pub enum Poll<T> {
    /// It finished with this.
    Ready(T),
    /// Still running; look again after the interval the service asked for (`None`: keep the
    /// last one).
    Pending(Option<Duration>),
}

/// How a long-running operation is followed: the first pause, and how long at most.
#[derive(Debug, Clone, Copy)]
pub struct PollPlan<'a> {
    /// The pause between looks until the service names one.
    pub interval: Duration,
    /// The longest wait; past it [`poll`] gives up with [`TimedOut`].
    pub limit: Duration,
    /// What is running, for the heartbeat line a long pause writes every 25 s.
    pub heartbeat: Option<&'a str>,
}

/// A long-running operation that did not finish within its [`PollPlan::limit`].
#[derive(Debug, Clone, Copy)]
pub struct TimedOut {
    /// How long it was followed.
    pub waited: Duration,
}

/// Follows a long-running operation: the one polling loop of the action. `look` is called
/// after each pause until it answers [`Poll::Ready`] (or fails); the pause is the service's
/// last `Retry-After`, else `plan.interval`; `first` is the pause before the first look.
pub async fn poll<T, F, Fut>(
    plan: PollPlan<'_>,
    first: Duration,
    mut look: F,
) -> Result<std::result::Result<T, TimedOut>>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Poll<T>>>,
{
    let started = Instant::now();
    let mut pause = first;
    loop {
        let left = plan.limit.saturating_sub(started.elapsed());
        if !pause.is_zero() {
            match plan.heartbeat {
                Some(what) => sleep_with_heartbeat(pause.min(left), what).await,
                None => tokio::time::sleep(pause.min(left)).await,
            }
        }
        match look().await? {
            Poll::Ready(done) => return Ok(Ok(done)),
            // Without a new word from the service, its last one stands.
            Poll::Pending(Some(next)) => pause = next,
            Poll::Pending(None) if pause.is_zero() => pause = plan.interval,
            Poll::Pending(None) => {}
        }
        if started.elapsed() >= plan.limit {
            return Ok(Err(TimedOut {
                waited: started.elapsed(),
            }));
        }
    }
}

fn retry_after(headers: &http::HeaderMap) -> Option<Duration> {
    // GitHub's primary rate limit: no Retry-After, but the reset time.
    if headers.get(http::header::RETRY_AFTER).is_none() {
        let remaining = headers.get("x-ratelimit-remaining")?.to_str().ok()?;
        let reset: i64 = headers
            .get("x-ratelimit-reset")?
            .to_str()
            .ok()?
            .parse()
            .ok()?;
        if remaining != "0" {
            return None;
        }
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        return Some(Duration::from_secs(reset.saturating_sub(now).max(1) as u64));
    }
    let value = headers.get(http::header::RETRY_AFTER)?.to_str().ok()?;
    if let Ok(secs) = value.trim().parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate_to_unix(value)?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    Some(Duration::from_secs(when.saturating_sub(now).max(0) as u64))
}

fn httpdate_to_unix(value: &str) -> Option<i64> {
    let format = time::format_description::well_known::Rfc2822;
    time::OffsetDateTime::parse(value.trim().replace("GMT", "+0000").as_str(), &format)
        .ok()
        .map(|t| t.unix_timestamp())
}

/// `azure_core` transport over [`Http`]; the SDK's own retry policy is turned off so that retries
/// happen here only.
#[derive(Debug, Clone)]
pub struct AzureTransport(pub Arc<Http>);

#[async_trait::async_trait]
impl azure_core::http::HttpClient for AzureTransport {
    async fn execute_request(
        &self,
        request: &azure_core::http::Request,
    ) -> azure_core::Result<azure_core::http::AsyncRawResponse> {
        use azure_core::http::{Body, Method};
        let method = match request.method() {
            Method::Delete => http::Method::DELETE,
            Method::Get => http::Method::GET,
            Method::Head => http::Method::HEAD,
            Method::Patch => http::Method::PATCH,
            Method::Post => http::Method::POST,
            Method::Put => http::Method::PUT,
            _ => {
                return Err(azure_core::Error::with_message(
                    azure_core::error::ErrorKind::Other,
                    "unsupported HTTP method",
                ));
            }
        };
        let mut headers = http::HeaderMap::new();
        for (name, value) in request.headers().iter() {
            if let (Ok(n), Ok(v)) = (
                http::HeaderName::from_bytes(name.as_str().as_bytes()),
                http::HeaderValue::from_str(value.as_str()),
            ) {
                headers.append(n, v);
            }
        }
        let body = match request.body() {
            Body::Bytes(b) => b.clone(),
            Body::SeekableStream(_) => {
                return Err(azure_core::Error::with_message(
                    azure_core::error::ErrorKind::Other,
                    "streaming request bodies are not used by this action",
                ));
            }
        };
        let resp = self
            .0
            .send(HttpRequest {
                method,
                url: request.url().clone(),
                headers,
                body,
            })
            .await
            .map_err(|e| {
                // Only the inner detail: the caller wraps it once into its own message.
                let detail = match e {
                    Error::Transport { detail, .. } => detail,
                    other => other.to_string(),
                };
                azure_core::Error::with_message(azure_core::error::ErrorKind::Io, detail)
            })?;
        let headers: HashMap<_, _> = resp
            .headers
            .iter()
            .filter_map(|(k, v)| {
                Some((
                    azure_core::http::headers::HeaderName::from(k.as_str().to_owned()),
                    azure_core::http::headers::HeaderValue::from(v.to_str().ok()?.to_owned()),
                ))
            })
            .collect();
        Ok(azure_core::http::AsyncRawResponse::from_bytes(
            resp.status.into(),
            azure_core::http::headers::Headers::from(headers),
            resp.body,
        ))
    }
}

/// `azure_core` client options that send through [`Http`] with the SDK's retries off.
pub fn azure_client_options(http: &Arc<Http>) -> azure_core::http::ClientOptions {
    azure_core::http::ClientOptions {
        transport: Some(azure_core::http::Transport::new(Arc::new(AzureTransport(
            http.clone(),
        )))),
        retry: azure_core::http::RetryOptions::none(),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(status: u16, headers: &[(&'static str, &str)], body: &str) -> HttpResponse {
        let mut map = http::HeaderMap::new();
        for (k, v) in headers {
            map.insert(*k, http::HeaderValue::from_str(v).unwrap());
        }
        HttpResponse {
            status,
            headers: map,
            body: Bytes::from(body.to_string()),
        }
    }

    #[test]
    fn retries_only_transient_statuses() {
        let get = http::Method::GET;
        let put = http::Method::PUT;
        assert!(retry_reason(&put, &resp(429, &[], "")).is_some());
        assert!(retry_reason(&put, &resp(503, &[], "")).is_some());
        // A 500 is tried again only where a repeat cannot do twice what once did.
        assert!(retry_reason(&put, &resp(500, &[], "")).is_none());
        assert!(retry_reason(&get, &resp(500, &[], "")).is_some());
        assert!(retry_reason(&http::Method::DELETE, &resp(500, &[], "")).is_some());
        assert!(retry_reason(&get, &resp(404, &[], "")).is_none());
        assert!(retry_reason(&get, &resp(403, &[], "Resource not accessible")).is_none());
        assert!(
            retry_reason(
                &get,
                &resp(403, &[], "You have exceeded a secondary rate limit")
            )
            .is_some()
        );
        assert!(retry_reason(&get, &resp(403, &[("retry-after", "3")], "")).is_some());
    }

    #[test]
    fn reads_retry_after_seconds() {
        let r = resp(429, &[("retry-after", "7")], "");
        assert_eq!(retry_after(&r.headers), Some(Duration::from_secs(7)));
    }
}

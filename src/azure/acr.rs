//! Azure Container Registry Tasks, the way `az acr build` drives them: a source upload URL, the
//! upload to blob storage, a scheduled Docker build run, its status, and its log (an append blob
//! read by ranges while it grows).

use azure_core::http::Method;
use serde_json::{Value, json};
use url::Url;

use crate::azure::arm::{Arm, arm_error};
use crate::error::{Error, Result};
use crate::http::{Http, HttpRequest};
use crate::secret::Secret;

/// API version of the ACR Tasks operations `az acr build` uses.
pub const TASKS_API: &str = "2019-06-01-preview";

/// One registry, by its ARM coordinates.
#[derive(Debug, Clone)]
pub struct Registry {
    /// `/subscriptions/…/providers/Microsoft.ContainerRegistry/registries/NAME`.
    pub id: String,
    /// The registry name.
    pub name: String,
}

impl Registry {
    /// The registry `name` in `group` of `subscription`.
    pub fn new(subscription: &str, group: &str, name: &str) -> Registry {
        Registry {
            id: format!(
                "/subscriptions/{subscription}/resourceGroups/{group}/providers/Microsoft.ContainerRegistry/registries/{name}"
            ),
            name: name.to_string(),
        }
    }
}

/// Where to upload the source.
#[derive(Debug, Clone)]
pub struct UploadUrl {
    /// Blob URL with a SAS (secret).
    pub url: String,
    /// The path to give scheduleRun.
    pub relative_path: String,
}

/// A run's state.
#[derive(Debug, Clone)]
pub struct RunState {
    /// Queued, Started, Running, Succeeded, Failed, Canceled, Error, Timeout.
    pub status: String,
    /// `registry/repository:tag@digest` of each pushed image.
    pub images: Vec<String>,
    /// The service's error message, if any.
    pub error: Option<String>,
}

impl RunState {
    /// Whether the run is over.
    pub fn finished(&self) -> bool {
        !matches!(self.status.as_str(), "Queued" | "Started" | "Running")
    }
}

/// `listBuildSourceUploadUrl`.
pub async fn upload_url(arm: &Arm, registry: &Registry) -> Result<UploadUrl> {
    let resp = arm
        .send(
            Method::Post,
            &format!("{}/listBuildSourceUploadUrl", registry.id),
            Some(TASKS_API),
            None,
        )
        .await?;
    if resp.status != 200 {
        return Err(arm_error("getting a source upload URL", &resp));
    }
    let url = resp.body["uploadUrl"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let relative_path = resp.body["relativePath"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if url.is_empty() || relative_path.is_empty() {
        return Err(Error::Unexpected {
            service: "ACR",
            detail: "ACR answered listBuildSourceUploadUrl without an upload URL".into(),
        });
    }
    crate::runtime::Runtime::get().mask(&url);
    Ok(UploadUrl { url, relative_path })
}

/// Uploads the archive as a block blob.
pub async fn upload(http: &Http, upload: &UploadUrl, archive: Vec<u8>) -> Result<()> {
    let url = Url::parse(&upload.url).map_err(|_| Error::Unexpected {
        service: "ACR",
        detail: "ACR's upload URL is not a URL".into(),
    })?;
    let mut headers = http::HeaderMap::new();
    headers.insert(
        "x-ms-blob-type",
        http::HeaderValue::from_static("BlockBlob"),
    );
    headers.insert("x-ms-version", http::HeaderValue::from_static("2021-08-06"));
    let resp = http
        .send(HttpRequest {
            method: http::Method::PUT,
            url,
            headers,
            body: bytes::Bytes::from(archive),
        })
        .await?;
    if !(200..300).contains(&resp.status) {
        return Err(Error::Blob {
            action: "uploading the build context",
            status: resp.status,
            detail: storage_message(&resp.text()),
        });
    }
    Ok(())
}

/// `scheduleRun` of a Docker build; returns the run id.
pub async fn schedule(arm: &Arm, registry: &Registry, request: &Value) -> Result<String> {
    let resp = arm
        .send(
            Method::Post,
            &format!("{}/scheduleRun", registry.id),
            Some(TASKS_API),
            Some(request),
        )
        .await?;
    if !(200..=202).contains(&resp.status) {
        return Err(arm_error("scheduling the build", &resp));
    }
    let run_id = resp.body["properties"]["runId"]
        .as_str()
        .or_else(|| resp.body["name"].as_str())
        .unwrap_or_default()
        .to_string();
    if run_id.is_empty() {
        return Err(Error::Unexpected {
            service: "ACR",
            detail: "ACR scheduled the build without a run id".into(),
        });
    }
    Ok(run_id)
}

/// The request body of a Docker build run.
pub fn docker_build_request(
    images: &[String],
    source: &str,
    dockerfile: &str,
    arguments: &[(String, String)],
    timeout_secs: u64,
) -> Value {
    let arguments: Vec<Value> = arguments
        .iter()
        .map(|(name, value)| json!({"name": name, "value": value, "isSecret": false}))
        .collect();
    json!({
        "type": "DockerBuildRequest",
        "imageNames": images,
        "arguments": arguments,
        "isPushEnabled": true,
        "noCache": false,
        "sourceLocation": source,
        "dockerFilePath": dockerfile,
        "platform": { "os": "Linux", "architecture": "amd64" },
        "timeout": timeout_secs.clamp(300, 28_800),
        "agentConfiguration": { "cpu": 2 },
        "isArchiveEnabled": false
    })
}

/// `GET runs/{id}`.
pub async fn run_state(arm: &Arm, registry: &Registry, run_id: &str) -> Result<RunState> {
    let resp = arm
        .send(
            Method::Get,
            &format!("{}/runs/{run_id}", registry.id),
            Some(TASKS_API),
            None,
        )
        .await?;
    if resp.status != 200 {
        return Err(arm_error("reading the build run", &resp));
    }
    let p = &resp.body["properties"];
    let images = p["outputImages"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| {
            format!(
                "{}/{}:{}@{}",
                i["registry"].as_str().unwrap_or_default(),
                i["repository"].as_str().unwrap_or_default(),
                i["tag"].as_str().unwrap_or_default(),
                i["digest"].as_str().unwrap_or_default()
            )
        })
        .collect();
    Ok(RunState {
        status: p["status"].as_str().unwrap_or("Queued").to_string(),
        images,
        error: p["runErrorMessage"].as_str().map(str::to_string),
    })
}

/// `listLogSasUrl`: the run log's blob URL (secret).
pub async fn log_url(arm: &Arm, registry: &Registry, run_id: &str) -> Result<String> {
    let resp = arm
        .send(
            Method::Post,
            &format!("{}/runs/{run_id}/listLogSasUrl", registry.id),
            Some(TASKS_API),
            None,
        )
        .await?;
    if resp.status != 200 {
        return Err(arm_error("getting the build log URL", &resp));
    }
    let link = resp.body["logLink"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if link.is_empty() {
        return Err(Error::Unexpected {
            service: "ACR",
            detail: "ACR gave no log link for the run".into(),
        });
    }
    crate::runtime::Runtime::get().mask(&link);
    Ok(link)
}

/// What one read of the log blob brought.
#[derive(Debug, Default)]
pub struct LogChunk {
    /// New bytes from the offset on.
    pub bytes: Vec<u8>,
    /// The blob says the run finished writing (metadata `Complete`).
    pub complete: bool,
}

/// Reads the log blob from `offset` on (HTTP range); an empty chunk when nothing is new.
pub async fn read_log(http: &Http, log_url: &str, offset: u64) -> Result<LogChunk> {
    let url = Url::parse(log_url).map_err(|_| Error::Unexpected {
        service: "ACR",
        detail: "the build log URL is not a URL".into(),
    })?;
    let mut headers = http::HeaderMap::new();
    headers.insert("x-ms-version", http::HeaderValue::from_static("2021-08-06"));
    if let Ok(v) = http::HeaderValue::from_str(&format!("bytes={offset}-")) {
        headers.insert(http::header::RANGE, v);
    }
    let resp = http
        .send(HttpRequest {
            method: http::Method::GET,
            url,
            headers,
            body: bytes::Bytes::new(),
        })
        .await?;
    let complete = resp
        .headers
        .iter()
        .any(|(k, _)| k.as_str().eq_ignore_ascii_case("x-ms-meta-complete"));
    match resp.status {
        200 | 206 => Ok(LogChunk {
            bytes: resp.body.to_vec(),
            complete,
        }),
        // Nothing beyond the offset yet (or an empty blob).
        416 => Ok(LogChunk {
            bytes: Vec::new(),
            complete,
        }),
        404 => Ok(LogChunk::default()),
        status => Err(Error::Blob {
            action: "reading the build log",
            status,
            detail: storage_message(&resp.text()),
        }),
    }
}

fn storage_message(body: &str) -> String {
    // Storage errors are XML: <Error><Code>…</Code><Message>…</Message></Error>.
    let tag = |name: &str| {
        let open = format!("<{name}>");
        let close = format!("</{name}>");
        body.find(&open)
            .and_then(|s| {
                body[s + open.len()..]
                    .find(&close)
                    .map(|e| (s + open.len(), e))
            })
            .map(|(s, e)| body[s..s + e].to_string())
    };
    match (tag("Code"), tag("Message")) {
        (Some(c), Some(m)) => format!("{c}: {}", m.lines().next().unwrap_or_default()),
        _ => body.chars().take(200).collect(),
    }
}

/// The registry's login server (`NAME.azurecr.io`), from its ARM resource.
pub async fn login_server(arm: &Arm, registry: &Registry) -> Result<String> {
    let resp = arm
        .send(Method::Get, &registry.id, Some(REGISTRY_API), None)
        .await?;
    if resp.status != 200 {
        return Err(arm_error(
            &format!("reading registry {}", registry.name),
            &resp,
        ));
    }
    resp.body["properties"]["loginServer"]
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .ok_or_else(|| Error::Unexpected {
            service: "ACR",
            detail: format!("registry {} has no login server", registry.name),
        })
}

/// API version of the registry resource read for its login server.
pub const REGISTRY_API: &str = "2023-07-01";

fn form(pairs: &[(&str, &str)]) -> bytes::Bytes {
    let mut ser = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        ser.append_pair(k, v);
    }
    bytes::Bytes::from(ser.finish())
}

async fn registry_post(http: &Http, url: &str, body: bytes::Bytes, field: &str) -> Result<Secret> {
    let mut headers = http::HeaderMap::new();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/x-www-form-urlencoded"),
    );
    let url = Url::parse(url).map_err(|_| Error::Unexpected {
        service: "ACR",
        detail: format!("bad registry URL {url}"),
    })?;
    let host = url.host_str().unwrap_or("?").to_string();
    let resp = http
        .send(HttpRequest {
            method: http::Method::POST,
            url,
            headers,
            body,
        })
        .await?;
    let json: Value = serde_json::from_slice(&resp.body).unwrap_or(Value::Null);
    match json[field].as_str() {
        Some(token) if resp.status == 200 => Ok(Secret::masked(token, crate::runtime::Runtime::get())),
        _ => Err(Error::Arm {
            action: format!("signing in to the registry {host}"),
            status: resp.status,
            detail: "the registry's token service refused the Azure token".into(),
            fix: "The Azure identity needs a role that can read the registry's images (AcrPull, or Contributor, on the registry)".into(),
        }),
    }
}

/// The digest of `repository:tag` in the registry at `login_server`, or `None` when it does not
/// hold that tag. Signs in the way `az acr` does: the Azure token is exchanged for a registry
/// refresh token, then for an access token scoped to reading the repository's metadata.
pub async fn tag_digest(
    http: &Http,
    login_server: &str,
    azure_token: &Secret,
    repository: &str,
    tag: &str,
) -> Result<Option<String>> {
    let base = format!("https://{login_server}");
    let service = login_server.split('/').next().unwrap_or(login_server);
    let refresh = registry_post(
        http,
        &format!("{base}/oauth2/exchange"),
        form(&[
            ("grant_type", "access_token"),
            ("service", service),
            ("access_token", azure_token.expose()),
        ]),
        "refresh_token",
    )
    .await?;
    let scope = format!("repository:{repository}:metadata_read");
    let access = registry_post(
        http,
        &format!("{base}/oauth2/token"),
        form(&[
            ("grant_type", "refresh_token"),
            ("service", service),
            ("scope", &scope),
            ("refresh_token", refresh.expose()),
        ]),
        "access_token",
    )
    .await?;
    let url = format!("{base}/acr/v1/{repository}/_tags/{tag}");
    let url = Url::parse(&url).map_err(|_| Error::Unexpected {
        service: "ACR",
        detail: format!("bad registry URL {url}"),
    })?;
    let host = url.host_str().unwrap_or("?").to_string();
    let mut headers = http::HeaderMap::new();
    let mut auth =
        http::HeaderValue::from_str(&format!("Bearer {}", access.expose())).map_err(|_| {
            Error::Unexpected {
                service: "ACR",
                detail: "a registry token is not a valid header value".into(),
            }
        })?;
    auth.set_sensitive(true);
    headers.insert(http::header::AUTHORIZATION, auth);
    let resp = http
        .send(HttpRequest {
            method: http::Method::GET,
            url,
            headers,
            body: bytes::Bytes::new(),
        })
        .await?;
    match resp.status {
        200 => {
            let json: Value = serde_json::from_slice(&resp.body).unwrap_or(Value::Null);
            Ok(json["tag"]["digest"].as_str().map(str::to_string))
        }
        404 => Ok(None),
        status => Err(Error::Arm {
            action: format!("reading tag {repository}:{tag} of the registry {host}"),
            status,
            detail: crate::runtime::Runtime::get().redact(&resp.text()),
            fix: String::new(),
        }),
    }
}

/// Log lines kept for the error of a failed build.
const TAIL: usize = 20;
/// How often the growing log is read.
const LOG_POLL: std::time::Duration = std::time::Duration::from_secs(1);

/// A build run followed to its end.
#[derive(Debug, Clone)]
pub struct FinishedRun {
    /// Its final state.
    pub state: RunState,
    /// The last lines of its log.
    pub tail: Vec<String>,
}

/// What following a run has seen so far.
#[derive(Default)]
struct Follow {
    offset: u64,
    partial: String,
    tail: std::collections::VecDeque<String>,
    polls: u32,
    drained_after_finish: u32,
    last_output: Option<std::time::Instant>,
}

impl Follow {
    /// Logs each whole line of `bytes` (keeping the last ones for an error).
    fn take(&mut self, bytes: &[u8]) {
        self.offset += bytes.len() as u64;
        self.partial.push_str(&String::from_utf8_lossy(bytes));
        while let Some(pos) = self.partial.find('\n') {
            let line: String = self.partial.drain(..=pos).collect();
            self.keep(line.trim_end_matches(['\n', '\r']).to_string());
        }
        self.last_output = Some(std::time::Instant::now());
    }

    fn keep(&mut self, line: String) {
        crate::say!("{line}");
        self.tail.push_back(line);
        if self.tail.len() > TAIL {
            self.tail.pop_front();
        }
    }
}

/// Streams the log of run `run_id` into the step log while it grows, until the run is over
/// and its log complete (at most `limit`).
pub async fn follow_run(
    arm: &Arm,
    http: &Http,
    registry: &Registry,
    run_id: &str,
    limit: std::time::Duration,
) -> Result<std::result::Result<FinishedRun, crate::http::TimedOut>> {
    use crate::http::{Poll, PollPlan, poll};
    let started = std::time::Instant::now();
    let log_url = log_url(arm, registry, run_id).await?;
    let first = run_state(arm, registry, run_id).await?;
    let seen = std::sync::Mutex::new((Follow::default(), first));
    let lock = || seen.lock().unwrap_or_else(|e| e.into_inner());
    let plan = PollPlan {
        interval: LOG_POLL,
        limit,
        heartbeat: None,
    };
    let followed = poll(plan, std::time::Duration::ZERO, || async {
        let offset = lock().0.offset;
        let chunk = read_log(http, &log_url, offset).await?;
        let ask_state = {
            let mut s = lock();
            if !chunk.bytes.is_empty() {
                s.0.take(&chunk.bytes);
            }
            s.0.polls += 1;
            chunk.bytes.is_empty() || s.0.polls.is_multiple_of(5)
        };
        if ask_state {
            let state = run_state(arm, registry, run_id).await?;
            lock().1 = state;
        }
        let mut s = lock();
        let (follow, state) = &mut *s;
        // Read until the log says it is complete (or stays quiet three times after the end).
        if state.finished() {
            if chunk.bytes.is_empty() {
                follow.drained_after_finish += 1;
            }
            if chunk.complete || (chunk.bytes.is_empty() && follow.drained_after_finish >= 3) {
                return Ok(Poll::Ready(()));
            }
        }
        let quiet = follow.last_output.unwrap_or(started).elapsed();
        if quiet >= std::time::Duration::from_secs(25) {
            crate::say!(
                "  build {run_id} ({}), {} s elapsed",
                state.status,
                started.elapsed().as_secs()
            );
            follow.last_output = Some(std::time::Instant::now());
        }
        let pause = if chunk.complete {
            std::time::Duration::ZERO
        } else {
            LOG_POLL
        };
        Ok(Poll::Pending(Some(pause)))
    })
    .await?;
    if let Err(t) = followed {
        return Ok(Err(t));
    }
    let (mut follow, _) = seen.into_inner().unwrap_or_else(|e| e.into_inner());
    let rest = follow.partial.trim_end().to_string();
    if !rest.trim().is_empty() {
        follow.keep(rest);
    }
    let state = run_state(arm, registry, run_id).await?;
    Ok(Ok(FinishedRun {
        state,
        tail: follow.tail.into_iter().collect(),
    }))
}

//! GitHub: App JWTs, the App and its installations, installation tokens, and Actions variables.
//!
//! Requests go through octocrab, whose transport is the shared [`Http`] client (so GitHub shares
//! the retry layer, proxy and trust anchors with Azure). This module knows GitHub's wire format;
//! commands see typed answers and [`Error`]s.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::BodyExt as _;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::http::{Http, HttpRequest, HttpResponse};
use crate::key::AppKey;
use crate::runtime::Runtime;
use crate::secret::Secret;

pub mod runners;

/// Octocrab's transport: the shared client.
#[derive(Clone)]
struct SharedTransport(Arc<Http>);

impl tower::Service<http::Request<octocrab::OctoBody>> for SharedTransport {
    type Response = http::Response<http_body_util::Full<Bytes>>;
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<octocrab::OctoBody>) -> Self::Future {
        let http = self.0.clone();
        Box::pin(async move {
            let (parts, body) = req.into_parts();
            let body = body
                .collect()
                .await
                .map_err(|_| Error::Unexpected {
                    service: "GitHub",
                    detail: "cannot read a GitHub request body".into(),
                })?
                .to_bytes();
            let url = url::Url::parse(&parts.uri.to_string()).map_err(|_| Error::Unexpected {
                service: "GitHub",
                detail: format!("bad GitHub URL {}", parts.uri),
            })?;
            let resp = http
                .send(HttpRequest {
                    method: parts.method,
                    url,
                    headers: parts.headers,
                    body,
                })
                .await?;
            let mut builder = http::Response::builder().status(resp.status);
            if let Some(h) = builder.headers_mut() {
                *h = resp.headers;
            }
            builder
                .body(http_body_util::Full::new(resp.body))
                .map_err(|_| Error::Unexpected {
                    service: "GitHub",
                    detail: "bad GitHub response".into(),
                })
        })
    }
}

/// How a request authenticates.
#[derive(Clone, Copy)]
pub enum Auth<'a> {
    /// An App JWT.
    App(&'a Secret),
    /// An installation token or another token.
    Token(&'a Secret),
    /// No credentials (public data such as releases).
    Anonymous,
}

/// The GitHub App as GitHub describes it.
#[derive(Debug, Clone, Deserialize)]
pub struct AppInfo {
    /// Numeric id.
    pub id: u64,
    /// URL name.
    #[serde(default)]
    pub slug: Option<String>,
    /// Display name.
    pub name: String,
    /// Client id (`Iv…`).
    #[serde(default)]
    pub client_id: Option<String>,
}

/// An installation of the App.
#[derive(Debug, Clone, Deserialize)]
pub struct Installation {
    /// Installation id.
    pub id: u64,
    /// The account it is installed on.
    #[serde(default)]
    pub account: Option<Account>,
    /// Permissions granted to the installation.
    #[serde(default)]
    pub permissions: BTreeMap<String, String>,
    /// `Organization` or `User`.
    #[serde(default)]
    pub target_type: Option<String>,
}

/// A user or organization.
#[derive(Debug, Clone, Deserialize)]
pub struct Account {
    /// Login.
    #[serde(default)]
    pub login: Option<String>,
}

/// An installation access token.
#[derive(Debug, Clone)]
pub struct InstallationToken {
    /// The token (masked at birth).
    pub token: Secret,
    /// Expiry, RFC 3339.
    pub expires_at: String,
    /// The permissions the token carries.
    pub permissions: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct RawToken {
    token: String,
    #[serde(default)]
    expires_at: String,
    #[serde(default)]
    permissions: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct GitHubMessage {
    #[serde(default)]
    message: String,
}

/// The GitHub REST client.
pub struct GitHub {
    crab: octocrab::Octocrab,
    api_url: String,
}

impl std::fmt::Debug for GitHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitHub")
            .field("api_url", &self.api_url)
            .finish()
    }
}

impl GitHub {
    /// A client for the API at `api_url` (`https://api.github.com`, or GHES's `/api/v3`).
    pub fn new(http: Arc<Http>, api_url: &str) -> Result<GitHub> {
        let crab = octocrab::OctocrabBuilder::new_empty()
            .with_service(SharedTransport(http))
            .with_auth(octocrab::AuthState::None)
            .build()
            .map_err(|_| Error::Unexpected {
                service: "GitHub",
                detail: "cannot build the GitHub client".into(),
            })?;
        Ok(GitHub {
            crab,
            api_url: api_url.trim_end_matches('/').to_string(),
        })
    }

    /// The API base URL.
    pub fn api_url(&self) -> &str {
        &self.api_url
    }

    /// Signs an App JWT: `iat` 60 s in the past, `exp` 9 minutes ahead, `iss` the app id (numeric
    /// ids as numbers, client ids as strings).
    pub fn app_jwt(app_id: &str, key: &AppKey) -> Result<Secret> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let iss = match app_id.parse::<u64>() {
            Ok(n) => serde_json::Value::from(n),
            Err(_) => serde_json::Value::from(app_id),
        };
        let claims = serde_json::json!({ "iat": now - 60, "exp": now + 540, "iss": iss });
        let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        let jwt = jsonwebtoken::encode(&header, &claims, &key.encoding_key()?)
            .map_err(|_| Error::PrivateKey("it cannot sign a JWT".into()))?;
        Ok(Secret::masked(jwt))
    }

    async fn request(
        &self,
        method: http::Method,
        path: &str,
        auth: Auth<'_>,
        body: Option<&serde_json::Value>,
    ) -> Result<HttpResponse> {
        let uri = format!("{}{}", self.api_url, path);
        let authorization = match auth {
            Auth::App(jwt) => Some(format!("Bearer {}", jwt.expose())),
            Auth::Token(token) => Some(format!("token {}", token.expose())),
            Auth::Anonymous => None,
        };
        let mut builder = http::Request::builder()
            .method(method)
            .uri(&uri)
            .header(http::header::ACCEPT, "application/vnd.github+json")
            .header("X-GitHub-Api-Version", "2022-11-28")
            .header(http::header::USER_AGENT, crate::http::USER_AGENT);
        if let Some(authorization) = authorization {
            let mut v =
                http::HeaderValue::from_str(&authorization).map_err(|_| Error::Unexpected {
                    service: "GitHub",
                    detail: "a credential is not a valid header value".into(),
                })?;
            v.set_sensitive(true);
            builder = builder.header(http::header::AUTHORIZATION, v);
        }
        let body = match body {
            Some(json) => {
                builder = builder.header(http::header::CONTENT_TYPE, "application/json");
                json.to_string()
            }
            None => String::new(),
        };
        let request =
            builder
                .body(octocrab::OctoBody::from(body))
                .map_err(|_| Error::Unexpected {
                    service: "GitHub",
                    detail: format!("bad GitHub request {uri}"),
                })?;
        let response = self
            .crab
            .execute(request)
            .await
            .map_err(|e| unwrap_transport(e, &uri))?;
        let (parts, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|_| Error::Transport {
                host: host_of(&uri),
                detail: "connection dropped while reading the answer".into(),
            })?
            .to_bytes();
        Ok(HttpResponse {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
        })
    }

    async fn json<T: DeserializeOwned>(
        &self,
        method: http::Method,
        path: &str,
        auth: Auth<'_>,
        body: Option<&serde_json::Value>,
        action: &str,
    ) -> Result<(u16, Option<T>, String)> {
        let resp = self.request(method, path, auth, body).await?;
        let text = resp.text();
        if (200..300).contains(&resp.status) {
            let parsed = serde_json::from_slice(&resp.body).map_err(|e| Error::GitHub {
                action: action.to_string(),
                status: resp.status,
                detail: format!("unexpected answer ({e})"),
                fix: String::new(),
            })?;
            Ok((resp.status, Some(parsed), text))
        } else {
            Ok((resp.status, None, text))
        }
    }

    /// `GET /app` with the App JWT: which App the key belongs to.
    pub async fn app(&self, jwt: &Secret, app_id: &str, key: &AppKey) -> Result<AppInfo> {
        let (status, app, text) = self
            .json::<AppInfo>(http::Method::GET, "/app", Auth::App(jwt), None, "GET /app")
            .await?;
        match (status, app) {
            (_, Some(app)) => Ok(app),
            (401, _) if text.contains("'iat'") || text.contains("'exp'") => Err(Error::GitHub {
                action: "GET /app".into(),
                status: 401,
                detail: Runtime::get().redact(
                    &serde_json::from_str::<GitHubMessage>(&text)
                        .map(|m| m.message)
                        .unwrap_or_default(),
                ),
                fix: "GitHub refused the JWT's time claims: check the runner's clock (it must be within a minute of GitHub's)".into(),
            }),
            (401, _) => Err(Error::KeyRejected {
                app_id: app_id.to_string(),
                fingerprint: key.fingerprint().to_string(),
            }),
            (status, _) => Err(github_error("reading the App (GET /app)", status, &text)),
        }
    }

    /// The installation on `owner` (an organization or user) or on `owner/repo`.
    pub async fn find_installation(
        &self,
        jwt: &Secret,
        app_id: &str,
        owner: &str,
        repository: Option<&str>,
    ) -> Result<Installation> {
        let mut attempts: Vec<(String, String)> = Vec::new();
        if let Some(repo) = repository {
            attempts.push((
                format!("/repos/{}/installation", repo),
                format!("repository {repo}"),
            ));
        }
        attempts.push((
            format!("/orgs/{owner}/installation"),
            format!("organization {owner}"),
        ));
        attempts.push((
            format!("/users/{owner}/installation"),
            format!("user {owner}"),
        ));
        for (path, _) in &attempts {
            let (status, inst, text) = self
                .json::<Installation>(
                    http::Method::GET,
                    path,
                    Auth::App(jwt),
                    None,
                    "finding the installation",
                )
                .await?;
            match (status, inst) {
                (_, Some(inst)) => return Ok(inst),
                (404, _) => continue,
                (status, _) => {
                    return Err(github_error(
                        &format!("finding the App's installation ({path})"),
                        status,
                        &text,
                    ));
                }
            }
        }
        Err(Error::NotInstalled {
            app_id: app_id.to_string(),
            target: attempts
                .iter()
                .map(|(_, t)| t.clone())
                .collect::<Vec<_>>()
                .join(", nor on "),
        })
    }

    /// `GET /app/installations/{id}`.
    pub async fn installation(&self, jwt: &Secret, app_id: &str, id: u64) -> Result<Installation> {
        let path = format!("/app/installations/{id}");
        let (status, inst, text) = self
            .json::<Installation>(
                http::Method::GET,
                &path,
                Auth::App(jwt),
                None,
                "reading the installation",
            )
            .await?;
        match (status, inst) {
            (_, Some(inst)) => Ok(inst),
            (404, _) => Err(Error::input(
                "installation-id",
                format!(
                    "installation {id} does not belong to GitHub App {app_id}; remove the input to discover it, or copy the id from the installation's settings URL"
                ),
            )),
            (status, _) => Err(github_error("reading the installation", status, &text)),
        }
    }

    /// Mints an installation token, asking for `permissions` only (all granted when `None`).
    pub async fn installation_token(
        &self,
        jwt: &Secret,
        id: u64,
        permissions: Option<&BTreeMap<String, String>>,
    ) -> Result<InstallationToken> {
        self.installation_token_for(jwt, id, permissions, &[]).await
    }

    /// Mints an installation token for `permissions` (all granted when `None`), limited to
    /// `repositories` (names without owner) when any are given.
    pub async fn installation_token_for(
        &self,
        jwt: &Secret,
        id: u64,
        permissions: Option<&BTreeMap<String, String>>,
        repositories: &[String],
    ) -> Result<InstallationToken> {
        let path = format!("/app/installations/{id}/access_tokens");
        let mut body = permissions.map(|p| serde_json::json!({ "permissions": p }));
        if !repositories.is_empty() {
            body.get_or_insert_with(|| serde_json::json!({}))["repositories"] =
                serde_json::json!(repositories);
        }
        let (status, raw, text) = self
            .json::<RawToken>(
                http::Method::POST,
                &path,
                Auth::App(jwt),
                body.as_ref(),
                "creating an installation token",
            )
            .await?;
        match raw {
            Some(raw) => {
                let token = Secret::masked(raw.token);
                Ok(InstallationToken {
                    token,
                    expires_at: raw.expires_at,
                    permissions: raw.permissions,
                })
            }
            None => Err(github_error(
                "creating an installation token",
                status,
                &text,
            )),
        }
    }

    /// `DELETE /installation/token`: revokes the token it is called with.
    pub async fn revoke(&self, token: &Secret) -> Result<()> {
        let resp = self
            .request(
                http::Method::DELETE,
                "/installation/token",
                Auth::Token(token),
                None,
            )
            .await?;
        match resp.status {
            204 | 401 => Ok(()),
            status => Err(github_error(
                "revoking the installation token",
                status,
                &resp.text(),
            )),
        }
    }
}

fn host_of(uri: &str) -> String {
    url::Url::parse(uri)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_else(|| uri.to_string())
}

/// Recovers our own transport error from octocrab's wrapper.
fn unwrap_transport(e: octocrab::Error, uri: &str) -> Error {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(s) = source {
        if let Some(ours) = s.downcast_ref::<Error>() {
            return match ours {
                Error::Transport { host, detail } => Error::Transport {
                    host: host.clone(),
                    detail: detail.clone(),
                },
                other => Error::Unexpected {
                    service: "GitHub",
                    detail: other.to_string(),
                },
            };
        }
        source = s.source();
    }
    Error::Transport {
        host: host_of(uri),
        detail: "the request failed".into(),
    }
}

/// A GitHub error with GitHub's message (redacted) and a hint by status.
pub fn github_error(action: &str, status: u16, body: &str) -> Error {
    let message = serde_json::from_str::<GitHubMessage>(body)
        .map(|m| m.message)
        .unwrap_or_else(|_| body.chars().take(300).collect());
    let hint = match status {
        401 => "The credentials were refused: check `app-id`/`private-key` or `github-token`",
        403 => {
            "The App or token lacks a permission for this: grant it in the App's settings (Permissions), then accept the new permissions on the installation"
        }
        404 => "Check `owner`/`repository` and that the App is installed there",
        422 => "GitHub refused the request as invalid",
        _ => "",
    };
    Error::GitHub {
        action: action.to_string(),
        status,
        detail: Runtime::get().redact(&message),
        fix: hint.to_string(),
    }
}

/// An Actions variable as GitHub lists it.
#[derive(Debug, Clone, Deserialize)]
pub struct Variable {
    /// Name (GitHub stores it upper-cased).
    pub name: String,
    /// Value.
    pub value: String,
    /// Organization variables: `all`, `private` or `selected`.
    #[serde(default)]
    pub visibility: Option<String>,
}

#[derive(Deserialize)]
struct VariableList {
    #[serde(default)]
    total_count: u64,
    #[serde(default)]
    variables: Vec<Variable>,
}

/// What a variable write met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    /// Written.
    Done,
    /// Create met 409 (it exists) or update met 404 (it is gone).
    Conflict,
}

#[derive(Deserialize)]
struct RepoInfo {
    id: u64,
}

impl GitHub {
    /// Every variable under `base` (`/repos/o/r/actions/variables`, `/orgs/o/actions/variables`,
    /// `/repositories/ID/environments/E/variables`), all pages.
    pub async fn list_variables(&self, base: &str, token: &Secret) -> Result<Vec<Variable>> {
        let mut out = Vec::new();
        for page in 1.. {
            let path = format!("{base}?per_page=30&page={page}");
            let (status, list, text) = self
                .json::<VariableList>(
                    http::Method::GET,
                    &path,
                    Auth::Token(token),
                    None,
                    "listing variables",
                )
                .await?;
            let Some(list) = list else {
                return Err(variables_error("listing variables", status, &text));
            };
            let got = list.variables.len();
            out.extend(list.variables);
            if got < 30 || out.len() as u64 >= list.total_count {
                break;
            }
        }
        Ok(out)
    }

    /// Creates a variable (`POST base`).
    pub async fn create_variable(
        &self,
        base: &str,
        token: &Secret,
        body: &serde_json::Value,
    ) -> Result<WriteOutcome> {
        let resp = self
            .request(http::Method::POST, base, Auth::Token(token), Some(body))
            .await?;
        match resp.status {
            201 | 204 => Ok(WriteOutcome::Done),
            409 => Ok(WriteOutcome::Conflict),
            s => Err(variables_error("creating a variable", s, &resp.text())),
        }
    }

    /// Updates a variable (`PATCH base/NAME`).
    pub async fn update_variable(
        &self,
        base: &str,
        name: &str,
        token: &Secret,
        body: &serde_json::Value,
    ) -> Result<WriteOutcome> {
        let resp = self
            .request(
                http::Method::PATCH,
                &format!("{base}/{name}"),
                Auth::Token(token),
                Some(body),
            )
            .await?;
        match resp.status {
            200 | 204 => Ok(WriteOutcome::Done),
            404 => Ok(WriteOutcome::Conflict),
            s => Err(variables_error("updating a variable", s, &resp.text())),
        }
    }

    /// The numeric id of `owner/name` (environment variables are written by repository id).
    pub async fn repository_id(&self, repository: &str, token: &Secret) -> Result<u64> {
        let (status, info, text) = self
            .json::<RepoInfo>(
                http::Method::GET,
                &format!("/repos/{repository}"),
                Auth::Token(token),
                None,
                "reading the repository",
            )
            .await?;
        info.map(|i| i.id).ok_or_else(|| {
            if status == 404 {
                Error::input(
                    "repository",
                    format!("repository {repository} was not found, or the token cannot see it"),
                )
            } else {
                github_error("reading the repository", status, &text)
            }
        })
    }
}

/// Variable errors, with the one GitHub gives a token that cannot write variables.
fn variables_error(action: &str, status: u16, body: &str) -> Error {
    if status == 403 && body.contains("Resource not accessible by integration") {
        return Error::GitHub {
            action: action.to_string(),
            status,
            detail: "the token cannot read or write Actions variables".into(),
            fix: "The workflow's GITHUB_TOKEN never can (there is no `variables` permission for it). Give `app-id` and `private-key` of a GitHub App with the `Variables: write` permission (`Organization variables: write` for organization scope), or a fine-grained token with `Variables: read and write` in `github-token`".into(),
        };
    }
    github_error(action, status, body)
}

//! GitHub's REST API: one small typed client on the shared [`Http`] (so GitHub shares the retry
//! layer, proxy and trust anchors with Azure).
//!
//! This module knows the base URL, the ways a call authenticates, how a request is sent and how
//! a refusal becomes an [`Error`], and how lists are paged. The routes and bodies live by
//! concern: [`app`] (JWTs, the App, installations, tokens), [`variables`] (Actions variables),
//! [`runners`] (just-in-time runners, runner groups, the API budget, runner releases); the wire
//! types in [`models`]. Commands see typed answers and [`Error`]s only.

use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::http::{Http, HttpRequest, HttpResponse};
use crate::runtime::Runtime;
use crate::secret::Secret;

pub mod app;
pub mod models;
pub mod runners;
pub mod variables;

pub use models::{
    Account, AppInfo, Installation, InstallationToken, JitConfig, RateLimit, Variable,
};

/// The GitHub side of the step: where, and as whom.
#[derive(Debug)]
pub struct GitHubConfig {
    /// `github-api-url`, else `GITHUB_API_URL`, else api.github.com.
    pub api_url: String,
    /// Whether the API URL was given (input or runner), not defaulted.
    pub api_url_given: bool,
    /// `owner`, else the repository's owner.
    pub owner: Option<String>,
    /// `repository` (`owner/name`), else `GITHUB_REPOSITORY`.
    pub repository: Option<String>,
    /// `app-id`: the App's id or client id.
    pub app_id: Option<String>,
    /// `private-key`, parsed.
    pub key: Option<std::sync::Arc<crate::key::AppKey>>,
    /// `installation-id`.
    pub installation_id: Option<u64>,
    /// `github-token`.
    pub token: Option<std::sync::Arc<crate::secret::Secret>>,
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

/// What GitHub answered a call whose success has a JSON body.
enum Answer<T> {
    /// A 2xx, parsed.
    Ok {
        /// The status.
        status: u16,
        /// The parsed body.
        value: T,
    },
    /// Any other status, with the body as text (GitHub's message is in it).
    Refused(Refusal),
}

/// A status outside 2xx and GitHub's answer.
struct Refusal {
    status: u16,
    body: String,
}

/// The GitHub REST client.
pub struct GitHub {
    http: Arc<Http>,
    /// The API base URL without a trailing `/`.
    base: String,
    /// Where the credentials GitHub hands out are masked, and messages redacted.
    rt: &'static Runtime,
}

impl std::fmt::Debug for GitHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitHub")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl GitHub {
    /// A client for the API at `api_url` (`https://api.github.com`, or GHES's `/api/v3`); the
    /// tokens and configurations GitHub hands out are masked with `rt` as they arrive.
    pub fn new(http: Arc<Http>, api_url: &str, rt: &'static Runtime) -> GitHub {
        GitHub {
            http,
            base: api_url.trim_end_matches('/').to_string(),
            rt,
        }
    }

    /// Wraps a credential GitHub answered with: masked at once.
    fn secret(&self, value: String) -> Secret {
        Secret::masked(value, self.rt)
    }

    /// Sends one request to `path` (below the base URL, query included), with `body` as JSON.
    async fn send(
        &self,
        method: http::Method,
        path: &str,
        auth: Auth<'_>,
        body: Option<&(impl Serialize + ?Sized)>,
    ) -> Result<HttpResponse> {
        let uri = format!("{}{}", self.base, path);
        // Owner and repository names reach the path as given: refuse what is not a URI.
        if uri.parse::<http::Uri>().is_err() {
            return Err(Error::Unexpected {
                service: "GitHub",
                detail: format!("bad GitHub request {uri}"),
            });
        }
        let url = url::Url::parse(&uri).map_err(|_| Error::Unexpected {
            service: "GitHub",
            detail: format!("bad GitHub URL {uri}"),
        })?;
        let mut headers = http::HeaderMap::new();
        headers.insert(
            http::header::ACCEPT,
            http::HeaderValue::from_static("application/vnd.github+json"),
        );
        headers.insert(
            "X-GitHub-Api-Version",
            http::HeaderValue::from_static("2022-11-28"),
        );
        headers.insert(
            http::header::USER_AGENT,
            http::HeaderValue::from_static(crate::http::USER_AGENT),
        );
        let authorization = match auth {
            Auth::App(jwt) => Some(format!("Bearer {}", jwt.expose())),
            Auth::Token(token) => Some(format!("token {}", token.expose())),
            Auth::Anonymous => None,
        };
        if let Some(authorization) = authorization {
            let mut v =
                http::HeaderValue::from_str(&authorization).map_err(|_| Error::Unexpected {
                    service: "GitHub",
                    detail: "a credential is not a valid header value".into(),
                })?;
            v.set_sensitive(true);
            headers.insert(http::header::AUTHORIZATION, v);
        }
        let body = match body {
            Some(json) => {
                headers.insert(
                    http::header::CONTENT_TYPE,
                    http::HeaderValue::from_static("application/json"),
                );
                serde_json::to_vec(json)
                    .map_err(|_| Error::Unexpected {
                        service: "GitHub",
                        detail: format!("bad GitHub request {uri}"),
                    })?
                    .into()
            }
            None => bytes::Bytes::new(),
        };
        self.http
            .send(HttpRequest {
                method,
                url,
                headers,
                body,
            })
            .await
    }

    /// Sends one request and parses a 2xx answer as `T`; `action` names the call when the
    /// answer does not parse. Other statuses come back as a [`Refusal`] for the caller to judge.
    async fn call<T: DeserializeOwned>(
        &self,
        method: http::Method,
        path: &str,
        auth: Auth<'_>,
        body: Option<&(impl Serialize + ?Sized)>,
        action: &str,
    ) -> Result<Answer<T>> {
        let resp = self.send(method, path, auth, body).await?;
        if !(200..300).contains(&resp.status) {
            return Ok(Answer::Refused(Refusal {
                status: resp.status,
                body: resp.text(),
            }));
        }
        let value = serde_json::from_slice(&resp.body).map_err(|e| Error::GitHub {
            action: action.to_string(),
            status: resp.status,
            detail: format!("unexpected answer ({e})"),
            fix: String::new(),
        })?;
        Ok(Answer::Ok {
            status: resp.status,
            value,
        })
    }

    /// A `GET` without a body.
    async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        auth: Auth<'_>,
        action: &str,
    ) -> Result<Answer<T>> {
        self.call(http::Method::GET, path, auth, None::<&()>, action)
            .await
    }

    /// Every page of the list at `path` (`per_page` items a page, at most `max_pages` pages),
    /// handing each item to `each` until it returns `false`. Paging stops at a short page, or
    /// when the list's total count is reached. A refused page is judged by `refused`.
    #[allow(clippy::too_many_arguments)]
    async fn pages<L: models::Page>(
        &self,
        path: &str,
        per_page: u32,
        max_pages: u32,
        auth: Auth<'_>,
        action: &str,
        refused: impl Fn(&Self, u16, &str) -> Error,
        mut each: impl FnMut(L::Item) -> bool,
    ) -> Result<()> {
        let mut seen: u64 = 0;
        for page in 1..=max_pages {
            let path = format!("{path}?per_page={per_page}&page={page}");
            let list = match self.get::<L>(&path, auth, action).await? {
                Answer::Ok { value, .. } => value,
                Answer::Refused(r) => return Err(refused(self, r.status, &r.body)),
            };
            let total = list.total_count();
            let items = list.into_items();
            let got = items.len();
            for item in items {
                if !each(item) {
                    return Ok(());
                }
            }
            seen += got as u64;
            if got < per_page as usize || total.is_some_and(|t| seen >= t) {
                break;
            }
        }
        Ok(())
    }

    /// A GitHub error with GitHub's message (redacted) and a fix by status.
    fn refused(&self, action: &str, status: u16, body: &str) -> Error {
        let message = serde_json::from_str::<models::Message>(body)
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
            detail: self.rt.redact(&message),
            fix: hint.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> GitHub {
        let http = Http::from_env(crate::http::RetryPolicy::default()).unwrap();
        GitHub::new(http, "https://api.github.test/", Runtime::get())
    }

    #[test]
    fn a_refusal_keeps_githubs_message_and_gives_the_hint_of_its_status() {
        let gh = client();
        let e = gh.refused(
            "reading the App (GET /app)",
            404,
            r#"{"message":"Not Found"}"#,
        );
        assert_eq!(
            e.to_string(),
            "GitHub: reading the App (GET /app) failed (HTTP 404): Not Found. Check `owner`/`repository` and that the App is installed there"
        );
        let e = gh.refused("x", 500, "not json");
        assert_eq!(e.to_string(), "GitHub: x failed (HTTP 500): not json");
    }

    #[tokio::test]
    async fn a_network_failure_is_a_transport_error_not_a_status() {
        let http = Http::from_env(crate::http::RetryPolicy {
            max_attempts: 1,
            ..Default::default()
        })
        .unwrap();
        // Nothing listens on port 9 of the loopback.
        let gh = GitHub::new(http, "https://127.0.0.1:9", Runtime::get());
        let e = gh
            .get::<models::Message>("/app", Auth::Anonymous, "GET /app")
            .await
            .err()
            .expect("nothing answers");
        assert!(
            matches!(e, Error::Transport { ref host, .. } if host == "127.0.0.1"),
            "{e}"
        );
    }
}

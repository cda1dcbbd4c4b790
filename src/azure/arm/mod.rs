//! Azure Resource Manager: deployments followed as long-running operations, their operations,
//! What-If, and Container Apps Jobs. There is no official Rust crate for ARM, so this module
//! speaks its REST API through `azure_core`'s pipeline (shared auth, transport, user agent; the
//! retries are the shared HTTP client's).

use std::sync::Arc;
use std::time::Duration;

use azure_core::credentials::TokenCredential;
use azure_core::http::policies::Policy;
use azure_core::http::policies::auth::BearerTokenAuthorizationPolicy;
use azure_core::http::{Context, Method, Pipeline, PipelineSendOptions, Request};
use serde_json::Value;
use url::Url;

use crate::error::{Error, Result};
use crate::http::{Http, Poll, PollPlan, azure_client_options, poll};
use crate::runtime::Runtime;

pub mod deployments;
pub mod jobs;
pub mod network;
pub mod permissions;
pub mod roles;
pub mod vaults;

pub use jobs::{Consumer, JobRef};

/// A response from ARM.
#[derive(Debug, Clone)]
pub struct ArmResponse {
    /// Status code.
    pub status: u16,
    /// Body as JSON (`Null` when empty or not JSON).
    pub body: Value,
    /// `Azure-AsyncOperation` header.
    pub async_operation: Option<String>,
    /// `Location` header.
    pub location: Option<String>,
    /// `Retry-After` header, seconds.
    pub retry_after: Option<Duration>,
}

/// The ARM client.
pub struct Arm {
    pipeline: Pipeline,
    endpoint: Url,
}

impl std::fmt::Debug for Arm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Arm")
            .field("endpoint", &self.endpoint)
            .finish()
    }
}

impl Arm {
    /// A client for the ARM endpoint, authenticated by `credential` for `{endpoint}/.default`.
    pub fn new(endpoint: Url, credential: Arc<dyn TokenCredential>, http: &Arc<Http>) -> Arm {
        let scope = format!("{}/.default", endpoint.as_str().trim_end_matches('/'));
        let auth: Arc<dyn Policy> =
            Arc::new(BearerTokenAuthorizationPolicy::new(credential, [scope]));
        let pipeline = Pipeline::new(
            Some("aca-runner-action"),
            Some(env!("CARGO_PKG_VERSION")),
            azure_client_options(http),
            Vec::new(),
            vec![auth],
            None,
        );
        Arm { pipeline, endpoint }
    }

    fn url(&self, path_or_url: &str, api_version: Option<&str>) -> Result<Url> {
        let mut url = if path_or_url.starts_with("https://") {
            Url::parse(path_or_url)
        } else {
            self.endpoint.join(path_or_url)
        }
        .map_err(|_| Error::Unexpected {
            service: "Azure Resource Manager",
            detail: format!("a link that is not a URL: {path_or_url}"),
        })?;
        if let Some(v) = api_version
            && !url.query_pairs().any(|(k, _)| k == "api-version")
        {
            url.query_pairs_mut().append_pair("api-version", v);
        }
        Ok(url)
    }

    /// Sends one request; statuses are returned, not turned into errors.
    pub async fn send(
        &self,
        method: Method,
        path_or_url: &str,
        api_version: Option<&str>,
        body: Option<&Value>,
    ) -> Result<ArmResponse> {
        let url = self.url(path_or_url, api_version)?;
        let mut request = Request::new(url.clone(), method);
        request.insert_header("accept", "application/json");
        if let Some(body) = body {
            request.insert_header("content-type", "application/json");
            request.set_body(body.to_string());
        }
        let options = PipelineSendOptions {
            skip_checks: true,
            ..Default::default()
        };
        let response = self
            .pipeline
            .send(&Context::new(), &mut request, Some(options))
            .await
            .map_err(|e| {
                crate::azure::auth::sign_in_error(&e).unwrap_or_else(|| Error::Transport {
                    host: url.host_str().unwrap_or("?").to_string(),
                    detail: Runtime::get().redact(&e.to_string()),
                })
            })?;
        let (status, headers, body) = response.deconstruct();
        let header = |name: &'static str| headers.get_optional_string(&name.into());
        let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        Ok(ArmResponse {
            status: u16::from(status),
            body,
            async_operation: header("azure-asyncoperation"),
            location: header("location"),
            retry_after: header("retry-after")
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs),
        })
    }
}

impl Arm {
    /// Every item of a list, following `nextLink` (which carries its own api-version).
    /// `action` names the list in an error.
    pub(crate) async fn list<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        api_version: &str,
        action: &str,
    ) -> Result<Vec<T>> {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Page {
            #[serde(default)]
            value: Vec<Value>,
            next_link: Option<String>,
        }
        let mut url = path.to_string();
        let mut api = Some(api_version);
        let mut out = Vec::new();
        loop {
            let resp = self.send(Method::Get, &url, api, None).await?;
            if resp.status != 200 {
                return Err(arm_error(action, &resp));
            }
            let page: Page = serde_json::from_value(resp.body).unwrap_or(Page {
                value: Vec::new(),
                next_link: None,
            });
            // An item of an unexpected shape is left out, not a failure of the whole list.
            out.extend(
                page.value
                    .into_iter()
                    .filter_map(|v| serde_json::from_value(v).ok()),
            );
            match page.next_link {
                Some(next) if !next.is_empty() => {
                    url = next;
                    api = None;
                }
                _ => return Ok(out),
            }
        }
    }

    /// Follows an `Azure-AsyncOperation` status URL until the operation ends: `Ok(())` when it
    /// succeeded, the ARM error (of `action`) when it failed, [`Error::StillRunning`] past
    /// `limit`. `subject` names what changes (`job NAME`), for the log.
    pub(crate) async fn wait_for_operation(
        &self,
        status_url: &str,
        first: Option<Duration>,
        limit: Duration,
        subject: &str,
        action: &str,
    ) -> Result<()> {
        let what = action;
        let started = std::time::Instant::now();
        let plan = PollPlan {
            interval: Duration::from_secs(2),
            limit,
            heartbeat: None,
        };
        let outcome = poll(plan, Duration::ZERO, || async {
            let status = self.send(Method::Get, status_url, None, None).await?;
            if status.status >= 400 {
                return Err(arm_error(what, &status));
            }
            match status.body["status"].as_str().unwrap_or("InProgress") {
                "Succeeded" => Ok(Poll::Ready(())),
                "Failed" | "Canceled" => Err(arm_error(what, &status)),
                _ => {
                    crate::say!(
                        "  {subject} updating, {} s elapsed",
                        started.elapsed().as_secs()
                    );
                    Ok(Poll::Pending(
                        status
                            .retry_after
                            .or(first)
                            .map(|d| d.min(Duration::from_secs(25))),
                    ))
                }
            }
        })
        .await?;
        outcome.map_err(|_| Error::StillRunning {
            what: subject.to_string(),
            after: format!("{} minutes", limit.as_secs() / 60),
            follow: "check it in the portal".into(),
        })
    }
}

/// The error tree of an ARM error body: accepts `{error: {code, message, details}}` (the
/// description's CloudError) and the flat `{code, message, details}` that deployments carry in
/// `properties.error`.
pub fn error_tree(value: &Value) -> Vec<String> {
    let err = if value.get("error").is_some_and(Value::is_object) {
        &value["error"]
    } else {
        value
    };
    let mut lines = Vec::new();
    walk_error(err, 0, &mut lines);
    lines
}

fn walk_error(err: &Value, depth: usize, out: &mut Vec<String>) {
    let code = err["code"].as_str().unwrap_or_default();
    let message = err["message"].as_str().unwrap_or_default();
    if !code.is_empty() || !message.is_empty() {
        out.push(format!(
            "{}{}: {}",
            "  ".repeat(depth),
            if code.is_empty() { "error" } else { code },
            Runtime::get().redact(message)
        ));
    }
    if let Some(details) = err["details"].as_array() {
        for d in details {
            // Some services nest a CloudError inside details.
            let d = if d.get("error").is_some_and(Value::is_object) {
                &d["error"]
            } else {
                d
            };
            walk_error(d, depth + 1, out);
        }
    }
}

/// An ARM failure as the action reports it.
pub fn arm_error(action: &str, resp: &ArmResponse) -> Error {
    let tree = error_tree(&resp.body);
    let detail = if tree.is_empty() {
        format!("HTTP {}", resp.status)
    } else {
        tree.join("\n")
    };
    let hint = match resp.status {
        409 => {
            "Another deployment of the same name is running: wait for it, or set `deployment-name`"
        }
        401 => "The Azure token was refused: check `azure-tenant-id`",
        403 => {
            "The Azure identity lacks a role: it needs Contributor (and User Access Administrator or Role Based Access Control Administrator when the template assigns roles) on the target scope"
        }
        404 => "Check `azure-subscription-id`, `resource-group` and the resource names",
        _ => "",
    };
    Error::Arm {
        action: action.to_string(),
        status: resp.status,
        detail,
        fix: hint.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn error_tree_accepts_nested_and_flat_shapes() {
        let nested = json!({"error": {"code": "DeploymentFailed", "message": "At least one failed.",
            "details": [{"code": "BadRequest", "message": "inner"}]}});
        let flat = json!({"code": "DeploymentFailed", "message": "At least one failed.",
            "details": [{"code": "BadRequest", "message": "inner"}]});
        let expected = vec![
            "DeploymentFailed: At least one failed.".to_string(),
            "  BadRequest: inner".to_string(),
        ];
        assert_eq!(error_tree(&nested), expected);
        assert_eq!(error_tree(&flat), expected);
    }
}

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
use crate::http::{Http, azure_client_options};
use crate::runtime::Runtime;

/// API version of Microsoft.Resources deployments.
pub const DEPLOYMENTS_API: &str = "2025-04-01";
/// API version of Microsoft.App jobs.
pub const JOBS_API: &str = "2025-07-01";

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

    /// The ARM endpoint.
    pub fn endpoint(&self) -> &Url {
        &self.endpoint
    }

    fn url(&self, path_or_url: &str, api_version: Option<&str>) -> Result<Url> {
        let mut url = if path_or_url.starts_with("https://") {
            Url::parse(path_or_url)
        } else {
            self.endpoint.join(path_or_url)
        }
        .map_err(|_| Error::Other(format!("bad ARM URL {path_or_url}")))?;
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
                crate::azure_auth::sign_in_error(&e).unwrap_or_else(|| Error::Transport {
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
            ". Another deployment of the same name is running: wait for it, or set `deployment-name`"
        }
        401 => ". The Azure token was refused: check `azure-tenant-id`",
        403 => {
            ". The Azure identity lacks a role: it needs Contributor (and User Access Administrator or Role Based Access Control Administrator when the template assigns roles) on the target scope"
        }
        404 => ". Check `azure-subscription-id`, `resource-group` and the resource names",
        _ => "",
    };
    Error::Arm {
        action: action.to_string(),
        status: resp.status,
        detail,
        hint: hint.to_string(),
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

/// A Container Apps Job named by the `jobs` input: `resource-group/name` or a resource id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRef {
    /// The resource id.
    pub id: String,
    /// The job name.
    pub name: String,
}

impl JobRef {
    /// Parses one entry of `jobs`.
    pub fn parse(entry: &str, subscription: Option<&str>) -> Result<JobRef> {
        let entry = entry.trim().trim_end_matches('/');
        let parts: Vec<&str> = entry.trim_start_matches('/').split('/').collect();
        if entry.starts_with('/') {
            let ok = parts.len() == 8
                && parts[0].eq_ignore_ascii_case("subscriptions")
                && parts[2].eq_ignore_ascii_case("resourceGroups")
                && parts[4].eq_ignore_ascii_case("providers")
                && parts[5].eq_ignore_ascii_case("Microsoft.App")
                && parts[6].eq_ignore_ascii_case("jobs");
            if !ok {
                return Err(Error::input(
                    "jobs",
                    format!(
                        "`{entry}` is not a Container Apps Job resource id (/subscriptions/…/resourceGroups/…/providers/Microsoft.App/jobs/NAME)"
                    ),
                ));
            }
            return Ok(JobRef {
                id: entry.to_string(),
                name: parts[7].to_string(),
            });
        }
        match parts.as_slice() {
            [group, name] if !group.is_empty() && !name.is_empty() => {
                let Some(sub) = subscription else {
                    return Err(Error::input(
                        "azure-subscription-id",
                        format!(
                            "is required to find job `{entry}`; or give the job's full resource id in `jobs`"
                        ),
                    ));
                };
                Ok(JobRef {
                    id: format!(
                        "/subscriptions/{sub}/resourceGroups/{group}/providers/Microsoft.App/jobs/{name}"
                    ),
                    name: name.to_string(),
                })
            }
            _ => Err(Error::input(
                "jobs",
                format!("`{entry}` is neither resource-group/name nor a resource id"),
            )),
        }
    }
}

/// A Container Apps job or app that references a Key Vault secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consumer {
    /// Where it is (its resource id and name; jobs and apps are read and written alike).
    pub resource: JobRef,
    /// `job` or `app`.
    pub kind: &'static str,
    /// The version it is pinned to (a versioned reference), or `None` (versionless: it reads
    /// the latest enabled version).
    pub pinned: Option<String>,
}

impl Arm {
    /// Every Container Apps job and app of `subscription` that references the secret at
    /// `secret_uri` (versionless URI) in a Key Vault secret reference.
    pub async fn consumers(&self, subscription: &str, secret_uri: &str) -> Result<Vec<Consumer>> {
        let base = secret_uri.trim_end_matches('/').to_ascii_lowercase();
        let mut out = Vec::new();
        for (kind, provider) in [("job", "jobs"), ("app", "containerApps")] {
            let mut url =
                format!("/subscriptions/{subscription}/providers/Microsoft.App/{provider}");
            let mut api = Some(JOBS_API);
            loop {
                let resp = self.send(Method::Get, &url, api, None).await?;
                if resp.status != 200 {
                    return Err(arm_error(
                        &format!("listing the subscription's Container Apps {provider}"),
                        &resp,
                    ));
                }
                for item in resp.body["value"].as_array().into_iter().flatten() {
                    let (Some(id), Some(name)) = (item["id"].as_str(), item["name"].as_str())
                    else {
                        continue;
                    };
                    let references = item["properties"]["configuration"]["secrets"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|s| s["keyVaultUrl"].as_str())
                        .map(|u| u.trim_end_matches('/').to_ascii_lowercase())
                        .filter(|u| *u == base || u.starts_with(&format!("{base}/")))
                        .collect::<Vec<_>>();
                    let Some(url) = references.first() else {
                        continue;
                    };
                    let pinned = url
                        .strip_prefix(&format!("{base}/"))
                        .filter(|v| !v.is_empty())
                        .map(str::to_string);
                    out.push(Consumer {
                        resource: JobRef {
                            id: id.to_string(),
                            name: name.to_string(),
                        },
                        kind,
                        pinned,
                    });
                }
                match resp.body["nextLink"].as_str() {
                    Some(next) if !next.is_empty() => {
                        url = next.to_string();
                        api = None;
                    }
                    _ => break,
                }
            }
        }
        Ok(out)
    }

    /// Reads a Container Apps Job.
    pub async fn get_job(&self, job: &JobRef) -> Result<Value> {
        let resp = self
            .send(Method::Get, &job.id, Some(JOBS_API), None)
            .await?;
        match resp.status {
            200 => Ok(resp.body),
            404 => Err(Error::input(
                "jobs",
                format!(
                    "Container Apps Job {} was not found ({}); check the resource group and name",
                    job.name, job.id
                ),
            )),
            _ => Err(arm_error(&format!("reading job {}", job.name), &resp)),
        }
    }

    /// Writes a Container Apps Job and waits for the write to finish.
    pub async fn put_job(&self, job: &JobRef, body: &Value) -> Result<()> {
        let resp = self
            .send(Method::Put, &job.id, Some(JOBS_API), Some(body))
            .await?;
        if !matches!(resp.status, 200 | 201) {
            return Err(arm_error(&format!("updating job {}", job.name), &resp));
        }
        let Some(status_url) = resp.async_operation.clone() else {
            return Ok(());
        };
        let started = std::time::Instant::now();
        let mut wait = resp.retry_after.unwrap_or(Duration::from_secs(2));
        loop {
            let status = self.send(Method::Get, &status_url, None, None).await?;
            if status.status >= 400 {
                return Err(arm_error(&format!("updating job {}", job.name), &status));
            }
            match status.body["status"].as_str().unwrap_or("InProgress") {
                "Succeeded" => return Ok(()),
                "Failed" | "Canceled" => {
                    return Err(arm_error(&format!("updating job {}", job.name), &status));
                }
                _ => {}
            }
            crate::say!(
                "  job {} updating, {} s elapsed",
                job.name,
                started.elapsed().as_secs()
            );
            if started.elapsed() > Duration::from_secs(600) {
                return Err(Error::Other(format!(
                    "job {} is still updating after 10 minutes; check it in the portal",
                    job.name
                )));
            }
            tokio::time::sleep(wait.min(Duration::from_secs(25))).await;
            wait = status.retry_after.unwrap_or(Duration::from_secs(2));
        }
    }
}

/// API version of the role assignment list.
pub const ROLE_ASSIGNMENTS_API: &str = "2022-04-01";

/// One role assignment of a principal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleAssignment {
    /// Where it applies (`/subscriptions/…[/resourceGroups/…[/providers/…]]`).
    pub scope: String,
    /// The role definition's GUID (last segment of its id).
    pub role: String,
    /// When it was created.
    pub created_on: Option<time::OffsetDateTime>,
}

impl Arm {
    /// Every role assignment of `principal` in `subscription` (any scope inside it and above).
    pub async fn role_assignments_of(
        &self,
        subscription: &str,
        principal: &str,
    ) -> Result<Vec<RoleAssignment>> {
        let mut url = format!(
            "/subscriptions/{subscription}/providers/Microsoft.Authorization/roleAssignments?$filter=assignedTo('{principal}')"
        );
        let mut api = Some(ROLE_ASSIGNMENTS_API);
        let mut out = Vec::new();
        loop {
            let resp = self.send(Method::Get, &url, api, None).await?;
            if resp.status != 200 {
                return Err(arm_error("listing the caller's role assignments", &resp));
            }
            for a in resp.body["value"].as_array().into_iter().flatten() {
                let p = &a["properties"];
                out.push(RoleAssignment {
                    scope: p["scope"].as_str().unwrap_or_default().to_string(),
                    role: p["roleDefinitionId"]
                        .as_str()
                        .and_then(|r| r.rsplit('/').next())
                        .unwrap_or_default()
                        .to_ascii_lowercase(),
                    created_on: p["createdOn"].as_str().and_then(|t| {
                        time::OffsetDateTime::parse(
                            t,
                            &time::format_description::well_known::Rfc3339,
                        )
                        .ok()
                    }),
                });
            }
            match resp.body["nextLink"].as_str() {
                Some(next) if !next.is_empty() => {
                    url = next.to_string();
                    api = None;
                }
                _ => return Ok(out),
            }
        }
    }
}

//! ARM deployments (`Microsoft.Resources/deployments`): create one and follow it as a
//! long-running operation with its per-resource operations, read its result and outputs, or
//! preview it with What-If. Paths, bodies and polling live here; the `deploy` command sees
//! typed values.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use azure_core::http::Method;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{Arm, arm_error, error_tree};
use crate::error::{Error, Result};
use crate::http::{Poll, PollPlan, TimedOut, poll};

/// API version of Microsoft.Resources deployments.
pub const DEPLOYMENTS_API: &str = "2025-04-01";
/// Poll interval when ARM sends no `Retry-After`.
const DEFAULT_POLL: Duration = Duration::from_secs(5);
/// Longest silence in the log while What-If works.
const HEARTBEAT: Duration = Duration::from_secs(25);

/// Where a deployment goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// A resource group.
    ResourceGroup {
        /// Its subscription.
        subscription: String,
        /// Its name.
        group: String,
    },
    /// A subscription (the deployment's metadata is kept in `location`).
    Subscription {
        /// The subscription.
        subscription: String,
        /// Where the deployment is kept.
        location: String,
    },
}

impl Scope {
    fn deployment_path(&self, name: &str) -> String {
        match self {
            Scope::ResourceGroup {
                subscription,
                group,
            } => format!(
                "/subscriptions/{subscription}/resourcegroups/{group}/providers/Microsoft.Resources/deployments/{name}"
            ),
            Scope::Subscription { subscription, .. } => format!(
                "/subscriptions/{subscription}/providers/Microsoft.Resources/deployments/{name}"
            ),
        }
    }

    fn operations_path(&self, name: &str) -> String {
        match self {
            Scope::ResourceGroup {
                subscription,
                group,
            } => format!(
                "/subscriptions/{subscription}/resourcegroups/{group}/deployments/{name}/operations"
            ),
            Scope::Subscription { .. } => format!("{}/operations", self.deployment_path(name)),
        }
    }

    /// The resource group's id (`/subscriptions/…/resourceGroups/…`), or the subscription's.
    pub fn group_id(&self) -> String {
        match self {
            Scope::ResourceGroup {
                subscription,
                group,
            } => format!("/subscriptions/{subscription}/resourceGroups/{group}"),
            Scope::Subscription { subscription, .. } => format!("/subscriptions/{subscription}"),
        }
    }

    /// The location of a subscription-scope deployment.
    pub fn location(&self) -> Option<&str> {
        match self {
            Scope::Subscription { location, .. } => Some(location),
            Scope::ResourceGroup { .. } => None,
        }
    }

    /// `resource group NAME` or `subscription ID`, for the log.
    pub fn describe(&self) -> String {
        match self {
            Scope::ResourceGroup { group, .. } => format!("resource group {group}"),
            Scope::Subscription { subscription, .. } => format!("subscription {subscription}"),
        }
    }

    /// The `az deployment` word for this scope (`group` or `sub`).
    pub fn cli_word(&self) -> &'static str {
        match self {
            Scope::ResourceGroup { .. } => "group",
            Scope::Subscription { .. } => "sub",
        }
    }
}

/// One deployment to run or preview.
#[derive(Debug, Clone, Copy)]
pub struct Deployment<'a> {
    /// Where.
    pub scope: &'a Scope,
    /// Its name.
    pub name: &'a str,
    /// The ARM JSON template.
    pub template: &'a Value,
    /// `{ name: { value } }`.
    pub parameters: &'a Map<String, Value>,
    /// `Incremental` or `Complete`.
    pub mode: &'a str,
}

impl Deployment<'_> {
    fn body(&self) -> Value {
        let mut body = json!({
            "properties": {
                "template": self.template,
                "parameters": self.parameters,
                "mode": self.mode,
            }
        });
        if let Some(location) = self.scope.location() {
            body["location"] = json!(location);
        }
        body
    }

    fn path(&self) -> String {
        self.scope.deployment_path(self.name)
    }
}

/// A deployment ARM accepted.
#[derive(Debug, Clone)]
pub struct Accepted {
    /// Its resource id.
    pub id: String,
    status_url: Option<String>,
    retry_after: Option<Duration>,
}

/// The state of one resource of a deployment, as its operations list reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    /// `Microsoft.App/jobs`, …
    pub resource_type: String,
    /// The resource's name.
    pub resource_name: String,
    /// `Running`, `Succeeded`, `Failed`, …
    pub state: String,
    /// Why it failed (ARM's error tree on one line), when it did.
    pub error: Option<String>,
}

/// One output of a finished deployment.
#[derive(Debug, Clone)]
pub struct Output {
    /// Its name.
    pub name: String,
    /// Its value.
    pub value: Value,
    /// Whether its type is `secureString` / `secureObject`.
    pub secure: bool,
}

/// A deployment that reached a final state.
#[derive(Debug, Clone)]
pub struct Finished {
    /// `Succeeded`, `Failed` or `Canceled`.
    pub state: String,
    /// The HTTP status of the final read.
    pub status: u16,
    /// ARM's error tree, one line per error (empty when it succeeded).
    pub error: Vec<String>,
    /// Its outputs, in ARM's order.
    pub outputs: Vec<Output>,
}

/// One resource What-If would change.
#[derive(Debug, Clone)]
pub struct Change {
    /// `Create`, `Modify`, `Delete`, `NoChange`, `Ignore`, …
    pub change_type: String,
    /// The resource.
    pub resource_id: String,
    /// The property changes.
    pub delta: Vec<PropertyChange>,
}

/// One property change of a [`Change`].
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PropertyChange {
    /// `Create`, `Delete`, `Modify`, `Array`, …
    #[serde(default, rename = "propertyChangeType")]
    pub kind: String,
    /// The property's path.
    #[serde(default)]
    pub path: String,
    #[serde(default)]
    before: Value,
    #[serde(default)]
    after: Value,
}

impl PropertyChange {
    /// `KIND PATH: BEFORE → AFTER`, each value cut to 80 characters.
    pub fn describe(&self) -> String {
        format!(
            "{} {}: {} → {}",
            self.kind,
            self.path,
            short(&self.before),
            short(&self.after)
        )
    }
}

fn short(v: &Value) -> String {
    let text = match v {
        Value::Null => "(none)".to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if text.chars().count() > 80 {
        format!("{}…", text.chars().take(80).collect::<String>())
    } else {
        text
    }
}

fn is_terminal(state: &str) -> bool {
    matches!(state, "Succeeded" | "Failed" | "Canceled")
}

impl Arm {
    /// Creates (or updates) the deployment.
    pub async fn create_deployment(&self, d: &Deployment<'_>) -> Result<Accepted> {
        let path = d.path();
        let created = self
            .send(Method::Put, &path, Some(DEPLOYMENTS_API), Some(&d.body()))
            .await?;
        if !matches!(created.status, 200 | 201) {
            return Err(arm_error(
                &format!("creating deployment {}", d.name),
                &created,
            ));
        }
        Ok(Accepted {
            id: created.body["id"].as_str().unwrap_or(&path).to_string(),
            status_url: created.async_operation,
            retry_after: created.retry_after,
        })
    }

    /// Follows an accepted deployment until it ends (at most `limit`), telling `progress`
    /// what each look at its operations found and the deployment's state; then reads the
    /// result and takes a last look at the operations (so every final state is told).
    pub async fn follow_deployment(
        &self,
        d: &Deployment<'_>,
        accepted: &Accepted,
        limit: Duration,
        progress: &(dyn Fn(&[Operation], &str) + Sync),
    ) -> Result<std::result::Result<Finished, TimedOut>> {
        let what = format!("deployment {} running", d.name);
        let plan = PollPlan {
            interval: DEFAULT_POLL,
            limit,
            heartbeat: Some(&what),
        };
        let first = accepted.retry_after.unwrap_or(DEFAULT_POLL);
        let followed = poll(plan, first, || async {
            let (state, retry_after) = self.deployment_state(d, accepted).await?;
            if is_terminal(&state) {
                return Ok(Poll::Ready(state));
            }
            progress(&self.deployment_operations(d).await?, &state);
            Ok(Poll::Pending(retry_after))
        })
        .await?;
        let last_state = match followed {
            Ok(state) => state,
            Err(timed_out) => return Ok(Err(timed_out)),
        };
        let (result, operations) = tokio::join!(
            self.finished_deployment(d, &last_state),
            self.deployment_operations(d)
        );
        let finished = result?;
        progress(&operations?, &finished.state);
        Ok(Ok(finished))
    }

    /// The deployment's state and ARM's `Retry-After`, from the status URL when ARM gave one.
    async fn deployment_state(
        &self,
        d: &Deployment<'_>,
        accepted: &Accepted,
    ) -> Result<(String, Option<Duration>)> {
        let (resp, field, action) = match &accepted.status_url {
            Some(url) => (
                self.send(Method::Get, url, None, None).await?,
                "/status",
                "reading the deployment status",
            ),
            None => (
                self.send(Method::Get, &d.path(), Some(DEPLOYMENTS_API), None)
                    .await?,
                "/properties/provisioningState",
                "reading the deployment",
            ),
        };
        if resp.status >= 400 {
            return Err(arm_error(action, &resp));
        }
        let state = resp
            .body
            .pointer(field)
            .and_then(Value::as_str)
            .unwrap_or("Running")
            .to_string();
        Ok((state, resp.retry_after))
    }

    /// The deployment's operations (none yet: empty).
    pub async fn deployment_operations(&self, d: &Deployment<'_>) -> Result<Vec<Operation>> {
        let path = d.scope.operations_path(d.name);
        let items: Vec<Value> = match self
            .list(&path, DEPLOYMENTS_API, "listing the deployment operations")
            .await
        {
            Err(Error::Arm { status: 404, .. }) => return Ok(Vec::new()),
            other => other?,
        };
        Ok(items.iter().filter_map(operation).collect())
    }

    /// Reads the finished deployment: state, error tree, outputs.
    async fn finished_deployment(&self, d: &Deployment<'_>, last_state: &str) -> Result<Finished> {
        let result = self
            .send(Method::Get, &d.path(), Some(DEPLOYMENTS_API), None)
            .await?;
        if result.status >= 400 {
            return Err(arm_error("reading the finished deployment", &result));
        }
        let props = &result.body["properties"];
        let outputs = props["outputs"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(name, o)| Output {
                name: name.clone(),
                value: o["value"].clone(),
                secure: o["type"]
                    .as_str()
                    .is_some_and(|t| t.to_ascii_lowercase().starts_with("secure")),
            })
            .collect();
        Ok(Finished {
            state: props["provisioningState"]
                .as_str()
                .unwrap_or(last_state)
                .to_string(),
            status: result.status,
            error: error_tree(&props["error"]),
            outputs,
        })
    }

    /// Previews the deployment with What-If (at most `limit`, ARM's 202/`Location` followed).
    pub async fn what_if(
        &self,
        d: &Deployment<'_>,
        limit: Duration,
    ) -> Result<std::result::Result<Vec<Change>, TimedOut>> {
        let url = format!("{}/whatIf", d.path());
        let mut resp = self
            .send(Method::Post, &url, Some(DEPLOYMENTS_API), Some(&d.body()))
            .await?;
        if resp.status >= 400 {
            return Err(arm_error("What-If", &resp));
        }
        if resp.status == 202 {
            let Some(location) = resp.location.clone() else {
                return Err(Error::Unexpected {
                    service: "Azure Resource Manager",
                    detail: "What-If answered 202 with no Location to follow".into(),
                });
            };
            let location = Mutex::new(location);
            let started = Instant::now();
            let last_log = Mutex::new(Instant::now());
            let plan = PollPlan {
                interval: DEFAULT_POLL,
                limit,
                heartbeat: Some("What-If running"),
            };
            let first = resp.retry_after.unwrap_or(DEFAULT_POLL);
            let done = poll(plan, first, || async {
                {
                    let mut last = last_log.lock().unwrap_or_else(|e| e.into_inner());
                    if last.elapsed() >= HEARTBEAT {
                        crate::say!(
                            "  What-If running, {} s elapsed",
                            started.elapsed().as_secs()
                        );
                        *last = Instant::now();
                    }
                }
                let url = location.lock().unwrap_or_else(|e| e.into_inner()).clone();
                let next = self.send(Method::Get, &url, None, None).await?;
                if next.status >= 400 {
                    return Err(arm_error("What-If", &next));
                }
                if next.status != 202 {
                    return Ok(Poll::Ready(next));
                }
                if let Some(moved) = &next.location {
                    *location.lock().unwrap_or_else(|e| e.into_inner()) = moved.clone();
                }
                Ok(Poll::Pending(next.retry_after.or(Some(DEFAULT_POLL))))
            })
            .await?;
            resp = match done {
                Ok(resp) => resp,
                Err(t) => return Ok(Err(t)),
            };
        }
        if resp.body["status"].as_str() == Some("Failed")
            || resp.body.get("error").is_some_and(|e| !e.is_null())
        {
            return Err(arm_error("What-If", &resp));
        }
        Ok(Ok(resp.body["properties"]["changes"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| Change {
                change_type: c["changeType"].as_str().unwrap_or("Unknown").to_string(),
                resource_id: c["resourceId"].as_str().unwrap_or("?").to_string(),
                delta: c["delta"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|d| serde_json::from_value(d.clone()).ok())
                    .collect(),
            })
            .collect()))
    }
}

/// One operation of the list, when it names a resource.
fn operation(op: &Value) -> Option<Operation> {
    let p = &op["properties"];
    let target = &p["targetResource"];
    let resource_type = target["resourceType"].as_str().unwrap_or("").to_string();
    let resource_name = target["resourceName"].as_str().unwrap_or("").to_string();
    if resource_type.is_empty() && resource_name.is_empty() {
        return None;
    }
    let state = p["provisioningState"].as_str().unwrap_or("").to_string();
    let error = (state == "Failed").then(|| {
        let err = &p["statusMessage"]["error"];
        let tree = error_tree(if err.is_object() {
            err
        } else {
            &p["statusMessage"]
        });
        let message = if tree.is_empty() {
            p["statusMessage"].to_string()
        } else {
            tree.join(" / ")
        };
        message.trim().to_string()
    });
    Some(Operation {
        resource_type,
        resource_name,
        state,
        error,
    })
}

//! Deployments: the PUT, the GET, the operations list, the async operation status and the
//! preflight, and the simulation behind them.
//!
//! A deployment is simulated from its creation instant, recomputed on every request (no
//! background task): with `n` resources and total duration `D`, resource `i` runs from
//! `i*D/(n+1)` to `(i+1)*D/(n+1)` and the deployment finishes at `D`. Once it has finished,
//! [`settle`] records each resource whose operation succeeded in the resource registry.

use super::ids::{deployment_id, deployment_status_url, scope_path};
use super::resources;
use super::template::evaluate;
use crate::DeploymentRecord;
use crate::state::{Deployment, Planned, State};
use crate::util::{Req, Resp, azure_error, random_hex, random_uuid, rfc3339};
use serde_json::{Value, json};
use std::time::Instant;
use time::OffsetDateTime;

const DEPLOYMENT_FAILED: &str = "At least one resource deployment operation failed. Please list deployment operations for details. Please see https://aka.ms/arm-deployment-operations for usage details.";

/// ISO 8601 duration like `PT1.5S`.
fn iso_duration(ms: u64) -> String {
    if ms.is_multiple_of(1000) {
        format!("PT{}S", ms / 1000)
    } else {
        format!("PT{}S", ms as f64 / 1000.0)
    }
}

fn millis(ms: u64) -> time::Duration {
    time::Duration::milliseconds(i64::try_from(ms).unwrap_or(i64::MAX))
}

impl Deployment {
    /// Milliseconds since the PUT.
    fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn id(&self) -> String {
        deployment_id(&self.sub, self.rg.as_deref(), &self.name)
    }

    /// Start and end (ms after creation) of resource `i`.
    fn window(&self, i: usize) -> (u64, u64) {
        let n = self.resources.len() as u64 + 1;
        let i = i as u64;
        (i * self.duration_ms / n, (i + 1) * self.duration_ms / n)
    }

    fn state_at(&self, t: u64) -> &'static str {
        if t < self.duration_ms {
            "Running"
        } else if self.failure.is_some() {
            "Failed"
        } else {
            "Succeeded"
        }
    }

    fn failed_index(&self) -> Option<usize> {
        self.failure.as_ref().and_then(|f| f.0)
    }

    fn op_state_at(&self, i: usize, t: u64) -> Option<&'static str> {
        let (start, end) = self.window(i);
        if t < start {
            None
        } else if t < end {
            Some("Running")
        } else if self.failed_index() == Some(i) {
            Some("Failed")
        } else {
            Some("Succeeded")
        }
    }

    /// The flat error of a failed deployment (as real ARM returns it).
    fn error(&self) -> Option<Value> {
        let (_, code, message) = self.failure.as_ref()?;
        Some(json!({
            "code": "DeploymentFailed",
            "message": DEPLOYMENT_FAILED,
            "details": [{"code": code, "message": message}],
        }))
    }

    /// The public record.
    pub(crate) fn record(&self) -> DeploymentRecord {
        DeploymentRecord {
            scope_path: scope_path(&self.sub, self.rg.as_deref()),
            name: self.name.clone(),
            request_body: self.request_body.clone(),
            state: self.state_at(self.elapsed_ms()).to_string(),
        }
    }

    /// `DeploymentExtended`; `accepted` for the PUT response.
    fn to_json(&self, accepted: bool) -> Value {
        let t = self.elapsed_ms();
        let state = if accepted {
            "Accepted"
        } else {
            self.state_at(t)
        };
        let shown = t.min(self.duration_ms);
        let mut props = json!({
            "templateHash": self.template_hash,
            "parameters": self.params_echo,
            "mode": self.mode,
            "provisioningState": state,
            "timestamp": rfc3339(self.started_at + millis(shown)),
            "duration": iso_duration(shown),
            "correlationId": self.correlation_id,
            "providers": [],
            "dependencies": [],
        });
        if !accepted && t >= self.duration_ms {
            let ids: Vec<Value> = self
                .resources
                .iter()
                .enumerate()
                .filter(|(i, _)| self.failed_index() != Some(*i))
                .map(|(_, r)| json!({"id": r.id}))
                .collect();
            props["outputResources"] = Value::Array(ids);
            match self.error() {
                Some(e) => props["error"] = e,
                None => props["outputs"] = Value::Object(self.outputs.clone()),
            }
        }
        let mut v = json!({
            "id": self.id(),
            "name": self.name,
            "type": "Microsoft.Resources/deployments",
            "properties": props,
        });
        if let Some(l) = &self.location {
            v["location"] = json!(l);
        }
        if let Some(tags) = &self.tags {
            v["tags"] = tags.clone();
        }
        v
    }

    fn operations_json(&self, top: Option<usize>) -> Value {
        let t = self.elapsed_ms();
        let ops: Vec<Value> = self
            .resources
            .iter()
            .enumerate()
            .filter_map(|(i, r)| {
                let state = self.op_state_at(i, t)?;
                let (start, end) = self.window(i);
                let shown = t.min(end);
                let mut props = json!({
                    "provisioningOperation": "Create",
                    "provisioningState": state,
                    "timestamp": rfc3339(self.started_at + millis(shown)),
                    "duration": iso_duration(shown - start),
                    "trackingId": r.tracking_id,
                    "serviceRequestId": r.service_request_id,
                    "targetResource": {"id": r.id, "resourceType": r.rtype, "resourceName": r.name},
                });
                match state {
                    "Succeeded" => {
                        props["statusCode"] = json!(if r.existed { "OK" } else { "Created" });
                        props["statusMessage"] = json!({"status": "Succeeded"});
                    }
                    "Failed" => {
                        let (_, code, message) = self.failure.clone().unwrap_or_default();
                        props["statusCode"] = json!("BadRequest");
                        props["statusMessage"] = json!({
                            "status": "Failed",
                            "error": {"code": code, "message": message},
                        });
                    }
                    _ => {}
                }
                Some(json!({
                    "id": format!("{}/operations/{}", self.id(), r.op_id),
                    "operationId": r.op_id,
                    "properties": props,
                }))
            })
            .take(top.unwrap_or(usize::MAX))
            .collect();
        json!({"value": ops})
    }
}

/// Records the resources of every finished deployment in the registry (once).
pub(crate) fn settle(st: &mut State) {
    let mut created = Vec::new();
    for d in st.arm.deployments.iter_mut() {
        if d.applied || d.elapsed_ms() < d.duration_ms {
            continue;
        }
        d.applied = true;
        let failed = d.failed_index();
        created.extend(
            d.resources
                .iter()
                .enumerate()
                .filter(|(i, _)| failed != Some(*i))
                .map(|(_, r)| {
                    (
                        r.rtype.clone(),
                        r.name.clone(),
                        r.id.clone(),
                        r.body.clone(),
                    )
                }),
        );
    }
    for (rtype, name, id, body) in created {
        st.arm.put_resource(&id, body);
        if rtype.eq_ignore_ascii_case("Microsoft.Authorization/roleAssignments") {
            st.arm.rbac_changed = Some(Instant::now());
        }
        if rtype.eq_ignore_ascii_case("Microsoft.KeyVault/vaults") {
            st.seed
                .deleted_vaults
                .retain(|v| !v.name.eq_ignore_ascii_case(&name));
        }
    }
}

fn find_deployment<'a>(
    st: &'a State,
    sub: &str,
    rg: Option<&str>,
    name: &str,
) -> Option<&'a Deployment> {
    st.arm.deployments.iter().rev().find(|d| {
        d.sub.eq_ignore_ascii_case(sub)
            && d.name.eq_ignore_ascii_case(name)
            && match (&d.rg, rg) {
                (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
                (None, None) => true,
                _ => false,
            }
    })
}

/// The latest deployment of that name, or ARM's 404.
fn found<'a>(
    st: &'a State,
    sub: &str,
    rg: Option<&str>,
    name: &str,
) -> Result<&'a Deployment, Resp> {
    find_deployment(st, sub, rg, name).ok_or_else(|| {
        azure_error(
            404,
            "DeploymentNotFound",
            &format!("Deployment '{name}' could not be found."),
        )
    })
}

/// `GET` of a deployment (`DeploymentExtended`).
pub(super) fn get(st: &State, sub: &str, rg: Option<&str>, name: &str) -> Resp {
    match found(st, sub, rg, name) {
        Ok(d) => Resp::json(200, &d.to_json(false)),
        Err(r) => r,
    }
}

/// `GET …/operations` of a deployment (`$top` honoured): the operations started so far.
pub(super) fn operations(st: &State, sub: &str, rg: Option<&str>, name: &str, req: &Req) -> Resp {
    match found(st, sub, rg, name) {
        Ok(d) => {
            let top = req.query_param("$top").and_then(|t| t.parse().ok());
            Resp::json(200, &d.operations_json(top))
        }
        Err(r) => r,
    }
}

/// The async operation status a PUT named (`Retry-After` while it runs).
pub(super) fn status(st: &State, op: &str) -> Resp {
    match st
        .arm
        .deployments
        .iter()
        .find(|d| d.async_op.eq_ignore_ascii_case(op))
    {
        None => azure_error(
            404,
            "OperationNotFound",
            &format!("The operation '{op}' could not be found."),
        ),
        Some(d) => {
            let state = d.state_at(d.elapsed_ms());
            let mut v = json!({"status": state});
            if let (Some(e), "Failed") = (d.error(), state) {
                v["error"] = e;
            }
            let resp = Resp::json(200, &v);
            // ARM tells pollers when to come back while the operation runs.
            if matches!(state, "Succeeded" | "Failed" | "Canceled") {
                resp
            } else {
                resp.with_header("retry-after", st.seed.arm_retry_after_secs.to_string())
            }
        }
    }
}

/// `PUT` of a deployment: evaluated now, then simulated (201 `Accepted` with the
/// `Azure-AsyncOperation` URL to poll).
pub(super) fn put(st: &mut State, sub: &str, rg: Option<&str>, name: &str, req: &Req) -> Resp {
    if let Some(d) = find_deployment(st, sub, rg, name)
        && d.state_at(d.elapsed_ms()) == "Running"
    {
        return azure_error(
            409,
            "DeploymentActive",
            &format!(
                "Unable to edit or replace deployment '{name}': previous deployment from '{}' is still active (expiration time is '{}'). Please see https://aka.ms/arm-deploy-resources for usage details.",
                rfc3339(d.started_at),
                rfc3339(d.started_at + time::Duration::days(14))
            ),
        );
    }
    let (body, location, p) = match evaluate(st, sub, rg, name, req) {
        Ok(e) => e,
        Err(r) => return r,
    };
    // The resource providers refuse what they cannot take: that resource's operation fails.
    let refused = p.resources.iter().enumerate().find_map(|(i, r)| {
        resources::problem(&r.rtype, &r.api_version, &r.body)
            .or_else(|| {
                resources::soft_deleted_conflict(
                    &st.seed.deleted_vaults,
                    &r.rtype,
                    &r.name,
                    &r.body,
                )
            })
            .map(|(code, message)| (Some(i), code, message))
    });
    let resources: Vec<Planned> = p
        .resources
        .into_iter()
        .map(|r| Planned {
            existed: st.arm.resource(&r.id).is_some(),
            rtype: r.rtype,
            name: r.name,
            id: r.id,
            body: r.body,
            op_id: random_hex(16).to_uppercase(),
            tracking_id: random_uuid(),
            service_request_id: random_uuid(),
        })
        .collect();
    let failure = st
        .arm
        .failures
        .iter()
        .position(|f| name.contains(&f.name_contains))
        .map(|pos| st.arm.failures.remove(pos))
        .map(|f| {
            let idx = if f.resource_name_contains.is_empty() {
                None
            } else {
                resources
                    .iter()
                    .position(|r| r.name.contains(&f.resource_name_contains))
            }
            .or_else(|| resources.len().checked_sub(1));
            (idx, f.code, f.message)
        });
    let failure = failure.or(refused);
    let d = Deployment {
        sub: sub.to_string(),
        rg: rg.map(str::to_string),
        name: name.to_string(),
        location,
        tags: body.get("tags").cloned(),
        request_body: body,
        started: Instant::now(),
        started_at: OffsetDateTime::now_utc(),
        duration_ms: st.seed.arm_deployment_ms,
        async_op: random_hex(16).to_uppercase(),
        correlation_id: random_uuid(),
        template_hash: p.template_hash,
        mode: p.mode,
        params_echo: p.params_echo,
        outputs: p.outputs,
        resources,
        failure,
        applied: false,
    };
    let resp = Resp::json(201, &d.to_json(true))
        .with_header(
            "azure-asyncoperation",
            deployment_status_url(&st.url, sub, name, &d.async_op),
        )
        .with_header("retry-after", st.seed.arm_retry_after_secs.to_string());
    st.arm.deployments.push(d);
    resp
}

/// Preflight: the template is evaluated as a PUT would evaluate it; nothing is deployed.
pub(super) fn validate(st: &State, sub: &str, rg: Option<&str>, name: &str, req: &Req) -> Resp {
    let (_, _, p) = match evaluate(st, sub, rg, name, req) {
        Ok(e) => e,
        Err(r) => return r,
    };
    let validated: Vec<Value> = p.resources.iter().map(|r| json!({"id": r.id})).collect();
    Resp::json(
        200,
        &json!({
            "id": deployment_id(sub, rg, name),
            "name": name,
            "type": "Microsoft.Resources/deployments",
            "properties": {
                "provisioningState": "Succeeded",
                "templateHash": p.template_hash,
                "parameters": p.params_echo,
                "mode": p.mode,
                "validatedResources": validated,
            },
        }),
    )
}

//! Azure Resource Manager: template deployments at resource-group and subscription scope
//! (PUT/GET, operations list, async status, What-If) and Container Apps Jobs (GET/PUT).
//!
//! Deployments are simulated from their creation instant, recomputed on every request (no
//! background tasks): with `n` resources and total duration `D`, resource `i` runs from
//! `i*D/(n+1)` to `(i+1)*D/(n+1)` and the deployment finishes at `D`. When it has finished,
//! each resource whose operation succeeded is recorded in the resource registry (see
//! [`settle`]); Container Apps Jobs live in the same registry, so jobs a deployment creates are
//! visible to the Jobs API.

mod expr;
mod resources;

use crate::state::{Deployment, Planned, State, WhatIf};
use crate::util::{Req, Resp, now_unix, random_hex, random_uuid, stable_id};
use crate::{ArmRole, DeploymentRecord, WhatIfRecord};
use expr::{Ctx, eval_str, eval_value, get_ci, provider_path, text, try_eval};
use serde_json::{Map, Value, json};
use std::time::Instant;
use time::OffsetDateTime;

const DEPLOYMENTS_API: &str = "2025-04-01";
const JOBS_API: &str = "2025-07-01";
const DEPLOYMENT_FAILED: &str = "At least one resource deployment operation failed. Please list deployment operations for details. Please see https://aka.ms/arm-deployment-operations for usage details.";

fn scope_path(sub: &str, rg: Option<&str>) -> String {
    match rg {
        Some(rg) => format!("/subscriptions/{sub}/resourceGroups/{rg}"),
        None => format!("/subscriptions/{sub}"),
    }
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

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
    fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn id(&self) -> String {
        format!(
            "{}/providers/Microsoft.Resources/deployments/{}",
            scope_path(&self.sub, self.rg.as_deref()),
            self.name
        )
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

impl WhatIf {
    /// The public record.
    pub(crate) fn record(&self) -> WhatIfRecord {
        WhatIfRecord {
            scope_path: scope_path(&self.sub, self.rg.as_deref()),
            name: self.name.clone(),
            request_body: self.request_body.clone(),
        }
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

pub(crate) fn arm_error(status: u16, code: &str, message: &str) -> Resp {
    Resp::json(
        status,
        &json!({"error": {"code": code, "message": message}}),
    )
}

fn invalid_template(message: &str) -> Resp {
    arm_error(
        400,
        "InvalidTemplate",
        &format!("Deployment template validation failed: '{message}'."),
    )
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Get,
    Put,
    WhatIf,
    Operations,
    /// `POST …/deployments/{name}/validate` (preflight; `az deployment group create` sends it
    /// before the PUT).
    Validate,
}

enum Route {
    /// `GET /subscriptions` (`None`) or `GET /subscriptions/{id}` (what `az login` lists).
    Subscriptions(Option<String>),
    Deployment {
        sub: String,
        rg: Option<String>,
        name: String,
        kind: Kind,
    },
    DeploymentStatus {
        sub: String,
        op: String,
    },
    WhatIfResult {
        sub: String,
        id: String,
    },
    Job {
        sub: String,
        rg: String,
        name: String,
        put: bool,
    },
    JobStatus {
        sub: String,
        op: String,
    },
    /// `GET /subscriptions/{sub}/providers/Microsoft.KeyVault/deletedVaults`.
    DeletedVaults {
        sub: String,
    },
    /// `GET /subscriptions/{sub}/providers/Microsoft.Authorization/roleAssignments`.
    RoleAssignments {
        sub: String,
    },
    /// `GET /subscriptions/{sub}/providers/Microsoft.App/{jobs|containerApps}`.
    AppList {
        sub: String,
        kind: &'static str,
    },
    /// A container app (`Microsoft.App/containerApps`), read or written.
    App {
        sub: String,
        rg: String,
        name: String,
        put: bool,
    },
}

/// Routes served for the `az` CLI that the vendored API description does not cover (subscription
/// listing, deployment preflight): their exchanges are not contract-checked.
pub(crate) fn undescribed(req: &Req) -> bool {
    matches!(
        route(&req.method, &req.segments()),
        Some(
            Route::Subscriptions(_)
                | Route::DeletedVaults { .. }
                | Route::AppList { .. }
                | Route::App { .. }
                | Route::RoleAssignments { .. }
                | Route::Deployment {
                    kind: Kind::Validate,
                    ..
                }
        )
    )
}

fn route(method: &str, segs: &[String]) -> Option<Route> {
    let lower: Vec<String> = segs.iter().map(|s| s.to_ascii_lowercase()).collect();
    let l: Vec<&str> = lower.iter().map(String::as_str).collect();
    let s = |i: usize| segs[i].clone();
    let dep = |rg: Option<String>, name: String, kind: Kind| {
        Some(Route::Deployment {
            sub: s(1),
            rg,
            name,
            kind,
        })
    };
    match (method, l.as_slice()) {
        ("GET", ["subscriptions"]) => Some(Route::Subscriptions(None)),
        ("GET", ["subscriptions", _]) => Some(Route::Subscriptions(Some(s(1)))),
        (
            "POST",
            [
                "subscriptions",
                _,
                "resourcegroups",
                _,
                "providers",
                "microsoft.resources",
                "deployments",
                _,
                "validate",
            ],
        ) => dep(Some(s(3)), s(7), Kind::Validate),
        (
            "POST",
            [
                "subscriptions",
                _,
                "providers",
                "microsoft.resources",
                "deployments",
                _,
                "validate",
            ],
        ) => dep(None, s(5), Kind::Validate),
        (
            "GET" | "PUT",
            [
                "subscriptions",
                _,
                "resourcegroups",
                _,
                "providers",
                "microsoft.resources",
                "deployments",
                _,
            ],
        ) => dep(
            Some(s(3)),
            s(7),
            if method == "PUT" {
                Kind::Put
            } else {
                Kind::Get
            },
        ),
        (
            "POST",
            [
                "subscriptions",
                _,
                "resourcegroups",
                _,
                "providers",
                "microsoft.resources",
                "deployments",
                _,
                "whatif",
            ],
        ) => dep(Some(s(3)), s(7), Kind::WhatIf),
        (
            "GET",
            [
                "subscriptions",
                _,
                "resourcegroups",
                _,
                "providers",
                "microsoft.resources",
                "deployments",
                _,
                "operations",
            ],
        ) => dep(Some(s(3)), s(7), Kind::Operations),
        (
            "GET",
            [
                "subscriptions",
                _,
                "resourcegroups",
                _,
                "deployments",
                _,
                "operations",
            ],
        ) => dep(Some(s(3)), s(5), Kind::Operations),
        (
            "GET" | "PUT",
            [
                "subscriptions",
                _,
                "providers",
                "microsoft.resources",
                "deployments",
                _,
            ],
        ) => dep(
            None,
            s(5),
            if method == "PUT" {
                Kind::Put
            } else {
                Kind::Get
            },
        ),
        (
            "POST",
            [
                "subscriptions",
                _,
                "providers",
                "microsoft.resources",
                "deployments",
                _,
                "whatif",
            ],
        ) => dep(None, s(5), Kind::WhatIf),
        (
            "GET",
            [
                "subscriptions",
                _,
                "providers",
                "microsoft.resources",
                "deployments",
                _,
                "operations",
            ],
        ) => dep(None, s(5), Kind::Operations),
        (
            "GET",
            [
                "subscriptions",
                _,
                "providers",
                "microsoft.resources",
                "deployments",
                _,
                "operationstatuses",
                _,
            ],
        ) => Some(Route::DeploymentStatus {
            sub: s(1),
            op: s(7),
        }),
        (
            "GET",
            [
                "subscriptions",
                _,
                "providers",
                "microsoft.resources",
                "locations",
                _,
                "operationresults",
                _,
            ],
        ) => Some(Route::WhatIfResult {
            sub: s(1),
            id: s(7),
        }),
        (
            "GET" | "PUT",
            [
                "subscriptions",
                _,
                "resourcegroups",
                _,
                "providers",
                "microsoft.app",
                "jobs",
                _,
            ],
        ) => Some(Route::Job {
            sub: s(1),
            rg: s(3),
            name: s(7),
            put: method == "PUT",
        }),
        (
            "GET",
            [
                "subscriptions",
                _,
                "providers",
                "microsoft.app",
                "locations",
                _,
                "containerappsjoboperationstatuses",
                _,
            ],
        ) => Some(Route::JobStatus {
            sub: s(1),
            op: s(7),
        }),
        (
            "GET",
            [
                "subscriptions",
                _,
                "providers",
                "microsoft.keyvault",
                "deletedvaults",
            ],
        ) => Some(Route::DeletedVaults { sub: s(1) }),
        (
            "GET",
            [
                "subscriptions",
                _,
                "providers",
                "microsoft.authorization",
                "roleassignments",
            ],
        ) => Some(Route::RoleAssignments { sub: s(1) }),
        ("GET", ["subscriptions", _, "providers", "microsoft.app", "jobs"]) => {
            Some(Route::AppList {
                sub: s(1),
                kind: "Microsoft.App/jobs",
            })
        }
        (
            "GET",
            [
                "subscriptions",
                _,
                "providers",
                "microsoft.app",
                "containerapps",
            ],
        ) => Some(Route::AppList {
            sub: s(1),
            kind: "Microsoft.App/containerApps",
        }),
        (
            "GET" | "PUT",
            [
                "subscriptions",
                _,
                "resourcegroups",
                _,
                "providers",
                "microsoft.app",
                "containerapps",
                _,
            ],
        ) => Some(Route::App {
            sub: s(1),
            rg: s(3),
            name: s(7),
            put: method == "PUT",
        }),
        _ => None,
    }
}

/// Caller identity from a valid ARM token.
pub(crate) struct Caller {
    pub client_id: String,
}

pub(crate) fn authenticate(st: &State, req: &Req) -> Result<Caller, Resp> {
    let unauthorized = |message: &str| {
        arm_error(401, "InvalidAuthenticationToken", message).with_header(
            "www-authenticate",
            format!(
                "Bearer authorization_uri=\"{}/{}\", error=\"invalid_token\", error_description=\"{message}\"",
                st.authority(),
                st.seed.tenant_id
            ),
        )
    };
    let Some(bearer) = req.bearer() else {
        return Err(unauthorized(
            "The access token is missing or the 'Authorization' header is invalid.",
        ));
    };
    let Some(token) = st.entra_tokens.iter().find(|t| t.token == bearer) else {
        return Err(unauthorized(
            "The access token is invalid: it was not issued by a trusted issuer.",
        ));
    };
    let aud = token.aud.trim_end_matches('/');
    let accepted = [
        "https://management.azure.com",
        "https://management.core.windows.net",
        st.url.trim_end_matches('/'),
    ];
    if !accepted.iter().any(|a| a.eq_ignore_ascii_case(aud)) {
        return Err(unauthorized(&format!(
            "The access token has an invalid audience '{}'. Expected https://management.azure.com/ or https://management.core.windows.net/.",
            token.aud
        )));
    }
    if token.exp <= now_unix() {
        return Err(unauthorized(
            "The access token expiry UTC time is in the past.",
        ));
    }
    Ok(Caller {
        client_id: token.client_id.clone(),
    })
}

pub(crate) fn handle(st: &mut State, req: &Req) -> Option<Resp> {
    let route = route(&req.method, &req.segments())?;
    let caller = match authenticate(st, req) {
        Ok(c) => c,
        Err(r) => return Some(r),
    };
    if req.query_param("api-version").is_none_or(|v| v.is_empty()) {
        return Some(arm_error(
            400,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        ));
    }
    let sub = match &route {
        Route::Subscriptions(id) => id
            .clone()
            .unwrap_or_else(|| st.seed.subscription_id.clone()),
        Route::Deployment { sub, .. }
        | Route::DeploymentStatus { sub, .. }
        | Route::WhatIfResult { sub, .. }
        | Route::Job { sub, .. }
        | Route::JobStatus { sub, .. }
        | Route::DeletedVaults { sub }
        | Route::AppList { sub, .. }
        | Route::RoleAssignments { sub }
        | Route::App { sub, .. } => sub.clone(),
    };
    if !sub.eq_ignore_ascii_case(&st.seed.subscription_id) {
        return Some(arm_error(
            404,
            "SubscriptionNotFound",
            &format!("The subscription '{sub}' could not be found."),
        ));
    }
    let action = match &route {
        Route::Deployment { kind, .. } => Some(match kind {
            Kind::Get => ("Microsoft.Resources/deployments/read", false),
            Kind::Put => ("Microsoft.Resources/deployments/write", true),
            Kind::WhatIf => ("Microsoft.Resources/deployments/whatIf/action", true),
            Kind::Validate => ("Microsoft.Resources/deployments/validate/action", true),
            Kind::Operations => ("Microsoft.Resources/deployments/operations/read", false),
        }),
        Route::Job { put, .. } => Some(if *put {
            ("Microsoft.App/jobs/write", true)
        } else {
            ("Microsoft.App/jobs/read", false)
        }),
        Route::App { put, .. } => Some(if *put {
            ("Microsoft.App/containerApps/write", true)
        } else {
            ("Microsoft.App/containerApps/read", false)
        }),
        Route::AppList { kind, .. } => Some(if *kind == "Microsoft.App/jobs" {
            ("Microsoft.App/jobs/read", false)
        } else {
            ("Microsoft.App/containerApps/read", false)
        }),
        _ => None,
    };
    if let Some((action, write)) = action {
        let allowed = match st.arm_role {
            ArmRole::Contributor => true,
            ArmRole::Reader => !write,
            ArmRole::None => false,
        };
        if !allowed {
            return Some(arm_error(
                403,
                "AuthorizationFailed",
                &format!(
                    "The client '{}' with object id '{}' does not have authorization to perform action '{action}' over scope '{}' or the scope is invalid. If access was recently granted, please refresh your credentials.",
                    caller.client_id, st.seed.azure_object_id, req.path
                ),
            ));
        }
    }
    settle(st);
    Some(match route {
        Route::Subscriptions(id) => subscriptions(st, id.as_deref()),
        Route::DeletedVaults { sub } => deleted_vaults(st, &sub),
        Route::RoleAssignments { .. } => role_assignments(st, req),
        Route::AppList { kind, .. } => {
            let value: Vec<Value> = st
                .arm
                .registry
                .values()
                .filter(|r| {
                    r.get("type")
                        .and_then(Value::as_str)
                        .is_some_and(|t| t.eq_ignore_ascii_case(kind))
                })
                .map(job_view)
                .collect();
            Resp::json(200, &json!({"value": value, "nextLink": null}))
        }
        Route::App { sub, rg, name, put } => {
            let id = format!(
                "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.App/containerApps/{name}"
            );
            if put {
                match body_object(req) {
                    Ok(mut app) => {
                        app["id"] = json!(id);
                        app["name"] = json!(name);
                        app["type"] = json!("Microsoft.App/containerApps");
                        st.arm.put_resource(&id, app.clone());
                        Resp::json(200, &job_view(&app))
                    }
                    Err(r) => r,
                }
            } else {
                match st.arm.resource(&id) {
                    Some(app) => Resp::json(200, &job_view(app)),
                    None => arm_error(
                        404,
                        "ResourceNotFound",
                        &format!(
                            "The Resource 'Microsoft.App/containerApps/{name}' under resource group '{rg}' was not found."
                        ),
                    ),
                }
            }
        }
        Route::Deployment {
            sub,
            rg,
            name,
            kind,
        } => match kind {
            Kind::Put => put_deployment(st, &sub, rg.as_deref(), &name, req),
            Kind::WhatIf => post_what_if(st, &sub, rg.as_deref(), &name, req),
            Kind::Validate => post_validate(st, &sub, rg.as_deref(), &name, req),
            Kind::Get | Kind::Operations => match find_deployment(st, &sub, rg.as_deref(), &name) {
                None => arm_error(
                    404,
                    "DeploymentNotFound",
                    &format!("Deployment '{name}' could not be found."),
                ),
                Some(d) if kind == Kind::Get => Resp::json(200, &d.to_json(false)),
                Some(d) => {
                    let top = req.query_param("$top").and_then(|t| t.parse().ok());
                    Resp::json(200, &d.operations_json(top))
                }
            },
        },
        Route::DeploymentStatus { op, .. } => {
            match st
                .arm
                .deployments
                .iter()
                .find(|d| d.async_op.eq_ignore_ascii_case(&op))
            {
                None => arm_error(
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
        Route::WhatIfResult { id, .. } => what_if_result(st, &id),
        Route::Job {
            rg,
            name,
            put: false,
            ..
        } => match stored_job(st, &rg, &name) {
            Some(job) => Resp::json(200, &job_view(&job)),
            None => arm_error(
                404,
                "ResourceNotFound",
                &format!(
                    "The Resource 'Microsoft.App/jobs/{name}' under resource group '{rg}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix"
                ),
            ),
        },
        Route::Job {
            rg,
            name,
            put: true,
            ..
        } => put_job_http(st, &rg, &name, req),
        Route::JobStatus { op, .. } => match st.arm.job_ops.get(&op) {
            None => arm_error(
                404,
                "OperationNotFound",
                &format!("The operation '{op}' could not be found."),
            ),
            Some(_) => Resp::json(
                200,
                &json!({
                    "id": req.path,
                    "name": op,
                    "status": "Succeeded",
                    "startTime": rfc3339(OffsetDateTime::now_utc()),
                }),
            ),
        },
    })
}

/// The seeded subscription, as `GET /subscriptions[/{id}]` lists it (another id is a 404
/// before this is reached).
fn subscriptions(st: &State, id: Option<&str>) -> Resp {
    let sub = &st.seed.subscription_id;
    let one = json!({
        "id": format!("/subscriptions/{sub}"),
        "authorizationSource": "RoleBased",
        "managedByTenants": [],
        "subscriptionId": sub,
        "tenantId": st.seed.tenant_id,
        "displayName": "fake-cloud subscription",
        "state": "Enabled",
        "subscriptionPolicies": {
            "locationPlacementId": "Public_2014-09-01",
            "quotaId": "PayAsYouGo_2014-09-01",
            "spendingLimit": "Off",
        },
    });
    match id {
        None => Resp::json(
            200,
            &json!({"value": [one], "count": {"type": "Total", "value": 1}}),
        ),
        Some(_) => Resp::json(200, &one),
    }
}

/// Preflight: the template is evaluated as a PUT would evaluate it; nothing is deployed.
fn post_validate(st: &State, sub: &str, rg: Option<&str>, name: &str, req: &Req) -> Resp {
    let (_, _, p) = match evaluate(st, sub, rg, name, req) {
        Ok(e) => e,
        Err(r) => return r,
    };
    let validated: Vec<Value> = p
        .resources
        .iter()
        .map(|(_, _, id, _)| json!({"id": id}))
        .collect();
    let id = match rg {
        Some(rg) => {
            format!(
                "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Resources/deployments/{name}"
            )
        }
        None => format!("/subscriptions/{sub}/providers/Microsoft.Resources/deployments/{name}"),
    };
    Resp::json(
        200,
        &json!({
            "id": id,
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

/// A validated deployment request.
struct Prepared {
    mode: String,
    params_echo: Value,
    outputs: Map<String, Value>,
    resources: Vec<(String, String, String, Value)>,
    template_hash: String,
}

fn type_name(t: &str) -> String {
    match t.to_ascii_lowercase().as_str() {
        "string" => "String".into(),
        "int" => "Int".into(),
        "bool" => "Bool".into(),
        "object" => "Object".into(),
        "array" => "Array".into(),
        "securestring" => "SecureString".into(),
        "secureobject" => "SecureObject".into(),
        _ => t.to_string(),
    }
}

/// Validates a `Deployment`/`DeploymentWhatIf` body and evaluates its template.
fn prepare(
    st: &State,
    sub: &str,
    rg: Option<&str>,
    location: Option<&str>,
    body: &Value,
) -> Result<Prepared, Resp> {
    expr::clear_references();
    prepare_at(st, sub, rg, location, body)
}

/// What `reference()` returns for a planned resource: its properties, plus the read-only ones
/// the resource provider would add.
fn runtime_view(st: &State, rtype: &str, name: &str, id: &str, body: &Value) -> Value {
    let mut view = body.get("properties").cloned().unwrap_or_else(|| json!({}));
    if !view.is_object() {
        view = json!({});
    }
    match rtype.to_ascii_lowercase().as_str() {
        "microsoft.keyvault/vaults" => {
            view["vaultUri"] = json!(if st.public_hosts {
                format!("https://{}.vault.azure.net/", name.to_ascii_lowercase())
            } else {
                format!("{}/", st.listener_url)
            });
        }
        "microsoft.managedidentity/userassignedidentities" => {
            view["principalId"] = json!(random_uuid_from(&format!("principal:{id}")));
            view["clientId"] = json!(random_uuid_from(&format!("client:{id}")));
            view["tenantId"] = json!(st.seed.tenant_id);
        }
        "microsoft.containerregistry/registries" => {
            view["loginServer"] = json!(st.login_server(name));
        }
        "microsoft.operationalinsights/workspaces" => {
            view["customerId"] = json!(random_uuid_from(&format!("workspace:{id}")));
        }
        _ => {}
    }
    view
}

/// A UUID-shaped stable hash (the same resource id gives the same principal id).
fn random_uuid_from(seed: &str) -> String {
    let h = stable_id(seed);
    let g = stable_id(&format!("{seed}#"));
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        h & 0xffff_ffff,
        (h >> 32) & 0xffff,
        (g >> 4) & 0xfff,
        (g >> 16) & 0xfff,
        (g >> 28) & 0xffff_ffff_ffff
    )
}

fn prepare_at(
    st: &State,
    sub: &str,
    rg: Option<&str>,
    location: Option<&str>,
    body: &Value,
) -> Result<Prepared, Resp> {
    let props = body.get("properties").cloned().unwrap_or(Value::Null);
    let Some(template) = props.get("template").and_then(Value::as_object) else {
        return Err(arm_error(
            400,
            "InvalidRequestContent",
            "The request content was invalid and could not be deserialized: 'properties.template' must be a JSON object (fake-cloud does not support templateLink).",
        ));
    };
    if !template.contains_key("$schema") {
        return Err(invalid_template(
            "Required property '$schema' not found in JSON. Path '', line 1, position 1.",
        ));
    }
    let resources: Vec<Value> = match template.get("resources") {
        Some(Value::Array(a)) => a.clone(),
        Some(Value::Object(m)) => m.values().cloned().collect(),
        _ => {
            return Err(invalid_template(
                "Required property 'resources' not found in JSON. Path '', line 1, position 1.",
            ));
        }
    };
    let mode = match props.get("mode") {
        None | Some(Value::Null) => "Incremental".to_string(),
        Some(Value::String(m)) if m == "Incremental" || m == "Complete" => m.clone(),
        Some(other) => {
            return Err(arm_error(
                400,
                "InvalidRequestContent",
                &format!(
                    "The request content was invalid and could not be deserialized: 'Error converting value {other} to type 'DeploymentMode'. Path 'properties.mode'.'."
                ),
            ));
        }
    };
    let declared = template
        .get("parameters")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let passed = props
        .get("parameters")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let unknown: Vec<&str> = passed
        .keys()
        .filter(|k| get_ci(&declared, k).is_none())
        .map(String::as_str)
        .collect();
    if !unknown.is_empty() {
        let names: Vec<&str> = declared.keys().map(String::as_str).collect();
        return Err(invalid_template(&format!(
            "The template parameters '{}' in the parameters file are not valid; they are not present in the original template and can therefore not be provided at deployment time. The only supported parameters for this template are '{}'. Please see https://aka.ms/arm-pass-parameter-values for usage details.",
            unknown.join(", "),
            names.join(", ")
        )));
    }
    let variables = template
        .get("variables")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let tenant = st.seed.tenant_id.clone();
    let rg_location = rg
        .and_then(|rg| st.arm.resource(&scope_path(sub, Some(rg))))
        .and_then(|r| r.get("location").and_then(Value::as_str))
        .map(str::to_string)
        .or_else(|| location.map(str::to_string))
        .unwrap_or_else(|| "westus".into());
    let mut params = Map::new();
    let mut echo = Map::new();
    for (name, decl) in &declared {
        let value = if let Some(p) = get_ci(&passed, name) {
            match (p.get("value"), p.get("reference")) {
                (Some(v), _) => v.clone(),
                (None, Some(_)) => json!(format!("fake:keyvault-reference:{name}")),
                (None, None) => Value::Null,
            }
        } else if let Some(default) = decl.get("defaultValue") {
            let ctx = Ctx {
                params: &params,
                variables: &variables,
                copy_index: None,
                subscription_id: sub,
                tenant_id: &tenant,
                resource_group: rg,
                location: &rg_location,
                depth: 0,
            };
            eval_value(default, &ctx)
        } else {
            return Err(invalid_template(&format!(
                "The value for the template parameter '{name}' at line '1' and column '1' is not provided. Please see https://aka.ms/arm-create-parameter-file for usage details."
            )));
        };
        let ptype = decl.get("type").and_then(Value::as_str).unwrap_or("string");
        let mut e = json!({"type": type_name(ptype)});
        if !ptype.to_ascii_lowercase().starts_with("secure") {
            e["value"] = value.clone();
        }
        echo.insert(name.clone(), e);
        params.insert(name.clone(), value);
    }
    let ctx = Ctx {
        params: &params,
        variables: &variables,
        copy_index: None,
        subscription_id: sub,
        tenant_id: &tenant,
        resource_group: rg,
        location: &rg_location,
        depth: 0,
    };

    // Resources (with copy loops and conditions).
    let mut planned = Vec::new();
    for res in &resources {
        if res.get("existing").and_then(Value::as_bool) == Some(true) {
            continue;
        }
        let (count, looped) = match res.get("copy").and_then(|c| c.get("count")) {
            Some(Value::Number(n)) => (n.as_i64().unwrap_or(0), true),
            Some(Value::String(s)) => (
                try_eval(s, &ctx).and_then(|v| v.as_i64()).unwrap_or(0),
                true,
            ),
            _ => (1, false),
        };
        for i in 0..count.max(0) {
            let ictx = Ctx {
                copy_index: looped.then_some(i),
                ..ctx
            };
            if let Some(cond) = res.get("condition") {
                let c = match cond {
                    Value::String(s) => try_eval(s, &ictx),
                    other => Some(other.clone()),
                };
                if c == Some(Value::Bool(false)) {
                    continue;
                }
            }
            let mut raw = res.as_object().cloned().unwrap_or_default();
            for k in ["copy", "dependsOn", "condition", "apiVersion", "comments"] {
                raw.remove(k);
            }
            let ev = eval_value(&Value::Object(raw), &ictx);
            let rtype = ev.get("type").map(text).unwrap_or_default();
            let last = rtype.rsplit('/').next().unwrap_or("resource").to_string();
            let name = match res.get("name") {
                Some(Value::String(n)) => match try_eval(n, &ictx) {
                    Some(v) => text(&v),
                    None => format!("{last}-{i}"),
                },
                _ => format!("{last}-{i}"),
            };
            let target_rg = match ev.get("resourceGroup") {
                Some(Value::String(r)) if !r.starts_with("fake:") => Some(r.clone()),
                _ => rg.map(str::to_string),
            };
            let id = if rg.is_none()
                && rtype.eq_ignore_ascii_case("Microsoft.Resources/resourceGroups")
            {
                format!("/subscriptions/{sub}/resourceGroups/{name}")
            } else {
                let names: Vec<String> = name.split('/').map(str::to_string).collect();
                format!(
                    "{}{}",
                    scope_path(sub, target_rg.as_deref()),
                    provider_path(&rtype, &names)
                )
            };
            let mut body = json!({"id": id, "name": name, "type": rtype});
            for k in ["location", "tags", "identity", "sku", "kind", "zones"] {
                if let Some(v) = ev.get(k) {
                    body[k] = v.clone();
                }
            }
            body["properties"] = ev.get("properties").cloned().unwrap_or_else(|| json!({}));
            expr::set_reference(&id, runtime_view(st, &rtype, &name, &id, &body));
            let nested = res
                .pointer("/properties/template")
                .filter(|t| {
                    t.is_object() && rtype.eq_ignore_ascii_case("Microsoft.Resources/deployments")
                })
                .cloned();
            planned.push((rtype, name, id.clone(), body.clone()));
            // An inline template with inner scope: its resources are deployed too, and its
            // outputs are what `reference(deployment).outputs` reads.
            if let Some(template) = nested {
                let inner = json!({"properties": {
                    "template": template,
                    "parameters": body["properties"].get("parameters").cloned().unwrap_or(json!({})),
                    "mode": "Incremental",
                }});
                let location = body
                    .get("location")
                    .and_then(Value::as_str)
                    .unwrap_or(&rg_location)
                    .to_string();
                if let Ok(p) = prepare_at(st, sub, target_rg.as_deref(), Some(&location), &inner) {
                    expr::set_reference(&id, json!({"outputs": p.outputs}));
                    planned.extend(p.resources);
                }
            }
        }
    }

    // Outputs.
    let mut outputs = Map::new();
    if let Some(outs) = template.get("outputs").and_then(Value::as_object) {
        for (name, o) in outs {
            let otype = o.get("type").and_then(Value::as_str).unwrap_or("string");
            let value = if let Some(copy) = o.get("copy") {
                let count = match copy.get("count") {
                    Some(Value::String(s)) => try_eval(s, &ctx).and_then(|v| v.as_i64()),
                    Some(v) => v.as_i64(),
                    None => None,
                }
                .unwrap_or(0);
                let input = copy.get("input").cloned().unwrap_or(Value::Null);
                Value::Array(
                    (0..count.max(0))
                        .map(|i| {
                            eval_value(
                                &input,
                                &Ctx {
                                    copy_index: Some(i),
                                    ..ctx
                                },
                            )
                        })
                        .collect(),
                )
            } else {
                match o.get("value") {
                    Some(Value::String(s)) => eval_str(s, &ctx),
                    Some(v) => eval_value(v, &ctx),
                    None => Value::Null,
                }
            };
            outputs.insert(
                name.clone(),
                json!({"type": type_name(otype), "value": value}),
            );
        }
    }
    let template_hash = stable_id(&Value::Object(template.clone()).to_string()).to_string();
    Ok(Prepared {
        mode,
        params_echo: Value::Object(echo),
        outputs,
        resources: planned,
        template_hash,
    })
}

fn body_object(req: &Req) -> Result<Value, Resp> {
    match crate::util::parse_lenient_json(&req.body) {
        Some(v @ Value::Object(_)) => Ok(v),
        _ => Err(arm_error(
            400,
            "InvalidRequestContent",
            "The request content was invalid and could not be deserialized: the body must be a JSON object.",
        )),
    }
}

fn require_location(rg: Option<&str>, name: &str, body: &Value) -> Result<Option<String>, Resp> {
    let location = body
        .get("location")
        .and_then(Value::as_str)
        .filter(|l| !l.is_empty())
        .map(str::to_string);
    if rg.is_none() && location.is_none() {
        return Err(arm_error(
            400,
            "InvalidDeployment",
            &format!(
                "The deployment '{name}' at subscription scope is invalid: location is required."
            ),
        ));
    }
    Ok(location)
}

/// The request body, the deployment's location and the evaluated template: what a PUT, a
/// What-If and a validation all start from.
fn evaluate(
    st: &State,
    sub: &str,
    rg: Option<&str>,
    name: &str,
    req: &Req,
) -> Result<(Value, Option<String>, Prepared), Resp> {
    let body = body_object(req)?;
    let location = require_location(rg, name, &body)?;
    let p = prepare(st, sub, rg, location.as_deref(), &body)?;
    Ok((body, location, p))
}

fn put_deployment(st: &mut State, sub: &str, rg: Option<&str>, name: &str, req: &Req) -> Resp {
    if let Some(d) = find_deployment(st, sub, rg, name)
        && d.state_at(d.elapsed_ms()) == "Running"
    {
        return arm_error(
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
    let resources: Vec<Planned> = p
        .resources
        .into_iter()
        .map(|(rtype, rname, id, body)| Planned {
            existed: st.arm.resource(&id).is_some(),
            rtype,
            name: rname,
            id,
            body,
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
    // The resource providers refuse what they cannot take: that resource's operation fails.
    let failure = failure.or_else(|| {
        resources.iter().enumerate().find_map(|(i, r)| {
            resources::problem(&r.rtype, &r.body)
                .or_else(|| soft_deleted_conflict(st, &r.rtype, &r.name, &r.body))
                .map(|(code, message)| (Some(i), code, message))
        })
    });
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
            format!(
                "{}/subscriptions/{sub}/providers/Microsoft.Resources/deployments/{name}/operationStatuses/{}?api-version={DEPLOYMENTS_API}",
                st.url, d.async_op
            ),
        )
        .with_header("retry-after", st.seed.arm_retry_after_secs.to_string());
    st.arm.deployments.push(d);
    resp
}

/// A vault created under the name of a soft-deleted one without `createMode: recover`.
fn soft_deleted_conflict(
    st: &State,
    rtype: &str,
    name: &str,
    body: &Value,
) -> Option<(String, String)> {
    if !rtype.eq_ignore_ascii_case("Microsoft.KeyVault/vaults") {
        return None;
    }
    let deleted = st
        .seed
        .deleted_vaults
        .iter()
        .any(|v| v.name.eq_ignore_ascii_case(name));
    let recover = body
        .pointer("/properties/createMode")
        .and_then(Value::as_str)
        == Some("recover");
    match (deleted, recover) {
        (true, false) => Some((
            "ConflictError".into(),
            "A vault with the same name already exists in deleted state. You need to either recover or purge existing key vault.".into(),
        )),
        (false, true) => Some((
            "NotFound".into(),
            format!("The deleted vault '{name}' was not found and cannot be recovered."),
        )),
        _ => None,
    }
}

/// `RoleAssignments_ListForSubscription` with `$filter=assignedTo('{principal}')`.
fn role_assignments(st: &State, req: &Req) -> Resp {
    let filter = req.query_param("$filter").unwrap_or_default();
    let principal = filter
        .strip_prefix("assignedTo('")
        .and_then(|f| f.strip_suffix("')"))
        .map(str::to_ascii_lowercase);
    let value: Vec<Value> = st
        .arm
        .registry
        .values()
        .filter(|r| {
            r.get("type")
                .and_then(Value::as_str)
                .is_some_and(|t| t.eq_ignore_ascii_case("Microsoft.Authorization/roleAssignments"))
        })
        .filter(|r| {
            principal.as_deref().is_none_or(|p| {
                r.pointer("/properties/principalId")
                    .and_then(Value::as_str)
                    .is_some_and(|id| id.eq_ignore_ascii_case(p))
            })
        })
        .map(|r| {
            let id = r.get("id").and_then(Value::as_str).unwrap_or_default();
            let scope = r
                .pointer("/properties/scope")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| {
                    id.split("/providers/Microsoft.Authorization/")
                        .next()
                        .unwrap_or_default()
                        .to_string()
                });
            let mut p = r.get("properties").cloned().unwrap_or_else(|| json!({}));
            p["scope"] = json!(scope);
            if p.get("createdOn").is_none() {
                p["createdOn"] = json!("2024-01-01T00:00:00Z");
            }
            json!({"id": id, "name": r.get("name"), "type": "Microsoft.Authorization/roleAssignments", "properties": p})
        })
        .collect();
    Resp::json(200, &json!({"value": value}))
}

/// `Vaults_ListDeleted`.
fn deleted_vaults(st: &State, sub: &str) -> Resp {
    let value: Vec<Value> = st
        .seed
        .deleted_vaults
        .iter()
        .map(|v| {
            json!({
                "id": format!("/subscriptions/{sub}/providers/Microsoft.KeyVault/locations/{}/deletedVaults/{}", v.location, v.name),
                "name": v.name,
                "type": "Microsoft.KeyVault/deletedVaults",
                "properties": {
                    "vaultId": format!("/subscriptions/{sub}/resourceGroups/{}/providers/Microsoft.KeyVault/vaults/{}", v.resource_group, v.name),
                    "location": v.location,
                    "deletionDate": "2026-11-01T10:00:00Z",
                    "scheduledPurgeDate": "2027-01-30T10:00:00Z",
                    "purgeProtectionEnabled": v.purge_protection,
                    "tags": {},
                },
            })
        })
        .collect();
    Resp::json(200, &json!({"value": value}))
}

/// Differences between two values of a property (children one level deep).
fn prop_change(path: &str, before: Option<&Value>, after: Option<&Value>) -> Option<Value> {
    match (before, after) {
        (None, None) => None,
        (Some(b), Some(a)) if a == b => None,
        (None, Some(a)) => Some(json!({"path": path, "propertyChangeType": "Create", "after": a})),
        (Some(b), None) => Some(json!({"path": path, "propertyChangeType": "Delete", "before": b})),
        (Some(b), Some(a)) => {
            let mut c =
                json!({"path": path, "propertyChangeType": "Modify", "before": b, "after": a});
            if let (Value::Object(bo), Value::Object(ao)) = (b, a) {
                let keys: std::collections::BTreeSet<&String> =
                    bo.keys().chain(ao.keys()).collect();
                let children: Vec<Value> = keys
                    .into_iter()
                    .filter_map(|k| prop_change(k, bo.get(k), ao.get(k)))
                    .collect();
                c["children"] = Value::Array(children);
            }
            Some(c)
        }
    }
}

/// The predicted property changes of a resource (`properties.*` keys and other top-level keys).
fn delta(before: &Value, after: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    let empty = Map::new();
    let bo = before.as_object().unwrap_or(&empty);
    let ao = after.as_object().unwrap_or(&empty);
    let keys: std::collections::BTreeSet<&String> = bo.keys().chain(ao.keys()).collect();
    for k in keys {
        if matches!(k.as_str(), "id" | "name" | "type") {
            continue;
        }
        if k == "properties" {
            let bp = bo.get(k).and_then(Value::as_object).unwrap_or(&empty);
            let ap = ao.get(k).and_then(Value::as_object).unwrap_or(&empty);
            let pkeys: std::collections::BTreeSet<&String> = bp.keys().chain(ap.keys()).collect();
            out.extend(
                pkeys.into_iter().filter_map(|pk| {
                    prop_change(&format!("properties.{pk}"), bp.get(pk), ap.get(pk))
                }),
            );
        } else if let Some(c) = prop_change(k, bo.get(k), ao.get(k)) {
            out.push(c);
        }
    }
    out
}

fn post_what_if(st: &mut State, sub: &str, rg: Option<&str>, name: &str, req: &Req) -> Resp {
    let (body, location, p) = match evaluate(st, sub, rg, name, req) {
        Ok(e) => e,
        Err(r) => return r,
    };
    let mut changes = Vec::new();
    for (_, _, id, after) in &p.resources {
        let change = match st.arm.resource(id) {
            None => json!({"resourceId": id, "changeType": "Create", "after": after}),
            Some(before) => {
                let d = delta(before, after);
                if d.is_empty() {
                    json!({"resourceId": id, "changeType": "NoChange", "before": before})
                } else {
                    json!({"resourceId": id, "changeType": "Modify", "before": before, "after": after, "delta": d})
                }
            }
        };
        changes.push(change);
    }
    if p.mode == "Complete"
        && let Some(rg) = rg
    {
        let prefix = format!("{}/providers/", scope_path(sub, Some(rg))).to_ascii_lowercase();
        for (id, before) in &st.arm.registry {
            let lid = id.to_ascii_lowercase();
            if lid.starts_with(&prefix) && !p.resources.iter().any(|r| r.2.eq_ignore_ascii_case(id))
            {
                changes.push(json!({"resourceId": id, "changeType": "Delete", "before": before}));
            }
        }
    }
    let id = random_uuid();
    let loc = location
        .unwrap_or_else(|| "westus".into())
        .replace(' ', "")
        .to_ascii_lowercase();
    let location_url = format!(
        "{}/subscriptions/{sub}/providers/Microsoft.Resources/locations/{loc}/operationResults/{id}?api-version={DEPLOYMENTS_API}",
        st.url
    );
    st.arm.what_ifs.push(WhatIf {
        id,
        sub: sub.to_string(),
        rg: rg.map(str::to_string),
        name: name.to_string(),
        location: loc,
        request_body: body,
        started: Instant::now(),
        changes,
    });
    Resp::empty(202)
        .with_header("location", location_url)
        .with_header("retry-after", st.seed.arm_retry_after_secs.to_string())
}

fn what_if_result(st: &State, id: &str) -> Resp {
    let Some(w) = st
        .arm
        .what_ifs
        .iter()
        .find(|w| w.id.eq_ignore_ascii_case(id))
    else {
        return arm_error(
            404,
            "OperationNotFound",
            &format!("The operation '{id}' could not be found."),
        );
    };
    if w.started.elapsed().as_millis() < u128::from(st.seed.arm_whatif_ms) {
        return Resp::empty(202)
            .with_header(
                "location",
                format!(
                    "{}/subscriptions/{}/providers/Microsoft.Resources/locations/{}/operationResults/{}?api-version={DEPLOYMENTS_API}",
                    st.url, w.sub, w.location, w.id
                ),
            )
            .with_header("retry-after", st.seed.arm_retry_after_secs.to_string());
    }
    Resp::json(
        200,
        &json!({"status": "Succeeded", "properties": {"changes": w.changes}}),
    )
}

fn job_id(sub: &str, rg: &str, name: &str) -> String {
    format!("/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.App/jobs/{name}")
}

/// A job as stored, if any.
pub(crate) fn stored_job(st: &State, rg: &str, name: &str) -> Option<Value> {
    st.arm
        .resource(&job_id(&st.seed.subscription_id, rg, name))
        .cloned()
}

/// Stores a job (filling in `id`, `name`, `type`, default `location`); returns it.
pub(crate) fn store_job(st: &mut State, rg: &str, name: &str, job: Value) -> Value {
    let id = job_id(&st.seed.subscription_id, rg, name);
    let mut job = match job {
        Value::Object(m) => Value::Object(m),
        _ => json!({}),
    };
    job["id"] = json!(id);
    job["name"] = json!(name);
    job["type"] = json!("Microsoft.App/jobs");
    if job.get("location").and_then(Value::as_str).is_none() {
        job["location"] = json!("westus");
    }
    if let Some(props) = job.get_mut("properties").and_then(Value::as_object_mut) {
        for k in [
            "provisioningState",
            "outboundIpAddresses",
            "eventStreamEndpoint",
        ] {
            props.remove(k);
        }
    } else {
        job["properties"] = json!({});
    }
    job.as_object_mut().map(|m| m.remove("systemData"));
    st.arm.put_resource(&id, job.clone());
    job
}

/// A job as the GET returns it: secret values omitted, provisioning state added.
fn job_view(job: &Value) -> Value {
    let mut v = job.clone();
    if let Some(secrets) = v
        .pointer_mut("/properties/configuration/secrets")
        .and_then(Value::as_array_mut)
    {
        for s in secrets.iter_mut().filter_map(Value::as_object_mut) {
            s.remove("value");
        }
    }
    if let Some(p) = v.get_mut("properties").and_then(Value::as_object_mut) {
        p.insert("provisioningState".into(), json!("Succeeded"));
    }
    v
}

fn put_job_http(st: &mut State, rg: &str, name: &str, req: &Req) -> Resp {
    let body = match body_object(req) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let location = body
        .get("location")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| {
            stored_job(st, rg, name).and_then(|j| {
                j.get("location")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
        });
    let Some(location) = location else {
        return arm_error(
            400,
            "LocationRequired",
            "The location property is required for this definition.",
        );
    };
    let mut body = body;
    body["location"] = json!(location);
    let job = store_job(st, rg, name, body);
    let op = random_uuid();
    st.arm
        .job_ops
        .insert(op.clone(), job_id(&st.seed.subscription_id, rg, name));
    let loc = location.replace(' ', "").to_ascii_lowercase();
    Resp::json(200, &job_view(&job)).with_header(
        "azure-asyncoperation",
        format!(
            "{}/subscriptions/{}/providers/Microsoft.App/locations/{loc}/containerappsjobOperationStatuses/{op}?api-version={JOBS_API}",
            st.url, st.seed.subscription_id
        ),
    )
}

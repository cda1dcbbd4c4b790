//! ARM's front door: the token check, the api-version and subscription checks, RBAC (the
//! caller's [`ArmRole`] against the action of a route), and the role assignments ARM lists.

use super::route::{Kind, Route};
use crate::ArmRole;
use crate::state::State;
use crate::util::{Req, Resp, azure_error, now_unix, rfc3339, stable_id};
use serde_json::{Value, json};

/// An RBAC action (`Microsoft.App/jobs/write`) and whether it writes: a Reader may only read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Action {
    pub name: &'static str,
    pub write: bool,
}

impl Action {
    /// An action that only reads.
    pub(crate) const fn read(name: &'static str) -> Action {
        Action { name, write: false }
    }

    /// An action that writes.
    pub(crate) const fn write(name: &'static str) -> Action {
        Action { name, write: true }
    }
}

/// The action RBAC checks for a route (`None`: any authenticated caller may).
pub(super) fn action(route: &Route) -> Option<Action> {
    Some(match route {
        Route::Deployment { kind, .. } => match kind {
            Kind::Get => Action::read("Microsoft.Resources/deployments/read"),
            Kind::Put => Action::write("Microsoft.Resources/deployments/write"),
            Kind::WhatIf => Action::write("Microsoft.Resources/deployments/whatIf/action"),
            Kind::Validate => Action::write("Microsoft.Resources/deployments/validate/action"),
            Kind::Operations => Action::read("Microsoft.Resources/deployments/operations/read"),
        },
        Route::Job { put: true, .. } => Action::write("Microsoft.App/jobs/write"),
        Route::Job { put: false, .. } => Action::read("Microsoft.App/jobs/read"),
        Route::App { put: true, .. } => Action::write("Microsoft.App/containerApps/write"),
        Route::App { put: false, .. } => Action::read("Microsoft.App/containerApps/read"),
        Route::AppList { kind, .. } if *kind == "Microsoft.App/jobs" => {
            Action::read("Microsoft.App/jobs/read")
        }
        Route::AppList { .. } => Action::read("Microsoft.App/containerApps/read"),
        Route::GroupJobs { .. } => Action::read("Microsoft.App/jobs/read"),
        Route::Executions { .. } => Action::read("Microsoft.App/jobs/executions/read"),
        Route::Vaults { .. } => Action::read("Microsoft.KeyVault/vaults/read"),
        Route::Subnet { .. } => Action::read("Microsoft.Network/virtualNetworks/subnets/read"),
        // Anyone signed in may read their own permissions.
        _ => return None,
    })
}

/// Caller identity from a valid ARM token.
struct Caller {
    pub client_id: String,
}

/// The caller of a request with a valid ARM token (issued by the fake's Entra, for ARM's
/// audience, not expired), or the 401 ARM answers.
fn authenticate(st: &State, req: &Req) -> Result<Caller, Resp> {
    let unauthorized = |message: &str| {
        azure_error(401, "InvalidAuthenticationToken", message).with_header(
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

/// Admits a request to subscription `sub` as ARM does, in ARM's order: a valid token (401), an
/// `api-version` (400), a known subscription (404), then the caller's role for `action` (403).
pub(crate) fn admit(st: &State, req: &Req, sub: &str, action: Option<Action>) -> Result<(), Resp> {
    let caller = authenticate(st, req)?;
    if req.query_param("api-version").is_none_or(|v| v.is_empty()) {
        return Err(azure_error(
            400,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        ));
    }
    if !sub.eq_ignore_ascii_case(&st.seed.subscription_id) {
        return Err(azure_error(
            404,
            "SubscriptionNotFound",
            &format!("The subscription '{sub}' could not be found."),
        ));
    }
    let Some(action) = action else {
        return Ok(());
    };
    let allowed = match st.arm_role {
        ArmRole::Contributor => true,
        ArmRole::Reader => !action.write,
        ArmRole::None => false,
    };
    if allowed {
        return Ok(());
    }
    Err(azure_error(
        403,
        "AuthorizationFailed",
        &format!(
            "The client '{}' with object id '{}' does not have authorization to perform action '{}' over scope '{}' or the scope is invalid. If access was recently granted, please refresh your credentials.",
            caller.client_id, st.seed.azure_object_id, action.name, req.path
        ),
    ))
}

/// `RoleAssignments_ListForSubscription` with `$filter=assignedTo('{principal}')`.
pub(super) fn role_assignments(st: &State, req: &Req) -> Resp {
    let filter = req.query_param("$filter").unwrap_or_default();
    let principal = filter
        .strip_prefix("assignedTo('")
        .and_then(|f| f.strip_suffix("')"))
        .map(str::to_ascii_lowercase);
    let value: Vec<Value> = st
        .arm
        .of_type("Microsoft.Authorization/roleAssignments")
        .filter(|r| {
            principal.as_deref().is_none_or(|p| {
                r.pointer("/properties/principalId")
                    .and_then(Value::as_str)
                    .is_some_and(|id| id.eq_ignore_ascii_case(p))
            })
        })
        .map(|r| {
            let id = r.get("id").and_then(Value::as_str).unwrap_or_default();
            let scope = assignment_scope(r);
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

/// The scope of a stored role assignment (`properties.scope`, else the part of its id before
/// `/providers/Microsoft.Authorization/`).
pub(super) fn assignment_scope(r: &Value) -> String {
    r.pointer("/properties/scope")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| {
            r.get("id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .split("/providers/Microsoft.Authorization/")
                .next()
                .unwrap_or_default()
                .to_string()
        })
}

/// The role definition GUID of a stored role assignment (the last segment of
/// `properties.roleDefinitionId`).
pub(super) fn assignment_role(r: &Value) -> &str {
    r.pointer("/properties/roleDefinitionId")
        .and_then(Value::as_str)
        .and_then(|d| d.rsplit('/').next())
        .unwrap_or_default()
}

/// Removes every role assignment of `role` (a role definition GUID) to `principal` on exactly
/// `scope` (all compared case-insensitively), made by [`assign_role`] or by a deployment;
/// whether there was one. Nothing else changes (no settling window starts).
pub(crate) fn remove_role(st: &mut State, scope: &str, principal: &str, role: &str) -> bool {
    let scope = scope.trim_end_matches('/');
    let before = st.arm.registry.len();
    st.arm.registry.retain(|_, r| {
        let is_assignment = r
            .get("type")
            .and_then(Value::as_str)
            .is_some_and(|t| t.eq_ignore_ascii_case("Microsoft.Authorization/roleAssignments"));
        let matches = is_assignment
            && assignment_scope(r)
                .trim_end_matches('/')
                .eq_ignore_ascii_case(scope)
            && assignment_role(r).eq_ignore_ascii_case(role)
            && r.pointer("/properties/principalId")
                .and_then(Value::as_str)
                .is_some_and(|p| p.eq_ignore_ascii_case(principal));
        !matches
    });
    st.arm.registry.len() != before
}

/// Records a role assignment of `role` (a role definition GUID) to `principal` on `scope`,
/// made `age_secs` ago, as a deployment's would be (Key Vault then takes a while to see it).
pub(crate) fn assign_role(st: &mut State, scope: &str, principal: &str, role: &str, age_secs: i64) {
    let name = format!("{:032x}", stable_id(&format!("{scope}|{principal}|{role}")));
    let id = format!("{scope}/providers/Microsoft.Authorization/roleAssignments/{name}");
    let created = rfc3339(time::OffsetDateTime::now_utc() - time::Duration::seconds(age_secs));
    let definition = format!(
        "/subscriptions/{}/providers/Microsoft.Authorization/roleDefinitions/{role}",
        st.seed.subscription_id
    );
    st.arm.put_resource(
        &id,
        json!({
            "id": id, "name": name, "type": "Microsoft.Authorization/roleAssignments",
            "properties": {
                "scope": scope,
                "principalId": principal,
                "roleDefinitionId": definition,
                "createdOn": created,
            }
        }),
    );
    st.arm.rbac_changed = Some(std::time::Instant::now());
}

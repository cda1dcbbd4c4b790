//! `Permissions_ListForResourceGroup` and `Permissions_ListForResource`: the caller's effective
//! permissions on a scope, one entry per role assignment of the caller that covers it (made at
//! the scope or above), each entry the official permissions of its role ([`crate::roles`]).
//!
//! The caller is the seed's service principal (`azure_object_id`). Its assignments are:
//! - its ARM role ([`crate::ArmRole`], which the fake's ARM enforces): Contributor or Reader on
//!   the subscription, nothing for `None`;
//! - its Key Vault role ([`crate::KvRole`], which the fake's Key Vault enforces): Key Vault
//!   Secrets Officer or Secrets User on every vault, nothing for `None`;
//! - every stored role assignment to it ([`crate::FakeCloud::assign_role`] or a deployment's)
//!   whose role is a built-in one the fake knows.

use super::auth::{assignment_role, assignment_scope};
use crate::roles::{self, RoleDefinition};
use crate::state::State;
use crate::util::Resp;
use crate::{ArmRole, KvRole};
use serde_json::{Value, json};

/// One `Permission` entry.
fn entry(role: &RoleDefinition) -> Value {
    json!({
        "actions": role.actions,
        "notActions": role.not_actions,
        "dataActions": role.data_actions,
        "notDataActions": role.not_data_actions,
    })
}

/// Whether an assignment made on `assigned` covers `scope` (the same scope or one below it).
fn covers(assigned: &str, scope: &str) -> bool {
    let assigned = assigned.trim_end_matches('/').to_ascii_lowercase();
    let scope = scope.trim_end_matches('/').to_ascii_lowercase();
    scope == assigned || scope.starts_with(&format!("{assigned}/"))
}

/// Whether `scope` is a Key Vault vault or something in one.
fn in_a_vault(scope: &str) -> bool {
    let segs: Vec<String> = scope
        .trim_start_matches('/')
        .split('/')
        .map(str::to_ascii_lowercase)
        .collect();
    segs.windows(4)
        .any(|w| w[0] == "providers" && w[1] == "microsoft.keyvault" && w[2] == "vaults")
}

/// The roles of the caller's assignments that cover `scope`.
pub(crate) fn effective(st: &State, scope: &str) -> Vec<&'static RoleDefinition> {
    let mut out = Vec::new();
    let arm = match st.arm_role {
        ArmRole::Contributor => roles::built_in(roles::CONTRIBUTOR),
        ArmRole::Reader => roles::built_in(roles::READER),
        ArmRole::None => None,
    };
    let subscription = format!("/subscriptions/{}", st.seed.subscription_id);
    out.extend(arm.filter(|_| covers(&subscription, scope)));
    let vault = match st.kv_role {
        KvRole::SecretsOfficer => roles::built_in(roles::KEY_VAULT_SECRETS_OFFICER),
        KvRole::SecretsUser => roles::built_in(roles::KEY_VAULT_SECRETS_USER),
        KvRole::None => None,
    };
    out.extend(vault.filter(|_| in_a_vault(scope)));
    let caller = &st.seed.azure_object_id;
    out.extend(
        st.arm
            .of_type("Microsoft.Authorization/roleAssignments")
            .filter(|r| {
                r.pointer("/properties/principalId")
                    .and_then(Value::as_str)
                    .is_some_and(|p| p.eq_ignore_ascii_case(caller))
                    && covers(&assignment_scope(r), scope)
            })
            .filter_map(|r| roles::built_in(assignment_role(r))),
    );
    out
}

/// The answer to `GET {scope}/providers/Microsoft.Authorization/permissions`.
pub(super) fn list(st: &State, scope: &str) -> Resp {
    let value: Vec<Value> = effective(st, scope).into_iter().map(entry).collect();
    Resp::json(200, &json!({"value": value}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_cover_what_is_below_them() {
        assert!(covers(
            "/subscriptions/S",
            "/subscriptions/s/resourceGroups/g"
        ));
        assert!(covers(
            "/subscriptions/s/resourceGroups/g/",
            "/subscriptions/s/resourceGroups/G"
        ));
        assert!(!covers(
            "/subscriptions/s/resourceGroups/g",
            "/subscriptions/s/resourceGroups/g2"
        ));
        assert!(!covers(
            "/subscriptions/s/resourceGroups/g/providers/Microsoft.KeyVault/vaults/v",
            "/subscriptions/s/resourceGroups/g"
        ));
        assert!(in_a_vault(
            "/subscriptions/s/resourceGroups/g/providers/Microsoft.KeyVault/vaults/v"
        ));
        assert!(!in_a_vault(
            "/subscriptions/s/resourceGroups/g/providers/Microsoft.ContainerRegistry/registries/r"
        ));
    }
}

//! The caller's effective permissions on a scope (`Microsoft.Authorization/permissions`): the
//! actions and data actions of every role assignment that covers it, as ARM computes them.

use serde::Deserialize;

use super::Arm;
use crate::error::Result;

/// API version of the permissions list.
pub const PERMISSIONS_API: &str = "2022-04-01";

/// What one role assignment covering the scope allows.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Permission {
    /// Control-plane actions allowed (`*` and `…/*` wildcards).
    pub actions: Vec<String>,
    /// Control-plane actions taken back out of `actions`.
    pub not_actions: Vec<String>,
    /// Data-plane actions allowed.
    pub data_actions: Vec<String>,
    /// Data-plane actions taken back out of `data_actions`.
    pub not_data_actions: Vec<String>,
}

/// Whether `pattern` (with `*` wildcards, case-insensitive) matches `action`.
fn matches(pattern: &str, action: &str) -> bool {
    let (p, a) = (pattern.to_ascii_lowercase(), action.to_ascii_lowercase());
    let parts: Vec<&str> = p.split('*').collect();
    if parts.len() == 1 {
        return p == a;
    }
    let mut rest = a.as_str();
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            let Some(r) = rest.strip_prefix(part) else {
                return false;
            };
            rest = r;
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            let Some(at) = rest.find(part) else {
                return false;
            };
            rest = &rest[at + part.len()..];
        }
    }
    true
}

/// Whether any of `permissions` allows control-plane `action`.
pub fn allows_action(permissions: &[Permission], action: &str) -> bool {
    permissions.iter().any(|p| {
        p.actions.iter().any(|a| matches(a, action))
            && !p.not_actions.iter().any(|a| matches(a, action))
    })
}

/// Whether any of `permissions` allows data-plane `action`.
pub fn allows_data_action(permissions: &[Permission], action: &str) -> bool {
    permissions.iter().any(|p| {
        p.data_actions.iter().any(|a| matches(a, action))
            && !p.not_data_actions.iter().any(|a| matches(a, action))
    })
}

impl Arm {
    /// The caller's permissions on `scope` (a resource group or resource id).
    pub async fn permissions(&self, scope: &str) -> Result<Vec<Permission>> {
        let path = format!(
            "{}/providers/Microsoft.Authorization/permissions",
            scope.trim_end_matches('/')
        );
        self.list(&path, PERMISSIONS_API, "reading the caller's permissions")
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_and_exclusions_decide() {
        let contributor = Permission {
            actions: vec!["*".into()],
            not_actions: vec!["Microsoft.Authorization/*/Write".into()],
            ..Default::default()
        };
        let officer = Permission {
            data_actions: vec!["Microsoft.KeyVault/vaults/secrets/*".into()],
            ..Default::default()
        };
        let both = [contributor, officer];
        assert!(allows_action(
            &both,
            "Microsoft.Resources/deployments/write"
        ));
        assert!(!allows_action(
            &both,
            "Microsoft.Authorization/roleAssignments/write"
        ));
        assert!(allows_data_action(
            &both,
            "Microsoft.KeyVault/vaults/secrets/setSecret/action"
        ));
        assert!(!allows_data_action(
            &both,
            "Microsoft.KeyVault/vaults/keys/sign/action"
        ));
        assert!(matches("*/read", "Microsoft.App/jobs/read"));
        assert!(!matches("*/read", "Microsoft.App/jobs/write"));
    }
}

//! The Azure built-in role definitions the fake knows, with their official permissions, as
//! Microsoft Learn's "Azure built-in roles" pages publish them (`MicrosoftDocs/azure-docs`,
//! `articles/role-based-access-control/built-in-roles/`: `privileged.md` @ `0b8729ea` for
//! Owner, Contributor, Role Based Access Control Administrator and User Access Administrator;
//! `general.md` @ `03e5750a` for Reader; `security.md` @ `03e5750a` for the Key Vault roles;
//! `containers.md` @ `0088bfa7` for AcrPull and AcrPush).
//!
//! ARM's `Microsoft.Authorization/permissions` answers with these (one entry per role
//! assignment of the caller that covers the scope); [`FakeCloud::assign_role`] takes the GUIDs
//! below.
//!
//! [`FakeCloud::assign_role`]: crate::FakeCloud::assign_role

/// A role definition's permissions (`actions`, `notActions`, `dataActions`, `notDataActions`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoleDefinition {
    /// The role definition GUID (the last segment of its id).
    pub id: &'static str,
    /// `roleName`.
    pub name: &'static str,
    /// Allowed control-plane actions.
    pub actions: &'static [&'static str],
    /// Control-plane actions excluded from `actions`.
    pub not_actions: &'static [&'static str],
    /// Allowed data-plane actions.
    pub data_actions: &'static [&'static str],
    /// Data-plane actions excluded from `data_actions`.
    pub not_data_actions: &'static [&'static str],
}

/// Owner.
pub const OWNER: &str = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635";
/// Contributor.
pub const CONTRIBUTOR: &str = "b24988ac-6180-42a0-ab88-20f7382dd24c";
/// Reader.
pub const READER: &str = "acdd72a7-3385-48ef-bd42-f606fba81ae7";
/// User Access Administrator.
pub const USER_ACCESS_ADMINISTRATOR: &str = "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9";
/// Role Based Access Control Administrator.
pub const RBAC_ADMINISTRATOR: &str = "f58310d9-a9f6-439a-9e8d-f62e7b41a168";
/// Key Vault Administrator.
pub const KEY_VAULT_ADMINISTRATOR: &str = "00482a5a-887f-4fb3-b363-3b7fe8e74483";
/// Key Vault Reader.
pub const KEY_VAULT_READER: &str = "21090545-7ca7-4776-b22c-e363652d74d2";
/// Key Vault Secrets Officer.
pub const KEY_VAULT_SECRETS_OFFICER: &str = "b86a8fe4-44ce-4948-aee5-eccb2c155cd7";
/// Key Vault Secrets User.
pub const KEY_VAULT_SECRETS_USER: &str = "4633458b-17de-408a-b874-0445c86b69e6";
/// AcrPull.
pub const ACR_PULL: &str = "7f951dda-4ed3-4680-a7ca-43fe172d538d";
/// AcrPush.
pub const ACR_PUSH: &str = "8311e382-0749-4cb8-b61a-304f252e45ec";

/// The control-plane actions every Key Vault data role above carries.
const KEY_VAULT_ACTIONS: &[&str] = &[
    "Microsoft.Authorization/*/read",
    "Microsoft.Insights/alertRules/*",
    "Microsoft.Resources/deployments/*",
    "Microsoft.Resources/subscriptions/resourceGroups/read",
    "Microsoft.Support/*",
    "Microsoft.KeyVault/checkNameAvailability/read",
    "Microsoft.KeyVault/deletedVaults/read",
    "Microsoft.KeyVault/locations/*/read",
    "Microsoft.KeyVault/vaults/*/read",
    "Microsoft.KeyVault/operations/read",
];

/// Every built-in role the fake knows.
pub const BUILT_IN: &[RoleDefinition] = &[
    RoleDefinition {
        id: OWNER,
        name: "Owner",
        actions: &["*"],
        not_actions: &[],
        data_actions: &[],
        not_data_actions: &[],
    },
    RoleDefinition {
        id: CONTRIBUTOR,
        name: "Contributor",
        actions: &["*"],
        not_actions: &[
            "Microsoft.Authorization/*/Delete",
            "Microsoft.Authorization/*/Write",
            "Microsoft.Authorization/elevateAccess/Action",
            "Microsoft.Blueprint/blueprintAssignments/write",
            "Microsoft.Blueprint/blueprintAssignments/delete",
            "Microsoft.Compute/galleries/share/action",
            "Microsoft.Purview/consents/write",
            "Microsoft.Purview/consents/delete",
            "Microsoft.Resources/deploymentStacks/manageDenySetting/action",
            "Microsoft.Subscription/cancel/action",
            "Microsoft.Subscription/enable/action",
        ],
        data_actions: &[],
        not_data_actions: &[],
    },
    RoleDefinition {
        id: READER,
        name: "Reader",
        actions: &["*/read"],
        not_actions: &[],
        data_actions: &[],
        not_data_actions: &[],
    },
    RoleDefinition {
        id: USER_ACCESS_ADMINISTRATOR,
        name: "User Access Administrator",
        actions: &["*/read", "Microsoft.Authorization/*", "Microsoft.Support/*"],
        not_actions: &[],
        data_actions: &[],
        not_data_actions: &[],
    },
    RoleDefinition {
        id: RBAC_ADMINISTRATOR,
        name: "Role Based Access Control Administrator",
        actions: &[
            "Microsoft.Authorization/roleAssignments/write",
            "Microsoft.Authorization/roleAssignments/delete",
            "*/read",
            "Microsoft.Support/*",
        ],
        not_actions: &[],
        data_actions: &[],
        not_data_actions: &[],
    },
    RoleDefinition {
        id: KEY_VAULT_ADMINISTRATOR,
        name: "Key Vault Administrator",
        actions: KEY_VAULT_ACTIONS,
        not_actions: &[],
        data_actions: &["Microsoft.KeyVault/vaults/*"],
        not_data_actions: &[],
    },
    RoleDefinition {
        id: KEY_VAULT_READER,
        name: "Key Vault Reader",
        actions: KEY_VAULT_ACTIONS,
        not_actions: &[],
        data_actions: &[
            "Microsoft.KeyVault/vaults/*/read",
            "Microsoft.KeyVault/vaults/secrets/readMetadata/action",
        ],
        not_data_actions: &[],
    },
    RoleDefinition {
        id: KEY_VAULT_SECRETS_OFFICER,
        name: "Key Vault Secrets Officer",
        actions: KEY_VAULT_ACTIONS,
        not_actions: &[],
        data_actions: &["Microsoft.KeyVault/vaults/secrets/*"],
        not_data_actions: &[],
    },
    RoleDefinition {
        id: KEY_VAULT_SECRETS_USER,
        name: "Key Vault Secrets User",
        actions: &[],
        not_actions: &[],
        data_actions: &[
            "Microsoft.KeyVault/vaults/secrets/getSecret/action",
            "Microsoft.KeyVault/vaults/secrets/readMetadata/action",
        ],
        not_data_actions: &[],
    },
    RoleDefinition {
        id: ACR_PULL,
        name: "AcrPull",
        actions: &["Microsoft.ContainerRegistry/registries/pull/read"],
        not_actions: &[],
        data_actions: &[],
        not_data_actions: &[],
    },
    RoleDefinition {
        id: ACR_PUSH,
        name: "AcrPush",
        actions: &[
            "Microsoft.ContainerRegistry/registries/pull/read",
            "Microsoft.ContainerRegistry/registries/push/write",
        ],
        not_actions: &[],
        data_actions: &[],
        not_data_actions: &[],
    },
];

/// The built-in role with this GUID (compared case-insensitively), if the fake knows it.
pub fn built_in(id: &str) -> Option<&'static RoleDefinition> {
    BUILT_IN.iter().find(|r| r.id.eq_ignore_ascii_case(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guids_are_unique_and_found() {
        for r in BUILT_IN {
            assert_eq!(built_in(&r.id.to_uppercase()), Some(r));
            assert_eq!(BUILT_IN.iter().filter(|o| o.id == r.id).count(), 1);
        }
        assert_eq!(built_in("nope"), None);
    }
}

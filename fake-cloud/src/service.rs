//! Which fake service a request is for: the name the request log, faults and routing share.

use serde::{Deserialize, Serialize};

/// A service of the fake cloud, as [`crate::LoggedRequest::service`] names it; serialized in
/// lower case (`"github"`, `"keyvault"`, …), as the request log and its JSON lines show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Service {
    /// GitHub REST: every path no other service claims.
    GitHub,
    /// The GitHub Actions OIDC issuer (`/_actions/idtoken`).
    Oidc,
    /// The Entra ID token endpoint and its discovery documents.
    Entra,
    /// The IMDS managed-identity endpoint (`/metadata/identity/oauth2/token`).
    Imds,
    /// Key Vault secrets (`/secrets/...`).
    KeyVault,
    /// Azure Resource Manager (`/subscriptions/...`), ACR Tasks included.
    Arm,
    /// A container registry's data plane (`/registry/NAME/...` or `NAME.azurecr.io`).
    Acr,
    /// A path no service serves.
    Unknown,
}

impl Service {
    /// The service a path belongs to (the registry data plane, told apart by host too, is not
    /// decided here).
    pub(crate) fn of_path(path: &str) -> Service {
        let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        if path == "/_actions/idtoken" {
            Service::Oidc
        } else if path == "/metadata/identity/oauth2/token" {
            Service::Imds
        } else if segs[0] == "secrets" {
            // Before Entra's routes: a secret may be named `discovery`.
            Service::KeyVault
        } else if segs.len() == 4 && segs[1] == "oauth2" && segs[2] == "v2.0" && segs[3] == "token"
            || crate::entra::is_discovery(&segs)
        {
            Service::Entra
        } else if segs[0].eq_ignore_ascii_case("subscriptions") {
            Service::Arm
        } else {
            Service::GitHub
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_paths() {
        assert_eq!(Service::of_path("/_actions/idtoken"), Service::Oidc);
        assert_eq!(Service::of_path("/abc/oauth2/v2.0/token"), Service::Entra);
        assert_eq!(Service::of_path("/secrets/x/versions"), Service::KeyVault);
        assert_eq!(Service::of_path("/app"), Service::GitHub);
        assert_eq!(
            Service::of_path("/metadata/identity/oauth2/token"),
            Service::Imds
        );
        assert_eq!(
            Service::of_path("/subscriptions/x/resourcegroups/y"),
            Service::Arm
        );
    }

    #[test]
    fn serializes_as_the_log_always_named_it() {
        let names: Vec<String> = [
            Service::GitHub,
            Service::Oidc,
            Service::Entra,
            Service::Imds,
            Service::KeyVault,
            Service::Arm,
            Service::Acr,
            Service::Unknown,
        ]
        .iter()
        .map(|s| serde_json::to_string(s).unwrap())
        .collect();
        assert_eq!(
            names,
            [
                "\"github\"",
                "\"oidc\"",
                "\"entra\"",
                "\"imds\"",
                "\"keyvault\"",
                "\"arm\"",
                "\"acr\"",
                "\"unknown\""
            ]
        );
    }
}

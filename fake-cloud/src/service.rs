//! Which fake service a request is for: the name the request log, faults and routing share
//! (the server decides it from the path and host).

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
    /// Release downloads (`/{owner}/{repo}/releases/download/...`), as github.com serves them.
    Releases,
    /// A path no service serves.
    Unknown,
}

#[cfg(test)]
mod tests {
    use super::*;

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
            Service::Releases,
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
                "\"releases\"",
                "\"unknown\""
            ]
        );
    }
}

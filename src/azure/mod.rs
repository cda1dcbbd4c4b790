//! Azure: sign-in ([`auth`]), Key Vault secrets ([`keyvault`]), Azure Resource Manager
//! ([`arm`]: deployments, Container Apps jobs, role assignments) and ACR Tasks ([`acr`]). Each
//! module owns its service's wire format; the commands see typed values only.

pub mod acr;
pub mod arm;
pub mod auth;
pub mod keyvault;

/// The Azure side of the step.
#[derive(Debug, Clone)]
pub struct AzureConfig {
    /// Who signs in, how, in which cloud.
    pub identity: auth::AzureIdentity,
    /// `azure-subscription-id`.
    pub subscription: Option<String>,
}

//! Soft-deleted Key Vaults of a subscription (`Vaults_ListDeleted`): a vault name stays taken
//! while one is kept for recovery.

use serde::Deserialize;

use super::Arm;
use crate::error::Result;

/// `Vaults_ListDeleted`'s API version.
pub const KEYVAULT_API: &str = "2025-05-01";

/// A soft-deleted vault.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct DeletedVault {
    /// Its name.
    pub name: String,
    /// What Azure still knows of it.
    pub properties: DeletedVaultProperties,
}

/// The properties of a [`DeletedVault`].
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DeletedVaultProperties {
    /// The resource id the vault had (names its resource group).
    pub vault_id: String,
    /// Where it was.
    pub location: String,
    /// When it was deleted (RFC 3339).
    pub deletion_date: Option<String>,
    /// When it will be purged (RFC 3339).
    pub scheduled_purge_date: Option<String>,
    /// Whether purge protection keeps it until then.
    pub purge_protection_enabled: Option<bool>,
}

/// The answer of a deleted-vault listing.
#[derive(Debug)]
pub enum DeletedVaults {
    /// The vaults.
    Found(Vec<DeletedVault>),
    /// The caller may not list them (403).
    NotAllowed,
}

impl Arm {
    /// The soft-deleted vaults of `subscription`.
    pub async fn deleted_vaults(&self, subscription: &str) -> Result<DeletedVaults> {
        let path =
            format!("/subscriptions/{subscription}/providers/Microsoft.KeyVault/deletedVaults");
        match self
            .list(&path, KEYVAULT_API, "listing soft-deleted vaults")
            .await
        {
            Ok(found) => Ok(DeletedVaults::Found(found)),
            Err(crate::error::Error::Arm { status: 403, .. }) => Ok(DeletedVaults::NotAllowed),
            Err(e) => Err(e),
        }
    }
}

/// A Key Vault as ARM describes it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Vault {
    /// Its resource id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its settings.
    pub properties: VaultProperties,
}

/// The settings of a [`Vault`] the doctor reads.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct VaultProperties {
    /// `https://NAME.vault.azure.net/`.
    pub vault_uri: String,
    /// Azure RBAC (true) or access policies (false or absent).
    pub enable_rbac_authorization: Option<bool>,
}

impl Arm {
    /// The Key Vaults of `subscription`.
    pub async fn vaults(&self, subscription: &str) -> Result<Vec<Vault>> {
        let path = format!("/subscriptions/{subscription}/providers/Microsoft.KeyVault/vaults");
        self.list(&path, KEYVAULT_API, "listing the subscription's Key Vaults")
            .await
    }
}

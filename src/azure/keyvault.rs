//! Key Vault secrets, through the official `azure_security_keyvault_secrets` client.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use azure_core::credentials::TokenCredential;
use azure_core::http::RequestContent;
use azure_security_keyvault_secrets::models::{
    SecretAttributes, SetSecretParameters, UpdateSecretPropertiesParameters,
};
use azure_security_keyvault_secrets::{SecretClient, SecretClientOptions};
use futures::TryStreamExt as _;
use time::OffsetDateTime;
use url::Url;

use crate::error::{Error, Result};
use crate::http::{Http, azure_client_options};
use crate::runtime::Runtime;
use crate::secret::Secret;

/// A secret version with its value.
#[derive(Debug)]
pub struct StoredSecret {
    /// The version id.
    pub version: String,
    /// The value (masked when read).
    pub value: Secret,
    /// Tags.
    pub tags: BTreeMap<String, String>,
    /// Creation time.
    pub created: Option<OffsetDateTime>,
    /// Whether the version is enabled.
    pub enabled: bool,
}

/// A secret version without its value.
#[derive(Debug, Clone)]
pub struct VersionInfo {
    /// The version id.
    pub version: String,
    /// Whether it is enabled.
    pub enabled: bool,
    /// Creation time.
    pub created: Option<OffsetDateTime>,
    /// Expiry, when the version has one.
    pub expires: Option<OffsetDateTime>,
    /// Tags.
    pub tags: BTreeMap<String, String>,
}

/// The latest version in a list of versions (oldest first), as `GET /secrets/{name}` would
/// answer it: the one created last. `None` when the list is empty or two versions share the
/// latest creation time (Key Vault keeps whole seconds), so that only the vault can tell.
pub fn newest(versions: &[VersionInfo]) -> Option<&VersionInfo> {
    let last = versions.last()?;
    let tied = versions.len() > 1 && versions[versions.len() - 2].created == last.created;
    (!tied && last.created.is_some()).then_some(last)
}

/// What the latest version of a secret is.
#[derive(Debug)]
pub enum Latest {
    /// No secret of that name.
    Missing,
    /// The latest version is disabled (its value cannot be read).
    Disabled,
    /// The latest version.
    Found(StoredSecret),
}

/// One vault.
pub struct KeyVault {
    client: SecretClient,
    url: Url,
}

impl std::fmt::Debug for KeyVault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyVault").field("url", &self.url).finish()
    }
}

/// The vault URL for `key-vault`: a name becomes `https://NAME.SUFFIX/`; a URL is kept.
pub fn vault_url(input: &str, suffix: &str) -> Result<Url> {
    if input.contains("://") {
        let url = Url::parse(input).map_err(|_| {
            Error::input(
                "key-vault",
                format!("`{input}` is not a URL; give the vault name or https://NAME.{suffix}/"),
            )
        })?;
        if url.scheme() != "https" {
            return Err(Error::input("key-vault", "the vault URL must use https://"));
        }
        return Ok(url);
    }
    let valid = (3..=24).contains(&input.len())
        && input.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && input.starts_with(|c: char| c.is_ascii_alphabetic());
    if !valid {
        return Err(Error::input(
            "key-vault",
            format!(
                "`{input}` is not a vault name (3-24 letters, digits and hyphens, starting with a letter); give the name or the vault URL"
            ),
        ));
    }
    Url::parse(&format!("https://{input}.{suffix}/"))
        .map_err(|_| Error::input("key-vault", "cannot form the vault URL"))
}

impl KeyVault {
    /// A client for the vault at `url`. The Key Vault challenge's resource must match the vault's
    /// domain when `url` is under `suffix`; explicit URLs elsewhere (private clouds, tests) skip
    /// that check, as the user chose the host.
    pub fn new(
        url: Url,
        suffix: &str,
        credential: Arc<dyn TokenCredential>,
        http: &Arc<Http>,
    ) -> Result<KeyVault> {
        let verify = url
            .host_str()
            .is_some_and(|h| h.ends_with(&format!(".{suffix}")));
        let options = SecretClientOptions {
            client_options: azure_client_options(http),
            verify_challenge_resource: Some(verify),
            ..Default::default()
        };
        let client = SecretClient::new(url.as_str(), credential, Some(options))
            .map_err(|e| Error::input("key-vault", format!("cannot use this vault URL ({e})")))?;
        Ok(KeyVault { client, url })
    }

    /// The vault's name, when its URL is under the cloud's Key Vault `suffix`.
    pub fn name_under(&self, suffix: &str) -> Option<String> {
        self.url
            .host_str()?
            .strip_suffix(&format!(".{suffix}"))
            .map(str::to_string)
    }

    /// The versionless secret URI.
    pub fn secret_uri(&self, name: &str) -> String {
        format!("{}/secrets/{name}", self.url.as_str().trim_end_matches('/'))
    }

    /// Reads the latest version.
    pub async fn latest(&self, name: &str) -> Result<Latest> {
        match self.client.get_secret(name, None).await {
            Ok(resp) => {
                let secret = resp
                    .into_model()
                    .map_err(|e| self.error(&e, "reading the secret"))?;
                let value = Secret::masked(secret.value.unwrap_or_default(), Runtime::get());
                let attrs = secret.attributes.unwrap_or_default();
                Ok(Latest::Found(StoredSecret {
                    version: version_of(secret.id.as_deref()),
                    value,
                    tags: secret.tags.unwrap_or_default().into_iter().collect(),
                    created: attrs.created,
                    enabled: attrs.enabled.unwrap_or(true),
                }))
            }
            Err(e) => match (e.http_status().map(u16::from), error_code(&e).as_deref()) {
                (Some(404), _) => Ok(Latest::Missing),
                (Some(403), Some("SecretDisabled")) => Ok(Latest::Disabled),
                _ => Err(self.error(&e, "reading the secret")),
            },
        }
    }

    /// Every version, oldest first.
    pub async fn versions(&self, name: &str) -> Result<Vec<VersionInfo>> {
        let pager = self
            .client
            .list_secret_properties_versions(name, None)
            .map_err(|e| self.error(&e, "listing the secret's versions"))?;
        let items: Vec<_> = match pager.try_collect().await {
            Ok(items) => items,
            Err(e) if e.http_status().map(u16::from) == Some(404) => Vec::new(),
            Err(e) => return Err(self.error(&e, "listing the secret's versions")),
        };
        let mut out: Vec<VersionInfo> = items
            .into_iter()
            .map(|p| {
                let attrs = p.attributes.unwrap_or_default();
                VersionInfo {
                    version: version_of(p.id.as_deref()),
                    enabled: attrs.enabled.unwrap_or(true),
                    created: attrs.created,
                    expires: attrs.expires,
                    tags: p.tags.unwrap_or_default().into_iter().collect(),
                }
            })
            .collect();
        out.sort_by_key(|v| v.created);
        Ok(out)
    }

    /// Stores a new version.
    pub async fn set(
        &self,
        name: &str,
        value: &Secret,
        content_type: &str,
        tags: BTreeMap<String, String>,
        expires: Option<OffsetDateTime>,
    ) -> Result<VersionInfo> {
        let params = SetSecretParameters {
            value: Some(value.expose().to_string()),
            content_type: Some(content_type.to_string()),
            tags: Some(tags.clone().into_iter().collect::<HashMap<_, _>>()),
            secret_attributes: Some(SecretAttributes {
                enabled: Some(true),
                expires,
                ..Default::default()
            }),
        };
        let body: RequestContent<SetSecretParameters> =
            params.try_into().map_err(|_| Error::Unexpected {
                service: "Key Vault",
                detail: "cannot encode the secret".into(),
            })?;
        let resp = self
            .client
            .set_secret(name, body, None)
            .await
            .map_err(|e| self.error(&e, "storing a new version (setSecret)"))?;
        let secret = resp
            .into_model()
            .map_err(|e| self.error(&e, "storing a new version (setSecret)"))?;
        let attrs = secret.attributes.unwrap_or_default();
        Ok(VersionInfo {
            version: version_of(secret.id.as_deref()),
            enabled: attrs.enabled.unwrap_or(true),
            created: attrs.created,
            expires: attrs.expires,
            tags,
        })
    }

    /// Disables one version (never deletes).
    pub async fn disable(&self, name: &str, version: &str) -> Result<()> {
        let params = UpdateSecretPropertiesParameters {
            secret_attributes: Some(SecretAttributes {
                enabled: Some(false),
                ..Default::default()
            }),
            ..Default::default()
        };
        let body: RequestContent<UpdateSecretPropertiesParameters> =
            params.try_into().map_err(|_| Error::Unexpected {
                service: "Key Vault",
                detail: "cannot encode the update".into(),
            })?;
        let options =
            azure_security_keyvault_secrets::models::SecretClientUpdateSecretPropertiesOptions {
                secret_version: Some(version.to_string()),
                ..Default::default()
            };
        self.client
            .update_secret_properties(name, body, Some(options))
            .await
            .map_err(|e| self.error(&e, &format!("disabling version {version}")))?;
        Ok(())
    }

    fn error(&self, e: &azure_core::Error, action: &str) -> Error {
        if let Some(err) = crate::azure::auth::sign_in_error(e) {
            return err;
        }
        let vault = self.url.as_str().trim_end_matches('/').to_string();
        let Some(status) = e.http_status().map(u16::from) else {
            use azure_core::error::ErrorKind;
            let detail = Runtime::get().redact(&e.to_string());
            return match e.kind() {
                // No answer at all: the network path to the vault.
                ErrorKind::Connection | ErrorKind::Io => Error::Transport {
                    host: self.url.host_str().unwrap_or("the vault").to_string(),
                    detail,
                },
                _ => Error::Unexpected {
                    service: "Key Vault",
                    detail: format!("{action}: {detail}"),
                },
            };
        };
        let (code, message) = error_body(e);
        let message = Runtime::get().redact(&message);
        if status == 403
            && let Some(code) = code
                .as_deref()
                .filter(|c| matches!(*c, "ForbiddenByFirewall" | "ForbiddenByConnection"))
        {
            let fix = if code == "ForbiddenByFirewall" {
                "The vault's firewall blocks this runner's address: allow it in the vault's Networking settings, or run the step on a runner inside the vault's network"
            } else {
                "The vault's public network access is off (network: private): run this step inside its virtual network, on the project's own runners with `uses: OWNER/aca-runner-action/native@v0` (README: Rotating on your own runners)"
            };
            return Error::KeyVaultNetwork {
                vault,
                action: action.to_string(),
                code: code.to_string(),
                detail: message,
                fix: fix.into(),
            };
        }
        if status == 403 && code.as_deref() == Some("ForbiddenByPolicy") {
            return Error::KeyVault {
                vault,
                action: action.to_string(),
                status,
                detail: message,
                fix: "The vault uses access policies: give the Azure identity secret get, list and set permissions, or switch the vault to Azure RBAC and assign Key Vault Secrets Officer".into(),
            };
        }
        if status == 403 {
            // rotate-key reads and writes: Officer is the one role that serves the whole command.
            let role = "Key Vault Secrets Officer";
            let principal = message
                .split(['\r', '\n'])
                .find_map(|l| l.trim().strip_prefix("Caller: "))
                .map(|c| format!("({c})"))
                .unwrap_or_else(|| "the action signs in with".into());
            return Error::KeyVaultForbidden {
                vault,
                action: action.to_string(),
                code: code.unwrap_or_else(|| "Forbidden".into()),
                role: role.into(),
                principal,
            };
        }
        let hint = match status {
            401 => {
                "The vault refused the Azure token: check that `azure-tenant-id` is the vault's tenant and that `key-vault` names the right vault"
            }
            404 => "Check `key-vault` and `secret-name`",
            _ => "",
        };
        let detail = if message.is_empty() {
            Runtime::get().redact(&e.to_string())
        } else {
            message
        };
        Error::KeyVault {
            vault,
            action: action.to_string(),
            status,
            detail,
            fix: hint.into(),
        }
    }
}

fn version_of(id: Option<&str>) -> String {
    id.and_then(|id| id.trim_end_matches('/').rsplit('/').next())
        .unwrap_or_default()
        .to_string()
}

/// The Key Vault error body's inner code (or code) and message.
fn error_body(e: &azure_core::Error) -> (Option<String>, String) {
    let azure_core::error::ErrorKind::HttpResponse {
        raw_response: Some(raw),
        error_code,
        ..
    } = e.kind()
    else {
        return (None, String::new());
    };
    let json: serde_json::Value = serde_json::from_slice(raw.body()).unwrap_or_default();
    let err = &json["error"];
    let inner = err["innererror"]["code"].as_str().map(str::to_string);
    let code = inner
        .or_else(|| err["code"].as_str().map(str::to_string))
        .or_else(|| error_code.clone());
    let message = err["message"].as_str().unwrap_or_default().to_string();
    (code, message)
}

fn error_code(e: &azure_core::Error) -> Option<String> {
    error_body(e).0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(id: &str, created: i64) -> VersionInfo {
        VersionInfo {
            version: id.into(),
            enabled: true,
            created: OffsetDateTime::from_unix_timestamp(created).ok(),
            expires: None,
            tags: BTreeMap::new(),
        }
    }

    #[test]
    fn the_newest_version_is_the_one_created_last_unless_the_second_is_shared() {
        assert!(newest(&[]).is_none());
        let one = [version("a", 10)];
        assert_eq!(newest(&one).map(|v| v.version.as_str()), Some("a"));
        let two = [version("a", 10), version("b", 11)];
        assert_eq!(newest(&two).map(|v| v.version.as_str()), Some("b"));
        // Same second: the list's order says nothing, only the vault can tell.
        let tied = [version("a", 10), version("b", 11), version("c", 11)];
        assert!(newest(&tied).is_none());
    }

    #[test]
    fn vault_names_become_urls() {
        assert_eq!(
            vault_url("kv-runners", "vault.azure.net").unwrap().as_str(),
            "https://kv-runners.vault.azure.net/"
        );
        assert_eq!(
            vault_url("https://127.0.0.1:8443", "vault.azure.net")
                .unwrap()
                .as_str(),
            "https://127.0.0.1:8443/"
        );
        assert!(vault_url("x", "vault.azure.net").is_err());
        assert!(vault_url("http://kv.vault.azure.net", "vault.azure.net").is_err());
    }

    #[test]
    fn version_is_the_last_segment() {
        assert_eq!(
            version_of(Some("https://kv.vault.azure.net/secrets/k/abc123")),
            "abc123"
        );
    }
}

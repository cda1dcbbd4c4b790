//! The clients of one step, each created once on first use, and what they cache: the GitHub
//! client, the Azure credentials and the ARM client, the App's installations and its one
//! installation token, and the tokens to revoke when the step ends.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use azure_core::credentials::{AccessToken, TokenCredential};
use tokio::sync::OnceCell;

use crate::azure::AzureConfig;
use crate::azure::arm::Arm;
use crate::azure::auth::{self, AuthMethod, Cloud};
use crate::azure::keyvault::{KeyVault, vault_url};
use crate::error::{Error, Result};
use crate::github::{GitHub, Installation, InstallationToken};
use crate::http::Http;
use crate::runtime::Runtime;
use crate::secret::Secret;

/// An installation token is minted again this long after it was (GitHub's last for an hour).
const TOKEN_FRESH: Duration = Duration::from_secs(50 * 60);

/// The installation token the commands of a step share.
struct CachedToken {
    installation_id: u64,
    /// Minted with every permission of the installation (no list asked for).
    all_permissions: bool,
    token: Arc<InstallationToken>,
    minted: Instant,
}

impl CachedToken {
    /// Whether it serves a request for `wanted` on `installation_id`.
    fn serves(&self, installation_id: u64, wanted: Option<&BTreeMap<String, String>>) -> bool {
        let covers = match wanted {
            None => self.all_permissions,
            Some(w) => w.iter().all(|(k, v)| {
                self.token
                    .permissions
                    .get(k)
                    .is_some_and(|have| have == v || have == "write")
            }),
        };
        self.installation_id == installation_id && self.minted.elapsed() < TOKEN_FRESH && covers
    }
}

/// Where an installation was looked for: owner and repository, lower-cased.
#[derive(Debug, Clone, PartialEq, Eq)]
struct InstallationTarget {
    owner: String,
    repository: Option<String>,
}

/// What a session is for.
#[derive(Debug, Clone)]
pub struct Options {
    /// `dry-run`.
    pub dry_run: bool,
    /// `skip-token-revoke`.
    pub skip_revoke: bool,
    /// The GitHub API URL.
    pub api_url: String,
    /// The Azure side, when a command reaches Azure.
    pub azure: Option<AzureConfig>,
    /// The permissions of the step's installation token.
    pub token_permissions: BTreeMap<String, String>,
}

/// Which Azure tokens are worth fetching ahead of the commands.
#[derive(Debug, Clone, Copy, Default)]
pub struct SignInAhead {
    /// A Key Vault token.
    pub vault: bool,
    /// An Azure Resource Manager token.
    pub arm: bool,
}

/// The step's clients and caches.
pub struct Session {
    /// The runner side: log, masks, outputs, summary.
    pub rt: &'static Runtime,
    /// The one HTTP client.
    pub http: Arc<Http>,
    /// `dry-run`: read everything, write nothing.
    pub dry_run: bool,
    /// The permissions the step's installation token carries.
    pub token_permissions: BTreeMap<String, String>,
    skip_revoke: bool,
    api_url: String,
    azure: Option<AzureConfig>,
    github: OnceCell<GitHub>,
    arm_credential: OnceCell<Arc<dyn TokenCredential>>,
    vault_credential: OnceCell<Arc<dyn TokenCredential>>,
    arm: OnceCell<Arm>,
    revocations: Mutex<Vec<Arc<InstallationToken>>>,
    installation_token: tokio::sync::Mutex<Option<CachedToken>>,
    installations: tokio::sync::Mutex<Vec<(InstallationTarget, Installation)>>,
    /// Told when the step first creates a client: the plan was accepted and the commands
    /// reach out, so signing in ahead is no longer premature.
    contact: tokio::sync::Notify,
}

impl Session {
    /// A session; nothing is sent until a command asks for a client.
    pub fn new(options: Options, http: Arc<Http>, rt: &'static Runtime) -> Session {
        Session {
            rt,
            http,
            dry_run: options.dry_run,
            token_permissions: options.token_permissions,
            skip_revoke: options.skip_revoke,
            api_url: options.api_url,
            azure: options.azure,
            github: OnceCell::new(),
            arm_credential: OnceCell::new(),
            vault_credential: OnceCell::new(),
            arm: OnceCell::new(),
            revocations: Mutex::new(Vec::new()),
            installation_token: tokio::sync::Mutex::new(None),
            installations: tokio::sync::Mutex::new(Vec::new()),
            contact: tokio::sync::Notify::new(),
        }
    }

    /// The GitHub client.
    pub async fn github(&self) -> Result<&GitHub> {
        self.github
            .get_or_try_init(|| async {
                self.contact.notify_one();
                Ok::<_, Error>(GitHub::new(self.http.clone(), &self.api_url, self.rt))
            })
            .await
    }

    fn azure_plan(&self) -> Result<&AzureConfig> {
        self.azure.as_ref().ok_or_else(|| Error::Unexpected {
            service: "Azure",
            detail: "a command reached Azure that the plan did not expect to".into(),
        })
    }

    /// The Azure cloud the step works in.
    pub fn cloud(&self) -> Result<&Cloud> {
        Ok(&self.azure_plan()?.identity.cloud)
    }

    /// The credential for Azure Resource Manager.
    pub async fn arm_credential(&self) -> Result<&Arc<dyn TokenCredential>> {
        self.arm_credential
            .get_or_try_init(|| self.new_credential())
            .await
    }

    /// The credential for Key Vault. Each resource has a credential (and token cache) of its
    /// own: the cache holds its lock while it fetches, so with one shared credential a Key
    /// Vault request would wait for an ARM token being fetched ahead.
    pub async fn vault_credential(&self) -> Result<&Arc<dyn TokenCredential>> {
        self.vault_credential
            .get_or_try_init(|| self.new_credential())
            .await
    }

    async fn new_credential(&self) -> Result<Arc<dyn TokenCredential>> {
        self.contact.notify_one();
        auth::credential(&self.azure_plan()?.identity, &self.http)
    }

    /// A client for the vault named (or addressed) by `vault`.
    pub async fn key_vault(&self, vault: &str) -> Result<KeyVault> {
        let cloud = self.cloud()?;
        let url = vault_url(vault, &cloud.key_vault_suffix)?;
        let credential = self.vault_credential().await?.clone();
        KeyVault::new(url, &cloud.key_vault_suffix, credential, &self.http)
    }

    /// The ARM client.
    pub async fn arm(&self) -> Result<&Arm> {
        self.arm
            .get_or_try_init(|| async {
                let credential = self.arm_credential().await?.clone();
                Ok(Arm::new(
                    self.cloud()?.resource_manager.clone(),
                    credential,
                    &self.http,
                ))
            })
            .await
    }

    /// An Azure Resource Manager token of the step's identity: its object id names the caller,
    /// and a registry's token service takes it. `fix` is what to do when there is none.
    pub async fn arm_token(&self, fix: &str) -> Result<AccessToken> {
        let scope = self.cloud()?.resource_manager_scope();
        self.arm_credential()
            .await?
            .get_token(&[scope.as_str()], None)
            .await
            .map_err(|e| {
                auth::sign_in_error(&e).unwrap_or_else(|| Error::AzureAuth {
                    detail: "no Azure Resource Manager token could be had".into(),
                    hint: fix.to_string(),
                })
            })
    }

    /// The App's installation for `owner` (and `repository`), looked up once per step.
    pub async fn find_installation(
        &self,
        jwt: &Secret,
        app_id: &str,
        owner: &str,
        repository: Option<&str>,
    ) -> Result<Installation> {
        let target = InstallationTarget {
            owner: owner.to_ascii_lowercase(),
            repository: repository.map(str::to_ascii_lowercase),
        };
        let mut cache = self.installations.lock().await;
        if let Some((_, found)) = cache.iter().find(|(t, _)| *t == target) {
            return Ok(found.clone());
        }
        let found = self
            .github()
            .await?
            .find_installation(jwt, app_id, owner, repository)
            .await?;
        cache.push((target, found.clone()));
        Ok(found)
    }

    /// An installation token for `installation_id`: one per step, shared by the commands, minted
    /// again only when the cached one lacks a wanted permission or is within ten minutes of its
    /// one-hour expiry. `wanted` `None` asks for every permission the installation has.
    pub async fn installation_token(
        &self,
        jwt: &Secret,
        installation_id: u64,
        wanted: Option<&BTreeMap<String, String>>,
    ) -> Result<Arc<InstallationToken>> {
        let mut cache = self.installation_token.lock().await;
        if let Some(cached) = cache.as_ref()
            && cached.serves(installation_id, wanted)
        {
            return Ok(cached.token.clone());
        }
        let token = Arc::new(
            self.github()
                .await?
                .installation_token(jwt, installation_id, wanted)
                .await?,
        );
        self.revoke_at_end(&token);
        *cache = Some(CachedToken {
            installation_id,
            all_permissions: wanted.is_none(),
            token: token.clone(),
            minted: Instant::now(),
        });
        Ok(token)
    }

    /// Remembers an installation token for revocation at the end of the step.
    pub fn revoke_at_end(&self, token: &Arc<InstallationToken>) {
        self.revocations
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(token.clone());
    }

    /// Sets a step output.
    pub fn output(&self, name: &str, value: &str) -> Result<()> {
        self.rt
            .set_output(name, value)
            .map_err(|e| Error::RunnerFile {
                path: "GITHUB_OUTPUT".into(),
                detail: e.to_string(),
            })
    }

    /// Sets step outputs, in order.
    pub fn outputs(&self, outputs: &[(String, String)]) -> Result<()> {
        outputs
            .iter()
            .try_for_each(|(name, value)| self.output(name, value))
    }

    /// Signs in to Azure for every scope the commands will need, so the tokens are ready (in the
    /// credential's cache) when the commands ask: this runs beside the commands and overlaps
    /// the sign-in round trips with GitHub's. Failures are left for the command that needs the
    /// token to meet and report. It waits for the first command to reach out: a step whose
    /// inputs are refused sends nothing.
    pub async fn prewarm(&self, ahead: SignInAhead) {
        let Some(azure) = &self.azure else {
            return;
        };
        let (needs_vault, needs_arm) = (ahead.vault, ahead.arm);
        // The Azure CLI credential keeps no cache: asking ahead would only run `az` twice.
        if azure.identity.method == AuthMethod::Cli || (!needs_vault && !needs_arm) {
            return;
        }
        self.contact.notified().await;
        let cloud = &azure.identity.cloud;
        let vault = async {
            if let (true, Ok(credential)) = (needs_vault, self.vault_credential().await) {
                let scope = cloud.key_vault_scope();
                let _ = credential.get_token(&[scope.as_str()], None).await;
            }
        };
        let arm = async {
            if let (true, Ok(credential)) = (needs_arm, self.arm_credential().await) {
                let scope = cloud.resource_manager_scope();
                let _ = credential.get_token(&[scope.as_str()], None).await;
            }
        };
        tokio::join!(vault, arm);
    }

    /// Revokes the step's installation tokens (unless `skip-token-revoke`).
    pub async fn revoke_tokens(&self) {
        let tokens: Vec<Arc<InstallationToken>> =
            std::mem::take(&mut *self.revocations.lock().unwrap_or_else(|p| p.into_inner()));
        if tokens.is_empty() {
            return;
        }
        if self.skip_revoke {
            crate::say!(
                "Keeping {} installation token(s) alive (skip-token-revoke); they expire within an hour",
                tokens.len()
            );
            return;
        }
        let gh = match self.github().await {
            Ok(gh) => gh,
            Err(e) => {
                self.rt.warning(&format!(
                    "could not revoke {} installation token(s) ({e}); they expire within an hour",
                    tokens.len()
                ));
                return;
            }
        };
        for token in &tokens {
            match gh.revoke(&token.token).await {
                Ok(()) => crate::say!("Revoked the installation token"),
                Err(e) => self
                    .rt
                    .warning(&format!("could not revoke an installation token: {e}")),
            }
        }
    }
}

//! aca-runner-action: rotate a GitHub App key into Key Vault, deploy self-hosted runners on Azure
//! Container Apps Jobs, and publish what they need, as one GitHub Action (and CLI).
//!
//! Layout: one module per outside system ([`github`], [`azure_auth`], [`keyvault`]) that knows its
//! wire format; one module per command under [`commands`] that knows the workflow; [`runtime`]
//! for everything the runner sees; [`http`] for the one HTTP client and its retries.

pub mod acr;
pub mod arm;
pub mod azure_auth;
pub mod cli;
pub mod commands;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod github;
pub mod http;
pub mod key;
pub mod keyvault;
pub mod pack;
pub mod pools;
pub mod runner_init;
pub mod runner_version;
pub mod runtime;
pub mod secret;
pub mod templates;

use std::sync::{Arc, Mutex};

use azure_core::credentials::TokenCredential;
use tokio::sync::OnceCell;

pub use cli::{Command, Inputs};
pub use error::{Error, Result};

use crate::runtime::Runtime;
use crate::secret::Secret;

/// Owner and repository (lower-cased) an installation was looked up for.
type InstallationTarget = (String, Option<String>);

/// The step's installation token: its installation, whether it carries every permission, the
/// token, and when it was minted.
type CachedToken = (
    u64,
    bool,
    Arc<github::InstallationToken>,
    std::time::Instant,
);

/// What the commands of one step share: inputs, the HTTP client, the GitHub and Azure clients
/// (created on first use), the outputs of earlier commands, and the tokens to revoke at the end.
pub struct Step {
    /// The inputs.
    pub inputs: Inputs,
    /// The shared HTTP client.
    pub http: Arc<http::Http>,
    /// The runner side.
    pub rt: &'static Runtime,
    /// `dry-run`.
    pub dry_run: bool,
    /// `skip-token-revoke`.
    pub skip_revoke: bool,
    /// Permissions the step's one installation token carries: the union of what its commands
    /// need.
    pub token_permissions: std::collections::BTreeMap<String, String>,
    /// The App id GitHub confirmed, and the installation found, by rotate-key (deploy reuses them).
    pub app_facts: Mutex<(Option<String>, Option<u64>)>,
    github: OnceCell<github::GitHub>,
    azure: OnceCell<(azure_auth::Cloud, Arc<dyn TokenCredential>)>,
    azure_key_vault: OnceCell<(azure_auth::Cloud, Arc<dyn TokenCredential>)>,
    tokens: Mutex<Vec<Arc<github::InstallationToken>>>,
    app_token: tokio::sync::Mutex<Option<CachedToken>>,
    deployment_outputs: Mutex<Vec<(String, bool)>>,
    /// Told when the step first creates its GitHub or Azure client: the running command has
    /// accepted its inputs, so signing in ahead is no longer premature.
    contact: tokio::sync::Notify,
    /// Installations found by owner and repository, so the commands of a step look once.
    installations: tokio::sync::Mutex<Vec<(InstallationTarget, github::Installation)>>,
}

impl Step {
    /// The GitHub client for `github-api-url`.
    pub async fn github(&self) -> Result<&github::GitHub> {
        self.github
            .get_or_try_init(|| async {
                self.contact.notify_one();
                Ok(github::GitHub::new(
                    self.http.clone(),
                    &self.inputs.github_api_url()?,
                    self.rt,
                ))
            })
            .await
    }

    /// The Azure cloud and the credential for Azure Resource Manager, chosen by the Azure inputs.
    pub async fn azure(&self) -> Result<&(azure_auth::Cloud, Arc<dyn TokenCredential>)> {
        self.azure.get_or_try_init(|| self.new_credential()).await
    }

    /// The Azure cloud and the credential for Key Vault. Each resource has a credential (and
    /// token cache) of its own: the cache holds its lock while it fetches, so with one shared
    /// credential a Key Vault request would wait for an ARM token being fetched ahead.
    pub async fn azure_key_vault(&self) -> Result<&(azure_auth::Cloud, Arc<dyn TokenCredential>)> {
        self.azure_key_vault
            .get_or_try_init(|| self.new_credential())
            .await
    }

    async fn new_credential(&self) -> Result<(azure_auth::Cloud, Arc<dyn TokenCredential>)> {
        self.contact.notify_one();
        let i = &self.inputs;
        let cloud = azure_auth::Cloud::resolve(
            Inputs::text(&i.azure_environment).as_deref(),
            Inputs::text(&i.azure_authority_host).as_deref(),
            Inputs::text(&i.azure_resource_manager_url).as_deref(),
            Inputs::text(&i.azure_audience).as_deref(),
        )?;
        let identity = azure_auth::AzureIdentity {
            method: azure_auth::AuthMethod::parse(Inputs::text(&i.azure_auth).as_deref())?,
            client_id: Inputs::text(&i.azure_client_id),
            tenant_id: Inputs::text(&i.azure_tenant_id),
            cloud: cloud.clone(),
        };
        let credential = azure_auth::credential(&identity, &self.http)?;
        Ok((cloud, credential))
    }

    /// An Azure Resource Manager token of the step's identity: its object id names the caller,
    /// and a registry's token service takes it. `fix` is what to do when there is none.
    pub async fn arm_token(&self, fix: &str) -> Result<azure_core::credentials::AccessToken> {
        let (cloud, credential) = self.azure().await?;
        let scope = format!(
            "{}/.default",
            cloud.resource_manager.as_str().trim_end_matches('/')
        );
        credential
            .get_token(&[scope.as_str()], None)
            .await
            .map_err(|e| {
                azure_auth::sign_in_error(&e).unwrap_or_else(|| Error::AzureAuth {
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
    ) -> Result<github::Installation> {
        let key = (
            owner.to_ascii_lowercase(),
            repository.map(str::to_ascii_lowercase),
        );
        let mut cache = self.installations.lock().await;
        if let Some((_, found)) = cache.iter().find(|(k, _)| *k == key) {
            return Ok(found.clone());
        }
        let found = self
            .github()
            .await?
            .find_installation(jwt, app_id, owner, repository)
            .await?;
        cache.push((key, found.clone()));
        Ok(found)
    }

    /// Signs in to Azure for every scope the commands will need, so the tokens are ready (in the
    /// credential's cache) when the commands ask: this runs beside the commands and overlaps
    /// the sign-in round trips with GitHub's. Failures are left for the command that needs the
    /// token to meet and report. It waits for the first command to reach out: a step whose
    /// inputs are refused sends nothing.
    async fn prewarm(&self, commands: &[Command]) {
        let needs_vault = commands.contains(&Command::RotateKey);
        let needs_arm = commands
            .iter()
            .any(|c| matches!(c, Command::Deploy | Command::BuildImage))
            || (needs_vault && Inputs::text(&self.inputs.jobs).is_some());
        // The Azure CLI credential keeps no cache: asking ahead would only run `az` twice.
        let cli = matches!(
            azure_auth::AuthMethod::parse(Inputs::text(&self.inputs.azure_auth).as_deref()),
            Ok(azure_auth::AuthMethod::Cli)
        );
        if cli || (!needs_vault && !needs_arm) {
            return;
        }
        self.contact.notified().await;
        let vault = async {
            if let (true, Ok((cloud, credential))) = (needs_vault, self.azure_key_vault().await) {
                let scope = format!("https://{}/.default", cloud.key_vault_suffix);
                let _ = credential.get_token(&[scope.as_str()], None).await;
            }
        };
        let arm = async {
            if let (true, Ok((cloud, credential))) = (needs_arm, self.azure().await) {
                let scope = format!(
                    "{}/.default",
                    cloud.resource_manager.as_str().trim_end_matches('/')
                );
                let _ = credential.get_token(&[scope.as_str()], None).await;
            }
        };
        tokio::join!(vault, arm);
    }

    /// Remembers an installation token for revocation at the end of the step.
    pub fn track_token(&self, token: &Arc<github::InstallationToken>) {
        self.tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(token.clone());
    }

    /// An installation token for `installation_id`: one per step, shared by the commands, minted
    /// again only when the cached one lacks a wanted permission or is within ten minutes of its
    /// one-hour expiry. `wanted` `None` asks for every permission the installation has.
    pub async fn installation_token(
        &self,
        jwt: &Secret,
        installation_id: u64,
        wanted: Option<&std::collections::BTreeMap<String, String>>,
    ) -> Result<Arc<github::InstallationToken>> {
        let mut cache = self.app_token.lock().await;
        if let Some((id, all, token, minted)) = cache.as_ref() {
            let fresh = minted.elapsed() < std::time::Duration::from_secs(50 * 60);
            let covers = match wanted {
                None => *all,
                Some(w) => w.iter().all(|(k, v)| {
                    token
                        .permissions
                        .get(k)
                        .is_some_and(|have| have == v || have == "write")
                }),
            };
            if *id == installation_id && fresh && covers {
                return Ok(token.clone());
            }
        }
        let token = Arc::new(
            self.github()
                .await?
                .installation_token(jwt, installation_id, wanted)
                .await?,
        );
        self.track_token(&token);
        *cache = Some((
            installation_id,
            wanted.is_none(),
            token.clone(),
            std::time::Instant::now(),
        ));
        Ok(token)
    }

    /// Records a deployment output name (and whether it is secure) for `export-outputs`.
    pub fn record_deployment_output(&self, name: &str, secure: bool) {
        self.deployment_outputs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((name.to_string(), secure));
    }

    /// The deployment outputs of this step, in order, with their secure flag.
    pub fn deployment_outputs(&self) -> Vec<(String, bool)> {
        self.deployment_outputs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Sets a step output (also visible to later commands).
    pub fn output(&self, name: &str, value: &str) -> Result<()> {
        self.rt
            .set_output(name, value)
            .map_err(|e| Error::RunnerFile {
                path: "GITHUB_OUTPUT".into(),
                detail: e.to_string(),
            })
    }

    async fn revoke_tokens(&self) {
        let tokens: Vec<Arc<github::InstallationToken>> =
            std::mem::take(&mut *self.tokens.lock().unwrap_or_else(|p| p.into_inner()));
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

/// Runs the commands the inputs name, in pipeline order, then revokes tokens and writes the
/// summary. Errors are returned for the caller to render once.
pub async fn run(inputs: Inputs) -> Result<()> {
    let rt = Runtime::get();
    // Secret inputs are masked as given, before anything could echo them.
    for secret in [&inputs.private_key, &inputs.github_token]
        .into_iter()
        .flatten()
    {
        rt.mask(secret);
        rt.mask(&secret.replace("\\n", "\n"));
    }
    let commands = inputs.command_list()?;
    let plan = commands::Plan::from_inputs(&commands, &inputs)?;
    let dry_run = Inputs::boolean(&inputs.dry_run, "dry-run", false)?;
    let skip_revoke = Inputs::boolean(&inputs.skip_token_revoke, "skip-token-revoke", false)?;
    let http = http::Http::from_env(http::RetryPolicy::default())?;
    let token_permissions = commands::token_permissions(&commands, &inputs);
    let step = Step {
        inputs,
        http,
        rt,
        dry_run,
        skip_revoke,
        token_permissions,
        app_facts: Mutex::new((None, None)),
        github: OnceCell::new(),
        azure: OnceCell::new(),
        azure_key_vault: OnceCell::new(),
        tokens: Mutex::new(Vec::new()),
        app_token: tokio::sync::Mutex::new(None),
        deployment_outputs: Mutex::new(Vec::new()),
        installations: tokio::sync::Mutex::new(Vec::new()),
        contact: tokio::sync::Notify::new(),
    };
    if dry_run {
        crate::say!("dry-run: reading everything, writing nothing");
    }
    let work = async {
        for command in &commands {
            rt.group(command.name());
            let outcome = match command {
                Command::RotateKey => commands::rotate_key::run(&step).await,
                Command::BuildImage => match &plan.build_image {
                    Some(req) => commands::build_image::run(&step, req).await,
                    None => Ok(()),
                },
                Command::Deploy => match &plan.deploy {
                    Some(req) => commands::deploy::run(&step, req).await,
                    None => Ok(()),
                },
                Command::SetVariables => match &plan.set_variables {
                    Some(req) => commands::set_variables::run(&step, req).await,
                    None => Ok(()),
                },
            };
            rt.end_group();
            outcome?;
        }
        Ok(())
    };
    // The Azure sign-in runs beside the commands and is dropped when they are done.
    let warm = step.prewarm(&commands);
    tokio::pin!(work, warm);
    let mut warming = true;
    let result = loop {
        tokio::select! {
            result = &mut work => break result,
            () = &mut warm, if warming => warming = false,
        }
    };
    step.revoke_tokens().await;
    crate::debug!("{} HTTP request(s) sent", step.http.request_count());
    if let Err(e) = rt.flush_summary() {
        rt.warning(&format!("could not write the step summary: {e}"));
    }
    result
}

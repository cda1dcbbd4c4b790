//! Inputs → [`Plan`]: every input of the step read, checked and typed once, before the first
//! request. A bad input of a later command stops the step before an earlier command wrote
//! anything; the commands take typed values and never read an input themselves.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::azure::AzureConfig;
use crate::azure::arm::JobRef;
use crate::azure::arm::deployments::Scope;
use crate::azure::auth::{AuthMethod, AzureIdentity, Cloud};
use crate::azure::keyvault::vault_url;
use crate::cli::{Command, Inputs};
use crate::commands::build_image::{self, VersionWanted};
use crate::commands::{deploy, doctor, prerequisites, rotate_key, set_variables};
use crate::error::{Error, Result};
use crate::github::GitHubConfig;
use crate::key::AppKey;
use crate::runtime::Runtime;
use crate::secret::Secret;
use crate::session;
use crate::templates::{Builtin, ParameterInput, Template};

/// What the runner tells every step through its environment (`GITHUB_*`).
#[derive(Debug, Clone, Default)]
pub struct RunContext {
    /// `GITHUB_REPOSITORY`.
    pub repository: Option<String>,
    /// `GITHUB_REPOSITORY_OWNER`.
    pub repository_owner: Option<String>,
    /// `GITHUB_API_URL`.
    pub api_url: Option<String>,
    /// `GITHUB_SERVER_URL`.
    pub server_url: Option<String>,
    /// `GITHUB_RUN_ID`.
    pub run_id: Option<String>,
    /// Whether this is an Actions job (`GITHUB_ACTIONS`, or an OIDC endpoint is offered).
    pub on_runner: bool,
}

impl RunContext {
    /// Reads the context through `lookup` (`std::env::var` in the binary); empty is unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> RunContext {
        let var = |n: &str| lookup(n).filter(|v| !v.is_empty());
        RunContext {
            repository: var("GITHUB_REPOSITORY"),
            repository_owner: var("GITHUB_REPOSITORY_OWNER"),
            api_url: var("GITHUB_API_URL"),
            server_url: var("GITHUB_SERVER_URL"),
            run_id: var("GITHUB_RUN_ID"),
            // An OIDC endpoint offered, even empty, means a runner (as Actions sets it).
            on_runner: var("GITHUB_ACTIONS").as_deref() == Some("true")
                || lookup("ACTIONS_ID_TOKEN_REQUEST_URL").is_some(),
        }
    }

    /// The run's URL (the `rotated-by` tag), or a local marker.
    pub fn run_url(&self) -> String {
        match (&self.server_url, &self.repository, &self.run_id) {
            (Some(server), Some(repo), Some(run)) => format!("{server}/{repo}/actions/runs/{run}"),
            _ => "aca-runner-action (local)".to_string(),
        }
    }
}

/// The whole step, checked.
#[derive(Debug)]
pub struct Plan {
    /// The commands, in pipeline order.
    pub commands: Vec<Command>,
    /// `dry-run`.
    pub dry_run: bool,
    /// `skip-token-revoke`.
    pub skip_revoke: bool,
    /// GitHub.
    pub github: GitHubConfig,
    /// Azure (`None` when no command of the step reaches Azure).
    pub azure: Option<AzureConfig>,
    /// `rotate-key`.
    pub rotate: Option<rotate_key::Request>,
    /// `build-image`.
    pub build: Option<build_image::Request>,
    /// `deploy`.
    pub deploy: Option<deploy::Request>,
    /// `set-variables`.
    pub variables: Option<set_variables::Request>,
    /// `doctor`.
    pub doctor: Option<doctor::Request>,
    /// Permissions of the step's one installation token: the union of what its commands
    /// need, and no more (GitHub scopes installation tokens down on request).
    pub token_permissions: BTreeMap<String, String>,
    /// The run's URL.
    pub run_url: String,
}

impl Plan {
    /// What the step's session is for.
    pub fn session_options(&self) -> session::Options {
        session::Options {
            dry_run: self.dry_run,
            skip_revoke: self.skip_revoke,
            api_url: self.github.api_url.clone(),
            azure: self.azure.clone(),
            token_permissions: self.token_permissions.clone(),
        }
    }

    /// The Azure tokens the commands will ask for.
    pub fn sign_in_ahead(&self) -> session::SignInAhead {
        let doctor = self
            .doctor
            .as_ref()
            .is_some_and(|d| d.subscription.is_some());
        session::SignInAhead {
            vault: self.rotate.is_some() || doctor,
            arm: doctor
                || self.deploy.is_some()
                || self.build.is_some()
                || self.rotate.as_ref().is_some_and(|r| r.reaches_arm()),
        }
    }
}

fn given(value: &Option<String>) -> Option<String> {
    Inputs::text(value)
}

impl Plan {
    /// Reads and checks every input of the step; secret values are masked through `rt` as
    /// they are parsed.
    pub fn from_inputs(i: &Inputs, ctx: &RunContext, rt: &Runtime) -> Result<Plan> {
        let commands = i.command_list()?;
        let rotating = commands.contains(&Command::RotateKey);
        let (github, pem) = github_plan(i, ctx, rotating, uses_key(&commands, i), rt)?;
        let azure = if commands.iter().any(|c| *c != Command::SetVariables) {
            Some(azure_plan(i, ctx)?)
        } else {
            None
        };
        let has = |c| commands.contains(&c);
        let rotate = match has(Command::RotateKey) {
            true => Some(rotate_request(i, &github, pem, azure.as_ref())?),
            false => None,
        };
        let build = match has(Command::BuildImage) {
            true => Some(build_request(i)?),
            false => None,
        };
        let deploy = match has(Command::Deploy) {
            true => Some(deploy_request(i, &github)?),
            false => None,
        };
        let variables = match has(Command::SetVariables) {
            true => Some(set_variables::Request::from_inputs(i, &github)?),
            false => None,
        };
        let doctor = match has(Command::Doctor) {
            true => Some(doctor_request(i, &github, azure.as_ref())?),
            false => None,
        };
        let mut token_permissions = BTreeMap::new();
        token_permissions.insert("metadata".to_string(), "read".to_string());
        if let Some(v) = &variables {
            let (name, level) = v.permission();
            token_permissions.insert(name.to_string(), level.to_string());
        }
        Ok(Plan {
            dry_run: Inputs::boolean(&i.dry_run, "dry-run", false)?,
            skip_revoke: Inputs::boolean(&i.skip_token_revoke, "skip-token-revoke", false)?,
            commands,
            github,
            azure,
            rotate,
            build,
            deploy,
            variables,
            doctor,
            token_permissions,
            run_url: ctx.run_url(),
        })
    }
}

/// Whether a command of the step signs with the App key: rotate-key, deploy of
/// builtin:runner-jobs (the numeric ids and the budget), set-variables without `github-token`.
/// A key no command uses is not parsed, so it cannot stop the step.
fn uses_key(commands: &[Command], i: &Inputs) -> bool {
    let runner_jobs = given(&i.template).is_none_or(|t| t == "builtin:runner-jobs");
    commands.iter().any(|c| match c {
        Command::RotateKey => true,
        Command::Deploy => runner_jobs,
        Command::SetVariables => given(&i.github_token).is_none(),
        Command::BuildImage => false,
        Command::Doctor => true,
    })
}

/// The GitHub side; with `rotating`, also the key as it is stored (PEM, masked). The key is
/// parsed only when `uses_key`.
fn github_plan(
    i: &Inputs,
    ctx: &RunContext,
    rotating: bool,
    uses_key: bool,
    rt: &Runtime,
) -> Result<(GitHubConfig, Option<Secret>)> {
    let repository = given(&i.repository).or_else(|| ctx.repository.clone());
    if let Some(r) = &repository {
        let mut parts = r.split('/');
        let ok = matches!((parts.next(), parts.next(), parts.next()), (Some(a), Some(b), None) if !a.is_empty() && !b.is_empty());
        if !ok {
            return Err(Error::input(
                "repository",
                format!("`{r}` is not owner/name"),
            ));
        }
    }
    let owner = given(&i.owner)
        .or_else(|| ctx.repository_owner.clone())
        .or_else(|| {
            repository
                .as_deref()
                .and_then(|r| r.split('/').next())
                .map(str::to_string)
        });
    let api_given = given(&i.github_api_url).or_else(|| ctx.api_url.clone());
    let api_url = api_given
        .clone()
        .unwrap_or_else(|| "https://api.github.com".into());
    url::Url::parse(&api_url).map_err(|_| {
        Error::input(
            "github-api-url",
            format!("`{api_url}` is not a URL; give https://api.github.com or https://HOST/api/v3"),
        )
    })?;
    let installation_id = match given(&i.installation_id) {
        None => None,
        Some(v) => Some(v.parse::<u64>().map_err(|_| {
            Error::input(
                "installation-id",
                format!("`{v}` is not a number; copy it from the installation's settings URL"),
            )
        })?),
    };
    let (key, pem) = match given(&i.private_key).filter(|_| uses_key) {
        Some(raw) if rotating => {
            let (key, pem) = AppKey::parse_for_storage(&raw, rt)?;
            (Some(Arc::new(key)), Some(pem))
        }
        Some(raw) => (Some(Arc::new(AppKey::parse(&raw)?)), None),
        None => (None, None),
    };
    let plan = GitHubConfig {
        api_url,
        api_url_given: api_given.is_some(),
        owner,
        repository,
        app_id: given(&i.app_id),
        key,
        installation_id,
        token: given(&i.github_token).map(|t| Arc::new(Secret::masked(t, rt))),
    };
    Ok((plan, pem))
}

fn azure_plan(i: &Inputs, ctx: &RunContext) -> Result<AzureConfig> {
    let cloud = Cloud::resolve(
        given(&i.azure_environment).as_deref(),
        given(&i.azure_authority_host).as_deref(),
        given(&i.azure_resource_manager_url).as_deref(),
        given(&i.azure_audience).as_deref(),
    )?;
    Ok(AzureConfig {
        identity: AzureIdentity {
            method: AuthMethod::parse(given(&i.azure_auth).as_deref(), ctx.on_runner)?,
            client_id: given(&i.azure_client_id),
            tenant_id: given(&i.azure_tenant_id),
            cloud,
        },
        subscription: given(&i.azure_subscription_id),
    })
}

fn rotate_request(
    i: &Inputs,
    github: &GitHubConfig,
    pem: Option<Secret>,
    azure: Option<&AzureConfig>,
) -> Result<rotate_key::Request> {
    let (Some(key), Some(pem)) = (github.key.clone(), pem) else {
        return Err(Error::input(
            "private-key",
            "is required for rotate-key: pass the App's private key, e.g. `private-key: ${{ secrets.APP_PRIVATE_KEY }}`",
        ));
    };
    let verify_key = Inputs::boolean(&i.verify_key, "verify-key", true)?;
    if verify_key && github.app_id.is_none() {
        return Err(Error::input(
            "app-id",
            "is required to verify the key against GitHub: set it to the App's id (or client id), or set `verify-key: false`",
        ));
    }
    let secret_name = given(&i.secret_name).unwrap_or_else(|| "github-app-key".to_string());
    if !secret_name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-')
        || secret_name.len() > 127
    {
        return Err(Error::input(
            "secret-name",
            format!(
                "`{secret_name}` is not a Key Vault secret name (1-127 letters, digits and hyphens)"
            ),
        ));
    }
    let vault = Inputs::required(
        &i.key_vault,
        "key-vault",
        "for rotate-key: give the vault name or URL",
    )?;
    // The name or URL is checked now; the cloud's suffix completes a name later.
    vault_url(&vault, "vault.azure.net")?;
    let expires_in_days =
        match Inputs::number(&i.secret_expires_in_days, "secret-expires-in-days", 0)? {
            d if d > 36_500 => {
                return Err(Error::input(
                    "secret-expires-in-days",
                    "must be at most 36500 (100 years)",
                ));
            }
            d => d,
        };
    let subscription = azure.and_then(|a| a.subscription.clone());
    let (jobs, jobs_auto) = jobs(given(&i.jobs), subscription.as_deref())?;
    Ok(rotate_key::Request {
        key,
        pem,
        verify_key,
        vault,
        secret_name,
        disable_previous: Inputs::boolean(
            &i.disable_previous_versions,
            "disable-previous-versions",
            true,
        )?,
        max_age_days: Inputs::number(&i.max_key_age_days, "max-key-age-days", 0)?,
        expires_in_days,
        jobs,
        jobs_auto,
        subscription,
    })
}

/// `jobs`: the named jobs, or `auto` (every consumer of the subscription).
fn jobs(text: Option<String>, subscription: Option<&str>) -> Result<(Vec<JobRef>, bool)> {
    match text {
        None => Ok((Vec::new(), false)),
        Some(text) if text.trim().eq_ignore_ascii_case("auto") => {
            if subscription.is_none() {
                return Err(Error::input(
                    "azure-subscription-id",
                    "is required with `jobs: auto`: the jobs and apps that use the secret are looked for in that subscription",
                ));
            }
            Ok((Vec::new(), true))
        }
        Some(text) => Ok((
            text.split([',', '\n', ' '])
                .filter(|e| !e.trim().is_empty())
                .map(|e| JobRef::parse(e, subscription))
                .collect::<Result<Vec<_>>>()?,
            false,
        )),
    }
}

fn build_request(i: &Inputs) -> Result<build_image::Request> {
    let registry = Inputs::required(
        &i.registry,
        "registry",
        "for build-image: the Container Registry name (e.g. the prerequisites output acrName)",
    )?;
    let registry = registry
        .trim_end_matches(".azurecr.io")
        .trim_end_matches(".azurecr.us")
        .trim_end_matches(".azurecr.cn")
        .to_string();
    if !(5..=50).contains(&registry.len()) || !registry.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(Error::input(
            "registry",
            format!("`{registry}` is not a registry name (5-50 letters and digits)"),
        ));
    }
    let image = Inputs::required(
        &i.image,
        "image",
        "for build-image: name:tag of the image to build",
    )?;
    let image = if image
        .rsplit('/')
        .next()
        .is_some_and(|last| last.contains(':'))
    {
        image
    } else {
        format!("{image}:latest")
    };
    if image.contains('@') || image.contains(' ') {
        return Err(Error::input(
            "image",
            format!("`{image}` is not name:tag (no digest, no spaces)"),
        ));
    }
    let minutes = Inputs::number(&i.timeout_minutes, "timeout-minutes", 60)?;
    if minutes == 0 || minutes > 8 * 60 {
        return Err(Error::input(
            "timeout-minutes",
            "must be between 1 and 480 for build-image (ACR Tasks stop a run after 8 hours)",
        ));
    }
    let build_args = build_image::build_args(given(&i.build_args).as_deref())?;
    let runner_version = VersionWanted::parse(given(&i.runner_version).as_deref())?;
    if runner_version.is_some() && build_args.iter().any(|(n, _)| n == "RUNNER_VERSION") {
        return Err(Error::input(
            "build-args",
            "sets RUNNER_VERSION, which `runner-version` sets too; give one of them",
        ));
    }
    Ok(build_image::Request {
        build_args,
        runner_version,
        registry,
        group: Inputs::required(
            &i.resource_group,
            "resource-group",
            "for build-image: the registry's resource group",
        )?,
        subscription: Inputs::required(
            &i.azure_subscription_id,
            "azure-subscription-id",
            "for build-image: the registry's subscription",
        )?,
        image,
        context: PathBuf::from(given(&i.context).unwrap_or_else(|| ".".into())),
        dockerfile: given(&i.dockerfile).unwrap_or_else(|| "Dockerfile".into()),
        timeout: Duration::from_secs(minutes * 60),
    })
}

fn deploy_request(i: &Inputs, github: &GitHubConfig) -> Result<deploy::Request> {
    let template_name = given(&i.template).unwrap_or_else(|| "builtin:runner-jobs".to_string());
    let template = Template::load(&template_name)?;
    let scope = deploy_scope(i, &template)?;
    let name = given(&i.deployment_name).unwrap_or_else(|| template.stem.clone());
    let valid_name = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.()".contains(c));
    if !valid_name {
        return Err(Error::input(
            "deployment-name",
            format!("`{name}` is not a deployment name (1-64 letters, digits, - _ . ( ))"),
        ));
    }
    let mode = match given(&i.deployment_mode).as_deref() {
        None | Some("Incremental") => "Incremental",
        Some("Complete") => "Complete",
        Some(other) => {
            return Err(Error::input(
                "deployment-mode",
                format!("`{other}` is not a mode; use Incremental or Complete"),
            ));
        }
    };
    let minutes = Inputs::number(&i.timeout_minutes, "timeout-minutes", 60)?;
    if minutes == 0 || minutes > 24 * 60 {
        return Err(Error::input(
            "timeout-minutes",
            "must be between 1 and 1440 (a day)",
        ));
    }
    let file = match given(&i.parameters_file) {
        Some(path) => Some(crate::templates::parameters_file(&path)?),
        None => None,
    };
    let parameters = match given(&i.parameters) {
        Some(text) => ParameterInput::parse(&text)?,
        None => ParameterInput::default(),
    };
    check_declared(
        &template,
        file.iter()
            .flat_map(|f| f.names())
            .chain(parameters.names()),
    )?;
    if template.builtin == Some(Builtin::Prerequisites) {
        prerequisites::check_parameters(|name| parameters.literal_text(name))?;
    }
    let pools_text = given(&i.pools);
    let pools = match template.builtin {
        Some(Builtin::RunnerJobs) => {
            let mut pools = crate::pools::plan(pools_text.as_deref(), github.owner.as_deref())?;
            if prerequisites::seed_naming(parameters.literal_text("naming"))? {
                let project = parameters.literal_text("project").ok_or_else(|| {
                    Error::input(
                        "parameters",
                        "`naming: seed` names the jobs caj-<project>: give `project` too (the seed's is aca-gh-runners)",
                    )
                })?;
                prerequisites::check_project(project)?;
                pools.name_as_seed(project)?;
            }
            Some(pools)
        }
        _ => None,
    };
    Ok(deploy::Request {
        pools_ignored: pools_text.is_some() && template.builtin.is_none(),
        template,
        file,
        parameters,
        pools,
        scope,
        name,
        mode,
        what_if: Inputs::boolean(&i.what_if, "what-if", false)?,
        timeout: Duration::from_secs(minutes * 60),
    })
}

/// `doctor` reads what the other commands would: a refused `pools` is one of its findings.
fn doctor_request(
    i: &Inputs,
    github: &GitHubConfig,
    azure: Option<&AzureConfig>,
) -> Result<doctor::Request> {
    let pools = given(&i.pools).map(|text| {
        crate::pools::plan(Some(&text), github.owner.as_deref()).map_err(|e| e.to_string())
    });
    let registry = given(&i.registry).map(|r| {
        r.trim_end_matches(".azurecr.io")
            .trim_end_matches(".azurecr.us")
            .trim_end_matches(".azurecr.cn")
            .to_string()
    });
    Ok(doctor::Request {
        pools,
        vault: given(&i.key_vault),
        secret_name: given(&i.secret_name).unwrap_or_else(|| "github-app-key".to_string()),
        max_age_days: Inputs::number(&i.max_key_age_days, "max-key-age-days", 0)?,
        resource_group: given(&i.resource_group),
        registry,
        subscription: azure.and_then(|a| a.subscription.clone()),
    })
}

/// Every parameter given must be one the template declares.
fn check_declared<'a>(template: &Template, names: impl Iterator<Item = &'a str>) -> Result<()> {
    for name in names {
        if !template.declares(name) {
            return Err(Error::input(
                "parameters",
                format!(
                    "parameter `{name}` is not declared by the template; it declares: {}",
                    template.declared_parameters().join(", ")
                ),
            ));
        }
    }
    Ok(())
}

fn deploy_scope(i: &Inputs, template: &Template) -> Result<Scope> {
    let subscription = Inputs::required(
        &i.azure_subscription_id,
        "azure-subscription-id",
        "for deploy: the subscription to deploy to, usually `${{ vars.AZURE_SUBSCRIPTION_ID }}`",
    )?;
    let prerequisites = template.builtin == Some(Builtin::Prerequisites);
    let default_scope = if prerequisites {
        "subscription"
    } else {
        "resource-group"
    };
    let mut scope_name = given(&i.scope).unwrap_or_else(|| default_scope.to_string());
    if prerequisites {
        if scope_name != "subscription" {
            crate::say!(
                "builtin:prerequisites deploys at subscription scope (it creates the resource group)"
            );
        }
        scope_name = "subscription".to_string();
    }
    match scope_name.as_str() {
        "resource-group" => Ok(Scope::ResourceGroup {
            subscription,
            group: Inputs::required(
                &i.resource_group,
                "resource-group",
                "for a resource-group scope deployment",
            )?,
        }),
        "subscription" => Ok(Scope::Subscription {
            subscription,
            location: Inputs::required(
                &i.location,
                "location",
                "for a subscription scope deployment (e.g. westeurope)",
            )?,
        }),
        other => Err(Error::input(
            "scope",
            format!("`{other}` is not a scope; use resource-group or subscription"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> RunContext {
        RunContext::from_lookup(|n| match n {
            "GITHUB_REPOSITORY" => Some("octo-org/infra".into()),
            _ => None,
        })
    }

    #[test]
    fn owner_defaults_to_the_repository_owner() {
        let inputs = Inputs {
            command: Some("set-variables".into()),
            variables: Some("A: b".into()),
            github_token: Some("t".into()),
            ..Default::default()
        };
        let plan = Plan::from_inputs(&inputs, &ctx(), &Runtime::default()).unwrap();
        assert_eq!(plan.github.owner.as_deref(), Some("octo-org"));
        assert!(
            plan.azure.is_none(),
            "set-variables alone reaches no Azure service"
        );
        assert_eq!(
            plan.token_permissions
                .get("actions_variables")
                .map(String::as_str),
            Some("write")
        );
    }

    #[test]
    fn a_key_no_command_uses_is_not_read() {
        let inputs = Inputs {
            command: Some("build-image".into()),
            private_key: Some("not a key".into()),
            registry: Some("acrrunners".into()),
            image: Some("runner:1".into()),
            resource_group: Some("rg".into()),
            azure_subscription_id: Some("sub".into()),
            ..Default::default()
        };
        let plan = Plan::from_inputs(&inputs, &ctx(), &Runtime::default()).unwrap();
        assert!(plan.github.key.is_none());
        let rotate = Inputs {
            command: Some("rotate-key".into()),
            ..inputs
        };
        let err = Plan::from_inputs(&rotate, &ctx(), &Runtime::default()).unwrap_err();
        assert!(err.to_string().contains("`private-key`"), "{err}");
    }

    #[test]
    fn the_run_url_names_the_run() {
        let ctx = RunContext::from_lookup(|n| match n {
            "GITHUB_SERVER_URL" => Some("https://github.com".into()),
            "GITHUB_REPOSITORY" => Some("o/r".into()),
            "GITHUB_RUN_ID" => Some("7".into()),
            _ => None,
        });
        assert_eq!(ctx.run_url(), "https://github.com/o/r/actions/runs/7");
        assert_eq!(RunContext::default().run_url(), "aca-runner-action (local)");
    }
}

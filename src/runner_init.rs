//! `aca-runner-action runner-init`: the program of the init container of every runner job
//! (SPEC §3.2, "the App key never reaches the workloads").
//!
//! It is the only container of an execution that holds the App key (the Key Vault secret
//! reference, in `GITHUB_APP_KEY`). It mints an installation token scoped to what registering a
//! runner needs, asks GitHub for a just-in-time runner configuration, writes it to the
//! `EmptyDir` volume it shares with the runner container, revokes the token and exits. The
//! runner container then starts the runner from that file and never sees a key or a token.
//!
//! Everything comes from the container's environment, set by `builtin:runner-jobs`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::github::GitHub;
use crate::github::runners::RunnerTarget;
use crate::http::Http;
use crate::key::AppKey;
use crate::pools::RUNNER_NAME_MAX;
use crate::say;

/// The action's published image of this release: the init container's image (a test keeps it
/// equal to the image `action.yml` runs).
pub const ACTION_IMAGE: &str = concat!(
    "ghcr.io/aca-runner-action/aca-runner-action:v",
    env!("CARGO_PKG_VERSION")
);

/// Where the configuration goes unless `JIT_CONFIG_FILE` says otherwise.
pub const DEFAULT_CONFIG_FILE: &str = "/jit/config";

/// What one init container does, read from its environment.
pub struct InitPlan {
    app_id: String,
    installation_id: u64,
    key: AppKey,
    api_url: String,
    target: RunnerTarget,
    labels: Vec<String>,
    runner_group: Option<String>,
    name: String,
    config_file: PathBuf,
    /// `uid[:gid]` the configuration file is given to (the runner container's user).
    owner: Option<(u32, Option<u32>)>,
}

impl std::fmt::Debug for InitPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InitPlan")
            .field("app_id", &self.app_id)
            .field("target", &self.target)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

fn missing(name: &'static str, what: &str) -> Error {
    Error::input(
        name,
        format!("is not set: {what} (builtin:runner-jobs sets it on the init container)"),
    )
}

impl InitPlan {
    /// Reads and checks the environment (`lookup` is `std::env::var` in the binary).
    pub fn from_env(lookup: impl Fn(&str) -> Option<String>) -> Result<InitPlan> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let app_id =
            get("GITHUB_APP_ID").ok_or_else(|| missing("GITHUB_APP_ID", "the GitHub App id"))?;
        let installation_id = get("GITHUB_INSTALLATION_ID")
            .ok_or_else(|| missing("GITHUB_INSTALLATION_ID", "the App's installation id"))?
            .parse::<u64>()
            .map_err(|_| {
                Error::input(
                    "GITHUB_INSTALLATION_ID",
                    "must be the numeric installation id",
                )
            })?;
        let key_text = lookup("GITHUB_APP_KEY")
            .filter(|k| !k.trim().is_empty())
            .ok_or_else(|| {
                missing(
                    "GITHUB_APP_KEY",
                    "the App key (the Key Vault secret reference)",
                )
            })?;
        crate::runtime::Runtime::get().mask(&key_text);
        let key = AppKey::parse(&key_text)?;
        let api_url = get("GITHUB_API_URL").unwrap_or_else(|| "https://api.github.com".into());
        let owner = get("RUNNER_OWNER")
            .ok_or_else(|| missing("RUNNER_OWNER", "the organization or user the runners serve"))?;
        let target = match get("RUNNER_SCOPE").as_deref().unwrap_or("org") {
            "org" => RunnerTarget::Organization(owner),
            "repo" => {
                let repo = get("RUNNER_REPO").ok_or_else(|| {
                    missing(
                        "RUNNER_REPO",
                        "the repository repository-scope runners register on",
                    )
                })?;
                RunnerTarget::Repository(format!("{owner}/{repo}"))
            }
            other => {
                return Err(Error::input(
                    "RUNNER_SCOPE",
                    format!("`{other}` must be org or repo"),
                ));
            }
        };
        let labels: Vec<String> = get("RUNNER_LABELS")
            .unwrap_or_else(|| "self-hosted".into())
            .split(',')
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect();
        let runner_group = get("RUNNER_GROUP");
        if runner_group.is_some() && matches!(target, RunnerTarget::Repository(_)) {
            return Err(Error::input(
                "RUNNER_GROUP",
                "applies to organization runners only",
            ));
        }
        let name = runner_name(
            get("CONTAINER_APP_JOB_EXECUTION_NAME").as_deref(),
            get("RUNNER_NAME_PREFIX").as_deref(),
        );
        let owner = match get("JIT_CONFIG_OWNER") {
            None => None,
            Some(text) => {
                let (uid, gid) = text
                    .split_once(':')
                    .map_or((text.as_str(), None), |(u, g)| (u, Some(g)));
                let bad = || {
                    Error::input(
                        "JIT_CONFIG_OWNER",
                        format!("`{text}` is not uid or uid:gid"),
                    )
                };
                let uid = uid.parse::<u32>().map_err(|_| bad())?;
                let gid = match gid {
                    Some(g) => Some(g.parse::<u32>().map_err(|_| bad())?),
                    None => None,
                };
                Some((uid, gid))
            }
        };
        Ok(InitPlan {
            owner,
            app_id,
            installation_id,
            key,
            api_url,
            target,
            labels,
            runner_group,
            name,
            config_file: get("JIT_CONFIG_FILE")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG_FILE)),
        })
    }
}

/// The runner's name: the execution's name (unique, and it tells which job and execution a
/// runner in GitHub's list belongs to), else the prefix and a random tail; never over 64
/// characters.
pub fn runner_name(execution: Option<&str>, prefix: Option<&str>) -> String {
    let name = match execution {
        Some(e) => e.to_string(),
        None => {
            use rand::Rng as _;
            let mut rng = rand::thread_rng();
            let tail: String = (0..8)
                .map(|_| char::from(b"abcdefghijklmnopqrstuvwxyz0123456789"[rng.gen_range(0..36)]))
                .collect();
            format!("{}-{tail}", prefix.unwrap_or("aca-runner"))
        }
    };
    name.chars().take(RUNNER_NAME_MAX).collect()
}

/// What the init container did (logged; nothing secret in it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registered {
    /// The runner's id.
    pub runner_id: u64,
    /// The runner's name.
    pub runner_name: String,
}

/// Registers the runner and writes its configuration; the token is revoked whatever happens
/// after it was minted.
pub async fn run(plan: &InitPlan, http: Arc<Http>) -> Result<Registered> {
    let gh = GitHub::new(http, &plan.api_url, crate::runtime::Runtime::get());
    let jwt = gh.app_jwt(&plan.app_id, &plan.key)?;
    let mut permissions = BTreeMap::new();
    permissions.insert(plan.target.permission().to_string(), "write".to_string());
    let repositories: Vec<String> = match &plan.target {
        RunnerTarget::Repository(full) => {
            vec![full.rsplit('/').next().unwrap_or(full).to_string()]
        }
        RunnerTarget::Organization(_) => Vec::new(),
    };
    let token = gh
        .installation_token_for(
            &jwt,
            plan.installation_id,
            Some(&permissions),
            &repositories,
        )
        .await
        .map_err(|e| lacks_permission(e, plan))?;
    let registered = register(plan, &gh, &token.token).await;
    match gh.revoke(&token.token).await {
        Ok(()) => say!("Revoked the installation token"),
        Err(e) => say!("could not revoke the installation token ({e}); it expires within an hour"),
    }
    registered
}

async fn register(
    plan: &InitPlan,
    gh: &GitHub,
    token: &crate::secret::Secret,
) -> Result<Registered> {
    let group_id = match (&plan.runner_group, &plan.target) {
        (Some(group), RunnerTarget::Organization(org)) => {
            gh.runner_group_id(token, org, group).await?
        }
        _ => 1,
    };
    let jit = gh
        .generate_jitconfig(token, &plan.target, &plan.name, group_id, &plan.labels)
        .await?;
    write_config(&plan.config_file, jit.encoded.expose(), plan.owner)?;
    say!(
        "Registered runner {} (id {}) with labels {}{}; its configuration is in {}",
        jit.runner_name,
        jit.runner_id,
        plan.labels.join(","),
        plan.runner_group
            .as_deref()
            .map(|g| format!(" in runner group {g}"))
            .unwrap_or_default(),
        plan.config_file.display()
    );
    Ok(Registered {
        runner_id: jit.runner_id,
        runner_name: jit.runner_name,
    })
}

/// A token request GitHub refuses for a permission the installation lacks says which.
fn lacks_permission(e: Error, plan: &InitPlan) -> Error {
    match e {
        Error::GitHub { status: 422, action, .. } => Error::GitHub {
            action,
            status: 422,
            detail: format!(
                "installation {} does not grant `{}: write`, which registering {} runners needs",
                plan.installation_id,
                plan.target.permission(),
                match plan.target {
                    RunnerTarget::Organization(_) => "organization",
                    RunnerTarget::Repository(_) => "repository",
                }
            ),
            fix: "Add the permission in the App's settings (Permissions), then accept it on the installation".into(),
        },
        other => other,
    }
}

/// Writes the configuration readable by its owner only (given to `owner`, the runner
/// container's user), whole or not at all.
fn write_config(
    path: &std::path::Path,
    config: &str,
    owner: Option<(u32, Option<u32>)>,
) -> Result<()> {
    let fail = |e: std::io::Error| Error::RunnerFile {
        path: path.display().to_string(),
        detail: e.to_string(),
    };
    let tmp = path.with_extension("partial");
    {
        use std::io::Write as _;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o600);
        }
        let mut file = options.open(&tmp).map_err(fail)?;
        file.write_all(config.as_bytes()).map_err(fail)?;
        file.sync_all().map_err(fail)?;
    }
    #[cfg(unix)]
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::chown(&tmp, Some(uid), gid).map_err(fail)?;
    }
    #[cfg(not(unix))]
    let _ = owner;
    std::fs::rename(&tmp, path).map_err(fail)
}

/// The binary's `runner-init`: reads the environment, runs, and returns the exit code.
pub fn main() -> std::process::ExitCode {
    let rt = crate::runtime::Runtime::get();
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Unexpected {
            service: "the runner",
            detail: format!("cannot start: {e}"),
        })
        .and_then(|runtime| {
            runtime.block_on(async {
                let plan = InitPlan::from_env(|name| std::env::var(name).ok())?;
                let http = Http::from_env(crate::http::RetryPolicy::default())?;
                run(&plan, http).await
            })
        });
    match result {
        Ok(_) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            rt.log(&format!("runner-init failed: {e}"));
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runner_names_come_from_the_execution_and_fit_github() {
        assert_eq!(
            runner_name(Some("runner-linux-a1b2c3d"), None),
            "runner-linux-a1b2c3d"
        );
        let long = "x".repeat(80);
        assert_eq!(runner_name(Some(&long), None).len(), 64);
        let made = runner_name(None, Some("runner-linux"));
        assert!(
            made.starts_with("runner-linux-") && made.len() == 21,
            "{made}"
        );
    }

    #[test]
    fn the_environment_is_checked() {
        let key = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/keys/app1.pkcs1.pem"
        ))
        .unwrap();
        let env = |extra: &'static [(&'static str, &'static str)]| {
            let key = key.clone();
            move |name: &str| -> Option<String> {
                if name == "GITHUB_APP_KEY" {
                    return Some(key.clone());
                }
                let base = [
                    ("GITHUB_APP_ID", "12345"),
                    ("GITHUB_INSTALLATION_ID", "777"),
                    ("RUNNER_OWNER", "octo-org"),
                    ("RUNNER_LABELS", "self-hosted,linux"),
                ];
                extra
                    .iter()
                    .chain(base.iter())
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        let plan = InitPlan::from_env(env(&[])).unwrap();
        assert_eq!(plan.target, RunnerTarget::Organization("octo-org".into()));
        assert_eq!(plan.labels, ["self-hosted", "linux"]);
        assert_eq!(plan.config_file, PathBuf::from(DEFAULT_CONFIG_FILE));
        let plan =
            InitPlan::from_env(env(&[("RUNNER_SCOPE", "repo"), ("RUNNER_REPO", "site")])).unwrap();
        assert_eq!(
            plan.target,
            RunnerTarget::Repository("octo-org/site".into())
        );
        assert!(InitPlan::from_env(env(&[("RUNNER_SCOPE", "repo")])).is_err());
        assert!(InitPlan::from_env(env(&[("GITHUB_INSTALLATION_ID", "x")])).is_err());
        assert!(InitPlan::from_env(env(&[("RUNNER_SCOPE", "ent")])).is_err());
    }
}

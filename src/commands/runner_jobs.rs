//! `deploy` of `builtin:runner-jobs`: the parameters the action knows (the numeric App and
//! installation ids KEDA needs, the owner, the key's secret URI, the pools) and the GitHub API
//! budget of the pools (SPEC §3.2).

use std::sync::Arc;

use serde_json::{Map, Value, json};

use crate::cli::Inputs;
use crate::error::{Error, Result};
use crate::github::InstallationToken;
use crate::key::AppKey;
use crate::pools::{Budget, PoolPlan};
use crate::runtime::markdown_table;
use crate::secret::Secret;
use crate::{Step, say};

/// Sets parameter `name` unless `parameters` set it.
fn fill(params: &mut Map<String, Value>, name: &str, value: Option<String>) {
    if !params.contains_key(name)
        && let Some(v) = value
    {
        params.insert(name.to_string(), json!({ "value": v }));
    }
}

/// What GitHub told about the App for the jobs.
struct AppFacts {
    app_id: Option<String>,
    installation_id: Option<u64>,
    /// An installation token, when the key is at hand (for the budget).
    token: Option<Arc<InstallationToken>>,
}

/// Fills the parameters of `builtin:runner-jobs` that `parameters` does not set.
/// `group_id` is the target resource group's id.
pub async fn parameters(
    step: &Step,
    pools: &PoolPlan,
    group_id: &str,
    acr_suffix: &str,
    params: &mut Map<String, Value>,
) -> Result<()> {
    let i = &step.inputs;
    for warning in &pools.warnings {
        step.rt.warning(warning);
    }
    // KEDA reads the ids as text: a YAML number (`gitHubAppId: 12345`) becomes its digits.
    for name in ["gitHubAppId", "gitHubInstallationId"] {
        if let Some(n) = params.get(name).and_then(|p| p["value"].as_u64()) {
            params.insert(name.to_string(), json!({ "value": n.to_string() }));
        }
    }
    let given = |name: &str| {
        params
            .get(name)
            .and_then(|p| p["value"].as_str())
            .map(str::to_string)
    };
    let facts = app_facts(step, given("gitHubAppId"), given("gitHubInstallationId")).await?;
    fill(params, "gitHubAppId", facts.app_id.clone());
    fill(
        params,
        "gitHubInstallationId",
        facts.installation_id.map(|id| id.to_string()),
    );
    fill(params, "gitHubOwner", i.owner_or_default()?);
    fill(
        params,
        "gitHubAppKeySecretUri",
        step.rt.outputs().get("secret-uri").cloned(),
    );
    if Inputs::text(&i.github_api_url).is_some()
        || std::env::var("GITHUB_API_URL").is_ok_and(|v| !v.is_empty())
    {
        fill(params, "gitHubApiUrl", Some(i.github_api_url()?));
    }
    for (name, what) in [
        ("gitHubAppId", "GitHub App id"),
        ("gitHubInstallationId", "installation id"),
    ] {
        if let Some(v) = params.get(name).and_then(|p| p["value"].as_str())
            && v.parse::<u64>().is_err()
        {
            return Err(Error::input(
                "parameters",
                format!(
                    "`{name}` is `{v}`, but KEDA's github-runner scaler needs the numeric {what}"
                ),
            ));
        }
    }
    // Pools without an image run the image an earlier build-image of this step pushed, else
    // the registry's github-runner:latest.
    let acr = params
        .get("acrName")
        .and_then(|p| p["value"].as_str())
        .map(str::to_string);
    let built = step.rt.outputs().get("image").cloned();
    fill(
        params,
        "runnerImage",
        built.or_else(|| acr.map(|a| format!("{a}{acr_suffix}/github-runner:latest"))),
    );
    let default_image = params
        .get("runnerImage")
        .and_then(|p| p["value"].as_str())
        .filter(|i| !i.is_empty());
    if default_image.is_none()
        && let Some(job) = pools.jobs.iter().find(|j| j.image.is_none())
    {
        return Err(Error::input(
            "pools",
            format!(
                "pool `{}` has no `image`, and there is neither a `runnerImage` nor an `acrName` parameter to form the default <acr>/github-runner:latest",
                job.pool
            ),
        ));
    }
    fill(
        params,
        "initImage",
        Some(crate::runner_init::ACTION_IMAGE.to_string()),
    );
    let jobs: Vec<Value> = pools
        .jobs
        .iter()
        .map(|job| job.parameter(group_id))
        .collect();
    // A workload identity must not be the jobs' own: that one may read the vault, and would be
    // handed to the runner container.
    let platform = params
        .get("acaMsiName")
        .and_then(|p| p["value"].as_str())
        .map(|n| n.to_ascii_lowercase());
    for (job, value) in pools.jobs.iter().zip(&jobs) {
        let workload = value["workloadIdentity"].as_str().unwrap_or_default();
        let name = workload
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        if let Some(platform) = &platform
            && !workload.is_empty()
            && name == *platform
        {
            return Err(Error::input(
                "pools",
                format!(
                    "pool `{}`: workload-identity `{}` is the jobs' own identity (acaMsiName), which holds Key Vault Secrets User: the runner container would get the key; give the workflows an identity of their own",
                    job.pool,
                    job.workload_identity.as_deref().unwrap_or_default()
                ),
            ));
        }
    }
    params.insert("pools".into(), json!({ "value": jobs }));
    budget(step, pools, facts.token.as_ref().map(|t| &t.token)).await;
    Ok(())
}

/// The numeric App id (a client id is resolved through `GET /app`), the installation, and a
/// token: from rotate-key of the same step, the inputs, or GitHub.
async fn app_facts(
    step: &Step,
    app_param: Option<String>,
    installation_param: Option<String>,
) -> Result<AppFacts> {
    let i = &step.inputs;
    let (confirmed_app, confirmed_installation) = step
        .app_facts
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let app_input = app_param
        .clone()
        .or(confirmed_app)
        .or_else(|| Inputs::text(&i.app_id));
    let installation_input = match installation_param.clone() {
        Some(v) => v.parse::<u64>().ok(),
        None => match confirmed_installation {
            Some(id) => Some(id),
            None => match Inputs::text(&i.installation_id) {
                Some(v) => Some(v.parse::<u64>().map_err(|_| {
                    Error::input("installation-id", format!("`{v}` is not a number"))
                })?),
                None => None,
            },
        },
    };
    let key = match Inputs::text(&i.private_key) {
        Some(raw) => Some(AppKey::parse(&raw)?),
        None => None,
    };
    let (Some(app), Some(key)) = (app_input.clone(), key) else {
        if app_input
            .as_deref()
            .is_some_and(|a| a.parse::<u64>().is_err())
        {
            return Err(Error::input(
                "app-id",
                format!(
                    "`{}` is a client id, but KEDA's github-runner scaler needs the numeric App id: give the App ID from the App's settings page, or `private-key` so the action can look it up",
                    app_input.unwrap_or_default()
                ),
            ));
        }
        return Ok(AppFacts {
            app_id: app_input,
            installation_id: installation_input,
            token: None,
        });
    };
    let gh = step.github().await?;
    let jwt = gh.app_jwt(&app, &key)?;
    let app_id = if app.parse::<u64>().is_ok() {
        app
    } else {
        let info = gh.app(&jwt, &app, &key).await?;
        say!(
            "App {app} is GitHub App {} (the numeric id KEDA needs)",
            info.id
        );
        info.id.to_string()
    };
    let installation_id = match installation_input {
        Some(id) => id,
        None => {
            let Some(owner) = i.owner_or_default()? else {
                return Ok(AppFacts {
                    app_id: Some(app_id),
                    installation_id: None,
                    token: None,
                });
            };
            step.find_installation(&jwt, &app_id, &owner, None)
                .await?
                .id
        }
    };
    let token = step
        .installation_token(&jwt, installation_id, Some(&step.token_permissions))
        .await?;
    Ok(AppFacts {
        app_id: Some(app_id),
        installation_id: Some(installation_id),
        token: Some(token),
    })
}

/// Prints the projected GitHub API calls per hour of all pools, and warns above half of the
/// installation's limit. Without the App key there is no installation to ask: it says so.
async fn budget(step: &Step, pools: &PoolPlan, token: Option<&Secret>) {
    let Some(token) = token else {
        say!(
            "GitHub API budget: not projected (give app-id and private-key: the installation's limit and repositories come from GitHub)"
        );
        return;
    };
    let gh = match step.github().await {
        Ok(gh) => gh,
        Err(_) => return,
    };
    let needs_count = pools.jobs.iter().any(|j| j.repos.is_empty());
    let (limit, count) = tokio::join!(gh.rate_limit(token), async {
        if needs_count {
            gh.installation_repository_count(token).await.map(Some)
        } else {
            Ok(None)
        }
    });
    let (limit, count) = match (limit, count) {
        (Ok(l), Ok(c)) => (l, c.unwrap_or(0)),
        (Err(e), _) | (_, Err(e)) => {
            step.rt
                .warning(&format!("GitHub API budget: not projected ({e})"));
            return;
        }
    };
    let budgets: Vec<Budget> = pools.jobs.iter().map(|j| j.budget(count)).collect();
    let report = BudgetReport::new(budgets, limit.limit, count);
    for line in report.lines() {
        say!("{line}");
    }
    if let Some(warning) = report.warning() {
        step.rt.warning(&warning);
    }
    step.rt.summary(&report.markdown());
}

/// The projected calls of all pools against the installation's limit.
#[derive(Debug, Clone)]
pub struct BudgetReport {
    budgets: Vec<Budget>,
    limit: u64,
    repositories: u64,
}

impl BudgetReport {
    /// A report for `budgets` against `limit` calls per hour; `repositories` is what the
    /// installation reaches.
    pub fn new(budgets: Vec<Budget>, limit: u64, repositories: u64) -> BudgetReport {
        BudgetReport {
            budgets,
            limit,
            repositories,
        }
    }

    /// Busy-hour calls of all pools.
    pub fn total_busy(&self) -> u64 {
        self.budgets.iter().map(Budget::busy).sum()
    }

    /// Idle-hour calls of all pools (scalers only).
    pub fn total_idle(&self) -> u64 {
        self.budgets.iter().map(|b| b.scaler_idle).sum()
    }

    /// Log lines.
    pub fn lines(&self) -> Vec<String> {
        let mut out = vec![format!(
            "GitHub API budget (calls per hour against the installation's limit of {}; {} repositories reachable):",
            self.limit, self.repositories
        )];
        for b in &self.budgets {
            out.push(format!(
                "  {}: scaler {} idle, {} busy; runners {} busy",
                b.job, b.scaler_idle, b.scaler_busy, b.runners_busy
            ));
        }
        out.push(format!(
            "  all pools: {} idle, {} busy ({}% of the limit); with ETags (enableEtags) unchanged answers cost nothing; busy counts max-executions runs queued or running in the watched repositories, and every other run there (GitHub-hosted ones too) costs one call a poll as well",
            self.total_idle(),
            self.total_busy(),
            self.total_busy() * 100 / self.limit.max(1)
        ));
        out
    }

    /// The warning above half of the limit, naming the biggest contributor and the fixes.
    pub fn warning(&self) -> Option<String> {
        let total = self.total_busy();
        if total * 2 <= self.limit {
            return None;
        }
        let biggest = self.budgets.iter().max_by_key(|b| b.busy())?;
        Some(format!(
            "the runner pools may use {total} GitHub API calls per hour when busy, more than half of the installation's limit ({}); the most is job {} ({}). The scalers and the runners share that limit with everything else the App does: list `repos` for the pools (a scaler without them polls all {} repositories), raise `polling-interval`, or use fewer pools",
            self.limit,
            biggest.job,
            biggest.busy(),
            self.repositories
        ))
    }

    /// The step summary's table.
    pub fn markdown(&self) -> String {
        let mut rows: Vec<Vec<String>> = self
            .budgets
            .iter()
            .map(|b| {
                vec![
                    format!("`{}`", b.job),
                    b.scaler_idle.to_string(),
                    b.scaler_busy.to_string(),
                    b.runners_busy.to_string(),
                    b.busy().to_string(),
                ]
            })
            .collect();
        rows.push(vec![
            "**all pools**".into(),
            self.total_idle().to_string(),
            String::new(),
            String::new(),
            format!("**{}** of {}", self.total_busy(), self.limit),
        ]);
        format!(
            "### GitHub API budget (calls per hour)\n\n{}\nWith ETags (on in builtin:runner-jobs) unchanged answers cost nothing. Busy: max-executions runs queued or running, every execution slot running one 10-minute job after another; any other run in the watched repositories (GitHub-hosted ones too) costs one call a poll more.\n\n",
            markdown_table(
                &[
                    "Job",
                    "Scaler idle",
                    "Scaler busy",
                    "Runners busy",
                    "Busy total"
                ],
                &rows
            )
        )
    }
}

//! `deploy` of `builtin:runner-jobs`: the parameters the action knows (the numeric App and
//! installation ids KEDA needs, the owner, the key's secret URI, the pools) and the GitHub API
//! budget of the pools (SPEC §3.2).

use std::sync::Arc;

use serde_json::Value;

use super::Context;
use crate::error::{Error, Result};
use crate::github::InstallationToken;
use crate::pools::{Budget, PoolPlan};
use crate::runtime::markdown_table;
use crate::say;
use crate::secret::Secret;
use crate::session::Session;
use crate::templates::Parameters;

/// What GitHub told about the App for the jobs.
struct AppFacts {
    app_id: Option<String>,
    installation_id: Option<u64>,
    /// An installation token, when the key is at hand (for the budget).
    token: Option<Arc<InstallationToken>>,
}

/// Fills the parameters of `builtin:runner-jobs` that `parameters` does not set.
/// `group_id` is the target resource group's id.
pub async fn fill(
    session: &Session,
    pools: &PoolPlan,
    group_id: &str,
    ctx: &Context<'_>,
    params: &mut Parameters,
) -> Result<()> {
    for warning in &pools.warnings {
        session.rt.warning(warning);
    }
    // KEDA reads the ids as text: a YAML number (`gitHubAppId: 12345`) becomes its digits.
    for name in ["gitHubAppId", "gitHubInstallationId"] {
        if let Some(n) = params.number(name) {
            params.set(name, n.to_string());
        }
    }
    let given = |name: &str| params.text(name).map(str::to_string);
    let facts = app_facts(
        session,
        ctx,
        given("gitHubAppId"),
        given("gitHubInstallationId"),
    )
    .await?;
    params.fill("gitHubAppId", facts.app_id.clone());
    params.fill(
        "gitHubInstallationId",
        facts.installation_id.map(|id| id.to_string()),
    );
    params.fill("gitHubOwner", ctx.github.owner.clone());
    let rotated = ctx.earlier.rotate.as_ref();
    params.fill(
        "gitHubAppKeySecretUri",
        rotated.map(|r| r.secret_uri.clone()),
    );
    if ctx.github.api_url_given {
        params.fill("gitHubApiUrl", Some(ctx.github.api_url.clone()));
    }
    for (name, what) in [
        ("gitHubAppId", "GitHub App id"),
        ("gitHubInstallationId", "installation id"),
    ] {
        if let Some(v) = params.text(name)
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
    images(session, pools, ctx, params)?;
    let jobs = jobs(pools, group_id, params)?;
    params.set("pools", jobs);
    budget(session, pools, facts.token.as_ref().map(|t| &t.token)).await;
    Ok(())
}

/// The runner image of pools without one, and the init container's image.
fn images(
    session: &Session,
    pools: &PoolPlan,
    ctx: &Context<'_>,
    params: &mut Parameters,
) -> Result<()> {
    // Pools without an image run the image an earlier build-image of this step pushed, else
    // the registry's github-runner:latest.
    let suffix = session.cloud()?.registry_suffix();
    // A name, or a team's registry by resource id.
    let acr = params
        .text("acrName")
        .and_then(|a| a.rsplit('/').next())
        .map(str::to_string);
    let built = ctx.earlier.build.as_ref().and_then(|b| b.image.clone());
    params.fill(
        "runnerImage",
        built.or_else(|| acr.map(|a| format!("{a}{suffix}/github-runner:latest"))),
    );
    let default_image = params.text("runnerImage").filter(|i| !i.is_empty());
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
    params.fill(
        "initImage",
        Some(crate::runner_init::ACTION_IMAGE.to_string()),
    );
    Ok(())
}

/// The `pools` parameter; a workload identity must not be the jobs' own: that one may read
/// the vault, and would be handed to the runner container.
fn jobs(pools: &PoolPlan, group_id: &str, params: &Parameters) -> Result<Vec<Value>> {
    let platform = params
        .text("acaMsiName")
        .and_then(|m| m.rsplit('/').next())
        .map(str::to_ascii_lowercase);
    for job in &pools.jobs {
        let workload = job.workload_identity.as_deref().unwrap_or_default();
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
                    job.pool, workload
                ),
            ));
        }
    }
    Ok(pools
        .jobs
        .iter()
        .map(|job| job.parameter(group_id))
        .collect())
}

/// The numeric App id (a client id is resolved through `GET /app`), the installation, and a
/// token: from rotate-key of the same step, the inputs, or GitHub.
async fn app_facts(
    session: &Session,
    ctx: &Context<'_>,
    app_param: Option<String>,
    installation_param: Option<String>,
) -> Result<AppFacts> {
    let confirmed = ctx.earlier.rotate.as_ref().and_then(|r| r.app.clone());
    let app_input = app_param
        .or_else(|| confirmed.as_ref().map(|c| c.app_id.clone()))
        .or_else(|| ctx.github.app_id.clone());
    let installation_input = match installation_param {
        Some(v) => v.parse::<u64>().ok(),
        None => confirmed
            .and_then(|c| c.installation_id)
            .or(ctx.github.installation_id),
    };
    let (Some(app), Some(key)) = (app_input.clone(), ctx.github.key.as_ref()) else {
        if let Some(client_id) = app_input.as_deref().filter(|a| a.parse::<u64>().is_err()) {
            return Err(Error::input(
                "app-id",
                format!(
                    "`{client_id}` is a client id, but KEDA's github-runner scaler needs the numeric App id: give the App ID from the App's settings page, or `private-key` so the action can look it up"
                ),
            ));
        }
        return Ok(AppFacts {
            app_id: app_input,
            installation_id: installation_input,
            token: None,
        });
    };
    let gh = session.github().await?;
    let jwt = gh.app_jwt(&app, key)?;
    let app_id = if app.parse::<u64>().is_ok() {
        app
    } else {
        let info = gh.app(&jwt, &app, key).await?;
        say!(
            "App {app} is GitHub App {} (the numeric id KEDA needs)",
            info.id
        );
        info.id.to_string()
    };
    let installation_id = match (installation_input, &ctx.github.owner) {
        (Some(id), _) => id,
        (None, None) => {
            return Ok(AppFacts {
                app_id: Some(app_id),
                installation_id: None,
                token: None,
            });
        }
        (None, Some(owner)) => {
            session
                .find_installation(&jwt, &app_id, owner, None)
                .await?
                .id
        }
    };
    let token = session
        .installation_token(&jwt, installation_id, Some(ctx.token_permissions))
        .await?;
    Ok(AppFacts {
        app_id: Some(app_id),
        installation_id: Some(installation_id),
        token: Some(token),
    })
}

/// Prints the projected GitHub API calls per hour of all pools, and warns above half of the
/// installation's limit. Without the App key there is no installation to ask: it says so.
async fn budget(session: &Session, pools: &PoolPlan, token: Option<&Secret>) {
    let Some(token) = token else {
        say!(
            "GitHub API budget: not projected (give app-id and private-key: the installation's limit and repositories come from GitHub)"
        );
        return;
    };
    let gh = match session.github().await {
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
            session
                .rt
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
        session.rt.warning(&warning);
    }
    session.rt.summary(&report.markdown());
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

//! `doctor`: a read-only preflight that says what will break, and how to fix it (SPEC §3.5).
//! Every check is one row (✔ / ⚠ / ✗, what was found, the fix) in the log and the summary; a
//! check that cannot run is one ✗ row and never hides the others. Nothing is written anywhere:
//! the only requests that are not reads mint (and at the end revoke) an installation token.

use std::sync::Arc;

use time::OffsetDateTime;

use super::Context;
use super::runner_jobs::BudgetReport;
use crate::azure::arm::jobs::JobView;
use crate::azure::arm::permissions::{Permission, allows_action, allows_data_action};
use crate::error::{Error, Result};
use crate::github::{GitHubConfig, Installation, InstallationToken};
use crate::pools::PoolPlan;
use crate::runner_version::{self, RunnerVersion};
use crate::runtime::markdown_table;
use crate::say;
use crate::session::Session;

/// The checked `doctor` inputs (see [`crate::plan`]).
#[derive(Debug)]
pub struct Request {
    /// `pools`, or why they were refused (a ✗ row, not an abort).
    pub pools: Option<std::result::Result<PoolPlan, String>>,
    /// `key-vault`.
    pub vault: Option<String>,
    /// `secret-name`.
    pub secret_name: String,
    /// `max-key-age-days` (0: off).
    pub max_age_days: u64,
    /// `resource-group`: where the runner jobs (and the registry) are.
    pub resource_group: Option<String>,
    /// `registry`.
    pub registry: Option<String>,
    /// `azure-subscription-id`.
    pub subscription: Option<String>,
}

/// A row's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verdict {
    /// Fine.
    Ok,
    /// Works, but deserves attention.
    Warn,
    /// Will break.
    Fail,
}

impl Verdict {
    fn mark(self) -> &'static str {
        match self {
            Verdict::Ok => "✔",
            Verdict::Warn => "⚠",
            Verdict::Fail => "✗",
        }
    }
}

/// One check's result.
#[derive(Debug, Clone)]
pub struct Row {
    /// `GitHub`, `Pools`, `Azure`, `Key`, `Runner jobs`.
    pub area: &'static str,
    /// What was checked.
    pub check: String,
    /// The verdict.
    pub verdict: Verdict,
    /// What was found.
    pub found: String,
    /// What to do (empty when fine).
    pub fix: String,
}

fn row(area: &'static str, check: &str, verdict: Verdict, found: String, fix: &str) -> Row {
    // One line each: a row is a line of the log and of the summary's table.
    let one_line = |t: &str| t.split_whitespace().collect::<Vec<_>>().join(" ");
    Row {
        area,
        check: check.to_string(),
        verdict,
        found: one_line(&found),
        fix: one_line(fix),
    }
}

/// What `doctor` found.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The rows, in the order shown.
    pub rows: Vec<Row>,
}

/// Runs `doctor`.
pub async fn run(session: &Session, req: &Request, ctx: &Context<'_>) -> Result<Outcome> {
    let (github, azure) = tokio::join!(github_checks(session, ctx.github), async {
        match &req.subscription {
            Some(sub) => azure_checks(session, req, sub).await,
            None => Azure {
                rows: vec![row(
                    "Azure",
                    "Subscription",
                    Verdict::Warn,
                    "no `azure-subscription-id`: the Azure checks were skipped".into(),
                    "give azure-subscription-id (and key-vault, resource-group, registry) to check the Azure side",
                )],
                images: Vec::new(),
                jobs: Vec::new(),
            },
        }
    });
    let mut rows = github.rows;
    // The pools: as given, else as the deployed jobs' scale rules say.
    let deployed = req
        .pools
        .is_none()
        .then(|| deployed_pools(&azure.jobs, ctx.github.owner.as_deref()))
        .flatten();
    let pools = req.pools.clone().or(deployed.clone());
    pools_rows(
        session,
        pools.as_ref(),
        deployed.is_some(),
        github.token.as_ref(),
        github.limit,
        &mut rows,
    )
    .await;
    let images = pool_images(req).into_iter().chain(azure.images).collect();
    rows.push(runner_version_row(github.latest_runner.as_deref(), images));
    rows.extend(azure.rows);
    report(session, &rows)?;
    let problems = rows.iter().filter(|r| r.verdict == Verdict::Fail).count();
    if problems > 0 {
        return Err(Error::DoctorFound { problems });
    }
    Ok(Outcome { rows })
}

/// Logs every row, sets `problems` and `warnings`, and writes the summary's table.
fn report(session: &Session, rows: &[Row]) -> Result<()> {
    for r in rows {
        let fix = if r.fix.is_empty() {
            String::new()
        } else {
            format!(" → {}", r.fix)
        };
        say!(
            "{} {} · {}: {}{fix}",
            r.verdict.mark(),
            r.area,
            r.check,
            r.found
        );
    }
    let count = |v: Verdict| rows.iter().filter(|r| r.verdict == v).count();
    let (problems, warnings) = (count(Verdict::Fail), count(Verdict::Warn));
    say!(
        "doctor: {problems} problem(s), {warnings} warning(s), {} check(s) fine",
        count(Verdict::Ok)
    );
    session.outputs(&[
        ("problems".to_string(), problems.to_string()),
        ("warnings".to_string(), warnings.to_string()),
    ])?;
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.verdict.mark().to_string(),
                format!("{} · {}", r.area, r.check),
                r.found.clone(),
                r.fix.clone(),
            ]
        })
        .collect();
    session.rt.summary(&format!(
        "### doctor: {problems} problem(s), {warnings} warning(s)\n\n{}\n",
        markdown_table(&["", "Check", "Found", "Fix"], &table)
    ));
    Ok(())
}

/// What the GitHub side found.
struct GitHub {
    rows: Vec<Row>,
    latest_runner: Option<String>,
    token: Option<Arc<InstallationToken>>,
    limit: Option<u64>,
}

/// The App key, the installation and its permissions, the rate limit, the pools' budget and
/// the repositories they watch, the current runner release.
async fn github_checks(session: &Session, github: &GitHubConfig) -> GitHub {
    let mut rows = Vec::new();
    let app = app_checks(session, github, &mut rows).await;
    let token = app.as_ref().map(|(_, token)| token.clone());
    let limit = match &token {
        Some(t) => rate_limit_row(session, t, &mut rows).await,
        None => None,
    };
    let latest_runner = match session.github().await {
        Ok(gh) => gh
            .latest_runner_version(token.as_ref().map(|t| &t.token))
            .await
            .ok(),
        Err(_) => None,
    };
    GitHub {
        rows,
        latest_runner,
        token,
        limit,
    }
}

/// The pools the deployed jobs' `github-runner` scale rules describe, checked as `pools` is.
fn deployed_pools(
    jobs: &[JobView],
    owner: Option<&str>,
) -> Option<std::result::Result<PoolPlan, String>> {
    let runners: Vec<&JobView> = jobs.iter().filter(|j| j.scaler.is_some()).collect();
    if runners.is_empty() {
        return None;
    }
    let quote = |v: &str| format!("'{}'", v.replace('\'', "''"));
    let mut yaml = String::new();
    for job in &runners {
        let Some(sc) = &job.scaler else { continue };
        let name = job.resource.name.trim_start_matches("runner-");
        let labels: Vec<String> = sc
            .labels
            .iter()
            .filter(|l| !l.eq_ignore_ascii_case("self-hosted"))
            .map(|l| quote(l))
            .collect();
        yaml.push_str(&format!(
            "- name: {}\n  labels: [{}]\n  max-executions: {}\n  polling-interval: {}\n",
            quote(name),
            labels.join(", "),
            sc.max_executions,
            sc.polling_interval
        ));
        if !sc.repos.is_empty() {
            let repos: Vec<String> = sc.repos.iter().map(|r| quote(r)).collect();
            yaml.push_str(&format!("  repos: [{}]\n", repos.join(", ")));
        }
    }
    Some(
        crate::pools::plan(Some(&yaml), owner)
            .map(|mut plan| {
                // The jobs keep the names they were deployed under.
                for (job, deployed) in plan.jobs.iter_mut().zip(&runners) {
                    job.job_name = deployed.resource.name.clone();
                }
                plan
            })
            .map_err(|e| e.to_string()),
    )
}

/// The key, the installation and its permissions; an installation token when all is well.
async fn app_checks(
    session: &Session,
    github: &GitHubConfig,
    rows: &mut Vec<Row>,
) -> Option<(Installation, Arc<InstallationToken>)> {
    let (Some(app_id), Some(key)) = (&github.app_id, &github.key) else {
        rows.push(row(
            "GitHub",
            "App key",
            Verdict::Warn,
            "not checked: no `app-id` and `private-key`".into(),
            "give app-id and private-key to check the App, its installation and the API budget",
        ));
        return None;
    };
    let gh = match session.github().await {
        Ok(gh) => gh,
        Err(e) => {
            rows.push(row("GitHub", "App key", Verdict::Fail, e.to_string(), ""));
            return None;
        }
    };
    let jwt = match gh.app_jwt(app_id, key) {
        Ok(jwt) => jwt,
        Err(e) => {
            rows.push(row("GitHub", "App key", Verdict::Fail, e.to_string(), ""));
            return None;
        }
    };
    match gh.app(&jwt, app_id, key).await {
        Ok(app) if app.id.to_string() == *app_id || app.client_id.as_deref() == Some(app_id) => {
            rows.push(row(
                "GitHub",
                "App key",
                Verdict::Ok,
                format!(
                    "key {} accepted for App {} ({})",
                    key.fingerprint(),
                    app.id,
                    app.slug.as_deref().unwrap_or(&app.name)
                ),
                "",
            ));
        }
        Ok(app) => {
            rows.push(row(
                "GitHub",
                "App key",
                Verdict::Fail,
                format!(
                    "the key belongs to App {} ({}), not {app_id}",
                    app.id,
                    app.slug.as_deref().unwrap_or(&app.name)
                ),
                "set app-id to the App whose key this is",
            ));
            return None;
        }
        Err(Error::KeyRejected { .. }) => {
            rows.push(row(
                "GitHub",
                "App key",
                Verdict::Fail,
                format!(
                    "GitHub refused a JWT for App {app_id} signed with this key (fingerprint {}): it is another App's key, or revoked",
                    key.fingerprint()
                ),
                "find the App whose settings (Private keys) list this fingerprint and set app-id to it, or generate a new key for this App and update the secret",
            ));
            return None;
        }
        Err(e) => {
            rows.push(row("GitHub", "App key", Verdict::Fail, e.to_string(), ""));
            return None;
        }
    }
    installation_checks(session, github, &jwt, app_id, rows).await
}

async fn installation_checks(
    session: &Session,
    github: &GitHubConfig,
    jwt: &crate::secret::Secret,
    app_id: &str,
    rows: &mut Vec<Row>,
) -> Option<(Installation, Arc<InstallationToken>)> {
    let gh = session.github().await.ok()?;
    let found = match (github.installation_id, &github.owner) {
        (Some(id), _) => gh.installation(jwt, app_id, id).await,
        (None, Some(owner)) => {
            session
                .find_installation(jwt, app_id, owner, github.repository.as_deref())
                .await
        }
        (None, None) => {
            rows.push(row(
                "GitHub",
                "Installation",
                Verdict::Warn,
                "not checked: no `owner`, `repository` or `installation-id`".into(),
                "give owner (the organization the runners serve)",
            ));
            return None;
        }
    };
    let inst = match found {
        Ok(inst) => inst,
        Err(e @ Error::NotInstalled { .. }) => {
            rows.push(row(
                "GitHub",
                "Installation",
                Verdict::Fail,
                e.to_string(),
                "install the App there (App settings → Install App)",
            ));
            return None;
        }
        Err(e) => {
            rows.push(row(
                "GitHub",
                "Installation",
                Verdict::Fail,
                e.to_string(),
                "",
            ));
            return None;
        }
    };
    let account = inst
        .account
        .as_ref()
        .and_then(|a| a.login.clone())
        .unwrap_or_default();
    rows.push(row(
        "GitHub",
        "Installation",
        Verdict::Ok,
        format!("installation {} on {account}", inst.id),
        "",
    ));
    permission_rows(&inst, rows);
    // Minting is the one write doctor does (and revokes at the end): it proves the installation
    // works with this key, and reads the rate limit.
    let mut wanted = std::collections::BTreeMap::new();
    wanted.insert("metadata".to_string(), "read".to_string());
    match session
        .installation_token(jwt, inst.id, Some(&wanted))
        .await
    {
        Ok(token) => Some((inst, token)),
        Err(e) => {
            rows.push(row(
                "GitHub",
                "Installation token",
                Verdict::Fail,
                e.to_string(),
                "",
            ));
            None
        }
    }
}

/// The installation's permissions against what the runners and set-variables need.
fn permission_rows(inst: &Installation, rows: &mut Vec<Row>) {
    let organization = inst.target_type.as_deref() != Some("User");
    let has = |p: &str| inst.permissions.get(p).map(String::as_str) == Some("write");
    let (runner, where_) = if organization {
        (
            "organization_self_hosted_runners",
            "Organization permissions → Self-hosted runners",
        )
    } else {
        ("administration", "Repository permissions → Administration")
    };
    rows.push(if has(runner) {
        row(
            "GitHub",
            "Runner permission",
            Verdict::Ok,
            format!("`{runner}: write`"),
            "",
        )
    } else {
        row(
            "GitHub",
            "Runner permission",
            Verdict::Fail,
            format!("the installation lacks `{runner}: write`: runners cannot register and KEDA cannot see the queue"),
            &format!("add it in the App's settings ({where_}) and accept it on the installation"),
        )
    });
    rows.push(
        if has("actions_variables") || has("organization_actions_variables") {
            row(
                "GitHub",
                "Variables permission",
                Verdict::Ok,
                "`actions_variables: write`".into(),
                "",
            )
        } else {
            row(
                "GitHub",
                "Variables permission",
                Verdict::Warn,
                "the installation lacks `actions_variables: write`: set-variables with the App will fail".into(),
                "add Repository permissions → Variables (write) if you use set-variables with the App",
            )
        },
    );
}

async fn rate_limit_row(
    session: &Session,
    token: &InstallationToken,
    rows: &mut Vec<Row>,
) -> Option<u64> {
    let gh = session.github().await.ok()?;
    match gh.rate_limit(&token.token).await {
        Ok(l) => {
            let low = l.remaining * 10 < l.limit;
            rows.push(row(
                "GitHub",
                "Rate limit",
                if low { Verdict::Warn } else { Verdict::Ok },
                format!("{} of {} calls left this hour", l.remaining, l.limit),
                if low {
                    "something spends the App's budget fast: see the pools' budget below"
                } else {
                    ""
                },
            ));
            Some(l.limit)
        }
        Err(e) => {
            rows.push(row(
                "GitHub",
                "Rate limit",
                Verdict::Fail,
                e.to_string(),
                "",
            ));
            None
        }
    }
}

/// The pools: refused ones, overlapping labels, the budget, the repositories they watch.
async fn pools_rows(
    session: &Session,
    pools: Option<&std::result::Result<PoolPlan, String>>,
    deployed: bool,
    token: Option<&Arc<InstallationToken>>,
    limit: Option<u64>,
    rows: &mut Vec<Row>,
) {
    let pools = match pools {
        None => {
            rows.push(row(
                "Pools",
                "Pools",
                Verdict::Warn,
                "no `pools`, and no runner job deployed in `resource-group`: the pools' budget and labels were not checked".into(),
                "give the pools input your deploy step uses, or the resource group of the runner jobs",
            ));
            return;
        }
        Some(Err(refused)) => {
            rows.push(row(
                "Pools",
                "Pools",
                Verdict::Fail,
                refused.clone(),
                "correct the pool as the message says",
            ));
            return;
        }
        Some(Ok(p)) => p,
    };
    let names: Vec<&str> = pools.jobs.iter().map(|j| j.job_name.as_str()).collect();
    rows.push(row(
        "Pools",
        "Pools",
        Verdict::Ok,
        format!(
            "{} job(s){}: {}",
            names.len(),
            if deployed {
                " (read back from the deployed jobs)"
            } else {
                ""
            },
            names.join(", ")
        ),
        "",
    ));
    // Overlapping labels start executions that never get a job: a cross here, though deploy
    // only warns (it may be deliberate there, it is never what a preflight should pass).
    for w in &pools.warnings {
        rows.push(row(
            "Pools",
            "Labels",
            Verdict::Fail,
            w.clone(),
            "give each pool a label no other pool has",
        ));
    }
    if pools.warnings.is_empty() {
        rows.push(row(
            "Pools",
            "Labels",
            Verdict::Ok,
            "no pool's labels are contained in another's".into(),
            "",
        ));
    }
    if let (Some(token), Some(limit)) = (token, limit) {
        budget_rows(session, pools, token, limit, rows).await;
    }
}

/// The pools' projected API calls against the limit, and the repositories they watch.
async fn budget_rows(
    session: &Session,
    pools: &PoolPlan,
    token: &Arc<InstallationToken>,
    limit: u64,
    rows: &mut Vec<Row>,
) {
    let Ok(gh) = session.github().await else {
        return;
    };
    let needs_count = pools.jobs.iter().any(|j| j.repos.is_empty());
    let count = if needs_count {
        gh.installation_repository_count(&token.token)
            .await
            .unwrap_or(0)
    } else {
        0
    };
    let report = BudgetReport::new(
        pools.jobs.iter().map(|j| j.budget(count)).collect(),
        limit,
        count,
    );
    let busy = report.total_busy();
    let verdict = if busy > limit {
        Verdict::Fail
    } else if busy * 2 > limit {
        Verdict::Warn
    } else {
        Verdict::Ok
    };
    rows.push(row(
        "Pools",
        "API budget",
        verdict,
        format!(
            "{busy} calls per hour when busy ({}% of the installation's {limit})",
            busy * 100 / limit.max(1)
        ),
        &report.warning().unwrap_or_default(),
    ));
    for job in &pools.jobs {
        for repo in &job.repos {
            let full = if repo.contains('/') {
                repo.clone()
            } else {
                format!("{}/{repo}", session_owner(pools, repo))
            };
            let reached = gh.repository_id(&full, &token.token).await.is_ok();
            rows.push(row(
                "Pools",
                "Repository",
                if reached { Verdict::Ok } else { Verdict::Fail },
                format!(
                    "{full} ({}) {}",
                    job.job_name,
                    if reached {
                        "is reachable"
                    } else {
                        "is not reachable by the installation"
                    }
                ),
                if reached {
                    ""
                } else {
                    "add the repository to the App's installation, or fix the pool's `repos`"
                },
            ));
        }
    }
}

/// The owner a bare repository name of a pool belongs to.
fn session_owner<'a>(pools: &'a PoolPlan, _repo: &str) -> &'a str {
    pools
        .jobs
        .iter()
        .find_map(|j| j.runner_repo.as_deref().and_then(|r| r.split('/').next()))
        .unwrap_or_default()
}

/// Images the `pools` input names.
fn pool_images(req: &Request) -> Vec<String> {
    match &req.pools {
        Some(Ok(p)) => p.jobs.iter().filter_map(|j| j.image.clone()).collect(),
        _ => Vec::new(),
    }
}

/// The runner version an image's tag carries (`…:2.336.0` or `…:2.336.0-1a2b3c4d5e`).
fn image_version(image: &str) -> Option<RunnerVersion> {
    let tag = image.split('@').next()?.rsplit_once(':')?.1;
    RunnerVersion::parse(tag.split('-').next()?)
}

fn runner_version_row(latest: Option<&str>, images: Vec<String>) -> Row {
    let check = "Runner version";
    let runner_images: Vec<&String> = images
        .iter()
        .filter(|i| !i.contains("aca-runner-action"))
        .collect();
    let versions: Vec<(String, Option<RunnerVersion>)> = runner_images
        .iter()
        .map(|i| (i.to_string(), image_version(i)))
        .collect();
    let latest_v = latest.and_then(RunnerVersion::parse);
    if let Some((image, Some(v))) = versions
        .iter()
        .find(|(_, v)| v.is_some_and(|v| v < runner_version::MINIMUM))
    {
        return row(
            "Runner",
            check,
            Verdict::Fail,
            format!(
                "{image} carries runner {v}, older than {}: GitHub refuses it",
                runner_version::MINIMUM
            ),
            "rebuild the image with build-image `runner-version: latest`, then deploy",
        );
    }
    if let (Some(latest_v), Some((image, Some(v)))) = (
        latest_v,
        versions
            .iter()
            .find(|(_, v)| v.is_some_and(|v| Some(v) < latest_v)),
    ) {
        return row(
            "Runner",
            check,
            Verdict::Warn,
            format!(
                "{image} carries runner {v}; the current release is {latest_v}: runners update themselves before their first job, and GitHub stops serving ones a release behind for 30 days"
            ),
            "run the scheduled workflow (build-image `runner-version: latest`, then deploy)",
        );
    }
    match (latest, versions.iter().any(|(_, v)| v.is_some())) {
        (Some(l), true) => {
            let mut carried: Vec<String> = versions
                .iter()
                .filter_map(|(_, v)| v.map(|v| v.to_string()))
                .collect();
            carried.dedup();
            row(
                "Runner",
                check,
                Verdict::Ok,
                format!(
                    "the pools' images carry runner {} (the current release is {l})",
                    carried.join(", ")
                ),
                "",
            )
        }
        (Some(l), false) => row(
            "Runner",
            check,
            Verdict::Warn,
            format!("the current release is {l}; no pool image carries a version tag"),
            "build with `runner-version` so the image's tag says which runner it holds",
        ),
        (None, _) => row(
            "Runner",
            check,
            Verdict::Warn,
            "the current actions/runner release could not be read".into(),
            "on GitHub Enterprise Server, compare the image's runner with your server's supported version",
        ),
    }
}

/// What the Azure side found.
struct Azure {
    rows: Vec<Row>,
    /// The deployed jobs' images.
    images: Vec<String>,
    /// The deployed jobs.
    jobs: Vec<JobView>,
}

async fn azure_checks(session: &Session, req: &Request, subscription: &str) -> Azure {
    let mut rows = Vec::new();
    let signed_in = match session
        .arm_token("check azure-client-id, azure-tenant-id and azure-auth")
        .await
    {
        Ok(token) => {
            let who =
                crate::azure::auth::object_id_of(&token).unwrap_or_else(|| "the caller".into());
            rows.push(row(
                "Azure",
                "Sign-in",
                Verdict::Ok,
                format!("signed in as {who}"),
                "",
            ));
            true
        }
        Err(e) => {
            rows.push(row(
                "Azure",
                "Sign-in",
                Verdict::Fail,
                e.to_string(),
                "see the AADSTS code in the message; for OIDC, the federated credential's subject must match this workflow's",
            ));
            false
        }
    };
    if !signed_in {
        return Azure {
            rows,
            images: Vec::new(),
            jobs: Vec::new(),
        };
    }
    let (vault, group, jobs) = tokio::join!(
        vault_rows(session, req, subscription),
        scope_rows(session, req, subscription),
        job_rows(session, req, subscription),
    );
    rows.extend(vault);
    rows.extend(group);
    let (job_rows, images, jobs) = jobs;
    rows.extend(job_rows);
    Azure { rows, images, jobs }
}

/// The data actions rotate-key needs on the vault.
const VAULT_DATA_ACTIONS: [&str; 4] = [
    "Microsoft.KeyVault/vaults/secrets/getSecret/action",
    "Microsoft.KeyVault/vaults/secrets/readMetadata/action",
    "Microsoft.KeyVault/vaults/secrets/setSecret/action",
    "Microsoft.KeyVault/vaults/secrets/update/action",
];
/// The actions deploy needs on the resource group.
const GROUP_ACTIONS: [&str; 2] = [
    "Microsoft.Resources/deployments/write",
    "Microsoft.App/jobs/write",
];
/// The actions build-image needs on the registry.
const REGISTRY_ACTIONS: [&str; 3] = [
    "Microsoft.ContainerRegistry/registries/listBuildSourceUploadUrl/action",
    "Microsoft.ContainerRegistry/registries/scheduleRun/action",
    "Microsoft.ContainerRegistry/registries/runs/listLogSasUrl/action",
];

/// The vault: it exists, uses RBAC, the caller may read and write the secret; then the key.
async fn vault_rows(session: &Session, req: &Request, subscription: &str) -> Vec<Row> {
    let Some(name) = &req.vault else {
        return vec![row(
            "Azure",
            "Key Vault",
            Verdict::Warn,
            "no `key-vault`: the vault and the key were not checked".into(),
            "give key-vault",
        )];
    };
    let arm = match session.arm().await {
        Ok(arm) => arm,
        Err(e) => return vec![row("Azure", "Key Vault", Verdict::Fail, e.to_string(), "")],
    };
    // `key-vault` is a name or the vault's URL.
    let wanted = name.trim_end_matches('/').to_ascii_lowercase();
    let vault = match arm.vaults(subscription).await {
        Ok(list) => list.into_iter().find(|v| {
            v.name.eq_ignore_ascii_case(&wanted)
                || v.properties
                    .vault_uri
                    .trim_end_matches('/')
                    .eq_ignore_ascii_case(&wanted)
        }),
        Err(e) => return vec![row("Azure", "Key Vault", Verdict::Fail, e.to_string(), "")],
    };
    let Some(vault) = vault else {
        return vec![row(
            "Azure",
            "Key Vault",
            Verdict::Fail,
            format!("no vault {name} in subscription {subscription}"),
            "check key-vault and azure-subscription-id, or deploy builtin:prerequisites",
        )];
    };
    let mut rows = Vec::new();
    if vault.properties.enable_rbac_authorization == Some(true) {
        rows.push(row(
            "Azure",
            "Key Vault",
            Verdict::Ok,
            format!("{} uses Azure RBAC", vault.name),
            "",
        ));
    } else {
        rows.push(row(
            "Azure",
            "Key Vault",
            Verdict::Fail,
            format!("{} uses access policies, not Azure RBAC", vault.name),
            &format!("switch it to Azure RBAC (az keyvault update --name {} --enable-rbac-authorization true) and assign Key Vault Secrets Officer", vault.name),
        ));
    }
    rows.push(match arm.permissions(&vault.id).await {
        Ok(perms) => permission_row(
            "Vault role",
            &perms,
            &VAULT_DATA_ACTIONS,
            true,
            &format!("assign Key Vault Secrets Officer on the vault: az role assignment create --role \"Key Vault Secrets Officer\" --assignee <client id> --scope {}", vault.id),
        ),
        Err(e) => row("Azure", "Vault role", Verdict::Fail, e.to_string(), ""),
    });
    rows.extend(key_rows(session, req, subscription, &vault.properties.vault_uri).await);
    rows
}

/// `Microsoft.KeyVault/vaults/secrets/getSecret/action` → `secrets/getSecret`.
fn short_action(action: &str) -> String {
    let parts: Vec<&str> = action.split('/').skip(1).collect();
    let parts: Vec<&str> = parts
        .into_iter()
        .filter(|p| !matches!(*p, "vaults" | "registries" | "action"))
        .collect();
    parts.join("/")
}

fn permission_row(
    check: &str,
    perms: &[Permission],
    needed: &[&str],
    data: bool,
    fix: &str,
) -> Row {
    let missing: Vec<String> = needed
        .iter()
        .filter(|a| {
            if data {
                !allows_data_action(perms, a)
            } else {
                !allows_action(perms, a)
            }
        })
        .map(|a| short_action(a))
        .collect();
    if missing.is_empty() {
        let all: Vec<String> = needed.iter().map(|a| short_action(a)).collect();
        row(
            "Azure",
            check,
            Verdict::Ok,
            format!("the caller may {}", all.join(", ")),
            "",
        )
    } else {
        row(
            "Azure",
            check,
            Verdict::Fail,
            format!("the caller lacks {}", missing.join(", ")),
            fix,
        )
    }
}

/// The resource group (deploy) and the registry (build-image).
async fn scope_rows(session: &Session, req: &Request, subscription: &str) -> Vec<Row> {
    let Some(group) = &req.resource_group else {
        return Vec::new();
    };
    let Ok(arm) = session.arm().await else {
        return Vec::new();
    };
    let group_id = format!("/subscriptions/{subscription}/resourceGroups/{group}");
    let mut rows = vec![match arm.permissions(&group_id).await {
        Ok(perms) => permission_row(
            "Resource group role",
            &perms,
            &GROUP_ACTIONS,
            false,
            &format!(
                "assign Contributor on the resource group: az role assignment create --role Contributor --assignee <client id> --scope {group_id}"
            ),
        ),
        Err(e) => row(
            "Azure",
            "Resource group role",
            Verdict::Fail,
            e.to_string(),
            "check resource-group",
        ),
    }];
    if let Some(registry) = &req.registry {
        let id = format!("{group_id}/providers/Microsoft.ContainerRegistry/registries/{registry}");
        rows.push(match arm.permissions(&id).await {
            Ok(perms) => permission_row(
                "Registry role",
                &perms,
                &REGISTRY_ACTIONS,
                false,
                &format!("assign Contributor on the registry (ACR Tasks runs need more than AcrPush): az role assignment create --role Contributor --assignee <client id> --scope {id}"),
            ),
            Err(e) => row("Azure", "Registry role", Verdict::Fail, e.to_string(), "check registry and resource-group"),
        });
    }
    rows
}

/// The key's age and expiry; every consumer's reference points at an enabled version.
async fn key_rows(
    session: &Session,
    req: &Request,
    subscription: &str,
    vault_uri: &str,
) -> Vec<Row> {
    let kv = match session.key_vault(vault_uri.trim_end_matches('/')).await {
        Ok(kv) => kv,
        Err(e) => return vec![row("Key", "Versions", Verdict::Fail, e.to_string(), "")],
    };
    let versions = match kv.versions(&req.secret_name).await {
        Ok(v) => v,
        // A vault closed to this runner's network (network: private) is not a fault of the
        // setup: the key rows are for a doctor run inside the network.
        Err(Error::KeyVaultNetwork { code, .. }) => {
            return vec![row(
                "Key",
                "Versions",
                Verdict::Warn,
                format!(
                    "the vault refuses this runner's network ({code}): the key's age, expiry and consumers were not checked"
                ),
                "run doctor inside the vault's network: on the project's own runners with uses: OWNER/aca-runner-action/native@v0",
            )];
        }
        Err(e) => return vec![row("Key", "Versions", Verdict::Fail, e.to_string(), "")],
    };
    let Some(live) = versions.iter().rev().find(|v| v.enabled) else {
        return vec![row(
            "Key",
            "Live version",
            Verdict::Fail,
            format!("secret {} has no enabled version", req.secret_name),
            "run rotate-key to store the App's key",
        )];
    };
    let now = OffsetDateTime::now_utc();
    let mut rows = Vec::new();
    let age = live.created.map(|c| (now - c).whole_days());
    rows.push(match age {
        Some(age) if req.max_age_days > 0 && age > req.max_age_days as i64 => row(
            "Key",
            "Age",
            Verdict::Fail,
            format!("version {} is {age} day(s) old, older than max-key-age-days ({})", live.version, req.max_age_days),
            "generate a new private key in the App's settings, update the workflow secret, run rotate-key",
        ),
        Some(age) => row("Key", "Age", Verdict::Ok, format!("version {} is {age} day(s) old", live.version), ""),
        None => row("Key", "Age", Verdict::Warn, "the live version has no creation time".into(), ""),
    });
    rows.push(match live.expires {
        Some(exp) if exp <= now => row(
            "Key",
            "Expiry",
            Verdict::Fail,
            format!("version {} expired", live.version),
            "run rotate-key (with secret-expires-in-days) to store a fresh version",
        ),
        Some(exp) if exp - now < time::Duration::days(30) => row(
            "Key",
            "Expiry",
            Verdict::Warn,
            format!(
                "version {} expires in {} day(s)",
                live.version,
                (exp - now).whole_days()
            ),
            "run rotate-key before it expires",
        ),
        Some(_) => row(
            "Key",
            "Expiry",
            Verdict::Ok,
            "more than 30 days left".into(),
            "",
        ),
        None => row("Key", "Expiry", Verdict::Ok, "no expiry".into(), ""),
    });
    let secret_uri = kv.secret_uri(&req.secret_name);
    rows.extend(consumer_rows(session, subscription, &secret_uri, &versions).await);
    rows
}

/// Every job or app that pins a version of the key must read an enabled one.
async fn consumer_rows(
    session: &Session,
    subscription: &str,
    secret_uri: &str,
    versions: &[crate::azure::keyvault::VersionInfo],
) -> Vec<Row> {
    let mut rows = Vec::new();
    let Ok(arm) = session.arm().await else {
        return Vec::new();
    };
    match arm.consumers(subscription, secret_uri).await {
        Ok(consumers) => {
            for c in consumers {
                let Some(pinned) = &c.pinned else { continue };
                let enabled = versions
                    .iter()
                    .any(|v| v.enabled && v.version.eq_ignore_ascii_case(pinned));
                rows.push(if enabled {
                    row("Key", "Consumer", Verdict::Ok, format!("{} {} reads version {pinned}, enabled", c.kind, c.resource.name), "")
                } else {
                    row(
                        "Key",
                        "Consumer",
                        Verdict::Fail,
                        format!("{} {} reads version {pinned}, which is disabled or gone: it cannot start", c.kind, c.resource.name),
                        "run rotate-key with `jobs: auto` (it switches pinned consumers), or point the reference at the live version",
                    )
                });
            }
        }
        Err(e) => rows.push(row("Key", "Consumers", Verdict::Fail, e.to_string(), "")),
    }
    rows
}

/// The runner jobs: which identity each container may use, and the latest executions.
async fn job_rows(
    session: &Session,
    req: &Request,
    subscription: &str,
) -> (Vec<Row>, Vec<String>, Vec<JobView>) {
    let Some(group) = &req.resource_group else {
        return (Vec::new(), Vec::new(), Vec::new());
    };
    let Ok(arm) = session.arm().await else {
        return (Vec::new(), Vec::new(), Vec::new());
    };
    let jobs = match arm.jobs_in_group(subscription, group).await {
        Ok(jobs) => jobs,
        Err(e) => {
            return (
                vec![row(
                    "Runner jobs",
                    "Jobs",
                    Verdict::Fail,
                    e.to_string(),
                    "check resource-group",
                )],
                Vec::new(),
                Vec::new(),
            );
        }
    };
    let mut rows = Vec::new();
    let mut images = Vec::new();
    for job in &jobs {
        images.extend(job.images.iter().cloned());
        rows.push(lifecycle_row(job, &req.secret_name));
        rows.push(match arm.executions(&job.resource).await {
            Ok(list) => execution_row(job, group, list),
            Err(e) => row(
                "Runner jobs",
                "Executions",
                Verdict::Fail,
                e.to_string(),
                "",
            ),
        });
    }
    if jobs.is_empty() {
        rows.push(row(
            "Runner jobs",
            "Jobs",
            Verdict::Warn,
            format!("no Container Apps job in {group}"),
            "deploy builtin:runner-jobs there",
        ));
    }
    (rows, images, jobs)
}

/// A job that holds the key's reference must keep its identities from the containers.
fn lifecycle_row(job: &JobView, secret_name: &str) -> Row {
    let check = format!("Identity of {}", job.resource.name);
    let holds_key = job.key_vault_urls.iter().any(|u| {
        u.to_ascii_lowercase()
            .contains(&format!("/secrets/{}", secret_name.to_ascii_lowercase()))
    });
    if !holds_key {
        return row(
            "Runner jobs",
            &check,
            Verdict::Ok,
            "holds no reference to the key".into(),
            "",
        );
    }
    // The identities a container may use: only a pool's workload identity should be one (Main).
    let exposed: Vec<&(String, String)> = job
        .identities
        .iter()
        .filter(|(_, lifecycle)| {
            !lifecycle.eq_ignore_ascii_case("None") && !lifecycle.eq_ignore_ascii_case("Main")
        })
        .collect();
    if exposed.is_empty() {
        row(
            "Runner jobs",
            &check,
            Verdict::Ok,
            "no container can get a token for the jobs' own identity".into(),
            "",
        )
    } else {
        row(
            "Runner jobs",
            &check,
            Verdict::Fail,
            format!(
                "containers can get a token for {} (lifecycle {}), an identity the key's reference uses: a workflow could read the key",
                exposed
                    .iter()
                    .map(|(i, _)| i.rsplit('/').next().unwrap_or(i))
                    .collect::<Vec<_>>()
                    .join(", "),
                exposed
                    .iter()
                    .map(|(_, l)| l.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            "redeploy with builtin:runner-jobs (it sets identitySettings lifecycle None for the jobs' identity)",
        )
    }
}

fn execution_row(
    job: &JobView,
    group: &str,
    mut list: Vec<crate::azure::arm::jobs::Execution>,
) -> Row {
    let check = format!("Executions of {}", job.resource.name);
    list.sort_by(|a, b| a.properties.start_time.cmp(&b.properties.start_time));
    let Some(last) = list.last() else {
        return row(
            "Runner jobs",
            &check,
            Verdict::Ok,
            "no execution yet".into(),
            "",
        );
    };
    let state = &last.properties.status;
    if matches!(state.as_str(), "Failed" | "Degraded") {
        let failed = list
            .iter()
            .filter(|e| e.properties.status == "Failed")
            .count();
        row(
            "Runner jobs",
            &check,
            Verdict::Fail,
            format!(
                "the latest execution {} {}{} ({failed} of the last {} failed)",
                last.name,
                state.to_ascii_lowercase(),
                last.reason().map(|r| format!(": {r}")).unwrap_or_default(),
                list.len()
            ),
            &format!(
                "read its log: az containerapp job logs show --name {} --resource-group {group} --execution {} --container register",
                job.resource.name, last.name
            ),
        )
    } else {
        row(
            "Runner jobs",
            &check,
            Verdict::Ok,
            format!(
                "the latest execution {} is {}",
                last.name,
                state.to_ascii_lowercase()
            ),
            "",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_image_tag_names_its_runner() {
        assert_eq!(
            image_version("acr.azurecr.io/github-runner:2.336.0-1a2b3c4d5e").map(|v| v.to_string()),
            Some("2.336.0".into())
        );
        assert_eq!(
            image_version("acr.azurecr.io/github-runner:2.330.1@sha256:ab").map(|v| v.to_string()),
            Some("2.330.1".into())
        );
        assert!(image_version("acr.azurecr.io/github-runner:latest").is_none());
        assert!(image_version("localhost:5000/runner").is_none());
    }

    #[test]
    fn an_old_runner_fails_and_a_lagging_one_warns() {
        let old = runner_version_row(Some("2.336.0"), vec!["a/r:2.300.0".into()]);
        assert_eq!(old.verdict, Verdict::Fail);
        let lagging = runner_version_row(Some("2.336.0"), vec!["a/r:2.330.0".into()]);
        assert_eq!(lagging.verdict, Verdict::Warn);
        let current = runner_version_row(Some("2.336.0"), vec!["a/r:2.336.0".into()]);
        assert_eq!(current.verdict, Verdict::Ok);
    }
}

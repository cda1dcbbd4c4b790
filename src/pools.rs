//! Runner pools (`pools`, SPEC §3.2): parsed and checked before any request, expanded into the
//! Container Apps Jobs of `builtin:runner-jobs` (one per pool, one per repository for `repo`
//! scope), and priced in GitHub API calls per hour.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use crate::error::{Error, Result};

/// Default vCPU of a pool's runner container.
pub const DEFAULT_CPU: f64 = 0.25;
/// Default seconds between two scaler polls (KEDA's and Container Apps' default).
pub const DEFAULT_POLLING_INTERVAL: u32 = 30;
/// Default longest run of one execution: six hours, GitHub's default job timeout
/// (`timeout-minutes: 360`), so no job that GitHub would still let run is cut short.
pub const DEFAULT_REPLICA_TIMEOUT: u32 = 21_600;
/// Default maximum parallel executions of a pool.
pub const DEFAULT_MAX_EXECUTIONS: u32 = 10;
/// Labels of a pool that names none: the ones GitHub and KEDA give a runner by default.
pub const DEFAULT_LABELS: [&str; 3] = ["self-hosted", "linux", "x64"];
/// Container Apps Job names: 2–32 characters.
const JOB_NAME_MAX: usize = 32;
/// GitHub refuses runner names over 64 characters.
pub const RUNNER_NAME_MAX: usize = 64;
/// A runner is named after its execution: the job name, `-`, and 7 characters.
const EXECUTION_SUFFIX: usize = 8;
/// Scaler repository listings come in pages of 30 (KEDA sends no `per_page`).
const LISTING_PAGE: u64 = 30;
/// Busy-hour assumption: every execution slot runs one 10-minute job after another.
pub const BUSY_EXECUTIONS_PER_SLOT: u64 = 6;

/// One pool as the `pools` input describes it (kebab-case keys).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawPool {
    name: String,
    #[serde(default)]
    labels: Option<StringOrList>,
    #[serde(default)]
    image: Option<String>,
    #[serde(default)]
    cpu: Option<f64>,
    #[serde(default)]
    memory: Option<String>,
    #[serde(default)]
    min_executions: Option<u32>,
    #[serde(default)]
    max_executions: Option<u32>,
    #[serde(default)]
    polling_interval: Option<u32>,
    #[serde(default)]
    replica_timeout: Option<u32>,
    #[serde(default)]
    runner_scope: Option<String>,
    #[serde(default)]
    repos: Option<StringOrList>,
    #[serde(default)]
    runner_group: Option<String>,
    #[serde(default)]
    target_queue_length: Option<u32>,
    #[serde(default)]
    workload_identity: Option<String>,
}

/// A YAML string (comma-separated) or list of strings.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(untagged)]
enum StringOrList {
    One(String),
    Many(Vec<String>),
}

impl StringOrList {
    fn items(&self) -> Vec<String> {
        let raw: Vec<&str> = match self {
            StringOrList::One(s) => s.split(',').collect(),
            StringOrList::Many(v) => v.iter().map(String::as_str).collect(),
        };
        raw.into_iter()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    }
}

/// Where a pool's runners register.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunnerScope {
    /// Organization runners.
    Org,
    /// Repository runners (one job per repository).
    Repo,
}

impl RunnerScope {
    /// KEDA's and the init program's word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            RunnerScope::Org => "org",
            RunnerScope::Repo => "repo",
        }
    }
}

/// One Container Apps Job of `builtin:runner-jobs`.
#[derive(Debug, Clone, PartialEq)]
pub struct RunnerJob {
    /// The pool it comes from.
    pub pool: String,
    /// The job's name (`runner-<pool>`, or `runner-<pool>-<repo>`).
    pub job_name: String,
    /// Scaler and runner labels, the same set (`self-hosted` always among them).
    pub labels: Vec<String>,
    /// The runner image; `None` takes `<acr>/github-runner:latest`.
    pub image: Option<String>,
    /// vCPU of the runner container.
    pub cpu: f64,
    /// GiB of memory of the runner container.
    pub memory_gib: f64,
    /// Executions kept waiting.
    pub min_executions: u32,
    /// Parallel executions at most.
    pub max_executions: u32,
    /// Seconds between scaler polls.
    pub polling_interval: u32,
    /// Longest run of one execution, seconds.
    pub replica_timeout: u32,
    /// Organization or repository runners.
    pub scope: RunnerScope,
    /// Repositories the scaler watches (names without owner); empty = all of the owner's.
    pub repos: Vec<String>,
    /// The repository the runners register on (repository scope).
    pub runner_repo: Option<String>,
    /// Runner group (organization scope).
    pub runner_group: Option<String>,
    /// Queued jobs per execution.
    pub target_queue_length: u32,
    /// A user-assigned identity (name or resource id) for the workflows' own Azure sign-in.
    pub workload_identity: Option<String>,
}

/// The checked pools: the jobs to deploy, and what to warn about.
#[derive(Debug, Clone)]
pub struct PoolPlan {
    /// Jobs, in pool order.
    pub jobs: Vec<RunnerJob>,
    /// Warnings found (label sets contained in one another).
    pub warnings: Vec<String>,
}

impl PoolPlan {
    /// Names the jobs as the seed pipeline named its one job (`naming: seed`): `caj-<project>`
    /// for a single organization job, else `caj-<project>-<pool>[-<repository>]`, so that an
    /// Incremental deployment updates the seed's job in place instead of adding one beside it.
    pub fn name_as_seed(&mut self, project: &str) -> Result<()> {
        let single = self.jobs.len() == 1 && self.jobs[0].runner_repo.is_none();
        for job in &mut self.jobs {
            let name = if single {
                format!("caj-{project}")
            } else {
                job.job_name
                    .replacen("runner-", &format!("caj-{project}-"), 1)
            };
            if !valid_name(&name, JOB_NAME_MAX) || name.len() + EXECUTION_SUFFIX > RUNNER_NAME_MAX {
                return Err(pool_error(
                    &job.pool,
                    format!(
                        "with naming: seed its job would be `{name}`, longer than a job or runner name may be: use fewer or shorter pool names"
                    ),
                ));
            }
            job.job_name = name;
        }
        Ok(())
    }
}

fn pool_error(pool: &str, message: impl std::fmt::Display) -> Error {
    Error::input("pools", format!("pool `{pool}`: {message}"))
}

fn valid_name(name: &str, max: usize) -> bool {
    !name.is_empty()
        && name.len() <= max
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
        && !name.contains("--")
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// Parses memory as Container Apps writes it (`1Gi`, `1.5Gi`, `512Mi`) into GiB.
fn memory_gib(text: &str) -> Option<f64> {
    let t = text.trim();
    let (number, factor) = if let Some(n) = t.strip_suffix("Gi") {
        (n, 1.0)
    } else if let Some(n) = t.strip_suffix("Mi") {
        (n, 1.0 / 1024.0)
    } else {
        (t, 1.0)
    };
    number
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v > 0.0)
        .map(|v| v * factor)
}

fn format_gib(gib: f64) -> String {
    let text = format!("{gib:.2}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text}Gi")
}

/// Checks the CPU/memory pair against what the Consumption profile offers: 0.25 to 4 vCPU in
/// steps of 0.25, memory exactly twice the vCPU in GiB.
fn check_resources(pool: &str, cpu: f64, memory: f64) -> Result<()> {
    let quarters = cpu * 4.0;
    if !(1.0..=16.0).contains(&quarters) || (quarters - quarters.round()).abs() > 1e-9 {
        return Err(pool_error(
            pool,
            format!(
                "cpu {cpu} is not a size Container Apps offers: 0.25 to 4 vCPU in steps of 0.25"
            ),
        ));
    }
    if (memory - 2.0 * cpu).abs() > 1e-6 {
        return Err(pool_error(
            pool,
            format!(
                "cpu {cpu} with memory {} is not a combination Container Apps offers (0.25/0.5Gi, 0.5/1Gi … 4/8Gi: memory twice the vCPU); use memory: {}, or leave memory out",
                format_gib(memory),
                format_gib(2.0 * cpu)
            ),
        ));
    }
    Ok(())
}

fn check_label(pool: &str, label: &str) -> Result<()> {
    if label.len() > 256 || label.chars().any(|c| c.is_whitespace() || c == ',') {
        return Err(pool_error(
            pool,
            format!("label `{label}` must have no spaces or commas (and at most 256 characters)"),
        ));
    }
    Ok(())
}

/// Four hex digits of FNV-1a over the lower-cased text: stable across runs and versions.
fn short_hash(text: &str) -> String {
    let mut h: u32 = 0x811c_9dc5;
    for b in text.to_ascii_lowercase().bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    format!("{:04x}", h & 0xffff)
}

/// `runner-<pool>-<repo>`, made a valid job name of at most 32 characters (a short hash of the
/// repository keeps two long names apart).
fn repo_job_name(pool: &str, repo: &str) -> String {
    let mut slug = String::new();
    for c in repo.to_ascii_lowercase().chars() {
        let c = if c.is_ascii_alphanumeric() { c } else { '-' };
        if !(c == '-' && (slug.is_empty() || slug.ends_with('-'))) {
            slug.push(c);
        }
    }
    let slug = slug.trim_end_matches('-').to_string();
    let full = format!("runner-{pool}-{slug}");
    // A name that had to change (`my.repo`, `_my-repo`) gets the hash too, so it cannot meet
    // the name of a repository that is spelled that way (`my-repo`).
    let unchanged = slug == repo.to_ascii_lowercase();
    if unchanged && full.len() <= JOB_NAME_MAX && valid_name(&full, JOB_NAME_MAX) {
        return full;
    }
    let hash = short_hash(repo);
    let room = JOB_NAME_MAX.saturating_sub(format!("runner-{pool}--{hash}").len());
    let cut: String = slug.chars().take(room).collect();
    let cut = cut.trim_end_matches('-');
    if cut.is_empty() {
        format!("runner-{pool}-{hash}")
    } else {
        format!("runner-{pool}-{cut}-{hash}")
    }
}

/// Parses and checks `pools` (absent: one pool `default`). `owner` is the organization the
/// runners serve, to check `owner/name` entries of `repos`.
pub fn plan(text: Option<&str>, owner: Option<&str>) -> Result<PoolPlan> {
    let raw: Vec<RawPool> = match text {
        None => vec![RawPool {
            name: "default".into(),
            ..RawPool::default()
        }],
        Some(text) => serde_yaml_ng::from_str(text).map_err(|e| {
            Error::input(
                "pools",
                format!("is not a YAML list of pools ({e}); each pool is a map with `name` and optional labels, image, cpu, memory, min-executions, max-executions, polling-interval, replica-timeout, runner-scope, repos, runner-group, target-queue-length, workload-identity"),
            )
        })?,
    };
    if raw.is_empty() {
        return Err(Error::input("pools", "lists no pool"));
    }
    let mut names = BTreeSet::new();
    let mut jobs: Vec<RunnerJob> = Vec::new();
    for pool in raw {
        let name = pool.name.trim().to_string();
        if !valid_name(&name, 24) {
            return Err(Error::input(
                "pools",
                format!(
                    "pool name `{name}` must be 1-24 lower-case letters, digits and single hyphens, starting with a letter and ending with a letter or digit"
                ),
            ));
        }
        if !names.insert(name.clone()) {
            return Err(Error::input(
                "pools",
                format!("pool `{name}` is listed twice"),
            ));
        }
        jobs.extend(expand(&name, &pool, owner)?);
    }
    let mut seen = BTreeMap::new();
    for job in &jobs {
        if let Some(other) = seen.insert(job.job_name.clone(), job.pool.clone()) {
            return Err(Error::input(
                "pools",
                format!(
                    "pools `{other}` and `{}` both make the job `{}`; rename one",
                    job.pool, job.job_name
                ),
            ));
        }
    }
    let warnings = overlaps(&jobs);
    Ok(PoolPlan { jobs, warnings })
}

fn expand(name: &str, pool: &RawPool, owner: Option<&str>) -> Result<Vec<RunnerJob>> {
    let scope = match pool.runner_scope.as_deref().map(str::trim) {
        None | Some("") | Some("org") => RunnerScope::Org,
        Some("repo") => RunnerScope::Repo,
        Some(other) => {
            return Err(pool_error(
                name,
                format!("runner-scope `{other}` must be org or repo"),
            ));
        }
    };
    let mut repos = Vec::new();
    for entry in pool
        .repos
        .as_ref()
        .map(StringOrList::items)
        .unwrap_or_default()
    {
        let repo = match entry.split_once('/') {
            Some((o, r)) => {
                if owner.is_some_and(|owner| !owner.eq_ignore_ascii_case(o)) {
                    return Err(pool_error(
                        name,
                        format!(
                            "repository `{entry}` is not under `{}`: the scaler and the runners serve one owner",
                            owner.unwrap_or_default()
                        ),
                    ));
                }
                r.to_string()
            }
            None => entry.clone(),
        };
        let valid = !repo.is_empty()
            && repo.len() <= 100
            && repo
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        if !valid {
            return Err(pool_error(
                name,
                format!("`{entry}` is not a repository name"),
            ));
        }
        if !repos.iter().any(|r: &String| r.eq_ignore_ascii_case(&repo)) {
            repos.push(repo);
        }
    }
    if scope == RunnerScope::Repo && name.len() > 20 {
        return Err(pool_error(
            name,
            "a runner-scope repo pool's name must be at most 20 characters (its jobs are named runner-<pool>-<repository>, at most 32)",
        ));
    }
    if scope == RunnerScope::Repo && repos.is_empty() {
        return Err(pool_error(
            name,
            "runner-scope repo needs `repos` (repository runners serve one repository each)",
        ));
    }
    let runner_group = pool
        .runner_group
        .as_deref()
        .map(str::trim)
        .filter(|g| !g.is_empty())
        .map(str::to_string);
    if scope == RunnerScope::Repo && runner_group.is_some() {
        return Err(pool_error(
            name,
            "runner-group applies to organization runners only (runner-scope org)",
        ));
    }
    let mut labels: Vec<String> = match pool.labels.as_ref().map(StringOrList::items) {
        Some(l) if !l.is_empty() => l,
        _ => DEFAULT_LABELS.iter().map(|s| s.to_string()).collect(),
    };
    if !labels.iter().any(|l| l.eq_ignore_ascii_case("self-hosted")) {
        labels.insert(0, "self-hosted".into());
    }
    let mut unique: Vec<String> = Vec::new();
    for label in labels {
        check_label(name, &label)?;
        if !unique.iter().any(|u| u.eq_ignore_ascii_case(&label)) {
            unique.push(label);
        }
    }
    if unique.len() > 100 {
        return Err(pool_error(name, "has more than 100 labels"));
    }
    let cpu = pool.cpu.unwrap_or(DEFAULT_CPU);
    let memory = match &pool.memory {
        Some(m) => memory_gib(m).ok_or_else(|| {
            pool_error(
                name,
                format!("memory `{m}` is not a size like 1Gi or 1.5Gi"),
            )
        })?,
        None => 2.0 * cpu,
    };
    check_resources(name, cpu, memory)?;
    let min = pool.min_executions.unwrap_or(0);
    let max = pool.max_executions.unwrap_or(DEFAULT_MAX_EXECUTIONS);
    if max == 0 || min > max {
        return Err(pool_error(
            name,
            format!(
                "min-executions ({min}) must not exceed max-executions ({max}), which must be at least 1"
            ),
        ));
    }
    let polling = pool.polling_interval.unwrap_or(DEFAULT_POLLING_INTERVAL);
    if polling == 0 {
        return Err(pool_error(
            name,
            "polling-interval must be at least 1 (seconds)",
        ));
    }
    let timeout = pool.replica_timeout.unwrap_or(DEFAULT_REPLICA_TIMEOUT);
    if timeout < 60 {
        return Err(pool_error(
            name,
            "replica-timeout must be at least 60 (seconds); a runner needs time to start and run its job",
        ));
    }
    let queue = pool.target_queue_length.unwrap_or(1);
    if queue == 0 {
        return Err(pool_error(name, "target-queue-length must be at least 1"));
    }
    let workload_identity = pool
        .workload_identity
        .as_deref()
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .map(str::to_string);
    if let Some(w) = &workload_identity {
        let is_id = w.starts_with("/subscriptions/")
            && w.to_ascii_lowercase()
                .contains("/providers/microsoft.managedidentity/userassignedidentities/");
        let is_name = w.len() <= 128
            && w.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !is_id && !is_name {
            return Err(pool_error(
                name,
                format!(
                    "workload-identity `{w}` is neither a user-assigned identity's name nor its resource id"
                ),
            ));
        }
    }
    let image = pool
        .image
        .as_deref()
        .map(str::trim)
        .filter(|i| !i.is_empty())
        .map(str::to_string);
    let base = RunnerJob {
        pool: name.to_string(),
        job_name: format!("runner-{name}"),
        labels: unique,
        image,
        cpu,
        memory_gib: memory,
        min_executions: min,
        max_executions: max,
        polling_interval: polling,
        replica_timeout: timeout,
        scope,
        repos: repos.clone(),
        runner_repo: None,
        runner_group,
        target_queue_length: queue,
        workload_identity,
    };
    let jobs: Vec<RunnerJob> = match scope {
        RunnerScope::Org => vec![base],
        RunnerScope::Repo => repos
            .iter()
            .map(|repo| RunnerJob {
                job_name: repo_job_name(name, repo),
                repos: vec![repo.clone()],
                runner_repo: Some(repo.clone()),
                ..base.clone()
            })
            .collect(),
    };
    for job in &jobs {
        if !valid_name(&job.job_name, JOB_NAME_MAX) {
            return Err(pool_error(
                name,
                format!(
                    "its job name `{}` is not a valid Container Apps Job name",
                    job.job_name
                ),
            ));
        }
        if job.job_name.len() + EXECUTION_SUFFIX > RUNNER_NAME_MAX {
            return Err(pool_error(
                name,
                format!(
                    "its runners would be named over {RUNNER_NAME_MAX} characters, which GitHub refuses"
                ),
            ));
        }
    }
    Ok(jobs)
}

fn lower_set(labels: &[String]) -> BTreeSet<String> {
    labels.iter().map(|l| l.to_ascii_lowercase()).collect()
}

fn watches_common_repo(a: &RunnerJob, b: &RunnerJob) -> bool {
    a.repos.is_empty()
        || b.repos.is_empty()
        || a.repos
            .iter()
            .any(|r| b.repos.iter().any(|s| s.eq_ignore_ascii_case(r)))
}

/// Pools whose label set is contained in another's: a job that asks for the smaller set makes
/// KEDA start an execution in both (every job label is in both sets), and the one whose runner
/// does not get the job idles until `replica-timeout`.
fn overlaps(jobs: &[RunnerJob]) -> Vec<String> {
    let mut warnings = Vec::new();
    let mut said = BTreeSet::new();
    for a in jobs {
        for b in jobs {
            if a.pool == b.pool || !watches_common_repo(a, b) {
                continue;
            }
            let (sa, sb) = (lower_set(&a.labels), lower_set(&b.labels));
            if sa.is_subset(&sb) && said.insert((a.pool.clone(), b.pool.clone())) {
                let extra = if sa == sb {
                    "the same labels".to_string()
                } else {
                    format!(
                        "all of them and {}",
                        sb.difference(&sa).cloned().collect::<Vec<_>>().join(", ")
                    )
                };
                warnings.push(format!(
                    "pools `{}` and `{}`: a job with `runs-on: [{}]` starts an execution in both, since pool `{}` has {extra}; the execution that does not get the job idles until replica-timeout. Give pool `{}` a label `{}` lacks",
                    a.pool,
                    b.pool,
                    a.labels.join(", "),
                    b.pool,
                    a.pool,
                    b.pool
                ));
            }
        }
    }
    warnings
}

impl RunnerJob {
    /// The job as the template's `pools` parameter takes it (`image` empty: the template's
    /// `runnerImage`). `group_id` is the deployment's resource group id
    /// (`/subscriptions/…/resourceGroups/…`), for workload identities given by name.
    pub fn parameter(&self, group_id: &str) -> Value {
        let workload = match &self.workload_identity {
            None => String::new(),
            Some(w) if w.starts_with('/') => w.clone(),
            Some(w) => {
                format!("{group_id}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{w}")
            }
        };
        json!({
            "jobName": self.job_name,
            "labels": self.labels.join(","),
            "image": self.image.clone().unwrap_or_default(),
            "cpu": self.cpu,
            "memory": format_gib(self.memory_gib),
            "minExecutions": self.min_executions,
            "maxExecutions": self.max_executions,
            "pollingInterval": self.polling_interval,
            "replicaTimeout": self.replica_timeout,
            "runnerScope": self.scope.as_str(),
            "repos": self.repos.join(","),
            "runnerRepo": self.runner_repo.clone().unwrap_or_default(),
            "runnerGroup": self.runner_group.clone().unwrap_or_default(),
            "targetQueueLength": self.target_queue_length.to_string(),
            "workloadIdentity": workload,
        })
    }

    /// Projected GitHub API calls per hour that count against the installation's limit.
    /// `installation_repos` is how many repositories the installation reaches (what the scaler
    /// lists and polls when `repos` is empty).
    pub fn budget(&self, installation_repos: u64) -> Budget {
        let polls = 3600 / u64::from(self.polling_interval.max(1));
        let (listing, watched) = if self.repos.is_empty() {
            // KEDA reads pages of 30 until one holds fewer: a multiple of 30 costs one more.
            (installation_repos / LISTING_PAGE + 1, installation_repos)
        } else {
            (0, self.repos.len() as u64)
        };
        let per_poll_idle = listing + 2 * watched;
        let per_poll_busy = per_poll_idle + u64::from(self.max_executions);
        let per_execution = 2 + u64::from(self.runner_group.is_some());
        Budget {
            job: self.job_name.clone(),
            scaler_idle: polls * per_poll_idle,
            scaler_busy: polls * per_poll_busy,
            runners_busy: u64::from(self.max_executions) * BUSY_EXECUTIONS_PER_SLOT * per_execution,
        }
    }
}

/// One job's projected GitHub API calls per hour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Budget {
    /// The job.
    pub job: String,
    /// The scaler when nothing is queued or running.
    pub scaler_idle: u64,
    /// The scaler when `max-executions` runs are queued or running.
    pub scaler_busy: u64,
    /// The runners' own calls in that busy hour (JIT configuration, token revocation).
    pub runners_busy: u64,
}

impl Budget {
    /// Busy-hour total.
    pub fn busy(&self) -> u64 {
        self.scaler_busy + self.runners_busy
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn naming_seed_gives_the_seeds_job_name() {
        let mut one = plan(None, Some("octo-org")).unwrap();
        one.name_as_seed("aca-gh-runners").unwrap();
        assert_eq!(one.jobs[0].job_name, "caj-aca-gh-runners");
        let mut two = plan(
            Some("- name: linux\n- name: large\n  labels: [large]\n"),
            Some("octo-org"),
        )
        .unwrap();
        two.name_as_seed("aca-gh-runners").unwrap();
        let names: Vec<&str> = two.jobs.iter().map(|j| j.job_name.as_str()).collect();
        assert_eq!(
            names,
            ["caj-aca-gh-runners-linux", "caj-aca-gh-runners-large"]
        );
        let mut long = plan(
            Some("- name: a-rather-long-pool-name\n- name: b\n  labels: [b]\n"),
            Some("octo-org"),
        )
        .unwrap();
        assert!(long.name_as_seed("aca-gh-runners").is_err());
    }

    fn one(text: &str) -> Result<PoolPlan> {
        plan(Some(text), Some("octo-org"))
    }

    #[test]
    fn the_default_pool_has_the_default_labels_and_resources() {
        let p = plan(None, None).unwrap();
        assert_eq!(p.jobs.len(), 1);
        let job = &p.jobs[0];
        assert_eq!(job.job_name, "runner-default");
        assert_eq!(job.labels, ["self-hosted", "linux", "x64"]);
        assert_eq!((job.cpu, job.memory_gib), (0.25, 0.5));
        assert_eq!(job.replica_timeout, DEFAULT_REPLICA_TIMEOUT);
        let v = job.parameter("/g");
        assert_eq!(v["image"], "");
        assert_eq!(v["memory"], "0.5Gi");
        assert_eq!(v["labels"], "self-hosted,linux,x64");
        assert_eq!(v["workloadIdentity"], "");
    }

    #[test]
    fn memory_defaults_to_twice_the_cpu_and_pairs_are_checked() {
        let p = one("- name: big\n  cpu: 2\n").unwrap();
        assert_eq!(p.jobs[0].memory_gib, 4.0);
        let e = one("- name: big\n  cpu: 2\n  memory: 2Gi\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("cpu 2 with memory 2Gi is not a combination"),
            "{e}"
        );
        assert!(e.contains("use memory: 4Gi"), "{e}");
        let e = one("- name: big\n  cpu: 0.3\n").unwrap_err().to_string();
        assert!(e.contains("steps of 0.25"), "{e}");
        let e = one("- name: big\n  cpu: 8\n").unwrap_err().to_string();
        assert!(e.contains("0.25 to 4 vCPU"), "{e}");
        assert!(one("- name: x\n  cpu: 1.5\n  memory: 3.0Gi\n").is_ok());
        assert!(one("- name: x\n  memory: lots\n").is_err());
    }

    #[test]
    fn repo_scope_makes_one_job_per_repository() {
        let p = one("- name: web\n  runner-scope: repo\n  repos: [octo-org/site, api]\n").unwrap();
        let names: Vec<&str> = p.jobs.iter().map(|j| j.job_name.as_str()).collect();
        assert_eq!(names, ["runner-web-site", "runner-web-api"]);
        assert_eq!(p.jobs[0].runner_repo.as_deref(), Some("site"));
        assert_eq!(p.jobs[0].repos, ["site"]);
        assert_eq!(p.jobs[1].runner_repo.as_deref(), Some("api"));
        let e = one("- name: web\n  runner-scope: repo\n  repos: other/site\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not under `octo-org`"), "{e}");
        assert!(one("- name: web\n  runner-scope: repo\n").is_err());
        assert!(one("- name: web\n  runner-scope: repo\n  repos: a\n  runner-group: g\n").is_err());
    }

    #[test]
    fn long_repository_names_still_make_valid_distinct_job_names() {
        let p = one(
            "- name: build-farm\n  runner-scope: repo\n  repos: [a-very-long-repository-name-one, a-very-long-repository-name-two]\n",
        )
        .unwrap();
        for job in &p.jobs {
            assert!(job.job_name.len() <= 32, "{}", job.job_name);
            assert!(valid_name(&job.job_name, 32), "{}", job.job_name);
        }
        assert_ne!(p.jobs[0].job_name, p.jobs[1].job_name);
        // Names that only differ in what a job name cannot hold stay apart.
        let p = one("- name: web\n  runner-scope: repo\n  repos: [my.repo, my-repo, _my-repo]\n")
            .unwrap();
        let names: BTreeSet<&str> = p.jobs.iter().map(|j| j.job_name.as_str()).collect();
        assert_eq!(names.len(), 3, "{names:?}");
        assert!(names.contains("runner-web-my-repo"), "{names:?}");
        assert!(
            one("- name: a-very-long-pool-name-x\n  runner-scope: repo\n  repos: r\n").is_err()
        );
    }

    #[test]
    fn self_hosted_is_always_a_label_and_labels_are_checked() {
        let p = one("- name: gpu\n  labels: [gpu, GPU]\n").unwrap();
        assert_eq!(p.jobs[0].labels, ["self-hosted", "gpu"]);
        assert!(one("- name: gpu\n  labels: [\"a b\"]\n").is_err());
    }

    #[test]
    fn contained_label_sets_are_warned_about() {
        let p = one("- name: linux\n  labels: [linux]\n- name: large\n  labels: [linux, large]\n")
            .unwrap();
        assert_eq!(p.warnings.len(), 1, "{:?}", p.warnings);
        assert!(
            p.warnings[0].contains("pools `linux` and `large`"),
            "{}",
            p.warnings[0]
        );
        let p =
            one("- name: linux\n  labels: [linux, x64]\n- name: large\n  labels: [linux, large]\n")
                .unwrap();
        assert!(p.warnings.is_empty(), "{:?}", p.warnings);
        // Different repositories never compete for a job.
        let p = one(
            "- name: a\n  runner-scope: repo\n  repos: one\n- name: b\n  runner-scope: repo\n  repos: two\n",
        )
        .unwrap();
        assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    }

    #[test]
    fn invalid_pools_are_refused() {
        for bad in [
            "- name: x\n  colour: red\n",
            "- name: x\n- name: x\n",
            "- name: X\n",
            "- name: x\n  min-executions: 5\n  max-executions: 2\n",
            "- name: x\n  polling-interval: 0\n",
            "- name: x\n  replica-timeout: 10\n",
            "- name: x\n  runner-scope: enterprise\n",
            "- name: x\n  workload-identity: \"not an id!\"\n",
            "[]",
            "name: x",
        ] {
            assert!(one(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn workload_identities_by_name_become_resource_ids() {
        let p = one("- name: deploy\n  workload-identity: id-deployer\n").unwrap();
        let v = p.jobs[0].parameter("/subscriptions/s/resourceGroups/rg");
        assert_eq!(
            v["workloadIdentity"],
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-deployer"
        );
    }

    #[test]
    fn the_budget_follows_kedas_calls() {
        // Org scope, no repos: a listing of 20 repositories (one page) and two calls each.
        let p = plan(None, None).unwrap();
        let b = p.jobs[0].budget(20);
        assert_eq!(b.scaler_idle, 120 * (1 + 40));
        assert_eq!(b.scaler_busy, 120 * (1 + 40 + 10));
        assert_eq!(b.runners_busy, 10 * 6 * 2);
        // 30 repositories: the scaler reads a second, empty page.
        assert_eq!(p.jobs[0].budget(30).scaler_idle, 120 * (2 + 60));
        // Listed repos: no listing, two calls per repository.
        let p = one("- name: x\n  repos: [a, b]\n  polling-interval: 60\n  max-executions: 2\n  runner-group: ci\n").unwrap();
        let b = p.jobs[0].budget(500);
        assert_eq!(b.scaler_idle, 60 * 4);
        assert_eq!(b.scaler_busy, 60 * 6);
        assert_eq!(b.runners_busy, 2 * 6 * 3);
    }
}

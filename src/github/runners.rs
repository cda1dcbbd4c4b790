//! GitHub's self-hosted runner side: just-in-time runner configurations, runner groups, the
//! installation's rate limit and repositories (the API budget), and `actions/runner` releases.

use serde::Deserialize;

use super::{Auth, GitHub, github_error};
use crate::error::{Error, Result};
use crate::secret::Secret;

/// Where a runner registers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunnerTarget {
    /// An organization runner.
    Organization(String),
    /// A repository runner, `owner/name`.
    Repository(String),
}

impl RunnerTarget {
    /// The installation permission registering there needs (write).
    pub fn permission(&self) -> &'static str {
        match self {
            RunnerTarget::Organization(_) => "organization_self_hosted_runners",
            RunnerTarget::Repository(_) => "administration",
        }
    }

    fn describe(&self) -> String {
        match self {
            RunnerTarget::Organization(org) => format!("organization {org}"),
            RunnerTarget::Repository(repo) => format!("repository {repo}"),
        }
    }
}

/// A just-in-time runner configuration: one runner, one job.
pub struct JitConfig {
    /// The runner's id.
    pub runner_id: u64,
    /// The runner's name.
    pub runner_name: String,
    /// What `run.sh --jitconfig` takes (the runner's own credentials: a secret).
    pub encoded: Secret,
}

#[derive(Deserialize)]
struct RawJit {
    runner: RawRunner,
    encoded_jit_config: String,
}

#[derive(Deserialize)]
struct RawRunner {
    id: u64,
    name: String,
}

#[derive(Deserialize)]
struct RunnerGroups {
    #[serde(default)]
    runner_groups: Vec<RunnerGroup>,
}

#[derive(Deserialize)]
struct RunnerGroup {
    id: u64,
    name: String,
}

/// The installation's core rate limit.
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct RateLimit {
    /// Requests per hour.
    pub limit: u64,
    /// Left in this hour.
    pub remaining: u64,
}

#[derive(Deserialize)]
struct RateLimitOverview {
    resources: Resources,
}

#[derive(Deserialize)]
struct Resources {
    core: RateLimit,
}

#[derive(Deserialize)]
struct RepositoryList {
    total_count: u64,
}

#[derive(Deserialize)]
struct Release {
    tag_name: String,
}

impl GitHub {
    /// `POST …/actions/runners/generate-jitconfig`: registers one ephemeral runner.
    pub async fn generate_jitconfig(
        &self,
        token: &Secret,
        target: &RunnerTarget,
        name: &str,
        runner_group_id: u64,
        labels: &[String],
    ) -> Result<JitConfig> {
        let path = match target {
            RunnerTarget::Organization(org) => {
                format!("/orgs/{org}/actions/runners/generate-jitconfig")
            }
            RunnerTarget::Repository(repo) => {
                format!("/repos/{repo}/actions/runners/generate-jitconfig")
            }
        };
        let body = serde_json::json!({
            "name": name,
            "runner_group_id": runner_group_id,
            "labels": labels,
            "work_folder": "_work",
        });
        let action = format!("registering runner {name} on {}", target.describe());
        let (status, raw, text) = self
            .json::<RawJit>(
                http::Method::POST,
                &path,
                Auth::Token(token),
                Some(&body),
                &action,
            )
            .await?;
        match raw {
            Some(raw) => Ok(JitConfig {
                runner_id: raw.runner.id,
                runner_name: raw.runner.name,
                encoded: Secret::masked(raw.encoded_jit_config),
            }),
            None if status == 403 => Err(Error::GitHub {
                action,
                status,
                detail: "the installation token may not register runners there".into(),
                fix: format!(
                    "Grant the GitHub App the `{}` permission (write) in its settings, then accept the new permission on the installation",
                    target.permission()
                ),
            }),
            None => Err(github_error(&action, status, &text)),
        }
    }

    /// The id of the organization's runner group `name` (case-insensitive), all pages.
    pub async fn runner_group_id(&self, token: &Secret, org: &str, name: &str) -> Result<u64> {
        let mut names = Vec::new();
        for page in 1..=20 {
            let path = format!("/orgs/{org}/actions/runner-groups?per_page=100&page={page}");
            let (status, list, text) = self
                .json::<RunnerGroups>(
                    http::Method::GET,
                    &path,
                    Auth::Token(token),
                    None,
                    "listing runner groups",
                )
                .await?;
            let Some(list) = list else {
                return Err(github_error("listing runner groups", status, &text));
            };
            let got = list.runner_groups.len();
            for group in list.runner_groups {
                if group.name.eq_ignore_ascii_case(name) {
                    return Ok(group.id);
                }
                names.push(group.name);
            }
            if got < 100 {
                break;
            }
        }
        Err(Error::GitHub {
            action: format!("finding runner group `{name}` of {org}"),
            status: 404,
            detail: format!("there is no such group (found: {})", names.join(", ")),
            fix: "Create the group in the organization's settings (Actions → Runner groups), or fix the pool's `runner-group`".into(),
        })
    }

    /// `GET /rate_limit`: the core limit of the token's installation.
    pub async fn rate_limit(&self, token: &Secret) -> Result<RateLimit> {
        let (status, overview, text) = self
            .json::<RateLimitOverview>(
                http::Method::GET,
                "/rate_limit",
                Auth::Token(token),
                None,
                "reading the rate limit",
            )
            .await?;
        overview
            .map(|o| o.resources.core)
            .ok_or_else(|| github_error("reading the rate limit (GET /rate_limit)", status, &text))
    }

    /// How many repositories the installation can reach (`GET /installation/repositories`).
    pub async fn installation_repository_count(&self, token: &Secret) -> Result<u64> {
        let (status, list, text) = self
            .json::<RepositoryList>(
                http::Method::GET,
                "/installation/repositories?per_page=1",
                Auth::Token(token),
                None,
                "listing the installation's repositories",
            )
            .await?;
        list.map(|l| l.total_count)
            .ok_or_else(|| github_error("listing the installation's repositories", status, &text))
    }

    /// The version of the latest `actions/runner` release (`2.336.0`, without the `v`).
    pub async fn latest_runner_version(&self, token: Option<&Secret>) -> Result<String> {
        let auth = token.map(Auth::Token).unwrap_or(Auth::Anonymous);
        let (status, release, text) = self
            .json::<Release>(
                http::Method::GET,
                "/repos/actions/runner/releases/latest",
                auth,
                None,
                "reading the latest actions/runner release",
            )
            .await?;
        let Some(release) = release else {
            let mut e = github_error("reading the latest actions/runner release", status, &text);
            if let Error::GitHub { fix, .. } = &mut e {
                *fix = "On GitHub Enterprise Server, which does not serve actions/runner, give `runner-version` as a version (e.g. 2.336.0)".into();
            }
            return Err(e);
        };
        let version = release.tag_name.trim_start_matches('v').to_string();
        if crate::runner_version::RunnerVersion::parse(&version).is_none() {
            return Err(Error::GitHub {
                action: "reading the latest actions/runner release".into(),
                status,
                detail: format!("its tag `{}` is not a version", release.tag_name),
                fix: "Give `runner-version` as a version (e.g. 2.336.0)".into(),
            });
        }
        Ok(version)
    }
}

//! GitHub's self-hosted runner side: just-in-time runner configurations, runner groups, the
//! installation's rate limit and repositories (the API budget), and `actions/runner` releases.

use super::models::{
    JitConfig, JitRequest, RateLimit, RateLimitOverview, RawJit, Release, RepositoryList,
    RunnerGroups,
};
use super::{Answer, Auth, GitHub};
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
        let body = JitRequest {
            labels,
            name,
            runner_group_id,
            work_folder: "_work",
        };
        let action = format!("registering runner {name} on {}", target.describe());
        match self
            .call::<RawJit>(
                http::Method::POST,
                &path,
                Auth::Token(token),
                Some(&body),
                &action,
            )
            .await?
        {
            Answer::Ok { value: raw, .. } => Ok(JitConfig {
                runner_id: raw.runner.id,
                runner_name: raw.runner.name,
                encoded: self.secret(raw.encoded_jit_config),
            }),
            Answer::Refused(r) if r.status == 403 => Err(Error::GitHub {
                action,
                status: r.status,
                detail: "the installation token may not register runners there".into(),
                fix: format!(
                    "Grant the GitHub App the `{}` permission (write) in its settings, then accept the new permission on the installation",
                    target.permission()
                ),
            }),
            Answer::Refused(r) => Err(self.refused(&action, r.status, &r.body)),
        }
    }

    /// The id of the organization's runner group `name` (case-insensitive), all pages.
    pub async fn runner_group_id(&self, token: &Secret, org: &str, name: &str) -> Result<u64> {
        let mut names = Vec::new();
        let mut found = None;
        self.pages::<RunnerGroups>(
            &format!("/orgs/{org}/actions/runner-groups"),
            100,
            20,
            Auth::Token(token),
            "listing runner groups",
            |gh, status, body| gh.refused("listing runner groups", status, body),
            |group| {
                if group.name.eq_ignore_ascii_case(name) {
                    found = Some(group.id);
                    return false;
                }
                names.push(group.name);
                true
            },
        )
        .await?;
        if let Some(id) = found {
            return Ok(id);
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
        match self
            .get::<RateLimitOverview>("/rate_limit", Auth::Token(token), "reading the rate limit")
            .await?
        {
            Answer::Ok { value, .. } => Ok(value.resources.core),
            Answer::Refused(r) => Err(self.refused(
                "reading the rate limit (GET /rate_limit)",
                r.status,
                &r.body,
            )),
        }
    }

    /// How many repositories the installation can reach (`GET /installation/repositories`).
    pub async fn installation_repository_count(&self, token: &Secret) -> Result<u64> {
        let action = "listing the installation's repositories";
        match self
            .get::<RepositoryList>(
                "/installation/repositories?per_page=1",
                Auth::Token(token),
                action,
            )
            .await?
        {
            Answer::Ok { value, .. } => Ok(value.total_count),
            Answer::Refused(r) => Err(self.refused(action, r.status, &r.body)),
        }
    }

    /// The version of the latest `actions/runner` release (`2.336.0`, without the `v`).
    pub async fn latest_runner_version(&self, token: Option<&Secret>) -> Result<String> {
        let auth = token.map(Auth::Token).unwrap_or(Auth::Anonymous);
        let action = "reading the latest actions/runner release";
        let (status, release) = match self
            .get::<Release>("/repos/actions/runner/releases/latest", auth, action)
            .await?
        {
            Answer::Ok { status, value } => (status, value),
            Answer::Refused(r) => {
                let mut e = self.refused(action, r.status, &r.body);
                if let Error::GitHub { fix, .. } = &mut e {
                    *fix = "On GitHub Enterprise Server, which does not serve actions/runner, give `runner-version` as a version (e.g. 2.336.0)".into();
                }
                return Err(e);
            }
        };
        let version = release.tag_name.trim_start_matches('v').to_string();
        if crate::runner_version::RunnerVersion::parse(&version).is_none() {
            return Err(Error::GitHub {
                action: action.into(),
                status,
                detail: format!("its tag `{}` is not a version", release.tag_name),
                fix: "Give `runner-version` as a version (e.g. 2.336.0)".into(),
            });
        }
        Ok(version)
    }
}

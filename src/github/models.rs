//! GitHub's wire types: what the API answers (deserialised as far as the action reads it) and
//! what it is sent. The public types are what the client's callers see; the others stay in the
//! client.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::secret::Secret;

/// The GitHub App as GitHub describes it (`GET /app`).
#[derive(Debug, Clone, Deserialize)]
pub struct AppInfo {
    /// Numeric id.
    pub id: u64,
    /// URL name.
    #[serde(default)]
    pub slug: Option<String>,
    /// Display name.
    pub name: String,
    /// Client id (`Iv…`).
    #[serde(default)]
    pub client_id: Option<String>,
}

/// An installation of the App.
#[derive(Debug, Clone, Deserialize)]
pub struct Installation {
    /// Installation id.
    pub id: u64,
    /// The account it is installed on.
    #[serde(default)]
    pub account: Option<Account>,
    /// Permissions granted to the installation.
    #[serde(default)]
    pub permissions: BTreeMap<String, String>,
    /// `Organization` or `User`.
    #[serde(default)]
    pub target_type: Option<String>,
}

/// A user or organization.
#[derive(Debug, Clone, Deserialize)]
pub struct Account {
    /// Login.
    #[serde(default)]
    pub login: Option<String>,
}

/// An installation access token. Not `Clone`: a cache shares it through an `Arc`.
#[derive(Debug)]
pub struct InstallationToken {
    /// The token (masked at birth).
    pub token: Secret,
    /// Expiry, RFC 3339.
    pub expires_at: String,
    /// The permissions the token carries.
    pub permissions: BTreeMap<String, String>,
}

/// `POST /app/installations/{id}/access_tokens` answers this.
#[derive(Deserialize)]
pub(crate) struct RawToken {
    pub token: String,
    #[serde(default)]
    pub expires_at: String,
    #[serde(default)]
    pub permissions: BTreeMap<String, String>,
}

/// `POST /app/installations/{id}/access_tokens` takes this (no body asks for everything).
#[derive(Serialize)]
pub(crate) struct TokenRequest<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permissions: Option<&'a BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub repositories: &'a [String],
}

/// The message of an error answer.
#[derive(Deserialize)]
pub(crate) struct Message {
    #[serde(default)]
    pub message: String,
}

/// An Actions variable as GitHub lists it.
#[derive(Debug, Clone, Deserialize)]
pub struct Variable {
    /// Name (GitHub stores it upper-cased).
    pub name: String,
    /// Value.
    pub value: String,
    /// Organization variables: `all`, `private` or `selected`.
    #[serde(default)]
    pub visibility: Option<String>,
}

/// One page of variables.
#[derive(Deserialize)]
pub(crate) struct VariableList {
    #[serde(default)]
    pub total_count: u64,
    #[serde(default)]
    pub variables: Vec<Variable>,
}

/// A variable to create or update (fields in alphabetical order, as the body was always sent).
#[derive(Serialize)]
pub(crate) struct VariableBody<'a> {
    pub name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selected_repository_ids: Option<&'a [u64]>,
    pub value: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub visibility: Option<&'a str>,
}

/// `GET /repos/{owner}/{repo}`, as far as the action reads it.
#[derive(Deserialize)]
pub(crate) struct Repository {
    pub id: u64,
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

/// `POST …/actions/runners/generate-jitconfig` takes this.
#[derive(Serialize)]
pub(crate) struct JitRequest<'a> {
    pub labels: &'a [String],
    pub name: &'a str,
    pub runner_group_id: u64,
    pub work_folder: &'a str,
}

/// `POST …/actions/runners/generate-jitconfig` answers this.
#[derive(Deserialize)]
pub(crate) struct RawJit {
    pub runner: RawRunner,
    pub encoded_jit_config: String,
}

/// The runner of a [`RawJit`].
#[derive(Deserialize)]
pub(crate) struct RawRunner {
    pub id: u64,
    pub name: String,
}

/// One page of an organization's runner groups.
#[derive(Deserialize)]
pub(crate) struct RunnerGroups {
    #[serde(default)]
    pub runner_groups: Vec<RunnerGroup>,
}

/// A runner group.
#[derive(Deserialize)]
pub(crate) struct RunnerGroup {
    pub id: u64,
    pub name: String,
}

/// The installation's core rate limit.
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct RateLimit {
    /// Requests per hour.
    pub limit: u64,
    /// Left in this hour.
    pub remaining: u64,
}

/// `GET /rate_limit`.
#[derive(Deserialize)]
pub(crate) struct RateLimitOverview {
    pub resources: Resources,
}

/// The resources of a [`RateLimitOverview`].
#[derive(Deserialize)]
pub(crate) struct Resources {
    pub core: RateLimit,
}

/// `GET /installation/repositories`, as far as the action reads it.
#[derive(Deserialize)]
pub(crate) struct RepositoryList {
    pub total_count: u64,
}

/// A release of a repository.
#[derive(Deserialize)]
pub(crate) struct Release {
    pub tag_name: String,
}

/// A page of a paged list: its items and, where the list tells it, the total count.
pub(crate) trait Page: serde::de::DeserializeOwned {
    /// What the list holds.
    type Item;
    /// The total the list reports, when the action trusts it to stop paging.
    fn total_count(&self) -> Option<u64>;
    /// The page's items.
    fn into_items(self) -> Vec<Self::Item>;
}

impl Page for VariableList {
    type Item = Variable;
    fn total_count(&self) -> Option<u64> {
        Some(self.total_count)
    }
    fn into_items(self) -> Vec<Variable> {
        self.variables
    }
}

impl Page for RunnerGroups {
    type Item = RunnerGroup;
    fn total_count(&self) -> Option<u64> {
        None
    }
    fn into_items(self) -> Vec<RunnerGroup> {
        self.runner_groups
    }
}

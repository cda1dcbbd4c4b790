//! A local, stateful HTTPS fake of the cloud services `aca-runner-action` talks to:
//! GitHub REST, the GitHub Actions OIDC issuer, the Entra ID token endpoint (plus the IMDS
//! managed-identity endpoint), Key Vault secrets and Azure Resource Manager (template
//! deployments with What-If, and Container Apps Jobs).
//!
//! All services share one TLS listener and are told apart by path:
//! GitHub REST at `/` (e.g. `/app`), OIDC at `/_actions/idtoken`, Entra at
//! `/{tenant}/oauth2/v2.0/token`, IMDS at `/metadata/identity/oauth2/token`, Key Vault at
//! `/secrets/...` (the vault URL is the server URL itself), ARM at `/subscriptions/...` (the ARM
//! endpoint is the server URL too) and the admin API at `/_fake/...`.
//!
//! ACR Tasks (the ARM side of `az acr build`: `listBuildSourceUploadUrl`, `scheduleRun`,
//! `runs/{id}`, `runs/{id}/listLogSasUrl`) keep source archives and run logs in a real Azurite
//! blob server the fake starts as a child process when [`Options::azurite`] is set.
//!
//! ARM also answers a read-only preflight's questions: the caller's effective permissions on a
//! resource group or resource (`Microsoft.Authorization/permissions`, from its role assignments
//! and the built-in roles in [`roles`]), the subscription's Key Vaults, a resource group's jobs
//! and a job's executions.
//!
//! Every GitHub, Key Vault and ARM exchange is checked against the official API descriptions in
//! `api-specs/` (see [`contract`]); mismatches show up in [`FakeCloud::contract_violations`].
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod acr;
mod arm;
mod azurite;
pub mod contract;
mod entra;
mod github;
mod keyvault;
mod oidc;
pub mod proxy;
mod releases;
pub mod roles;
mod server;
mod service;
mod state;
mod tls;
mod util;

pub use service::Service;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

/// The production host names [`Options::public_hosts`] serves under.
pub const PUBLIC_HOSTS: [&str; 5] = [
    "api.github.com",
    "login.microsoftonline.com",
    "management.azure.com",
    "*.vault.azure.net",
    "token.actions.githubusercontent.com",
];

/// The BuildKit-only part of a Dockerfile instruction, which the classic builder refuses.
pub fn buildkit_only(instruction: &str) -> Option<String> {
    acr::buildkit_only(instruction)
}

/// Start-up options of a [`FakeCloud`].
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// TCP port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// Where to write the CA certificate (PEM), if anywhere.
    pub ca_file: Option<PathBuf>,
    /// Extra DNS names for the leaf certificate (e.g. `api.github.com`, `*.vault.azure.net`).
    pub extra_hostnames: Vec<String>,
    /// Serve under the production host names ([`PUBLIC_HOSTS`]), for clients that cannot be
    /// pointed at other endpoints (the `az` and `gh` CLIs) and reach the fake through a hosts
    /// file: the certificate names them, absolute URLs in responses use the host the request
    /// addressed, and Key Vault and ARM challenges name `https://login.microsoftonline.com`.
    pub public_hosts: bool,
    /// Identities, apps and tokens the fake knows about.
    pub seed: Seed,
    /// Latency added to every non-admin request.
    pub latency_ms: u64,
    /// Append every logged request as a JSON line to this file.
    pub log_file: Option<PathBuf>,
    /// Start an Azurite blob server for ACR Tasks (`None`: no Azurite; the ACR Tasks routes
    /// then answer 503 `AzuriteNotRunning`). [`FakeCloud::start`] fails when Azurite is asked
    /// for but not installed.
    pub azurite: Option<AzuriteOptions>,
    /// Serve release downloads from this folder (`DIR/{tag}/{asset}`): see `releases`.
    pub release_dir: Option<PathBuf>,
}

/// Where to find Azurite (`npm install --prefix DIR azurite@3.37.0`).
///
/// The fake runs `node DIR/node_modules/azurite/dist/src/blob/main.js` (`node` from `PATH`, or
/// the `FAKE_CLOUD_NODE` environment variable) on a free port of 127.0.0.1, over HTTPS with the
/// fake's own leaf certificate, in-memory, and kills it when the [`FakeCloud`] is dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AzuriteOptions {
    /// The `--prefix` directory of the npm install (holds `node_modules/azurite`).
    pub dir_of_node_modules: PathBuf,
}

impl Default for AzuriteOptions {
    /// `$FAKE_CLOUD_AZURITE_DIR` when set, else `fake-cloud/.azurite` of this source tree.
    fn default() -> Self {
        let dir = std::env::var_os("FAKE_CLOUD_AZURITE_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".azurite"));
        AzuriteOptions {
            dir_of_node_modules: dir,
        }
    }
}

impl AzuriteOptions {
    /// Whether Azurite is installed in [`AzuriteOptions::dir_of_node_modules`].
    pub fn is_installed(&self) -> bool {
        azurite::main_js(self).is_file()
    }
}

/// An ACR Tasks quick run the fake accepted (`scheduleRun`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AcrRunRecord {
    /// Run id, e.g. `cb1`.
    pub run_id: String,
    /// Registry name as given in the request path.
    pub registry: String,
    /// The `scheduleRun` body as sent.
    pub request_body: serde_json::Value,
    /// `Queued`, `Running`, `Succeeded` or `Failed` (at the time of the call).
    pub status: String,
}

/// Fixed identities and settings of the fake cloud.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Seed {
    /// Entra tenant id.
    pub tenant_id: String,
    /// Client (application) id of the Azure app registration / managed identity.
    pub azure_client_id: String,
    /// Object id of the service principal (appears in access tokens and 403 messages).
    pub azure_object_id: String,
    /// Azure subscription id.
    pub subscription_id: String,
    /// Bearer value the OIDC endpoint requires (`ACTIONS_ID_TOKEN_REQUEST_TOKEN`).
    pub oidc_request_token: String,
    /// `sub` claim of minted OIDC tokens; Entra requires this subject.
    pub oidc_subject: String,
    /// Audiences the OIDC issuer is happy to mint (informational; any audience is minted).
    pub accepted_audiences: Vec<String>,
    /// The only assertion audience Entra accepts.
    pub expected_audience: String,
    /// GitHub Apps known to the fake.
    pub github_apps: Vec<GithubApp>,
    /// Server-side page size cap of Key Vault list operations.
    pub kv_page_size: usize,
    /// Tokens behaving like a workflow `GITHUB_TOKEN` (read-only for variables).
    pub workflow_tokens: Vec<String>,
    /// Simulated run time of an ARM deployment, in milliseconds.
    pub arm_deployment_ms: u64,
    /// `Retry-After` (seconds) of ARM long-running operation responses.
    pub arm_retry_after_secs: u64,
    /// Time until an ARM What-If result is ready, in milliseconds.
    pub arm_whatif_ms: u64,
    /// Number of appends an ACR Tasks run writes its log in (the last one holds the outcome).
    pub acr_log_chunks: usize,
    /// Time between two appends of an ACR Tasks run log, in milliseconds.
    pub acr_log_interval_ms: u64,
    /// The core limit `GET /rate_limit` reports for an installation token.
    pub github_rate_limit: u64,
    /// The release `GET /repos/actions/runner/releases/latest` answers (`v` + version).
    pub runner_release: String,
    /// Runner groups of every organization (`Default`, id 1, is always there).
    pub runner_groups: Vec<RunnerGroup>,
    /// Soft-deleted Key Vaults of the subscription.
    pub deleted_vaults: Vec<DeletedVault>,
    /// How long Key Vault keeps answering 403 ForbiddenByRbac after a deployment assigned a
    /// role (Azure RBAC takes minutes to apply), in milliseconds.
    pub kv_rbac_settle_ms: u64,
    /// Name of the vault the Key Vault data plane is, as ARM lists it
    /// (`Microsoft.KeyVault/vaults`) until a deployment creates one.
    pub vault_name: String,
    /// Resource group of that vault.
    pub vault_resource_group: String,
    /// Location of that vault.
    pub vault_location: String,
}

/// A soft-deleted Key Vault.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct DeletedVault {
    /// Vault name.
    pub name: String,
    /// Its location.
    pub location: String,
    /// The resource group it was in.
    pub resource_group: String,
    /// Whether purge protection is on (it cannot be purged before its date).
    pub purge_protection: bool,
}

/// A self-hosted runner group of an organization.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct RunnerGroup {
    /// Group id.
    pub id: u64,
    /// Group name.
    pub name: String,
}

/// A just-in-time runner the fake registered (`generate-jitconfig`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct JitRunner {
    /// Runner id.
    pub id: u64,
    /// Runner name.
    pub name: String,
    /// `org:NAME` or `repo:OWNER/NAME`, where it is registered.
    pub scope: String,
    /// Runner group id.
    pub runner_group_id: u64,
    /// Labels as registered.
    pub labels: Vec<String>,
    /// Work folder.
    pub work_folder: String,
    /// The encoded configuration handed out (a secret of the runner).
    pub encoded_jit_config: String,
}

impl Default for Seed {
    fn default() -> Self {
        Seed {
            tenant_id: "11111111-1111-1111-1111-111111111111".into(),
            azure_client_id: "22222222-2222-2222-2222-222222222222".into(),
            azure_object_id: "33333333-3333-3333-3333-333333333333".into(),
            subscription_id: "44444444-4444-4444-4444-444444444444".into(),
            oidc_request_token: "fake-actions-request-token".into(),
            oidc_subject: "repo:octo-org/runners:ref:refs/heads/main".into(),
            accepted_audiences: vec![
                "api://AzureADTokenExchange".into(),
                "api://AzureADTokenExchangeUSGov".into(),
                "api://AzureADTokenExchangeChina".into(),
            ],
            expected_audience: "api://AzureADTokenExchange".into(),
            github_apps: Vec::new(),
            kv_page_size: 25,
            workflow_tokens: Vec::new(),
            arm_deployment_ms: 1500,
            arm_retry_after_secs: 1,
            arm_whatif_ms: 500,
            acr_log_chunks: 4,
            acr_log_interval_ms: 700,
            github_rate_limit: 5000,
            runner_release: "v2.330.0".into(),
            runner_groups: Vec::new(),
            deleted_vaults: Vec::new(),
            kv_rbac_settle_ms: 0,
            vault_name: "kv-runners".into(),
            vault_resource_group: "rg-runners".into(),
            vault_location: "westus".into(),
        }
    }
}

/// A GitHub App registered with the fake.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct GithubApp {
    /// Numeric app id (JWT `iss`).
    pub id: u64,
    /// Client id (also accepted as JWT `iss`).
    pub client_id: String,
    /// URL slug.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// Public keys currently valid for the app (PKCS#1 `RSA PUBLIC KEY` or SPKI `PUBLIC KEY` PEM).
    pub public_key_pems: Vec<String>,
    /// Installations of the app.
    pub installations: Vec<Installation>,
}

/// An installation of a [`GithubApp`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Installation {
    /// Installation id.
    pub id: u64,
    /// Account login the app is installed on.
    pub account: String,
    /// `"Organization"` or `"User"`.
    pub account_type: String,
    /// `"all"` or `"selected"`.
    pub repository_selection: String,
    /// Repositories (`owner/name`) when `repository_selection` is `"selected"`.
    pub repositories: Vec<String>,
    /// Granted permissions, e.g. `{"actions_variables": "write"}`.
    pub permissions: BTreeMap<String, String>,
}

impl Default for Installation {
    fn default() -> Self {
        Installation {
            id: 0,
            account: String::new(),
            account_type: "Organization".into(),
            repository_selection: "all".into(),
            repositories: Vec::new(),
            permissions: BTreeMap::new(),
        }
    }
}

/// An injected fault.
///
/// JSON shape (as accepted by `POST /_fake/faults`):
/// ```json
/// {"method": "PUT", "path_contains": "/secrets/", "times": 2,
///  "action": {"status": {"status": 429, "retry_after": 1, "body": null}}}
/// {"path_contains": "/access_tokens", "times": 1, "action": "drop"}
/// {"path_contains": "/app", "times": 1, "action": {"latency": {"ms": 500}}}
/// ```
/// `method` is optional (any method; compared case-insensitively); `path_contains` is matched
/// against the path without the query string.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Fault {
    /// HTTP method to match (any if absent).
    #[serde(default)]
    pub method: Option<String>,
    /// Substring of the request path to match.
    pub path_contains: String,
    /// How many more times the fault fires.
    pub times: u32,
    /// What happens.
    pub action: FaultAction,
}

/// What an injected [`Fault`] does.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum FaultAction {
    /// Answer with this status (and optional `Retry-After` seconds and JSON body) instead of
    /// the real handler. Without a body, a service-typical error body is sent.
    Status {
        /// HTTP status.
        status: u16,
        /// `Retry-After` header value in seconds.
        #[serde(default)]
        retry_after: Option<u64>,
        /// Response body.
        #[serde(default)]
        body: Option<serde_json::Value>,
    },
    /// Read the request, then close the connection without any response.
    Drop,
    /// Handle the request (its write is applied), then close the connection without the
    /// response: the state changed, the client never heard.
    DropAfterApplied,
    /// Delay the request by this much, then handle it normally.
    Latency {
        /// Delay in milliseconds.
        ms: u64,
    },
}

/// One request the fake served (admin requests excluded).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LoggedRequest {
    /// Sequence number, from 1.
    pub seq: u64,
    /// Milliseconds since server start when the request arrived.
    pub at_ms: f64,
    /// Milliseconds since server start when the response was ready.
    pub done_ms: f64,
    /// HTTP method.
    pub method: String,
    /// Path (without query).
    pub path: String,
    /// Raw query string (without `?`).
    pub query: String,
    /// The service that served it (`unknown` when no route matched).
    pub service: Service,
    /// Response status; 0 for a dropped connection.
    pub status: u16,
    /// Authorization scheme and kind, e.g. `Bearer(jwt)`, `token(installation)`, `none`.
    pub auth: String,
    /// Request body (lossy UTF-8).
    pub request_body: String,
    /// Response body (lossy UTF-8).
    pub response_body: String,
}

/// The Key Vault data-plane role of the caller.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
pub enum KvRole {
    /// Read and write secrets (Key Vault Secrets Officer).
    #[default]
    SecretsOfficer,
    /// Read secrets only (Key Vault Secrets User).
    SecretsUser,
    /// No data-plane access.
    None,
}

/// A stored secret version.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SecretVersion {
    /// 32 hex digit version id.
    pub version: String,
    /// Secret value.
    pub value: String,
    /// Content type.
    pub content_type: Option<String>,
    /// Tags.
    pub tags: BTreeMap<String, String>,
    /// Whether the version is enabled.
    pub enabled: bool,
    /// Creation time, unix seconds.
    pub created: i64,
    /// Last update time, unix seconds.
    pub updated: i64,
    /// Expiry, unix seconds.
    pub exp: Option<i64>,
    /// Not-before, unix seconds.
    pub nbf: Option<i64>,
}

/// A secret version to seed directly with [`FakeCloud::put_secret_version`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct NewSecretVersion {
    /// Secret value.
    pub value: String,
    /// Content type.
    pub content_type: Option<String>,
    /// Tags.
    pub tags: BTreeMap<String, String>,
    /// Whether the version is enabled (default true).
    pub enabled: bool,
    /// Creation time (unix seconds); now if absent.
    pub created: Option<i64>,
}

impl Default for NewSecretVersion {
    fn default() -> Self {
        NewSecretVersion {
            value: String::new(),
            content_type: None,
            tags: BTreeMap::new(),
            enabled: true,
            created: None,
        }
    }
}

/// A GitHub installation access token the fake issued.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IssuedToken {
    /// The token (`ghs_...`).
    pub token: String,
    /// App that requested it.
    pub app_id: u64,
    /// Installation it belongs to.
    pub installation_id: u64,
    /// Granted permissions.
    pub permissions: BTreeMap<String, String>,
    /// Repositories (`owner/name`) the token is limited to; empty = all of the installation's.
    pub repositories: Vec<String>,
    /// Expiry, ISO 8601.
    pub expires_at: String,
    /// Whether `DELETE /installation/token` revoked it.
    pub revoked: bool,
}

/// The Azure RBAC role of the caller on the ARM control plane (deployments and jobs).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
pub enum ArmRole {
    /// Read and write everything.
    #[default]
    Contributor,
    /// Read only: PUTs and What-If (`deployments/whatIf/action`) get 403 `AuthorizationFailed`.
    Reader,
    /// No access at all.
    None,
}

/// The state of a Container Apps job execution (`properties.status`), as the 2025-07-01 Jobs
/// description enumerates it.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
pub enum ExecutionStatus {
    /// Started, not finished.
    Running,
    /// Being scheduled.
    Processing,
    /// Every replica completed.
    #[default]
    Succeeded,
    /// A replica failed (past its retries).
    Failed,
    /// Some replicas failed.
    Degraded,
    /// Stopped by a user.
    Stopped,
    /// The service does not know.
    Unknown,
}

impl ExecutionStatus {
    /// The name ARM uses (`Running`, `Failed`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            ExecutionStatus::Running => "Running",
            ExecutionStatus::Processing => "Processing",
            ExecutionStatus::Succeeded => "Succeeded",
            ExecutionStatus::Failed => "Failed",
            ExecutionStatus::Degraded => "Degraded",
            ExecutionStatus::Stopped => "Stopped",
            ExecutionStatus::Unknown => "Unknown",
        }
    }
}

/// How an execution's container ended, the reason of a failed one. The stable 2025-07-01 Jobs
/// description has no such field; `2025-10-02-preview` describes it as
/// `properties.detailedStatus.replicas[].containers[]` (`name`, `code`,
/// `additionalInformation`), so the fake serves it only to requests with an `api-version` of
/// `2025-10-02` or later.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(default)]
pub struct ContainerExit {
    /// Exit code (`code`).
    pub code: i32,
    /// `additionalInformation`, e.g. `Error: the runner could not register`.
    pub additional_information: String,
}

/// A Container Apps job execution to add with [`FakeCloud::add_job_execution`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(default)]
pub struct JobExecution {
    /// Execution name; `{job}-{7 hex digits}` when empty.
    pub name: String,
    /// Its state.
    pub status: ExecutionStatus,
    /// Start time, unix seconds; now when `None`.
    pub start: Option<i64>,
    /// End time, unix seconds; `None` for one that has not ended (no `endTime`).
    pub end: Option<i64>,
    /// How its container ended (see [`ContainerExit`]).
    pub exit: Option<ContainerExit>,
}

impl JobExecution {
    /// An execution in `status` that started now.
    pub fn new(status: ExecutionStatus) -> JobExecution {
        JobExecution {
            status,
            ..JobExecution::default()
        }
    }
}

/// A deployment failure to inject with [`FakeCloud::fail_deployment`].
///
/// The next deployment whose name contains `name_contains` fails at the first resource whose
/// evaluated name contains `resource_name_contains` (the last resource when empty or when no
/// name matches): that operation ends `Failed` with `{code, message}`, and the deployment ends
/// `Failed` with a `DeploymentFailed` error whose `details` hold `{code, message}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct FailDeployment {
    /// Substring of the deployment name.
    pub name_contains: String,
    /// Substring of the failing resource's name (empty: the last resource).
    pub resource_name_contains: String,
    /// Error code of the failed operation.
    pub code: String,
    /// Error message of the failed operation.
    pub message: String,
}

/// An ARM deployment the fake accepted (one per successful PUT).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DeploymentRecord {
    /// `/subscriptions/{sub}` or `/subscriptions/{sub}/resourceGroups/{rg}`.
    pub scope_path: String,
    /// Deployment name.
    pub name: String,
    /// The PUT body as sent.
    pub request_body: serde_json::Value,
    /// `Running`, `Succeeded` or `Failed` (at the time of the call).
    pub state: String,
}

/// An ARM What-If request the fake accepted (nothing is deployed by it).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WhatIfRecord {
    /// `/subscriptions/{sub}` or `/subscriptions/{sub}/resourceGroups/{rg}`.
    pub scope_path: String,
    /// Deployment name the What-If was posted for.
    pub name: String,
    /// The POST body as sent.
    pub request_body: serde_json::Value,
}

/// A running fake cloud. Dropping it shuts the server down.
pub struct FakeCloud {
    shared: Arc<Mutex<state::State>>,
    url: String,
    ca_pem: String,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    runtime: tokio::runtime::Handle,
    azurite: Option<azurite::AzuriteProcess>,
}

impl std::fmt::Debug for FakeCloud {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeCloud")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl FakeCloud {
    /// Starts the server on a background thread (with its own tokio runtime) and returns once
    /// it is listening.
    pub fn start(opts: Options) -> std::io::Result<FakeCloud> {
        let listener = std::net::TcpListener::bind(("127.0.0.1", opts.port))?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        let url = format!("https://127.0.0.1:{port}");
        let mut hostnames = opts.extra_hostnames.clone();
        if opts.public_hosts {
            hostnames.extend(PUBLIC_HOSTS.iter().map(|h| h.to_string()));
        }
        let tls = tls::generate(&hostnames).map_err(std::io::Error::other)?;
        if let Some(path) = &opts.ca_file {
            std::fs::write(path, &tls.ca_pem)?;
        }
        let log_file = match &opts.log_file {
            Some(p) => Some(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)?,
            ),
            None => None,
        };
        let mut state = state::State::new(opts.seed, url.clone(), opts.latency_ms, log_file);
        state.public_hosts = opts.public_hosts;
        state.release_dir = opts.release_dir.clone();
        let shared = Arc::new(Mutex::new(state));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("fake-cloud")
            .enable_all()
            .build()?;
        let azurite = match &opts.azurite {
            Some(a) => {
                let (process, blobs) = azurite::start(
                    a,
                    &tls.leaf_chain_pem,
                    &tls.leaf_key_pem,
                    &tls.ca_pem,
                    &runtime,
                )?;
                state::lock(&shared).acr.blobs = Some(blobs);
                Some(process)
            }
            None => None,
        };
        let handle = runtime.handle().clone();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let server_shared = shared.clone();
        let acceptor = tls.acceptor;
        let thread = std::thread::Builder::new()
            .name("fake-cloud-main".into())
            .spawn(move || {
                runtime.block_on(server::serve(listener, acceptor, server_shared, rx));
                runtime.shutdown_timeout(std::time::Duration::from_millis(200));
            })?;
        Ok(FakeCloud {
            shared,
            url,
            ca_pem: tls.ca_pem,
            shutdown: Some(tx),
            thread: Some(thread),
            runtime: handle,
            azurite,
        })
    }

    fn state(&self) -> MutexGuard<'_, state::State> {
        state::lock(&self.shared)
    }

    /// Base URL, e.g. `https://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// The CA certificate (PEM) that signed the server certificate.
    pub fn ca_pem(&self) -> String {
        self.ca_pem.clone()
    }

    /// The seed the fake runs with (including apps added later).
    pub fn seed(&self) -> Seed {
        self.state().seed.clone()
    }

    /// Every non-admin request so far, in arrival order.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.state().requests.clone()
    }

    /// Every request/response that did not match the API descriptions.
    pub fn contract_violations(&self) -> Vec<String> {
        self.state().violations.clone()
    }

    /// Adds a fault (faults fire in the order they were added).
    pub fn add_fault(&self, f: Fault) {
        self.state().faults.push(f);
    }

    /// Sets the latest `actions/runner` release (`v2.331.0`).
    pub fn set_runner_release(&self, tag: &str) {
        self.state().seed.runner_release = tag.to_string();
    }

    /// Assigns `role` (a role definition GUID) to `principal` on `scope`, `age_secs` ago; Key
    /// Vault refuses for `kv_rbac_settle_ms` from now, as after a deployment's assignment.
    pub fn assign_role(&self, scope: &str, principal: &str, role: &str, age_secs: i64) {
        arm::assign_role(&mut self.state(), scope, principal, role, age_secs);
    }

    /// Removes the role assignments of `role` (a role definition GUID, see [`roles`]) to
    /// `principal` made on exactly `scope` (by [`FakeCloud::assign_role`] or a deployment);
    /// whether there was one. Only ARM's view changes (role assignment lists,
    /// `Microsoft.Authorization/permissions`): the Key Vault data plane follows
    /// [`FakeCloud::set_kv_role`], the ARM control plane [`FakeCloud::set_arm_role`].
    pub fn remove_role_assignment(&self, scope: &str, principal: &str, role: &str) -> bool {
        arm::remove_role(&mut self.state(), scope, principal, role)
    }

    /// Sets `enableRbacAuthorization` of vault `name` as ARM lists it (`false`: the vault uses
    /// access policies), the seeded vault ([`Seed::vault_name`]) or a deployed one. Only ARM's
    /// view changes: the data plane keeps following [`FakeCloud::set_kv_role`].
    pub fn set_vault_rbac(&self, name: &str, enabled: bool) {
        self.state()
            .arm
            .vault_rbac
            .insert(name.to_ascii_lowercase(), enabled);
    }

    /// Adds an execution to job `resource_group/job` (listed by
    /// `GET …/jobs/{job}/executions` while the job exists); returns the execution's name.
    pub fn add_job_execution(
        &self,
        resource_group: &str,
        job: &str,
        execution: JobExecution,
    ) -> String {
        arm::add_execution(&mut self.state(), resource_group, job, execution)
    }

    /// Stores a container app (`Microsoft.App/containerApps`) in `resource_group`.
    pub fn put_app(&self, resource_group: &str, name: &str, app: serde_json::Value) {
        let mut st = self.state();
        let sub = st.seed.subscription_id.clone();
        arm::store_app(&mut st, &sub, resource_group, name, app);
    }

    /// A container app as stored, if any.
    pub fn app(&self, resource_group: &str, name: &str) -> Option<serde_json::Value> {
        arm::stored_app(&self.state(), resource_group, name)
    }

    /// Makes `registry` hold `repository:tag` (as if a build had pushed it).
    pub fn push_image(&self, registry: &str, repository: &str, tag: &str) -> String {
        let digest = format!("sha256:{}", "ab".repeat(32));
        self.state()
            .acr
            .tags
            .entry(registry.to_ascii_lowercase())
            .or_default()
            .insert(format!("{repository}:{tag}"), digest.clone());
        digest
    }

    /// The just-in-time runners registered so far, oldest first.
    pub fn jit_runners(&self) -> Vec<JitRunner> {
        self.state().runners.clone()
    }

    /// Drops the faults that have not fired yet.
    pub fn clear_faults(&self) {
        self.state().faults.clear();
    }

    /// Sets the latency added to every non-admin request.
    pub fn set_latency_ms(&self, ms: u64) {
        self.state().latency_ms = ms;
    }

    /// Serves release downloads from `dir` (`DIR/{tag}/{asset}`), as github.com does: the
    /// download URL answers a redirect to the asset's object URL.
    pub fn set_release_dir(&self, dir: impl Into<PathBuf>) {
        self.state().release_dir = Some(dir.into());
    }

    /// Sets the Key Vault role of the caller.
    pub fn set_kv_role(&self, role: KvRole) {
        self.state().kv_role = role;
    }

    /// All versions of a secret, oldest first.
    pub fn secret_versions(&self, name: &str) -> Vec<SecretVersion> {
        self.state().secret_versions(name)
    }

    /// Seeds a secret version directly.
    pub fn put_secret_version(&self, name: &str, v: NewSecretVersion) -> SecretVersion {
        self.state().put_secret_version(name, v)
    }

    /// Installation tokens issued so far.
    pub fn installation_tokens(&self) -> Vec<IssuedToken> {
        self.state().tokens.clone()
    }

    /// Every token or JWT the fake ever issued.
    pub fn issued_secrets(&self) -> Vec<String> {
        self.state().issued.clone()
    }

    /// Registers another GitHub App.
    pub fn add_app(&self, app: GithubApp) {
        self.state().add_app(app);
    }

    /// Actions variables of a scope (`repo:owner/name`, `org:org` or `env:owner/name:env`),
    /// name → value.
    pub fn variables(&self, scope: &str) -> BTreeMap<String, String> {
        self.state().variable_values(scope)
    }

    /// Creates or replaces a variable directly (a writer other than the client under test), in a
    /// scope named as for [`FakeCloud::variables`]; organization variables get `private`
    /// visibility.
    pub fn put_variable(&self, scope: &str, name: &str, value: &str) {
        let mut st = self.state();
        let now = util::iso(util::now_unix());
        let upper = name.to_ascii_uppercase();
        st.variables
            .entry(scope.to_ascii_lowercase())
            .or_default()
            .insert(
                upper.clone(),
                state::Variable {
                    name: upper,
                    value: value.to_string(),
                    created_at: now.clone(),
                    updated_at: now,
                    visibility: scope.starts_with("org:").then(|| "private".to_string()),
                    selected_repository_ids: Vec::new(),
                },
            );
    }

    /// The numeric id the fake assigns to a repository (`owner/name`).
    pub fn repo_id(&self, full_name: &str) -> u64 {
        self.state().repo_id(full_name)
    }

    /// Sets the ARM role of the caller.
    pub fn set_arm_role(&self, role: ArmRole) {
        self.state().arm_role = role;
    }

    /// Makes the next matching deployment fail (see [`FailDeployment`]).
    pub fn fail_deployment(&self, f: FailDeployment) {
        self.state().arm.failures.push(f);
    }

    /// Every deployment accepted so far, in creation order (a re-PUT adds a record).
    pub fn deployments(&self) -> Vec<DeploymentRecord> {
        let mut st = self.state();
        arm::settle(&mut st);
        st.arm
            .deployments
            .iter()
            .map(state::Deployment::record)
            .collect()
    }

    /// Every What-If accepted so far, in arrival order.
    pub fn what_ifs(&self) -> Vec<WhatIfRecord> {
        self.state()
            .arm
            .what_ifs
            .iter()
            .map(state::WhatIf::record)
            .collect()
    }

    /// The ARM resource registry: resource id → resource (`id`, `name`, `type`, `properties`,
    /// and `location`/`tags`/`identity`/`sku`/`kind` when given). Filled by finished
    /// deployments (every resource whose operation succeeded) and by job PUTs. Secret values
    /// of jobs are kept here.
    pub fn resources(&self) -> BTreeMap<String, serde_json::Value> {
        let mut st = self.state();
        arm::settle(&mut st);
        st.arm.registry.clone()
    }

    /// Seeds (or replaces) a resource of the registry as a finished deployment would leave it:
    /// `resource` is stored under `id` with `id` and `name` filled in from it (a stack that
    /// another pipeline built, for What-If and adoption tests).
    pub fn put_resource(&self, id: &str, mut resource: serde_json::Value) {
        if let Some(o) = resource.as_object_mut() {
            o.insert("id".into(), id.into());
            let name = id.rsplit('/').next().unwrap_or_default();
            o.entry("name").or_insert_with(|| name.into());
        }
        self.state().arm.registry.insert(id.to_string(), resource);
    }

    /// Seeds (or replaces) a Container Apps Job; `id`, `name` and `type` are filled in and
    /// `location` defaults to `westus`.
    pub fn put_job(&self, resource_group: &str, name: &str, job: serde_json::Value) {
        let mut st = self.state();
        arm::store_job(&mut st, resource_group, name, job);
    }

    /// A Container Apps Job as stored (secret values included, unlike the HTTP GET).
    pub fn job(&self, resource_group: &str, name: &str) -> Option<serde_json::Value> {
        let mut st = self.state();
        arm::settle(&mut st);
        arm::stored_job(&st, resource_group, name)
    }
}

impl FakeCloud {
    /// The Azurite blob endpoint, `https://127.0.0.1:PORT/devstoreaccount1` (same CA as the
    /// fake), when Azurite runs.
    pub fn azurite_url(&self) -> Option<String> {
        self.state()
            .acr
            .blobs
            .as_ref()
            .map(azurite::Blobs::endpoint)
    }

    /// The bytes uploaded for an ACR Tasks source (`relativePath` of
    /// `listBuildSourceUploadUrl`, e.g. `source/20250101/<uuid>.tar.gz`); `None` when nothing
    /// was uploaded there or Azurite is not running.
    pub fn uploaded_source(&self, relative_path: &str) -> Option<Vec<u8>> {
        let blobs = self.state().acr.blobs.clone()?;
        let (container, blob) = relative_path.split_once('/')?;
        let (container, blob) = (container.to_string(), blob.to_string());
        let (tx, rx) = std::sync::mpsc::channel();
        self.runtime.spawn(async move {
            let _ = tx.send(blobs.get_blob(&container, &blob).await);
        });
        rx.recv_timeout(std::time::Duration::from_secs(30))
            .ok()?
            .ok()
            .flatten()
    }

    /// Every ACR Tasks run accepted so far, in creation order.
    pub fn acr_runs(&self) -> Vec<AcrRunRecord> {
        self.state()
            .acr
            .runs
            .iter()
            .map(state::AcrRun::record)
            .collect()
    }
}

impl Drop for FakeCloud {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        drop(self.azurite.take());
    }
}

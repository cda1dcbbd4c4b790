//! Shared mutable state of the fake cloud: everything it remembers, of every service. The
//! services' handlers read and change it; it depends on none of them.

use crate::azurite::Blobs;
use crate::util::{now_unix, random_hex};
use crate::{
    ArmRole, FailDeployment, Fault, GithubApp, IssuedToken, JobExecution, KvRole, LoggedRequest,
    NewSecretVersion, SecretVersion, Seed,
};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;
use time::OffsetDateTime;

/// An Entra (or IMDS) access token the fake issued.
#[derive(Debug, Clone)]
pub(crate) struct EntraToken {
    pub token: String,
    pub aud: String,
    pub exp: i64,
    pub client_id: String,
}

/// An Actions variable.
#[derive(Debug, Clone)]
pub(crate) struct Variable {
    pub name: String,
    pub value: String,
    pub created_at: String,
    pub updated_at: String,
    /// Only for organization variables.
    pub visibility: Option<String>,
    pub selected_repository_ids: Vec<u64>,
}

/// A secret and its versions (oldest first).
#[derive(Debug, Clone, Default)]
pub(crate) struct Secret {
    pub name: String,
    pub versions: Vec<SecretVersion>,
}

/// ARM: deployments, What-Ifs, the resource registry and injected failures.
#[derive(Default)]
pub(crate) struct ArmState {
    pub deployments: Vec<Deployment>,
    pub what_ifs: Vec<WhatIf>,
    /// Resource id → resource JSON.
    pub registry: BTreeMap<String, Value>,
    pub failures: Vec<FailDeployment>,
    /// Container Apps job async operation id → job resource id.
    pub job_ops: BTreeMap<String, String>,
    /// When a deployment last assigned a role (Key Vault refuses until it settles).
    pub rbac_changed: Option<Instant>,
    /// Executions of each job (lower-cased job id → executions, in the order added; names and
    /// start times filled in).
    pub executions: BTreeMap<String, Vec<JobExecution>>,
    /// `enableRbacAuthorization` set by a test for a vault (lower-cased name → flag); it wins
    /// over the vault's own.
    pub vault_rbac: BTreeMap<String, bool>,
}

impl ArmState {
    /// A resource of the registry (ids compare case-insensitively, as ARM's do).
    pub fn resource(&self, id: &str) -> Option<&Value> {
        self.registry.get(id).or_else(|| {
            self.registry
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(id))
                .map(|(_, v)| v)
        })
    }

    /// The resources of type `rtype` (compared case-insensitively), in id order.
    pub fn of_type<'a>(&'a self, rtype: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        self.registry.values().filter(move |r| {
            r.get("type")
                .and_then(Value::as_str)
                .is_some_and(|t| t.eq_ignore_ascii_case(rtype))
        })
    }

    /// Stores a resource, replacing the one whose id differs only in case.
    pub fn put_resource(&mut self, id: &str, v: Value) {
        self.registry.retain(|k, _| !k.eq_ignore_ascii_case(id));
        self.registry.insert(id.to_string(), v);
    }
}

/// One resource a deployment creates.
pub(crate) struct Planned {
    pub rtype: String,
    pub name: String,
    pub id: String,
    /// The resource as recorded in the registry.
    pub body: Value,
    pub existed: bool,
    pub op_id: String,
    pub tracking_id: String,
    pub service_request_id: String,
}

/// A deployment (one per accepted PUT), simulated from its creation instant.
pub(crate) struct Deployment {
    pub sub: String,
    pub rg: Option<String>,
    pub name: String,
    pub location: Option<String>,
    pub tags: Option<Value>,
    pub request_body: Value,
    pub started: Instant,
    pub started_at: OffsetDateTime,
    pub duration_ms: u64,
    pub async_op: String,
    pub correlation_id: String,
    pub template_hash: String,
    pub mode: String,
    pub params_echo: Value,
    pub outputs: Map<String, Value>,
    pub resources: Vec<Planned>,
    /// Failing resource index (if any resource), code, message.
    pub failure: Option<(Option<usize>, String, String)>,
    /// Whether its resources are in the registry (see `arm::settle`).
    pub applied: bool,
}

/// A What-If request.
pub(crate) struct WhatIf {
    pub id: String,
    pub sub: String,
    pub rg: Option<String>,
    pub name: String,
    pub location: String,
    pub request_body: Value,
    pub started: Instant,
    pub changes: Vec<Value>,
}

/// ACR: the blob client (when Azurite runs), the runs and the registries' contents.
#[derive(Default)]
pub(crate) struct AcrState {
    pub blobs: Option<Blobs>,
    pub runs: Vec<AcrRun>,
    next_run: u64,
    /// Tags each registry holds (lower-cased registry → `repository:tag` → digest).
    pub tags: BTreeMap<String, BTreeMap<String, String>>,
    /// Refresh and access tokens the registries' token service issued.
    pub data_tokens: Vec<String>,
}

impl AcrState {
    /// A new run id (`cb1`, `cb2`, …).
    pub fn next_run_id(&mut self) -> String {
        self.next_run += 1;
        format!("cb{}", self.next_run)
    }
}

/// One ACR Tasks quick run.
#[derive(Debug, Clone)]
pub(crate) struct AcrRun {
    pub run_id: String,
    pub registry: String,
    /// `/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{registry}`.
    pub base: String,
    pub request_body: Value,
    pub status: String,
    pub create_time: String,
    pub start_time: Option<String>,
    pub finish_time: Option<String>,
    pub output_images: Vec<Value>,
    pub error: Option<String>,
}

/// Everything the fake remembers.
pub(crate) struct State {
    pub seed: Seed,
    /// Base URL for absolute URLs in responses: the listener's URL, or with `public_hosts`
    /// `https://{host}` of the request being handled (set per request by the server).
    pub url: String,
    /// The listener's own URL.
    pub listener_url: String,
    /// Serving under the production host names (see `Options::public_hosts`).
    pub public_hosts: bool,
    pub started: Instant,
    /// HMAC secret for the JWTs the fake mints (OIDC and Entra).
    pub hs_secret: Vec<u8>,
    pub requests: Vec<LoggedRequest>,
    pub violations: Vec<String>,
    pub faults: Vec<Fault>,
    pub latency_ms: u64,
    pub kv_role: KvRole,
    pub arm_role: ArmRole,
    /// Deployments, What-Ifs, the resource registry and injected failures.
    pub arm: ArmState,
    /// ACR Tasks runs and the Azurite blob client.
    pub acr: AcrState,
    /// Key: lower-cased secret name.
    pub secrets: BTreeMap<String, Secret>,
    pub tokens: Vec<IssuedToken>,
    pub entra_tokens: Vec<EntraToken>,
    pub issued: Vec<String>,
    /// Key: scope (`repo:owner/name`, `org:org`, `env:owner/name:env`, lower-cased);
    /// inner key: upper-cased variable name.
    pub variables: BTreeMap<String, BTreeMap<String, Variable>>,
    /// Just-in-time runners registered, oldest first.
    pub runners: Vec<crate::JitRunner>,
    /// Release assets served as github.com serves downloads (`DIR/{tag}/{asset}`).
    pub release_dir: Option<std::path::PathBuf>,
    repo_ids: BTreeMap<String, u64>,
    next_repo_id: u64,
    log_file: Option<std::fs::File>,
    seq: u64,
}

/// Locks the state, ignoring poisoning (a panicking handler must not take the fake down).
pub(crate) fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl State {
    /// Entra authority host that Key Vault and ARM challenges name.
    pub fn authority(&self) -> &str {
        if self.public_hosts {
            "https://login.microsoftonline.com"
        } else {
            &self.listener_url
        }
    }

    /// The login server the fake reports for `registry`: the production name under
    /// `public_hosts`, else a path of the listener (`127.0.0.1:PORT/registry/NAME`) that clients
    /// use as they would a host name.
    pub fn login_server(&self, registry: &str) -> String {
        let registry = registry.to_ascii_lowercase();
        if self.public_hosts {
            format!("{registry}.azurecr.io")
        } else {
            let host = self.listener_url.trim_start_matches("https://");
            format!("{host}/registry/{registry}")
        }
    }

    /// Points [`State::url`] at the host a request addressed (with `public_hosts` only).
    pub fn address(&mut self, host: Option<&str>) {
        self.url = match host {
            Some(h) if self.public_hosts => format!("https://{}", h.trim_end_matches(":443")),
            _ => self.listener_url.clone(),
        };
    }

    pub fn new(seed: Seed, url: String, latency_ms: u64, log_file: Option<std::fs::File>) -> State {
        let mut s = State {
            seed: Seed::default(),
            listener_url: url.clone(),
            url,
            public_hosts: false,
            started: Instant::now(),
            hs_secret: random_hex(64).into_bytes(),
            requests: Vec::new(),
            violations: Vec::new(),
            faults: Vec::new(),
            latency_ms,
            kv_role: KvRole::default(),
            arm_role: ArmRole::default(),
            arm: ArmState::default(),
            acr: AcrState::default(),
            secrets: BTreeMap::new(),
            tokens: Vec::new(),
            entra_tokens: Vec::new(),
            issued: Vec::new(),
            variables: BTreeMap::new(),
            runners: Vec::new(),
            release_dir: None,
            repo_ids: BTreeMap::new(),
            next_repo_id: 100_000_001,
            log_file,
            seq: 0,
        };
        let apps = seed.github_apps.clone();
        s.seed = Seed {
            github_apps: Vec::new(),
            ..seed
        };
        for app in apps {
            s.add_app(app);
        }
        s
    }

    /// Milliseconds since start.
    pub fn elapsed_ms(&self) -> f64 {
        self.started.elapsed().as_secs_f64() * 1000.0
    }

    /// Appends to the request log (and the log file).
    pub fn log(&mut self, mut r: LoggedRequest) {
        self.seq += 1;
        r.seq = self.seq;
        if let Some(f) = self.log_file.as_mut()
            && let Ok(line) = serde_json::to_string(&r)
        {
            let _ = writeln!(f, "{line}");
        }
        self.requests.push(r);
    }

    /// Registers an app (and assigns ids to its installations' repositories).
    pub fn add_app(&mut self, app: GithubApp) {
        for inst in &app.installations {
            for r in &inst.repositories {
                self.repo_id(r);
            }
        }
        self.seed.github_apps.retain(|a| a.id != app.id);
        self.seed.github_apps.push(app);
    }

    /// The id of a repository (assigned on first sight).
    pub fn repo_id(&mut self, full_name: &str) -> u64 {
        let key = full_name.to_ascii_lowercase();
        if let Some(id) = self.repo_ids.get(&key) {
            return *id;
        }
        let id = self.next_repo_id;
        self.next_repo_id += 1;
        self.repo_ids.insert(key, id);
        id
    }

    /// The repository (`owner/name`, lower-cased) with this id.
    pub fn repo_by_id(&self, id: u64) -> Option<String> {
        self.repo_ids
            .iter()
            .find(|(_, v)| **v == id)
            .map(|(k, _)| k.clone())
    }

    pub fn secret_versions(&self, name: &str) -> Vec<SecretVersion> {
        self.secrets
            .get(&name.to_ascii_lowercase())
            .map(|s| s.versions.clone())
            .unwrap_or_default()
    }

    /// Stores a new version of a secret.
    pub fn put_secret_version(&mut self, name: &str, v: NewSecretVersion) -> SecretVersion {
        let now = now_unix();
        let created = v.created.unwrap_or(now);
        let version = SecretVersion {
            version: random_hex(32),
            value: v.value,
            content_type: v.content_type,
            tags: v.tags,
            enabled: v.enabled,
            created,
            updated: created,
            exp: None,
            nbf: None,
        };
        self.insert_version(name, version.clone());
        version
    }

    /// Inserts a version keeping the list ordered by `created` (stable).
    pub fn insert_version(&mut self, name: &str, version: SecretVersion) {
        let entry = self
            .secrets
            .entry(name.to_ascii_lowercase())
            .or_insert_with(|| Secret {
                name: name.to_string(),
                versions: Vec::new(),
            });
        let pos = entry
            .versions
            .iter()
            .position(|x| x.created > version.created)
            .unwrap_or(entry.versions.len());
        entry.versions.insert(pos, version);
    }

    /// name → value of a variable scope.
    pub fn variable_values(&self, scope: &str) -> BTreeMap<String, String> {
        self.variables
            .get(&scope.to_ascii_lowercase())
            .map(|m| {
                m.values()
                    .map(|v| (v.name.clone(), v.value.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Records something the fake issued.
    pub fn remember_issued(&mut self, secret: &str) {
        self.issued.push(secret.to_string());
    }
}

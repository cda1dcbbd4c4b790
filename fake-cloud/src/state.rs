//! Shared mutable state of the fake cloud.

use crate::util::{now_unix, random_hex};
use crate::{
    ArmRole, Fault, GithubApp, IssuedToken, KvRole, LoggedRequest, NewSecretVersion, SecretVersion,
    Seed,
};
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

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
    pub arm: crate::arm::ArmState,
    /// ACR Tasks runs and the Azurite blob client.
    pub acr: crate::acr::AcrState,
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
            arm: crate::arm::ArmState::default(),
            acr: crate::acr::AcrState::default(),
            secrets: BTreeMap::new(),
            tokens: Vec::new(),
            entra_tokens: Vec::new(),
            issued: Vec::new(),
            variables: BTreeMap::new(),
            runners: Vec::new(),
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

//! `rotate-key`: prove the GitHub App key, store it in Key Vault when it changed, switch the
//! consumers that pin a version, retire the older versions, report fingerprint and age
//! (SPEC §3.1). This module orchestrates; the vault, ARM and GitHub clients speak the wire.

use std::collections::BTreeMap;
use std::sync::Arc;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::settle;
use crate::azure::arm::JobRef;
use crate::azure::arm::jobs::Switch;
use crate::azure::keyvault::{KeyVault, Latest, VersionInfo, newest};
use crate::error::{Error, Result};
use crate::github::GitHubConfig;
use crate::github::Installation;
use crate::key::{AppKey, fingerprint_of};
use crate::runtime::markdown_table;
use crate::say;
use crate::secret::Secret;
use crate::session::Session;

/// Tag that records the fingerprint of the key a version holds.
pub const FINGERPRINT_TAG: &str = "github-app-key-fingerprint";
/// Tag that records the App id.
pub const APP_ID_TAG: &str = "github-app-id";
/// Tag that records the run that stored the version.
pub const ROTATED_BY_TAG: &str = "rotated-by";
/// Content type of the stored PEM.
pub const CONTENT_TYPE: &str = "application/x-pem-file";

/// The checked `rotate-key` inputs (see [`crate::plan`]).
#[derive(Debug)]
pub struct Request {
    /// `private-key`.
    pub key: Arc<AppKey>,
    /// The key as it is stored (PEM, masked).
    pub pem: Secret,
    /// `key-vault`: name or URL.
    pub vault: String,
    /// `secret-name`.
    pub secret_name: String,
    /// `verify-key`.
    pub verify_key: bool,
    /// `disable-previous-versions`.
    pub disable_previous: bool,
    /// `max-key-age-days` (0: off).
    pub max_age_days: u64,
    /// `secret-expires-in-days` (0: none).
    pub expires_in_days: u64,
    /// `jobs`: the jobs to switch to the new version.
    pub jobs: Vec<JobRef>,
    /// `jobs: auto`: every job and app of the subscription that references the secret.
    pub jobs_auto: bool,
    /// Where to look for consumers pinned to a version.
    pub subscription: Option<String>,
}

impl Request {
    /// Whether the command will talk to Azure Resource Manager (jobs to switch).
    pub fn reaches_arm(&self) -> bool {
        !self.jobs.is_empty() || self.jobs_auto
    }
}

/// What GitHub confirmed about the App: later commands of the step take it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppFacts {
    /// The numeric App id.
    pub app_id: String,
    /// The installation found for the owner, if any.
    pub installation_id: Option<u64>,
}

/// What `rotate-key` did.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The App as GitHub confirmed it (when the key was verified).
    pub app: Option<AppFacts>,
    /// The versionless secret URI.
    pub secret_uri: String,
    /// The step outputs it set.
    pub outputs: Vec<(String, String)>,
}

/// The live (latest) version as the vault side found it.
enum Live {
    /// No secret of that name.
    Missing,
    /// The latest version is disabled.
    Disabled,
    /// The latest version, and the fingerprint of the key it holds when known.
    Found {
        version: String,
        created: Option<OffsetDateTime>,
        fingerprint: Option<String>,
    },
}

/// The version that is live once the key is stored (empty in a dry run of a first store).
struct Stored {
    version: String,
    created: Option<OffsetDateTime>,
    rotated: bool,
}

/// What has been changed so far, for the message of a failure half-way.
#[derive(Default)]
struct Done {
    steps: Vec<String>,
    disabled: Vec<String>,
}

impl Done {
    fn all(&self) -> Vec<String> {
        self.steps
            .iter()
            .cloned()
            .chain(self.disabled.iter().map(|d| format!("disabled {d}")))
            .collect()
    }

    fn so_far(&self) -> String {
        if self.steps.is_empty() && self.disabled.is_empty() {
            "nothing was changed".to_string()
        } else {
            format!("done so far: {}", self.all().join(", "))
        }
    }
}

/// Runs `rotate-key`.
pub async fn run(
    session: &Session,
    req: &Request,
    github: &GitHubConfig,
    token_permissions: &BTreeMap<String, String>,
    run_url: &str,
) -> Result<Outcome> {
    say!("Key fingerprint: {}", req.key.fingerprint());
    let (app, kv, live, versions) = read(session, req, github, token_permissions).await?;
    let secret_uri = kv.secret_uri(&req.secret_name);
    say!("Key Vault secret: {secret_uri}");
    let app_id_tag = app
        .as_ref()
        .map(|a| a.app_id.clone())
        .or_else(|| github.app_id.clone())
        .unwrap_or_default();
    let mut done = Done::default();
    let stored = store(session, req, &kv, &live, &app_id_tag, run_url, &mut done).await?;
    if !req.jobs.is_empty() && !stored.version.is_empty() {
        switch_named(session, req, &secret_uri, &stored.version, &mut done).await?;
    }
    // After a store, the list is read again: a store whose answer was lost and retried leaves
    // a second copy that the list read before the store cannot know.
    let versions = if stored.rotated && req.disable_previous {
        kv.versions(&req.secret_name).await?
    } else {
        versions
    };
    let consumers = retire(
        session,
        req,
        &kv,
        &secret_uri,
        &stored,
        &versions,
        &mut done,
    )
    .await?;
    let outcome = report(session, req, app, &secret_uri, &stored, &consumers, &done)?;
    check_age(req, stored.created)?;
    Ok(outcome)
}

/// GitHub's verdict on the key and what the vault holds are independent reads: both at once.
/// A key GitHub rejects is the first thing to fix, whatever the vault says: GitHub's error ends
/// the command at once (the vault side is dropped); the vault's waits for GitHub's verdict.
async fn read(
    session: &Session,
    req: &Request,
    github: &GitHubConfig,
    token_permissions: &BTreeMap<String, String>,
) -> Result<(Option<AppFacts>, KeyVault, Live, Vec<VersionInfo>)> {
    let github_side = async {
        if req.verify_key {
            verify(session, req, github, token_permissions)
                .await
                .map(Some)
        } else {
            say!("verify-key is false: the key is not checked against GitHub");
            Ok(None)
        }
    };
    // The vault side prints nothing of its own until both are in (only retry notices).
    let vault_side = async {
        let kv = session.key_vault(&req.vault).await?;
        let name = kv.name_under(&session.cloud()?.key_vault_suffix);
        let (live, versions) = settle::retry_while_settling(
            session,
            req.subscription.as_deref(),
            name.as_deref(),
            || read_vault(&kv, &req.secret_name, req.disable_previous),
        )
        .await?;
        Ok::<_, Error>((kv, live, versions))
    };
    tokio::pin!(github_side, vault_side);
    let (app, read) = tokio::select! {
        verified = &mut github_side => (verified?, vault_side.await),
        read = &mut vault_side => (github_side.await?, read),
    };
    let (kv, live, versions) = read?;
    Ok((app, kv, live, versions))
}

/// Stores the key as a new version unless the live version already holds it.
async fn store(
    session: &Session,
    req: &Request,
    kv: &KeyVault,
    live: &Live,
    app_id_tag: &str,
    run_url: &str,
    done: &mut Done,
) -> Result<Stored> {
    let current = match live {
        Live::Found {
            version,
            created,
            fingerprint,
        } => Some((version.clone(), *created, fingerprint.clone())),
        _ => None,
    };
    let stored_fingerprint = current.as_ref().and_then(|c| c.2.clone());
    if let Some((version, created, _)) = &current
        && stored_fingerprint.as_deref() == Some(req.key.fingerprint())
    {
        say!("Unchanged: version {version} already holds this key; nothing to store");
        return Ok(Stored {
            version: version.clone(),
            created: *created,
            rotated: false,
        });
    }
    match live {
        Live::Missing => say!("The secret does not exist yet: storing the first version"),
        Live::Disabled => say!("The latest version is disabled: storing the key as a new version"),
        Live::Found { version, .. } => say!(
            "The key changed (version {version} holds {}): storing a new version",
            stored_fingerprint.as_deref().unwrap_or("an unreadable key")
        ),
    }
    let name = &req.secret_name;
    if session.dry_run {
        say!("dry-run: would store a new version of {name}");
        let (version, created) = current.map(|(v, c, _)| (v, c)).unwrap_or_default();
        return Ok(Stored {
            version,
            created,
            rotated: false,
        });
    }
    let mut tags = BTreeMap::new();
    tags.insert(
        FINGERPRINT_TAG.to_string(),
        req.key.fingerprint().to_string(),
    );
    if !app_id_tag.is_empty() {
        tags.insert(APP_ID_TAG.to_string(), app_id_tag.to_string());
    }
    tags.insert(ROTATED_BY_TAG.to_string(), run_url.to_string());
    let expires = (req.expires_in_days > 0)
        .then(|| OffsetDateTime::now_utc() + time::Duration::days(req.expires_in_days as i64));
    let vault = kv.name_under(&session.cloud()?.key_vault_suffix);
    let stored = settle::retry_while_settling(
        session,
        req.subscription.as_deref(),
        vault.as_deref(),
        || kv.set(name, &req.pem, CONTENT_TYPE, tags.clone(), expires),
    )
    .await?;
    say!("Stored new version {}", stored.version);
    done.steps
        .push(format!("stored version {}", stored.version));
    Ok(Stored {
        version: stored.version,
        created: stored.created,
        rotated: true,
    })
}

/// Switches the jobs named in `jobs` to the live version before anything is disabled.
async fn switch_named(
    session: &Session,
    req: &Request,
    secret_uri: &str,
    live_version: &str,
    done: &mut Done,
) -> Result<()> {
    let version_uri = format!("{secret_uri}/{live_version}");
    for job in &req.jobs {
        match switch(session, job, secret_uri, &version_uri).await {
            Ok(true) => done.steps.push(format!("switched job {}", job.name)),
            Ok(false) => {}
            Err(e) => {
                say!(
                    "Stopped at job {} ({}); no version was disabled, the previous version stays enabled",
                    job.name,
                    done.so_far()
                );
                return Err(e);
            }
        }
    }
    Ok(())
}

/// Points `job`'s Key Vault secret reference at `version_uri`, confirmed. Returns whether the
/// job was changed.
async fn switch(
    session: &Session,
    job: &JobRef,
    secret_uri: &str,
    version_uri: &str,
) -> Result<bool> {
    let arm = session.arm().await?;
    match arm
        .switch_secret_reference(job, secret_uri, version_uri, session.dry_run)
        .await?
    {
        Switch::AlreadyThere => {
            say!("Job {} already uses version {version_uri}", job.name);
            Ok(false)
        }
        Switch::WouldSwitch => {
            say!("dry-run: would switch job {} to {version_uri}", job.name);
            Ok(false)
        }
        Switch::Switched => {
            say!("Switched job {} to {version_uri}", job.name);
            Ok(true)
        }
    }
}

/// Disables the enabled versions other than the live one, except those a consumer that could
/// not be switched still pins. Returns the consumers found.
async fn retire(
    session: &Session,
    req: &Request,
    kv: &KeyVault,
    secret_uri: &str,
    stored: &Stored,
    versions: &[VersionInfo],
    done: &mut Done,
) -> Result<Consumers> {
    if !req.disable_previous {
        say!("disable-previous-versions is false: older versions stay enabled");
        return Ok(Consumers::default());
    }
    let live = &stored.version;
    if live.is_empty() {
        return Ok(Consumers::default());
    }
    // No consumer may be left pointing at a version about to be disabled. With nothing to
    // disable, nobody can be stranded, and nothing is looked up.
    let candidates = versions.iter().any(|v| v.enabled && v.version != *live);
    let consumers = if candidates {
        protect_consumers(session, req, secret_uri, live, done).await?
    } else {
        Consumers::default()
    };
    let to_disable: Vec<_> = versions
        .iter()
        .filter(|v| {
            v.enabled
                && v.version != *live
                && !consumers.kept.contains_key(&v.version.to_ascii_lowercase())
        })
        .collect();
    if to_disable.is_empty() {
        say!("No other enabled version to disable");
    }
    for v in to_disable {
        if session.dry_run {
            say!("dry-run: would disable version {}", v.version);
            continue;
        }
        if let Err(e) = kv.disable(&req.secret_name, &v.version).await {
            say!(
                "Stopped while disabling version {} ({}); the new version stays enabled",
                v.version,
                done.so_far()
            );
            return Err(e);
        }
        say!("Disabled version {}", v.version);
        done.disabled.push(v.version.clone());
    }
    Ok(consumers)
}

/// Sets the outputs and writes the summary.
fn report(
    session: &Session,
    req: &Request,
    app: Option<AppFacts>,
    secret_uri: &str,
    stored: &Stored,
    consumers: &Consumers,
    done: &Done,
) -> Result<Outcome> {
    let created_text = created_text(stored.created);
    let version_uri = if stored.version.is_empty() {
        String::new()
    } else {
        format!("{secret_uri}/{}", stored.version)
    };
    let outputs: Vec<(String, String)> = [
        ("secret-uri", secret_uri.to_string()),
        ("secret-version", stored.version.clone()),
        ("secret-version-uri", version_uri),
        ("key-fingerprint", req.key.fingerprint().to_string()),
        ("rotated", stored.rotated.to_string()),
        ("key-created-at", created_text.clone()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    session.outputs(&outputs)?;
    let mut rows = vec![
        vec!["Secret".to_string(), format!("`{secret_uri}`")],
        vec!["Live version".to_string(), format!("`{}`", stored.version)],
        vec![
            "Key fingerprint".to_string(),
            format!("`{}`", req.key.fingerprint()),
        ],
        vec!["Rotated".to_string(), stored.rotated.to_string()],
        vec!["Key created".to_string(), created_text],
        vec![
            "Disabled versions".to_string(),
            if done.disabled.is_empty() {
                "none".to_string()
            } else {
                done.disabled.join(", ")
            },
        ],
    ];
    if let Some(app) = &app {
        rows.insert(0, vec!["GitHub App".to_string(), app.app_id.clone()]);
    }
    for (kind, name, reads) in &consumers.rows {
        rows.push(vec![format!("Consumer ({kind}) `{name}`"), reads.clone()]);
    }
    let mut summary = format!(
        "### rotate-key{}\n\n{}",
        if session.dry_run { " (dry run)" } else { "" },
        markdown_table(&["", ""], &rows)
    );
    summary.push_str(&closing_text(session, req, stored, done));
    session.rt.summary(&summary);
    Ok(Outcome {
        app,
        secret_uri: secret_uri.to_string(),
        outputs,
    })
}

fn created_text(created: Option<OffsetDateTime>) -> String {
    created
        .and_then(|c| c.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// The sentence under the summary's table (also logged when it is news).
fn closing_text(session: &Session, req: &Request, stored: &Stored, done: &Done) -> String {
    if stored.rotated && req.jobs.is_empty() {
        let note = "Container Apps Jobs that reference the secret without a version pick up the new version within 30 minutes; until then they may still use the old, now disabled, version from their cache.";
        say!("{note}");
        format!("\n{note}\n")
    } else if !session.dry_run && !stored.rotated {
        if done.steps.is_empty() && done.disabled.is_empty() {
            "\nNothing changed: the stored key is already this key.\n".to_string()
        } else {
            format!(
                "\nThe stored key is already this key; {}.\n",
                done.all().join(", ")
            )
        }
    } else {
        String::new()
    }
}

/// `max-key-age-days`: fails when the live version is older.
fn check_age(req: &Request, created: Option<OffsetDateTime>) -> Result<()> {
    let Some(created) = created.filter(|_| req.max_age_days > 0) else {
        return Ok(());
    };
    let age = (OffsetDateTime::now_utc() - created).whole_days();
    if age > req.max_age_days as i64 {
        return Err(Error::KeyTooOld {
            age_days: age,
            max_days: req.max_age_days as i64,
            created: created_text(Some(created)),
        });
    }
    say!(
        "Key age: {age} day(s), within max-key-age-days ({})",
        req.max_age_days
    );
    Ok(())
}

/// Reads what the vault holds: the version list (unless `disable_previous` is off) and the live
/// version, whose value is read only when the list cannot tell which key it holds.
///
/// The version list says which version is live and, from the fingerprint tag this action
/// writes, which key it holds: the value is read only when the list cannot tell (a version
/// stored by other means, or two versions created in the same second). Without
/// disable-previous-versions the list is not needed, and listing is a right a vault may not
/// grant: the latest value alone is read then.
async fn read_vault(
    kv: &KeyVault,
    name: &str,
    disable_previous: bool,
) -> Result<(Live, Vec<VersionInfo>)> {
    let versions = if disable_previous {
        kv.versions(name).await?
    } else {
        Vec::new()
    };
    let live = match newest(&versions) {
        None if versions.is_empty() && disable_previous => Live::Missing,
        Some(v) if !v.enabled => Live::Disabled,
        Some(v) if v.tags.contains_key(FINGERPRINT_TAG) => Live::Found {
            version: v.version.clone(),
            created: v.created,
            fingerprint: v.tags.get(FINGERPRINT_TAG).cloned(),
        },
        _ => match kv.latest(name).await? {
            Latest::Missing => Live::Missing,
            Latest::Disabled => Live::Disabled,
            Latest::Found(s) => Live::Found {
                fingerprint: s
                    .tags
                    .get(FINGERPRINT_TAG)
                    .cloned()
                    .or_else(|| fingerprint_of(s.value.expose())),
                version: s.version,
                created: s.created,
            },
        },
    };
    Ok((live, versions))
}

/// Proves the key against GitHub; returns what GitHub confirmed.
async fn verify(
    session: &Session,
    req: &Request,
    github: &GitHubConfig,
    token_permissions: &BTreeMap<String, String>,
) -> Result<AppFacts> {
    let app_id = github.app_id.clone().unwrap_or_default();
    let gh = session.github().await?;
    let jwt = gh.app_jwt(&app_id, &req.key)?;
    // The App and its installation are looked up at once (both with the App's JWT); the App's
    // answer is judged first.
    let lookup = async {
        match (github.installation_id, &github.owner) {
            (Some(id), _) => gh.installation(&jwt, &app_id, id).await.map(Ok),
            (None, None) => Ok(Err(None)),
            (None, Some(owner)) => match session
                .find_installation(&jwt, &app_id, owner, github.repository.as_deref())
                .await
            {
                Ok(inst) => Ok(Ok(inst)),
                Err(Error::NotInstalled { target, .. }) => Ok(Err(Some(target))),
                Err(e) => Err(e),
            },
        }
    };
    let (app, installation) = tokio::join!(gh.app(&jwt, &app_id, &req.key), lookup);
    let app = app?;
    let matches = app.id.to_string() == app_id || app.client_id.as_deref() == Some(app_id.as_str());
    if !matches {
        return Err(Error::AppMismatch {
            expected: app_id,
            actual: app.id,
            slug: app.slug.unwrap_or(app.name),
        });
    }
    say!(
        "GitHub accepted the key for App {} ({})",
        app.id,
        app.slug.as_deref().unwrap_or(&app.name)
    );
    let installation = match installation? {
        Ok(inst) => Some(inst),
        Err(None) => None,
        Err(Some(target)) => {
            session.rt.warning(&format!(
                "GitHub App {} is not installed on {target}: runners cannot register until it is (App settings → Install App)",
                app.id
            ));
            None
        }
    };
    if let Some(inst) = &installation {
        check_installation(session, &jwt, inst, token_permissions).await?;
    }
    Ok(AppFacts {
        app_id: app.id.to_string(),
        installation_id: installation.map(|i| i.id),
    })
}

/// Mints an installation token (proving the installation works with this key) and warns about
/// permissions the runners or set-variables need.
async fn check_installation(
    session: &Session,
    jwt: &Secret,
    inst: &Installation,
    token_permissions: &BTreeMap<String, String>,
) -> Result<()> {
    let token = session
        .installation_token(jwt, inst.id, Some(token_permissions))
        .await?;
    let account = inst
        .account
        .as_ref()
        .and_then(|a| a.login.clone())
        .unwrap_or_default();
    say!(
        "Installation {} on {account}: token minted, expires {}",
        inst.id,
        token.expires_at
    );
    // What the installation grants (the token carries only what this step asked for).
    let organization = inst.target_type.as_deref() != Some("User");
    for warning in permission_warnings(&inst.permissions, organization) {
        session.rt.warning(&warning);
    }
    Ok(())
}

/// Warnings for permissions the runners and set-variables need but the installation lacks.
pub fn permission_warnings(perms: &BTreeMap<String, String>, organization: bool) -> Vec<String> {
    let has_write = |p: &str| perms.get(p).map(String::as_str) == Some("write");
    let mut out = Vec::new();
    if organization && !has_write("organization_self_hosted_runners") {
        out.push("the App's installation lacks `organization_self_hosted_runners: write`: organization runners cannot register and KEDA cannot see the queue. Add it in the App's settings (Organization permissions → Self-hosted runners) and accept it on the installation".to_string());
    }
    if !organization && !has_write("administration") {
        out.push("the App's installation lacks `administration: write`: repository runners cannot register. Add it in the App's settings (Repository permissions → Administration) and accept it on the installation".to_string());
    }
    if !has_write("actions_variables") && !has_write("organization_actions_variables") {
        out.push("the App's installation lacks `actions_variables: write` (and `organization_actions_variables: write`): set-variables with the App will fail. Add the permission if you use set-variables".to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warns_about_missing_permissions() {
        let mut p = BTreeMap::new();
        assert_eq!(permission_warnings(&p, true).len(), 2);
        p.insert("administration".to_string(), "write".to_string());
        assert_eq!(
            permission_warnings(&p, true).len(),
            2,
            "administration is not enough for an org"
        );
        assert_eq!(permission_warnings(&p, false).len(), 1);
        p.insert(
            "organization_self_hosted_runners".to_string(),
            "write".to_string(),
        );
        p.insert("actions_variables".to_string(), "write".to_string());
        assert!(permission_warnings(&p, true).is_empty());
        p.insert("actions_variables".to_string(), "read".to_string());
        assert_eq!(permission_warnings(&p, true).len(), 1);
    }
}

/// What the consumer search found: the versions kept enabled for consumers that could not be
/// switched (lower-cased version → consumers), and one summary row per consumer.
#[derive(Debug, Default)]
struct Consumers {
    kept: BTreeMap<String, Vec<String>>,
    rows: Vec<(&'static str, String, String)>,
}

/// Finds the jobs and apps of the subscription that reference the secret; switches the pinned
/// ones the step may write (named in `jobs`, or all with `jobs: auto`) to the live version, and
/// keeps enabled, with a warning, every version one it may not write still pins.
async fn protect_consumers(
    session: &Session,
    req: &Request,
    secret_uri: &str,
    live_version: &str,
    done: &mut Done,
) -> Result<Consumers> {
    let mut found = Consumers::default();
    let Some(subscription) = &req.subscription else {
        say!(
            "Consumers pinned to a version of the secret could not be looked for (no azure-subscription-id): a Container Apps job or app that references an older version by its versioned URL stops working once that version is disabled"
        );
        return Ok(found);
    };
    let arm = session.arm().await?;
    let version_uri = format!("{secret_uri}/{live_version}");
    let live = live_version.to_ascii_lowercase();
    for consumer in arm.consumers(subscription, secret_uri).await? {
        let name = consumer.resource.name.clone();
        let named = req
            .jobs
            .iter()
            .any(|j| j.id.eq_ignore_ascii_case(&consumer.resource.id));
        let reads = match &consumer.pinned {
            Some(v) if *v == live => format!("version `{live_version}` (live)"),
            Some(v) if req.jobs_auto || named => {
                switch(session, &consumer.resource, secret_uri, &version_uri).await?;
                done.steps
                    .push(format!("switched {} {name}", consumer.kind));
                if session.dry_run {
                    format!("version `{v}` (would switch to `{live_version}`)")
                } else {
                    format!("version `{live_version}` (switched from `{v}`)")
                }
            }
            Some(v) => {
                session.rt.warning(&format!(
                    "{} {name} reads version {v} of the secret by its versioned URL: that version stays enabled so {name} keeps working; name it in `jobs` (or use `jobs: auto`) to switch it",
                    consumer.kind
                ));
                found.kept.entry(v.clone()).or_default().push(name.clone());
                format!("version `{v}` (kept enabled for it)")
            }
            None if req.jobs_auto => {
                switch(session, &consumer.resource, secret_uri, &version_uri).await?;
                done.steps
                    .push(format!("switched {} {name}", consumer.kind));
                format!("version `{live_version}` (switched from the versionless reference)")
            }
            None => "the latest version (versionless; within 30 minutes)".to_string(),
        };
        found.rows.push((consumer.kind, name, reads));
    }
    if found.rows.is_empty() {
        say!("No Container Apps job or app of the subscription references the secret");
    }
    Ok(found)
}

//! `rotate-key`: prove the GitHub App key, store it in Key Vault when it changed, retire the older
//! versions, report fingerprint and age (SPEC §3.1).

use std::collections::BTreeMap;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::settle;
use crate::arm::{Arm, JobRef};
use crate::cli::Inputs;
use crate::error::{Error, Result};
use crate::github::Installation;
use crate::key::{AppKey, fingerprint_of};
use crate::keyvault::{KeyVault, Latest, VersionInfo, newest, vault_url};
use crate::runtime::{Runtime, markdown_table};
use crate::secret::Secret;
use crate::{Step, say};

/// Tag that records the fingerprint of the key a version holds.
pub const FINGERPRINT_TAG: &str = "github-app-key-fingerprint";
/// Tag that records the App id.
pub const APP_ID_TAG: &str = "github-app-id";
/// Tag that records the run that stored the version.
pub const ROTATED_BY_TAG: &str = "rotated-by";
/// Content type of the stored PEM.
pub const CONTENT_TYPE: &str = "application/x-pem-file";

/// Typed `rotate-key` inputs.
#[derive(Debug)]
struct Request {
    key: AppKey,
    /// The key as it is stored.
    pem: Secret,
    app_id: Option<String>,
    installation_id: Option<u64>,
    vault: String,
    secret_name: String,
    verify_key: bool,
    disable_previous: bool,
    max_age_days: u64,
    expires_in_days: u64,
    jobs: Vec<JobRef>,
    /// `jobs: auto`: every job and app of the subscription that references the secret.
    jobs_auto: bool,
    /// Where to look for consumers pinned to a version.
    subscription: Option<String>,
}

impl Request {
    fn from_inputs(i: &Inputs) -> Result<Request> {
        let raw_key = Inputs::required(
            &i.private_key,
            "private-key",
            "for rotate-key: pass the App's private key, e.g. `private-key: ${{ secrets.APP_PRIVATE_KEY }}`",
        )?;
        let (key, pem) = AppKey::parse_for_storage(&raw_key, Runtime::get())?;
        let verify_key = Inputs::boolean(&i.verify_key, "verify-key", true)?;
        let app_id = Inputs::text(&i.app_id);
        if verify_key && app_id.is_none() {
            return Err(Error::input(
                "app-id",
                "is required to verify the key against GitHub: set it to the App's id (or client id), or set `verify-key: false`",
            ));
        }
        let installation_id = match Inputs::text(&i.installation_id) {
            None => None,
            Some(v) => Some(v.parse::<u64>().map_err(|_| {
                Error::input(
                    "installation-id",
                    format!("`{v}` is not a number; copy it from the installation's settings URL"),
                )
            })?),
        };
        let secret_name =
            Inputs::text(&i.secret_name).unwrap_or_else(|| "github-app-key".to_string());
        if !secret_name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
            || secret_name.len() > 127
        {
            return Err(Error::input(
                "secret-name",
                format!(
                    "`{secret_name}` is not a Key Vault secret name (1-127 letters, digits and hyphens)"
                ),
            ));
        }
        let vault = Inputs::required(
            &i.key_vault,
            "key-vault",
            "for rotate-key: give the vault name or URL",
        )?;
        // The name or URL is checked now; the cloud's suffix completes a name later.
        vault_url(&vault, "vault.azure.net")?;
        Ok(Request {
            key,
            pem,
            app_id,
            installation_id,
            vault,
            secret_name,
            verify_key,
            disable_previous: Inputs::boolean(
                &i.disable_previous_versions,
                "disable-previous-versions",
                true,
            )?,
            max_age_days: Inputs::number(&i.max_key_age_days, "max-key-age-days", 0)?,
            expires_in_days: match Inputs::number(
                &i.secret_expires_in_days,
                "secret-expires-in-days",
                0,
            )? {
                d if d > 36_500 => {
                    return Err(Error::input(
                        "secret-expires-in-days",
                        "must be at most 36500 (100 years)",
                    ));
                }
                d => d,
            },
            jobs_auto: Inputs::text(&i.jobs).is_some_and(|t| t.trim().eq_ignore_ascii_case("auto")),
            subscription: Inputs::text(&i.azure_subscription_id),
            jobs: match Inputs::text(&i.jobs) {
                None => Vec::new(),
                Some(text) if text.trim().eq_ignore_ascii_case("auto") => {
                    if Inputs::text(&i.azure_subscription_id).is_none() {
                        return Err(Error::input(
                            "azure-subscription-id",
                            "is required with `jobs: auto`: the jobs and apps that use the secret are looked for in that subscription",
                        ));
                    }
                    Vec::new()
                }
                Some(text) => {
                    let sub = Inputs::text(&i.azure_subscription_id);
                    text.split([',', '\n', ' '])
                        .filter(|e| !e.trim().is_empty())
                        .map(|e| JobRef::parse(e, sub.as_deref()))
                        .collect::<Result<Vec<_>>>()?
                }
            },
        })
    }
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

/// Runs `rotate-key`.
pub async fn run(step: &Step) -> Result<()> {
    let req = Request::from_inputs(&step.inputs)?;
    say!("Key fingerprint: {}", req.key.fingerprint());

    let name = &req.secret_name;
    // GitHub's verdict on the key and what the vault holds are independent reads: both at once.
    // The vault side prints nothing of its own until both are in (only retry notices, if any).
    let github_side = async {
        if req.verify_key {
            verify(step, &req).await.map(Some)
        } else {
            say!("verify-key is false: the key is not checked against GitHub");
            Ok(None)
        }
    };
    let vault_side = async {
        let (cloud, credential) = step.azure_key_vault().await?;
        let url = vault_url(&req.vault, &cloud.key_vault_suffix)?;
        let kv = KeyVault::new(url, &cloud.key_vault_suffix, credential.clone(), &step.http)?;
        // The version list says which version is live and, from the fingerprint tag this
        // action writes, which key it holds: the value is read only when the list cannot tell
        // (a version stored by other means, or two versions created in the same second).
        // The versions to retire later are the enabled ones other than the live one; a version
        // stored by this run becomes the live one, so the list read now is the list needed then.
        // Without disable-previous-versions the list is not needed, and listing is a right a
        // vault may not grant: read the latest value alone then.
        let vault = kv_name(&kv, &cloud.key_vault_suffix);
        let (live, versions) = settle::retry_while_settling(
            step,
            req.subscription.as_deref(),
            vault.as_deref(),
            || read_vault(&kv, name, req.disable_previous),
        )
        .await?;
        Ok::<_, Error>((kv, live, versions))
    };
    // A key GitHub rejects is the first thing to fix, whatever the vault says: GitHub's error
    // ends the command at once (the vault side is dropped); the vault's waits for GitHub's
    // verdict.
    tokio::pin!(github_side, vault_side);
    let (verified_app, read) = tokio::select! {
        verified = &mut github_side => (verified?, vault_side.await),
        read = &mut vault_side => (github_side.await?, read),
    };
    let (kv, latest, versions) = read?;
    let app_id_tag = verified_app
        .clone()
        .or_else(|| req.app_id.clone())
        .unwrap_or_default();
    let secret_uri = kv.secret_uri(name);
    say!("Key Vault secret: {secret_uri}");
    let current = match &latest {
        Live::Found {
            version, created, ..
        } => Some((version, *created)),
        _ => None,
    };
    let stored_fingerprint = match &latest {
        Live::Found { fingerprint, .. } => fingerprint.clone(),
        _ => None,
    };
    let unchanged = stored_fingerprint.as_deref() == Some(req.key.fingerprint());
    let mut done: Vec<String> = Vec::new();

    let (live_version, live_created, rotated) = match (unchanged, current) {
        (true, Some((version, created))) => {
            say!("Unchanged: version {version} already holds this key; nothing to store");
            (version.clone(), created, false)
        }
        _ => {
            match &latest {
                Live::Missing => say!("The secret does not exist yet: storing the first version"),
                Live::Disabled => {
                    say!("The latest version is disabled: storing the key as a new version")
                }
                Live::Found { version, .. } => say!(
                    "The key changed (version {version} holds {}): storing a new version",
                    stored_fingerprint.as_deref().unwrap_or("an unreadable key")
                ),
            }
            if step.dry_run {
                say!("dry-run: would store a new version of {name}");
                let (v, c) = current.map(|(v, c)| (v.clone(), c)).unwrap_or_default();
                (v, c, false)
            } else {
                let mut tags = BTreeMap::new();
                tags.insert(
                    FINGERPRINT_TAG.to_string(),
                    req.key.fingerprint().to_string(),
                );
                if !app_id_tag.is_empty() {
                    tags.insert(APP_ID_TAG.to_string(), app_id_tag.clone());
                }
                tags.insert(ROTATED_BY_TAG.to_string(), run_url());
                let expires = (req.expires_in_days > 0).then(|| {
                    OffsetDateTime::now_utc() + time::Duration::days(req.expires_in_days as i64)
                });
                let vault = kv_name(&kv, &step.azure_key_vault().await?.0.key_vault_suffix);
                let stored = settle::retry_while_settling(
                    step,
                    req.subscription.as_deref(),
                    vault.as_deref(),
                    || kv.set(name, &req.pem, CONTENT_TYPE, tags.clone(), expires),
                )
                .await?;
                say!("Stored new version {}", stored.version);
                done.push(format!("stored version {}", stored.version));
                (stored.version, stored.created, true)
            }
        }
    };

    // Switch the named jobs to the live version before anything is disabled.
    if !req.jobs.is_empty() && !live_version.is_empty() {
        let (cloud, credential) = step.azure().await?;
        let arm = Arm::new(
            cloud.resource_manager.clone(),
            credential.clone(),
            &step.http,
        );
        let version_uri = format!("{secret_uri}/{live_version}");
        for job in &req.jobs {
            match switch_job(step, &arm, job, &secret_uri, &version_uri).await {
                Ok(true) => done.push(format!("switched job {}", job.name)),
                Ok(false) => {}
                Err(e) => {
                    say!(
                        "Stopped at job {} ({}); no version was disabled, the previous version stays enabled",
                        job.name,
                        if done.is_empty() {
                            "nothing was changed".to_string()
                        } else {
                            format!("done so far: {}", done.join(", "))
                        }
                    );
                    return Err(e);
                }
            }
        }
    }

    // Retire the others only now that the new version is stored and the jobs use it. After a
    // store, the list is read again: a store whose answer was lost and retried leaves a second
    // copy that the list read before the store cannot know.
    let versions = if rotated && req.disable_previous {
        kv.versions(name).await?
    } else {
        versions
    };
    // No consumer may be left pointing at a version about to be disabled: those pinned to one
    // are switched when the step may write them, else their version stays enabled. With
    // nothing to disable, nobody can be stranded, and nothing is looked up.
    let candidates = versions
        .iter()
        .any(|v| v.enabled && v.version != live_version);
    let consumers = if req.disable_previous && !live_version.is_empty() && candidates {
        protect_consumers(step, &req, &secret_uri, &live_version, &mut done).await?
    } else {
        Consumers::default()
    };
    let mut disabled: Vec<String> = Vec::new();
    if req.disable_previous && !live_version.is_empty() {
        let to_disable: Vec<_> = versions
            .iter()
            .filter(|v| {
                v.enabled
                    && v.version != live_version
                    && !consumers.kept.contains_key(&v.version.to_ascii_lowercase())
            })
            .collect();
        if to_disable.is_empty() {
            say!("No other enabled version to disable");
        }
        for v in to_disable {
            if step.dry_run {
                say!("dry-run: would disable version {}", v.version);
                continue;
            }
            if let Err(e) = kv.disable(name, &v.version).await {
                let so_far = if done.is_empty() && disabled.is_empty() {
                    "nothing was changed".to_string()
                } else {
                    format!(
                        "done so far: {}",
                        done.iter()
                            .cloned()
                            .chain(disabled.iter().map(|d| format!("disabled {d}")))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                };
                say!(
                    "Stopped while disabling version {} ({so_far}); the new version stays enabled",
                    v.version
                );
                return Err(e);
            }
            say!("Disabled version {}", v.version);
            disabled.push(v.version.clone());
        }
    } else if !req.disable_previous {
        say!("disable-previous-versions is false: older versions stay enabled");
    }

    let created_text = live_created
        .and_then(|c| c.format(&Rfc3339).ok())
        .unwrap_or_default();
    let version_uri = if live_version.is_empty() {
        String::new()
    } else {
        format!("{secret_uri}/{live_version}")
    };
    step.output("secret-uri", &secret_uri)?;
    step.output("secret-version", &live_version)?;
    step.output("secret-version-uri", &version_uri)?;
    step.output("key-fingerprint", req.key.fingerprint())?;
    step.output("rotated", if rotated { "true" } else { "false" })?;
    step.output("key-created-at", &created_text)?;

    let mut rows = vec![
        vec!["Secret".to_string(), format!("`{secret_uri}`")],
        vec!["Live version".to_string(), format!("`{live_version}`")],
        vec![
            "Key fingerprint".to_string(),
            format!("`{}`", req.key.fingerprint()),
        ],
        vec!["Rotated".to_string(), rotated.to_string()],
        vec!["Key created".to_string(), created_text.clone()],
        vec![
            "Disabled versions".to_string(),
            if disabled.is_empty() {
                "none".to_string()
            } else {
                disabled.join(", ")
            },
        ],
    ];
    if let Some(app) = &verified_app {
        rows.insert(0, vec!["GitHub App".to_string(), app.clone()]);
    }
    for (kind, name, reads) in &consumers.rows {
        rows.push(vec![format!("Consumer ({kind}) `{name}`"), reads.clone()]);
    }
    let mut summary = format!(
        "### rotate-key{}\n\n{}",
        if step.dry_run { " (dry run)" } else { "" },
        markdown_table(&["", ""], &rows)
    );
    if rotated && req.jobs.is_empty() {
        let note = "Container Apps Jobs that reference the secret without a version pick up the new version within 30 minutes; until then they may still use the old, now disabled, version from their cache.";
        say!("{note}");
        summary.push_str(&format!("\n{note}\n"));
    } else if !step.dry_run && !rotated {
        let text = if done.is_empty() && disabled.is_empty() {
            "\nNothing changed: the stored key is already this key.\n".to_string()
        } else {
            format!(
                "\nThe stored key is already this key; {}.\n",
                done.iter()
                    .cloned()
                    .chain(disabled.iter().map(|d| format!("disabled {d}")))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        summary.push_str(&text);
    }
    step.rt.summary(&summary);

    if req.max_age_days > 0
        && let Some(created) = live_created
    {
        let age = (OffsetDateTime::now_utc() - created).whole_days();
        if age > req.max_age_days as i64 {
            return Err(Error::KeyTooOld {
                age_days: age,
                max_days: req.max_age_days as i64,
                created: created_text,
            });
        }
        say!(
            "Key age: {age} day(s), within max-key-age-days ({})",
            req.max_age_days
        );
    }
    Ok(())
}

/// The vault's name when its URL is under the cloud's Key Vault suffix.
fn kv_name(kv: &KeyVault, suffix: &str) -> Option<String> {
    let uri = kv.secret_uri("x");
    let host = url::Url::parse(&uri).ok()?.host_str()?.to_string();
    host.strip_suffix(&format!(".{suffix}")).map(str::to_string)
}

/// Reads what the vault holds: the version list (unless `disable_previous` is off) and the live
/// version, whose value is read only when the list cannot tell which key it holds.
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

/// Points `job`'s Key Vault secret reference at `version_uri` and confirms it. Returns whether the
/// job was changed.
async fn switch_job(
    step: &Step,
    arm: &Arm,
    job: &JobRef,
    secret_uri: &str,
    version_uri: &str,
) -> Result<bool> {
    let current = arm.get_job(job).await?;
    let refers = |url: &str| {
        let url = url.trim_end_matches('/').to_ascii_lowercase();
        let base = secret_uri.to_ascii_lowercase();
        url == base || url.starts_with(&format!("{base}/"))
    };
    let secrets = current["properties"]["configuration"]["secrets"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let matching: Vec<&serde_json::Value> = secrets
        .iter()
        .filter(|s| s["keyVaultUrl"].as_str().is_some_and(refers))
        .collect();
    if matching.is_empty() {
        return Err(Error::input(
            "jobs",
            format!(
                "job {} has no secret that references {secret_uri}; name only the jobs that use this key",
                job.name
            ),
        ));
    }
    if matching
        .iter()
        .all(|s| s["keyVaultUrl"].as_str() == Some(version_uri))
    {
        say!("Job {} already uses version {version_uri}", job.name);
        return Ok(false);
    }
    if let Some(plain) = secrets.iter().find(|s| s["keyVaultUrl"].as_str().is_none()) {
        return Err(Error::input(
            "jobs",
            format!(
                "job {} also holds secret `{}` as a plain value, which Azure does not return, so the job cannot be rewritten safely; make it a Key Vault reference too",
                job.name,
                plain["name"].as_str().unwrap_or("?")
            ),
        ));
    }
    if step.dry_run {
        say!("dry-run: would switch job {} to {version_uri}", job.name);
        return Ok(false);
    }
    let mut body = current.clone();
    if let Some(obj) = body.as_object_mut() {
        for key in ["id", "name", "type", "systemData"] {
            obj.remove(key);
        }
    }
    if let Some(props) = body["properties"].as_object_mut() {
        for key in [
            "provisioningState",
            "outboundIpAddresses",
            "eventStreamEndpoint",
            "runningState",
        ] {
            props.remove(key);
        }
    }
    if let Some(list) = body["properties"]["configuration"]["secrets"].as_array_mut() {
        for s in list.iter_mut() {
            if s["keyVaultUrl"].as_str().is_some_and(refers) {
                s["keyVaultUrl"] = serde_json::Value::String(version_uri.to_string());
            }
        }
    }
    arm.put_job(job, &body).await?;
    let after = arm.get_job(job).await?;
    let confirmed = after["properties"]["configuration"]["secrets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["keyVaultUrl"].as_str().is_some_and(refers))
        .all(|s| s["keyVaultUrl"].as_str() == Some(version_uri));
    if !confirmed {
        return Err(Error::Other(format!(
            "job {} did not take the new secret reference {version_uri}; check the job in the portal. No version was disabled",
            job.name
        )));
    }
    say!("Switched job {} to {version_uri}", job.name);
    Ok(true)
}

/// Proves the key against GitHub; returns the App id GitHub confirmed.
async fn verify(step: &Step, req: &Request) -> Result<String> {
    let app_id = req.app_id.clone().unwrap_or_default();
    let gh = step.github().await?;
    let jwt = gh.app_jwt(&app_id, &req.key)?;
    // The App and its installation are looked up at once (both with the App's JWT); the App's
    // answer is judged first.
    let lookup = async {
        match req.installation_id {
            Some(id) => gh.installation(&jwt, &app_id, id).await.map(Ok),
            None => {
                let owner = step.inputs.owner_or_default()?;
                let repository = step.inputs.repository_or_env()?;
                let Some(owner) = owner else {
                    return Ok(Err(None));
                };
                match step
                    .find_installation(&jwt, &app_id, &owner, repository.as_deref())
                    .await
                {
                    Ok(inst) => Ok(Ok(inst)),
                    Err(Error::NotInstalled { target, .. }) => Ok(Err(Some(target))),
                    Err(e) => Err(e),
                }
            }
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
            step.rt.warning(&format!(
                "GitHub App {} is not installed on {target}: runners cannot register until it is (App settings → Install App)",
                app.id
            ));
            None
        }
    };
    if let Some(inst) = &installation {
        check_installation(step, &jwt, inst).await?;
    }
    *step.app_facts.lock().unwrap_or_else(|p| p.into_inner()) =
        (Some(app.id.to_string()), installation.map(|i| i.id));
    Ok(app.id.to_string())
}

/// Mints an installation token (proving the installation works with this key) and warns about
/// permissions the runners or set-variables need.
async fn check_installation(
    step: &Step,
    jwt: &crate::secret::Secret,
    inst: &Installation,
) -> Result<()> {
    let token = step
        .installation_token(jwt, inst.id, Some(&step.token_permissions))
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
        step.rt.warning(&warning);
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

/// The run's URL (`rotated-by` tag), or a local marker.
fn run_url() -> String {
    let var = |n: &str| std::env::var(n).ok().filter(|v| !v.is_empty());
    match (
        var("GITHUB_SERVER_URL"),
        var("GITHUB_REPOSITORY"),
        var("GITHUB_RUN_ID"),
    ) {
        (Some(server), Some(repo), Some(run)) => format!("{server}/{repo}/actions/runs/{run}"),
        _ => "aca-runner-action (local)".to_string(),
    }
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
    step: &Step,
    req: &Request,
    secret_uri: &str,
    live_version: &str,
    done: &mut Vec<String>,
) -> Result<Consumers> {
    let mut found = Consumers::default();
    let Some(subscription) = &req.subscription else {
        say!(
            "Consumers pinned to a version of the secret could not be looked for (no azure-subscription-id): a Container Apps job or app that references an older version by its versioned URL stops working once that version is disabled"
        );
        return Ok(found);
    };
    let (cloud, credential) = step.azure().await?;
    let arm = Arm::new(
        cloud.resource_manager.clone(),
        credential.clone(),
        &step.http,
    );
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
                switch_job(step, &arm, &consumer.resource, secret_uri, &version_uri).await?;
                done.push(format!("switched {} {name}", consumer.kind));
                if step.dry_run {
                    format!("version `{v}` (would switch to `{live_version}`)")
                } else {
                    format!("version `{live_version}` (switched from `{v}`)")
                }
            }
            Some(v) => {
                step.rt.warning(&format!(
                    "{} {name} reads version {v} of the secret by its versioned URL: that version stays enabled so {name} keeps working; name it in `jobs` (or use `jobs: auto`) to switch it",
                    consumer.kind
                ));
                found.kept.entry(v.clone()).or_default().push(name.clone());
                format!("version `{v}` (kept enabled for it)")
            }
            None if req.jobs_auto => {
                switch_job(step, &arm, &consumer.resource, secret_uri, &version_uri).await?;
                done.push(format!("switched {} {name}", consumer.kind));
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

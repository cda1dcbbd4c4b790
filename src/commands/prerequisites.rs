//! `deploy` of `builtin:prerequisites`: the `project` name checked before anything is sent, a
//! soft-deleted vault of the same name found and recovered, and the deploy held until the
//! deploying principal can use the vault (SPEC §3.2, §3.1.6).

use std::time::{Duration, Instant};

use crate::azure::arm::deployments::Scope;
use crate::azure::arm::vaults::DeletedVaults;
use crate::error::{Error, Result};
use crate::say;
use crate::session::Session;
use crate::templates::{Parameters, Template};
/// How long the deploy waits for a fresh role assignment to reach Key Vault.
const SETTLE_LIMIT: Duration = Duration::from_secs(10 * 60);
/// The longest pause between two looks at the vault.
const SETTLE_STEP: Duration = Duration::from_secs(10);
/// A progress line at least this often while waiting.
const PROGRESS: Duration = Duration::from_secs(30);

/// Checks `project`: 3–14 lower-case letters, digits and single inner dashes (the seed's
/// `aca-gh-runners` fits), so that every name the template derives from it is valid.
pub fn check_project(project: &str) -> Result<()> {
    let valid = (3..=14).contains(&project.len())
        && project.starts_with(|c: char| c.is_ascii_lowercase())
        && project.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && !project.contains("--")
        && project
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    let vault_part: String = project.chars().take(12).collect();
    if !valid || vault_part.ends_with('-') {
        return Err(Error::input(
            "parameters",
            format!(
                "`project` is `{project}`: it must be 3-14 lower-case letters, digits and single inner dashes, starting with a letter (e.g. aca-gh-runners), and its first 12 characters must not end with a dash (they name the vault kv-<project>-<suffix>)"
            ),
        ));
    }
    Ok(())
}

/// Fills what the action knows of `builtin:prerequisites`: a soft-deleted vault of this
/// project's name to recover, and the deploying principal (its object id and kind, from its
/// Azure token) that the template makes Key Vault Secrets Officer.
pub async fn fill(
    session: &Session,
    scope: &Scope,
    template: &Template,
    params: &mut Parameters,
) -> Result<()> {
    if let Some(project) = params.text("project").map(str::to_string) {
        check_project(&project)?;
        if let Scope::Subscription {
            subscription,
            location,
        } = scope
        {
            recover_vault(session, subscription, &project, location, params).await?;
        }
    }
    if params.contains("deployerObjectId") {
        return Ok(());
    }
    let token = session
        .arm_token("The deploying principal's object id comes from its Azure token: check the Azure inputs, or pass `deployerObjectId` in `parameters`")
        .await?;
    let oid = crate::azure::auth::object_id_of(&token).ok_or_else(|| {
        Error::input(
            "parameters",
            "the Azure token carries no object id (oid): pass `deployerObjectId` in `parameters`",
        )
    })?;
    say!("Deploying principal (Key Vault Secrets Officer): {oid}");
    params.set("deployerObjectId", oid);
    if template.declares("deployerPrincipalType") && !params.contains("deployerPrincipalType") {
        let kind = match crate::azure::auth::claim_of(&token, "idtyp").as_deref() {
            Some("user") => "User",
            _ => "ServicePrincipal",
        };
        params.set("deployerPrincipalType", kind);
    }
    Ok(())
}

/// A soft-deleted vault of the name the template gives this project's vault
/// (`kv-<first 12 of project>-<6 characters>`): recovered by the deployment when it is in the
/// deployment's location, else the error says what to do.
async fn recover_vault(
    session: &Session,
    subscription: &str,
    project: &str,
    location: &str,
    params: &mut Parameters,
) -> Result<()> {
    if params.contains("keyVaultCreateMode") {
        return Ok(());
    }
    let deleted = match session.arm().await?.deleted_vaults(subscription).await? {
        DeletedVaults::Found(found) => found,
        DeletedVaults::NotAllowed => {
            session.rt.warning(
                "could not look for a soft-deleted vault of this project's name (403 listing deleted vaults): if one exists, the deployment fails with ConflictError",
            );
            return Ok(());
        }
    };
    // This project's vault: its name (kv-<first 12 of project>-<6>) in its resource group.
    let prefix = format!("kv-{}-", project.chars().take(12).collect::<String>());
    let group = format!("/resourcegroups/rg-{project}/");
    let Some(vault) = deleted.into_iter().find(|v| {
        let n = &v.name;
        let name_fits = n.len() == prefix.len() + 6
            && n.starts_with(&prefix)
            && n[prefix.len()..].chars().all(|c| c.is_ascii_alphanumeric());
        name_fits && v.properties.vault_id.to_ascii_lowercase().contains(&group)
    }) else {
        return Ok(());
    };
    // The template's own `location` parameter, when given, is where the vault goes.
    let location = params.text("location").unwrap_or(location).to_string();
    let name = &vault.name;
    let props = &vault.properties;
    let deleted_in = props.location.as_str();
    let same_place =
        |a: &str, b: &str| a.replace(' ', "").eq_ignore_ascii_case(&b.replace(' ', ""));
    if !same_place(deleted_in, &location) {
        let purge = if props.purge_protection_enabled == Some(true) {
            format!(
                "purge protection keeps it until {}",
                props
                    .scheduled_purge_date
                    .as_deref()
                    .unwrap_or("its purge date")
            )
        } else {
            format!("or purge it: az keyvault purge --name {name}")
        };
        return Err(Error::input(
            "location",
            format!(
                "the vault {name} this project deploys was deleted in {deleted_in} and is still soft-deleted; it can only be recovered there: deploy with `location: {deleted_in}`, choose another `project`, {purge}"
            ),
        ));
    }
    say!(
        "Key Vault {name} was deleted on {} and is soft-deleted: the deployment recovers it (with its secrets)",
        props.deletion_date.as_deref().unwrap_or("?")
    );
    params.set("keyVaultCreateMode", "recover");
    Ok(())
}

/// After `builtin:prerequisites`: holds the deploy until the vault it made answers the
/// deploying principal (bounded; a vault behind a private endpoint is left with a warning). `output` reads a deployment output.
pub async fn wait_for_new_vault<'a>(
    session: &Session,
    output: impl Fn(&str) -> Option<&'a str>,
) -> Result<()> {
    let Some(vault) = output("keyVaultUri") else {
        return Ok(());
    };
    let secret = output("gitHubAppKeySecretUri")
        .and_then(|u| u.rsplit('/').next())
        .unwrap_or("github-app-key");
    wait_for_vault(session, vault, secret).await
}

/// Holds the deploy until the deploying principal can use the vault: a role assigned minutes
/// ago is refused (403 ForbiddenByRbac) until Azure RBAC has applied it. Bounded, with a
/// progress line every 30 s; a vault the runner cannot reach (a private endpoint) is left with
/// a warning, as rotate-key waits out a fresh assignment itself.
async fn wait_for_vault(session: &Session, vault_url: &str, secret_name: &str) -> Result<()> {
    if url::Url::parse(vault_url).is_err() {
        return Ok(());
    }
    let kv = session.key_vault(vault_url).await?;
    let started = Instant::now();
    let mut last_line = Instant::now();
    let mut pause = Duration::from_secs(1);
    let mut said = false;
    loop {
        // The version list proves the right without reading the key itself.
        match kv.versions(secret_name).await {
            Ok(_) => {
                if said {
                    say!(
                        "Key Vault {vault_url} answers the deploying principal now ({} s)",
                        started.elapsed().as_secs()
                    );
                }
                return Ok(());
            }
            Err(Error::KeyVaultForbidden { code, .. }) if code == "ForbiddenByRbac" => {
                if started.elapsed() >= SETTLE_LIMIT {
                    return Err(Error::RoleNotEffective {
                        vault: vault_url.to_string(),
                        waited_minutes: SETTLE_LIMIT.as_secs() / 60,
                    });
                }
                if !said || last_line.elapsed() >= PROGRESS {
                    say!(
                        "Waiting for the role assignment on Key Vault {vault_url} to take effect (Azure RBAC takes minutes): {} s so far",
                        started.elapsed().as_secs()
                    );
                    said = true;
                    last_line = Instant::now();
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(SETTLE_STEP);
            }
            Err(Error::Transport { host, .. }) => {
                session.rt.warning(&format!(
                    "cannot reach Key Vault {host} from this runner to confirm the role took effect (a private endpoint?); rotate-key waits out a fresh assignment itself"
                ));
                return Ok(());
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_names_are_checked() {
        for good in ["aca-gh-runners", "runners", "abc", "a1-b2"] {
            assert!(check_project(good).is_ok(), "{good}");
        }
        for bad in [
            "ab",
            "aca-gh-runners-x",
            "Runners",
            "1runners",
            "run--ners",
            "runners-",
            "abcdefghijk-x",
            "run_ners",
        ] {
            assert!(check_project(bad).is_err(), "{bad}");
        }
    }
}

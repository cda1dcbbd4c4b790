//! `deploy` of `builtin:prerequisites`: the `project` name checked before anything is sent, a
//! soft-deleted vault of the same name found and recovered, and the deploy held until the
//! deploying principal can use the vault (SPEC §3.2, §3.1.6).

use std::time::{Duration, Instant};

use azure_core::http::Method;
use serde_json::{Map, Value, json};

use crate::arm::{Arm, arm_error};
use crate::error::{Error, Result};
use crate::keyvault::KeyVault;
use crate::{Step, say};

/// `Vaults_ListDeleted`'s API version.
const KEYVAULT_API: &str = "2025-05-01";
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

/// The `project` a `parameters` YAML map sets literally, if any.
pub fn literal_project(parameters: Option<&str>) -> Option<String> {
    let yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str(parameters?).ok()?;
    yaml.get("project")?.as_str().map(str::to_string)
}

/// A soft-deleted vault of the name the template gives this project's vault
/// (`kv-<first 12 of project>-<6 characters>`): recovered by the deployment when it is in the
/// deployment's location, else the error says what to do.
pub async fn recover_vault(
    step: &Step,
    subscription: &str,
    project: &str,
    location: &str,
    params: &mut Map<String, Value>,
) -> Result<()> {
    if params.contains_key("keyVaultCreateMode") {
        return Ok(());
    }
    let (cloud, credential) = step.azure().await?;
    let arm = Arm::new(
        cloud.resource_manager.clone(),
        credential.clone(),
        &step.http,
    );
    let prefix = format!("kv-{}-", project.chars().take(12).collect::<String>());
    let group = format!("/resourcegroups/rg-{project}/");
    let mut url =
        format!("/subscriptions/{subscription}/providers/Microsoft.KeyVault/deletedVaults");
    let mut api = Some(KEYVAULT_API);
    let mut found = None;
    while found.is_none() {
        let resp = arm.send(Method::Get, &url, api, None).await?;
        if resp.status == 403 {
            step.rt.warning(
                "could not look for a soft-deleted vault of this project's name (403 listing deleted vaults): if one exists, the deployment fails with ConflictError",
            );
            return Ok(());
        }
        if resp.status != 200 {
            return Err(arm_error("listing soft-deleted vaults", &resp));
        }
        // This project's vault: its name (kv-<first 12 of project>-<6>) in its resource group.
        found = resp.body["value"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|v| {
                let name_fits = v["name"].as_str().is_some_and(|n| {
                    n.len() == prefix.len() + 6
                        && n.starts_with(&prefix)
                        && n[prefix.len()..].chars().all(|c| c.is_ascii_alphanumeric())
                });
                let group_fits = v["properties"]["vaultId"]
                    .as_str()
                    .is_some_and(|id| id.to_ascii_lowercase().contains(&group));
                name_fits && group_fits
            })
            .cloned();
        match resp.body["nextLink"].as_str() {
            Some(next) if !next.is_empty() && found.is_none() => {
                url = next.to_string();
                api = None;
            }
            _ => break,
        }
    }
    let Some(vault) = found else {
        return Ok(());
    };
    // The template's own `location` parameter, when given, is where the vault goes.
    let location = params
        .get("location")
        .and_then(|p| p["value"].as_str())
        .unwrap_or(location)
        .to_string();
    let location = location.as_str();
    let name = vault["name"].as_str().unwrap_or_default();
    let props = &vault["properties"];
    let deleted_in = props["location"].as_str().unwrap_or_default();
    let same_place =
        |a: &str, b: &str| a.replace(' ', "").eq_ignore_ascii_case(&b.replace(' ', ""));
    if !same_place(deleted_in, location) {
        let purge = if props["purgeProtectionEnabled"].as_bool() == Some(true) {
            format!(
                "purge protection keeps it until {}",
                props["scheduledPurgeDate"]
                    .as_str()
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
        props["deletionDate"].as_str().unwrap_or("?")
    );
    params.insert("keyVaultCreateMode".into(), json!({ "value": "recover" }));
    Ok(())
}

/// Holds the deploy until the deploying principal can use the vault: a role assigned minutes
/// ago is refused (403 ForbiddenByRbac) until Azure RBAC has applied it. Bounded, with a
/// progress line every 30 s; a vault the runner cannot reach (a private endpoint) is left with
/// a warning, as rotate-key waits out a fresh assignment itself.
pub async fn wait_for_vault(step: &Step, vault_url: &str, secret_name: &str) -> Result<()> {
    let Ok(url) = url::Url::parse(vault_url) else {
        return Ok(());
    };
    let (cloud, credential) = step.azure_key_vault().await?;
    let kv = KeyVault::new(url, &cloud.key_vault_suffix, credential.clone(), &step.http)?;
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
                step.rt.warning(&format!(
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

    #[test]
    fn a_literal_project_is_read_from_parameters() {
        assert_eq!(
            literal_project(Some("project: aca-gh-runners\nother: 1\n")).as_deref(),
            Some("aca-gh-runners")
        );
        assert_eq!(literal_project(Some("project: { output: x }\n")), None);
        assert_eq!(literal_project(None), None);
    }
}

//! What ARM's resource providers refuse in a deployment's resources: a Container Apps Job that
//! does not match the `Job` definition of the official Microsoft.App description, or that the
//! Container Apps service itself would reject (CPU/memory combination, init container CPU,
//! references to secrets, volumes and identities that are not there), and a Key Vault created
//! under the name of a soft-deleted one.

use crate::DeletedVault;
use serde_json::Value;
use std::sync::OnceLock;

fn jobs_description() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| {
        serde_json::from_str(include_str!("../../api-specs/containerapps-jobs.json"))
            .unwrap_or(Value::Null)
    })
}

fn gib(memory: &Value) -> Option<f64> {
    let m = memory.as_str()?;
    m.strip_suffix("Gi").unwrap_or(m).trim().parse().ok()
}

/// The error code and message the service gives a resource it refuses, if it does.
pub(crate) fn problem(rtype: &str, body: &Value) -> Option<(String, String)> {
    if !rtype.eq_ignore_ascii_case("Microsoft.App/jobs") {
        return None;
    }
    let schema = serde_json::json!({"$ref": "#/definitions/Job"});
    let errors = crate::contract::validate(jobs_description(), &schema, body);
    if !errors.is_empty() {
        return Some((
            "InvalidRequestContent".into(),
            format!(
                "The request content was invalid and could not be deserialized: {}",
                errors.join("; ")
            ),
        ));
    }
    let template = body.pointer("/properties/template")?;
    let containers = template.get("containers").and_then(Value::as_array)?;
    let (mut cpu, mut memory) = (0.0f64, 0.0f64);
    for c in containers {
        cpu += c
            .pointer("/resources/cpu")
            .and_then(Value::as_f64)
            .unwrap_or(0.5);
        memory += c.pointer("/resources/memory").and_then(gib).unwrap_or(1.0);
    }
    let quarters = cpu * 4.0;
    let offered = (1.0..=16.0).contains(&quarters)
        && (quarters - quarters.round()).abs() < 1e-9
        && (memory - 2.0 * cpu).abs() < 1e-6;
    if !offered {
        return Some((
            "ContainerAppInvalidResourceTotal".into(),
            format!(
                "The total requested CPU and memory resources for this application (CPU: {cpu}, memory: {memory}Gi) is invalid. Total CPU and memory for all containers defined in a Container App must add up to one of the following CPU - Memory combinations: [cpu: 0.25, memory: 0.5Gi]; [cpu: 0.5, memory: 1.0Gi]; … [cpu: 4.0, memory: 8.0Gi]"
            ),
        ));
    }
    let inits = template
        .get("initContainers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for init in &inits {
        let init_cpu = init
            .pointer("/resources/cpu")
            .and_then(Value::as_f64)
            .unwrap_or(0.25);
        if init_cpu > cpu + 1e-9 {
            return Some((
                "ContainerAppInitContainersInvalidCpu".into(),
                format!(
                    "Invalid init container resources: an init container can not be allocated more CPU than the total CPU {cpu} allocated for all app containers."
                ),
            ));
        }
    }
    let config = body.pointer("/properties/configuration");
    let secrets: Vec<&str> = config
        .and_then(|c| c.get("secrets"))
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|s| s.get("name")?.as_str()).collect())
        .unwrap_or_default();
    let volumes: Vec<&str> = template
        .get("volumes")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|v| v.get("name")?.as_str()).collect())
        .unwrap_or_default();
    for c in containers.iter().chain(inits.iter()) {
        for e in c.get("env").and_then(Value::as_array).into_iter().flatten() {
            if let Some(r) = e.get("secretRef").and_then(Value::as_str)
                && !secrets.contains(&r)
            {
                return Some((
                    "ContainerAppSecretRefNotFound".into(),
                    format!("SecretRef '{r}' defined for container is not found."),
                ));
            }
        }
        for m in c
            .get("volumeMounts")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(v) = m.get("volumeName").and_then(Value::as_str)
                && !volumes.contains(&v)
            {
                return Some((
                    "ContainerAppVolumeMountNotFound".into(),
                    format!("Volume mount '{v}' is not defined in the template's volumes."),
                ));
            }
        }
    }
    let assigned: Vec<String> = body
        .pointer("/identity/userAssignedIdentities")
        .and_then(Value::as_object)
        .map(|m| m.keys().map(|k| k.to_ascii_lowercase()).collect())
        .unwrap_or_default();
    for s in config
        .and_then(|c| c.get("identitySettings"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let id = s
            .get("identity")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !id.eq_ignore_ascii_case("system") && !assigned.contains(&id.to_ascii_lowercase()) {
            return Some((
                "InvalidIdentitySettings".into(),
                format!("Identity '{id}' in identitySettings is not assigned to the job."),
            ));
        }
    }
    None
}

/// A vault created under the name of a soft-deleted one without `createMode: recover`.
pub(crate) fn soft_deleted_conflict(
    deleted_vaults: &[DeletedVault],
    rtype: &str,
    name: &str,
    body: &Value,
) -> Option<(String, String)> {
    if !rtype.eq_ignore_ascii_case("Microsoft.KeyVault/vaults") {
        return None;
    }
    let deleted = deleted_vaults
        .iter()
        .any(|v| v.name.eq_ignore_ascii_case(name));
    let recover = body
        .pointer("/properties/createMode")
        .and_then(Value::as_str)
        == Some("recover");
    match (deleted, recover) {
        (true, false) => Some((
            "ConflictError".into(),
            "A vault with the same name already exists in deleted state. You need to either recover or purge existing key vault.".into(),
        )),
        (false, true) => Some((
            "NotFound".into(),
            format!("The deleted vault '{name}' was not found and cannot be recovered."),
        )),
        _ => None,
    }
}

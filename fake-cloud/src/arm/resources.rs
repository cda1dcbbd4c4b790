//! What ARM's resource providers refuse in a deployment's resources: a resource of a described
//! type whose `apiVersion` has no description, or whose body does not match that api-version's
//! `PUT` body in the official description (`api-specs/`: Container Apps jobs and environments,
//! virtual networks and subnets, private endpoints and their DNS zone groups, NAT gateways,
//! public IP addresses, private DNS zones and their virtual network links, registries and
//! vaults); a Container Apps Job that the Container Apps service itself would reject (CPU/memory
//! combination, init container CPU, references to secrets, volumes and identities that are not
//! there); and a Key Vault created under the name of a soft-deleted one.
//!
//! A type no description names is not checked. Real ARM answers an unknown api-version already
//! at preflight (`NoRegisteredProviderFound`, listing every version the provider serves); the
//! fake fails that resource's operation instead, and lists the versions it has descriptions of.

use crate::DeletedVault;
use serde_json::Value;
use std::sync::OnceLock;

/// The descriptions deployments' resources are checked against, one api-version each.
const DESCRIPTIONS: [&str; 7] = [
    include_str!("../../api-specs/containerapps-jobs.json"),
    include_str!("../../api-specs/containerapps-environments.json"),
    include_str!("../../api-specs/network.json"),
    include_str!("../../api-specs/privatedns-zones.json"),
    include_str!("../../api-specs/containerregistry-2023-07-01.json"),
    include_str!("../../api-specs/containerregistry-2025-11-01.json"),
    include_str!("../../api-specs/keyvault-vaults.json"),
];

/// One description: its api-version and the `PUT` body schema of each resource type it creates.
struct Description {
    doc: Value,
    api_version: String,
    /// (`Microsoft.Network/virtualNetworks/subnets`, the body parameter's schema)
    puts: Vec<(String, Value)>,
}

fn descriptions() -> &'static [Description] {
    static ALL: OnceLock<Vec<Description>> = OnceLock::new();
    ALL.get_or_init(|| DESCRIPTIONS.iter().map(|text| describe(text)).collect())
}

fn describe(text: &str) -> Description {
    let doc: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    let api_version = doc
        .pointer("/info/version")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let puts = doc
        .get("paths")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(path, item)| {
            let body = item
                .pointer("/put/parameters")?
                .as_array()?
                .iter()
                .find(|p| p.get("in").and_then(Value::as_str) == Some("body"))?;
            Some((resource_type(path)?, body.get("schema")?.clone()))
        })
        .collect();
    Description {
        doc,
        api_version,
        puts,
    }
}

/// The resource type a resource path template names:
/// `…/providers/Microsoft.Network/virtualNetworks/{a}/subnets/{b}` →
/// `Microsoft.Network/virtualNetworks/subnets`.
fn resource_type(path: &str) -> Option<String> {
    let (_, tail) = path.rsplit_once("/providers/")?;
    let (namespace, rest) = tail.split_once('/')?;
    let segs: Vec<&str> = rest.split('/').collect();
    // Type and name alternate, and the path ends with a name.
    let named = segs
        .chunks(2)
        .all(|c| c.get(1).is_some_and(|n| n.starts_with('{')));
    named.then(|| {
        let types: Vec<&str> = segs.iter().step_by(2).copied().collect();
        format!("{namespace}/{}", types.join("/"))
    })
}

/// Checks a resource against its type's description at `api_version`, if the type has one.
fn against_description(rtype: &str, api_version: &str, body: &Value) -> Option<(String, String)> {
    let of_type = |d: &'static Description| {
        d.puts
            .iter()
            .find(|(t, _)| t.eq_ignore_ascii_case(rtype))
            .map(|(_, schema)| (d, schema))
    };
    let described: Vec<(&Description, &Value)> =
        descriptions().iter().filter_map(of_type).collect();
    if described.is_empty() {
        return None;
    }
    let Some((d, schema)) = described
        .iter()
        .find(|(d, _)| d.api_version.eq_ignore_ascii_case(api_version))
    else {
        let versions: Vec<&str> = described
            .iter()
            .map(|(d, _)| d.api_version.as_str())
            .collect();
        let location = body
            .get("location")
            .and_then(Value::as_str)
            .unwrap_or("global");
        let short = rtype.split_once('/').map_or(rtype, |(_, t)| t);
        return Some((
            "NoRegisteredProviderFound".into(),
            format!(
                "No registered resource provider found for location '{location}' and API version '{api_version}' for type '{short}'. The supported api-versions are '{}'. (fake-cloud lists the api-versions it has an official description of, in fake-cloud/api-specs.)",
                versions.join(", ")
            ),
        ));
    };
    let errors = crate::contract::validate(&d.doc, schema, body);
    (!errors.is_empty()).then(|| {
        (
            "InvalidRequestContent".into(),
            format!(
                "The request content was invalid and could not be deserialized: {}",
                errors.join("; ")
            ),
        )
    })
}

fn gib(memory: &Value) -> Option<f64> {
    let m = memory.as_str()?;
    m.strip_suffix("Gi").unwrap_or(m).trim().parse().ok()
}

/// The error code and message the service gives a resource it refuses, if it does.
pub(crate) fn problem(rtype: &str, api_version: &str, body: &Value) -> Option<(String, String)> {
    if let Some(refused) = against_description(rtype, api_version, body) {
        return Some(refused);
    }
    if !rtype.eq_ignore_ascii_case("Microsoft.App/jobs") {
        return None;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_types_are_read_from_put_paths() {
        let rg = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers";
        let of = |tail: &str| resource_type(&format!("{rg}/{tail}"));
        assert_eq!(
            of("Microsoft.Network/virtualNetworks/{virtualNetworkName}/subnets/{subnetName}")
                .as_deref(),
            Some("Microsoft.Network/virtualNetworks/subnets")
        );
        assert_eq!(
            of("Microsoft.App/jobs/{jobName}").as_deref(),
            Some("Microsoft.App/jobs")
        );
        assert_eq!(of("Microsoft.App/jobs/{jobName}/start"), None);
        assert_eq!(of("Microsoft.App/jobs"), None);
        // Every description creates something, and each (type, api-version) once.
        let mut seen = Vec::new();
        for d in descriptions() {
            assert!(!d.puts.is_empty(), "{} has no PUT", d.api_version);
            for (t, _) in &d.puts {
                let key = (t.to_ascii_lowercase(), d.api_version.clone());
                assert!(!seen.contains(&key), "{key:?} twice");
                seen.push(key);
            }
        }
        assert_eq!(seen.len(), 13, "{seen:?}");
    }
}

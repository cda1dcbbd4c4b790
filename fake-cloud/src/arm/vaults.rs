//! Key Vaults as ARM resources (`Vaults_ListBySubscription`, api-version 2025-05-01): the vaults
//! deployments created or, before any did, the one the fake's Key Vault data plane is (named
//! by the seed's `vault_name`, `vault_resource_group`, `vault_location`). Each is shaped as the
//! description's `Vault` (`id`, `name`, `type`, `location`, `tags`, `properties` with `tenantId`,
//! `sku`, `accessPolicies`, `vaultUri`, `enableRbacAuthorization`, …).

use crate::state::State;
use crate::util::Resp;
use serde_json::{Map, Value, json};

/// The URI of vault `name`: its production host under `public_hosts`, else the listener (the
/// data plane serves every vault there).
pub(super) fn vault_uri(st: &State, name: &str) -> String {
    if st.public_hosts {
        format!("https://{}.vault.azure.net/", name.to_ascii_lowercase())
    } else {
        format!("{}/", st.listener_url)
    }
}

/// A vault as ARM shows it. `declared`: the properties it was deployed with (`None` for the
/// seeded vault, which uses RBAC); what the description marks read-only is filled in.
fn view(
    st: &State,
    rg: &str,
    name: &str,
    location: &str,
    tags: Value,
    declared: Option<&Map<String, Value>>,
) -> Value {
    let sub = &st.seed.subscription_id;
    let mut props = json!({
        "tenantId": st.seed.tenant_id,
        "sku": {"family": "A", "name": "standard"},
        "accessPolicies": [],
        "enabledForDeployment": false,
        "enabledForDiskEncryption": false,
        "enabledForTemplateDeployment": false,
        "enableSoftDelete": true,
        "softDeleteRetentionInDays": 90,
        // The description: "If null or not specified, the vault is created with the default
        // value of false."
        "enableRbacAuthorization": declared.is_none(),
        "publicNetworkAccess": "Enabled",
    });
    if let (Some(declared), Some(p)) = (declared, props.as_object_mut()) {
        p.extend(declared.clone());
    }
    props["vaultUri"] = json!(vault_uri(st, name));
    props["provisioningState"] = json!("Succeeded");
    if let Some(rbac) = st.arm.vault_rbac.get(&name.to_ascii_lowercase()) {
        props["enableRbacAuthorization"] = json!(rbac);
    }
    json!({
        "id": format!("/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.KeyVault/vaults/{name}"),
        "name": name,
        "type": "Microsoft.KeyVault/vaults",
        "location": location,
        "tags": tags,
        "properties": props,
    })
}

/// The resource group in a resource id (`/subscriptions/…/resourceGroups/{rg}/…`).
fn group_of(id: &str) -> &str {
    let segs: Vec<&str> = id.trim_start_matches('/').split('/').collect();
    segs.iter()
        .position(|s| s.eq_ignore_ascii_case("resourceGroups"))
        .and_then(|i| segs.get(i + 1))
        .copied()
        .unwrap_or_default()
}

/// `GET /subscriptions/{sub}/providers/Microsoft.KeyVault/vaults`.
pub(super) fn list(st: &State) -> Resp {
    let text = |r: &Value, k: &str| {
        r.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let mut value: Vec<Value> = st
        .arm
        .of_type("Microsoft.KeyVault/vaults")
        .map(|r| {
            let id = text(r, "id");
            view(
                st,
                group_of(&id),
                &text(r, "name"),
                &text(r, "location"),
                r.get("tags").cloned().unwrap_or_else(|| json!({})),
                Some(
                    r.get("properties")
                        .and_then(Value::as_object)
                        .unwrap_or(&Map::new()),
                ),
            )
        })
        .collect();
    if value.is_empty() {
        let seed = &st.seed;
        value.push(view(
            st,
            &seed.vault_resource_group,
            &seed.vault_name,
            &seed.vault_location,
            json!({}),
            None,
        ));
    }
    Resp::json(200, &json!({"value": value}))
}

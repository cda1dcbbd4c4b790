//! What a subscription shows besides its deployments and jobs: itself (what `az login` lists)
//! and its soft-deleted Key Vaults.

use crate::state::State;
use crate::util::Resp;
use serde_json::{Value, json};

/// The seeded subscription, as `GET /subscriptions[/{id}]` lists it (another id is a 404
/// before this is reached).
pub(super) fn subscriptions(st: &State, id: Option<&str>) -> Resp {
    let sub = &st.seed.subscription_id;
    let one = json!({
        "id": format!("/subscriptions/{sub}"),
        "authorizationSource": "RoleBased",
        "managedByTenants": [],
        "subscriptionId": sub,
        "tenantId": st.seed.tenant_id,
        "displayName": "fake-cloud subscription",
        "state": "Enabled",
        "subscriptionPolicies": {
            "locationPlacementId": "Public_2014-09-01",
            "quotaId": "PayAsYouGo_2014-09-01",
            "spendingLimit": "Off",
        },
    });
    match id {
        None => Resp::json(
            200,
            &json!({"value": [one], "count": {"type": "Total", "value": 1}}),
        ),
        Some(_) => Resp::json(200, &one),
    }
}

/// `Vaults_ListDeleted`.
pub(super) fn deleted_vaults(st: &State, sub: &str) -> Resp {
    let value: Vec<Value> = st
        .seed
        .deleted_vaults
        .iter()
        .map(|v| {
            json!({
                "id": format!("/subscriptions/{sub}/providers/Microsoft.KeyVault/locations/{}/deletedVaults/{}", v.location, v.name),
                "name": v.name,
                "type": "Microsoft.KeyVault/deletedVaults",
                "properties": {
                    "vaultId": format!("/subscriptions/{sub}/resourceGroups/{}/providers/Microsoft.KeyVault/vaults/{}", v.resource_group, v.name),
                    "location": v.location,
                    "deletionDate": "2026-11-01T10:00:00Z",
                    "scheduledPurgeDate": "2027-01-30T10:00:00Z",
                    "purgeProtectionEnabled": v.purge_protection,
                    "tags": {},
                },
            })
        })
        .collect();
    Resp::json(200, &json!({"value": value}))
}

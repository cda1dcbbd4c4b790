//! A virtual network's subnet (`Subnets_Get`), read from the resource registry: a subnet seeded
//! as a resource of its own, or one listed in its virtual network's `properties.subnets` (as a
//! template creates them).

use crate::state::State;
use crate::util::{Resp, azure_error};
use serde_json::{Value, json};

/// `GET …/virtualNetworks/{vnet}/subnets/{name}`.
pub(super) fn subnet(st: &State, sub: &str, rg: &str, vnet: &str, name: &str) -> Resp {
    let vnet_id = format!(
        "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Network/virtualNetworks/{vnet}"
    );
    let id = format!("{vnet_id}/subnets/{name}");
    let found = st.arm.resource(&id).cloned().or_else(|| {
        st.arm
            .resource(&vnet_id)?
            .pointer("/properties/subnets")?
            .as_array()?
            .iter()
            .find(|s| {
                s.get("name")
                    .and_then(Value::as_str)
                    .is_some_and(|n| n.eq_ignore_ascii_case(name))
            })
            .cloned()
    });
    match found {
        Some(s) => Resp::json(
            200,
            &json!({
                "id": id,
                "name": name,
                "type": "Microsoft.Network/virtualNetworks/subnets",
                "properties": s.get("properties").cloned().unwrap_or_else(|| json!({})),
            }),
        ),
        None => azure_error(404, "NotFound", &format!("Resource {id} not found.")),
    }
}

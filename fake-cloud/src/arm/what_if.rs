//! What-If: a deployment's predicted changes against the resource registry (Create, Modify with
//! a property delta, NoChange, and Delete in Complete mode), answered after a delay as ARM's
//! long-running operation.

use super::ids::{scope_path, what_if_url};
use super::template::evaluate;
use crate::WhatIfRecord;
use crate::state::{State, WhatIf};
use crate::util::{Req, Resp, azure_error, random_uuid};
use serde_json::{Map, Value, json};
use std::time::Instant;

impl WhatIf {
    /// The public record.
    pub(crate) fn record(&self) -> WhatIfRecord {
        WhatIfRecord {
            scope_path: scope_path(&self.sub, self.rg.as_deref()),
            name: self.name.clone(),
            request_body: self.request_body.clone(),
        }
    }
}

/// Differences between two values of a property (children one level deep).
fn prop_change(path: &str, before: Option<&Value>, after: Option<&Value>) -> Option<Value> {
    match (before, after) {
        (None, None) => None,
        (Some(b), Some(a)) if a == b => None,
        (None, Some(a)) => Some(json!({"path": path, "propertyChangeType": "Create", "after": a})),
        (Some(b), None) => Some(json!({"path": path, "propertyChangeType": "Delete", "before": b})),
        (Some(b), Some(a)) => {
            let mut c =
                json!({"path": path, "propertyChangeType": "Modify", "before": b, "after": a});
            if let (Value::Object(bo), Value::Object(ao)) = (b, a) {
                let keys: std::collections::BTreeSet<&String> =
                    bo.keys().chain(ao.keys()).collect();
                let children: Vec<Value> = keys
                    .into_iter()
                    .filter_map(|k| prop_change(k, bo.get(k), ao.get(k)))
                    .collect();
                c["children"] = Value::Array(children);
            }
            Some(c)
        }
    }
}

/// The predicted property changes of a resource (`properties.*` keys and other top-level keys).
fn delta(before: &Value, after: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    let empty = Map::new();
    let bo = before.as_object().unwrap_or(&empty);
    let ao = after.as_object().unwrap_or(&empty);
    let keys: std::collections::BTreeSet<&String> = bo.keys().chain(ao.keys()).collect();
    for k in keys {
        if matches!(k.as_str(), "id" | "name" | "type") {
            continue;
        }
        if k == "properties" {
            let bp = bo.get(k).and_then(Value::as_object).unwrap_or(&empty);
            let ap = ao.get(k).and_then(Value::as_object).unwrap_or(&empty);
            let pkeys: std::collections::BTreeSet<&String> = bp.keys().chain(ap.keys()).collect();
            out.extend(
                pkeys.into_iter().filter_map(|pk| {
                    prop_change(&format!("properties.{pk}"), bp.get(pk), ap.get(pk))
                }),
            );
        } else if let Some(c) = prop_change(k, bo.get(k), ao.get(k)) {
            out.push(c);
        }
    }
    out
}

/// `POST …/whatIf`: the predicted changes are computed now and answered after
/// `arm_whatif_ms` at the `Location` URL (202 until then).
pub(super) fn post(st: &mut State, sub: &str, rg: Option<&str>, name: &str, req: &Req) -> Resp {
    let (body, location, p) = match evaluate(st, sub, rg, name, req) {
        Ok(e) => e,
        Err(r) => return r,
    };
    let mut changes = Vec::new();
    // Nested deployments are expanded into their resources, not reported themselves (as
    // ARM's What-If shows them).
    for r in p.resources.iter().filter(|r| {
        !r.id
            .to_ascii_lowercase()
            .contains("/providers/microsoft.resources/deployments/")
    }) {
        let (id, after) = (&r.id, &r.body);
        let change = match st.arm.resource(id) {
            None => json!({"resourceId": id, "changeType": "Create", "after": after}),
            Some(before) => {
                let d = delta(before, after);
                if d.is_empty() {
                    json!({"resourceId": id, "changeType": "NoChange", "before": before})
                } else {
                    json!({"resourceId": id, "changeType": "Modify", "before": before, "after": after, "delta": d})
                }
            }
        };
        changes.push(change);
    }
    if p.mode == "Complete"
        && let Some(rg) = rg
    {
        let prefix = format!("{}/providers/", scope_path(sub, Some(rg))).to_ascii_lowercase();
        for (id, before) in &st.arm.registry {
            let lid = id.to_ascii_lowercase();
            if lid.starts_with(&prefix)
                && !p.resources.iter().any(|r| r.id.eq_ignore_ascii_case(id))
            {
                changes.push(json!({"resourceId": id, "changeType": "Delete", "before": before}));
            }
        }
    }
    let id = random_uuid();
    let loc = location
        .unwrap_or_else(|| "westus".into())
        .replace(' ', "")
        .to_ascii_lowercase();
    let location_url = what_if_url(&st.url, sub, &loc, &id);
    st.arm.what_ifs.push(WhatIf {
        id,
        sub: sub.to_string(),
        rg: rg.map(str::to_string),
        name: name.to_string(),
        location: loc,
        request_body: body,
        started: Instant::now(),
        changes,
    });
    Resp::empty(202)
        .with_header("location", location_url)
        .with_header("retry-after", st.seed.arm_retry_after_secs.to_string())
}

/// The result of a What-If, polled at its `Location` URL.
pub(super) fn result(st: &State, id: &str) -> Resp {
    let Some(w) = st
        .arm
        .what_ifs
        .iter()
        .find(|w| w.id.eq_ignore_ascii_case(id))
    else {
        return azure_error(
            404,
            "OperationNotFound",
            &format!("The operation '{id}' could not be found."),
        );
    };
    if w.started.elapsed().as_millis() < u128::from(st.seed.arm_whatif_ms) {
        return Resp::empty(202)
            .with_header("location", what_if_url(&st.url, &w.sub, &w.location, &w.id))
            .with_header("retry-after", st.seed.arm_retry_after_secs.to_string());
    }
    Resp::json(
        200,
        &json!({"status": "Succeeded", "properties": {"changes": w.changes}}),
    )
}

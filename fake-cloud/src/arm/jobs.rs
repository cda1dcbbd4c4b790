//! Container Apps: jobs (GET, PUT and the status of a PUT's async operation), container apps
//! (GET, PUT), the subscription's lists of both and a resource group's jobs. They live in the resource registry, with
//! the jobs a deployment creates; secret values are kept there and never shown.

use super::ids::{app_id, job_id, job_status_url};
use super::template::body_object;
use crate::state::State;
use crate::util::{Req, Resp, azure_error, random_uuid, rfc3339};
use serde_json::{Value, json};
use time::OffsetDateTime;

/// A job as stored, if any.
pub(crate) fn stored_job(st: &State, rg: &str, name: &str) -> Option<Value> {
    st.arm
        .resource(&job_id(&st.seed.subscription_id, rg, name))
        .cloned()
}

/// A resource body (an object; anything else counts as `{}`) with its `id`, `name` and `type`.
fn named(resource: Value, id: &str, name: &str, rtype: &str) -> Value {
    let mut resource = match resource {
        Value::Object(m) => Value::Object(m),
        _ => json!({}),
    };
    resource["id"] = json!(id);
    resource["name"] = json!(name);
    resource["type"] = json!(rtype);
    resource
}

/// Stores a job (filling in `id`, `name`, `type`, default `location`); returns it.
pub(crate) fn store_job(st: &mut State, rg: &str, name: &str, job: Value) -> Value {
    let id = job_id(&st.seed.subscription_id, rg, name);
    let mut job = named(job, &id, name, "Microsoft.App/jobs");
    if job.get("location").and_then(Value::as_str).is_none() {
        job["location"] = json!("westus");
    }
    if let Some(props) = job.get_mut("properties").and_then(Value::as_object_mut) {
        for k in [
            "provisioningState",
            "outboundIpAddresses",
            "eventStreamEndpoint",
        ] {
            props.remove(k);
        }
    } else {
        job["properties"] = json!({});
    }
    job.as_object_mut().map(|m| m.remove("systemData"));
    st.arm.put_resource(&id, job.clone());
    job
}

/// A job as the GET returns it: secret values omitted, provisioning state added.
fn job_view(job: &Value) -> Value {
    let mut v = job.clone();
    if let Some(secrets) = v
        .pointer_mut("/properties/configuration/secrets")
        .and_then(Value::as_array_mut)
    {
        for s in secrets.iter_mut().filter_map(Value::as_object_mut) {
            s.remove("value");
        }
    }
    if let Some(p) = v.get_mut("properties").and_then(Value::as_object_mut) {
        p.insert("provisioningState".into(), json!("Succeeded"));
    }
    v
}

/// ARM's 404 for job `rg/name`.
pub(super) fn not_found(rg: &str, name: &str) -> Resp {
    azure_error(
        404,
        "ResourceNotFound",
        &format!(
            "The Resource 'Microsoft.App/jobs/{name}' under resource group '{rg}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix"
        ),
    )
}

/// `GET` of a job (secret values omitted).
pub(super) fn get(st: &State, rg: &str, name: &str) -> Resp {
    match stored_job(st, rg, name) {
        Some(job) => Resp::json(200, &job_view(&job)),
        None => not_found(rg, name),
    }
}

/// `PUT` of a job: stored at once (the async operation it names has already succeeded).
pub(super) fn put(st: &mut State, rg: &str, name: &str, req: &Req) -> Resp {
    let body = match body_object(req) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let location = body
        .get("location")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| {
            stored_job(st, rg, name).and_then(|j| {
                j.get("location")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
        });
    let Some(location) = location else {
        return azure_error(
            400,
            "LocationRequired",
            "The location property is required for this definition.",
        );
    };
    let mut body = body;
    body["location"] = json!(location);
    let job = store_job(st, rg, name, body);
    let op = random_uuid();
    st.arm
        .job_ops
        .insert(op.clone(), job_id(&st.seed.subscription_id, rg, name));
    let loc = location.replace(' ', "").to_ascii_lowercase();
    Resp::json(200, &job_view(&job)).with_header(
        "azure-asyncoperation",
        job_status_url(&st.url, &st.seed.subscription_id, &loc, &op),
    )
}

/// The status of a job PUT's async operation.
pub(super) fn status(st: &State, req: &Req, op: &str) -> Resp {
    match st.arm.job_ops.get(op) {
        None => azure_error(
            404,
            "OperationNotFound",
            &format!("The operation '{op}' could not be found."),
        ),
        Some(_) => Resp::json(
            200,
            &json!({
                "id": req.path,
                "name": op,
                "status": "Succeeded",
                "startTime": rfc3339(OffsetDateTime::now_utc()),
            }),
        ),
    }
}

/// Every resource of type `kind` (`Microsoft.App/jobs` or `Microsoft.App/containerApps`).
pub(super) fn list(st: &State, kind: &str) -> Resp {
    let value: Vec<Value> = st.arm.of_type(kind).map(job_view).collect();
    Resp::json(200, &json!({"value": value, "nextLink": null}))
}

/// `Jobs_ListByResourceGroup`: the jobs of resource group `rg`.
pub(super) fn list_group(st: &State, sub: &str, rg: &str) -> Resp {
    let prefix = format!("/subscriptions/{sub}/resourceGroups/{rg}/").to_ascii_lowercase();
    let value: Vec<Value> = st
        .arm
        .of_type("Microsoft.App/jobs")
        .filter(|j| {
            j.get("id")
                .and_then(Value::as_str)
                .is_some_and(|id| id.to_ascii_lowercase().starts_with(&prefix))
        })
        .map(job_view)
        .collect();
    Resp::json(200, &json!({"value": value, "nextLink": null}))
}

/// `GET` of a container app.
pub(super) fn get_app(st: &State, rg: &str, name: &str) -> Resp {
    match stored_app(st, rg, name) {
        Some(app) => Resp::json(200, &job_view(&app)),
        None => azure_error(
            404,
            "ResourceNotFound",
            &format!(
                "The Resource 'Microsoft.App/containerApps/{name}' under resource group '{rg}' was not found."
            ),
        ),
    }
}

/// A container app as stored, if any.
pub(crate) fn stored_app(st: &State, rg: &str, name: &str) -> Option<Value> {
    st.arm
        .resource(&app_id(&st.seed.subscription_id, rg, name))
        .cloned()
}

/// Stores a container app as given, with `id`, `name` and `type` filled in; returns it.
pub(crate) fn store_app(st: &mut State, sub: &str, rg: &str, name: &str, app: Value) -> Value {
    let id = app_id(sub, rg, name);
    let app = named(app, &id, name, "Microsoft.App/containerApps");
    st.arm.put_resource(&id, app.clone());
    app
}

/// `PUT` of a container app.
pub(super) fn put_app(st: &mut State, sub: &str, rg: &str, name: &str, req: &Req) -> Resp {
    match body_object(req) {
        Ok(app) => Resp::json(200, &job_view(&store_app(st, sub, rg, name, app))),
        Err(r) => r,
    }
}

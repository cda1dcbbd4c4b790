//! Container Apps job executions (`JobsExecutions_List`): what tests added with
//! [`crate::FakeCloud::add_job_execution`], newest first, each shaped as the 2025-07-01
//! description's `JobExecution` (`name`, `id`, `type`, `properties`: `status`, `startTime`,
//! `endTime`, `template` from the job's containers).

use super::ids::job_id;
use super::jobs::{not_found, stored_job};
use crate::state::State;
use crate::util::{Req, Resp, now_unix, random_hex, rfc3339, stable_id};
use crate::{ContainerExit, JobExecution};
use serde_json::{Value, json};

/// The first API version whose Jobs description has `properties.detailedStatus`.
const DETAILED_STATUS_SINCE: &str = "2025-10-02";

/// RFC 3339 of unix seconds.
fn at(unix: i64) -> String {
    rfc3339(
        time::OffsetDateTime::from_unix_timestamp(unix).unwrap_or(time::OffsetDateTime::UNIX_EPOCH),
    )
}

/// Stores an execution of job `rg/job` (its name and start filled in); returns its name.
pub(crate) fn add(st: &mut State, rg: &str, job: &str, mut execution: JobExecution) -> String {
    if execution.name.is_empty() {
        execution.name = format!("{job}-{}", random_hex(7));
    }
    execution.start = Some(execution.start.unwrap_or_else(now_unix));
    let name = execution.name.clone();
    let key = job_id(&st.seed.subscription_id, rg, job).to_ascii_lowercase();
    st.arm.executions.entry(key).or_default().push(execution);
    name
}

/// The job's containers (or init containers) as an execution template lists them.
fn containers(job: &Value, kind: &str) -> Vec<Value> {
    job.pointer(&format!("/properties/template/{kind}"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|c| {
            let mut out = json!({});
            for k in ["image", "name", "command", "args", "env", "resources"] {
                if let Some(v) = c.get(k) {
                    out[k] = v.clone();
                }
            }
            out
        })
        .collect()
}

/// `properties.detailedStatus` of an execution whose container ended with `exit`.
fn detailed_status(execution: &str, container: &str, exit: &ContainerExit) -> Value {
    json!({"replicas": [{
        "name": format!("{execution}-{:05x}", stable_id(execution) & 0xf_ffff),
        "containers": [{
            "name": container,
            "code": exit.code,
            "additionalInformation": exit.additional_information,
        }],
    }]})
}

/// `GET …/jobs/{job}/executions`: 404 when the job does not exist.
pub(super) fn list(st: &State, rg: &str, job: &str, req: &Req) -> Resp {
    let Some(stored) = stored_job(st, rg, job) else {
        return not_found(rg, job);
    };
    let id = job_id(&st.seed.subscription_id, rg, job);
    let template = json!({
        "containers": containers(&stored, "containers"),
        "initContainers": containers(&stored, "initContainers"),
    });
    let container = stored
        .pointer("/properties/template/containers/0/name")
        .and_then(Value::as_str)
        .unwrap_or(job)
        .to_string();
    let detailed = req
        .query_param("api-version")
        .is_some_and(|v| v.get(..10).is_some_and(|d| d >= DETAILED_STATUS_SINCE));
    let mut executions: Vec<&JobExecution> = st
        .arm
        .executions
        .get(&id.to_ascii_lowercase())
        .into_iter()
        .flatten()
        .rev()
        .collect();
    executions.sort_by_key(|e| std::cmp::Reverse(e.start));
    let value: Vec<Value> = executions
        .into_iter()
        .map(|e| {
            let mut props = json!({
                "status": e.status.as_str(),
                "startTime": at(e.start.unwrap_or_default()),
                "template": template,
            });
            if let Some(end) = e.end {
                props["endTime"] = json!(at(end));
            }
            if let (true, Some(exit)) = (detailed, &e.exit) {
                props["detailedStatus"] = detailed_status(&e.name, &container, exit);
            }
            json!({
                "name": e.name,
                "id": format!("{id}/executions/{}", e.name),
                "type": "Microsoft.App/jobs/executions",
                "properties": props,
            })
        })
        .collect();
    Resp::json(200, &json!({"value": value}))
}

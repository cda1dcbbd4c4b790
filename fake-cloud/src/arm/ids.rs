//! The addresses the fake's ARM hands out, spelled in one place: resource ids and the URLs a
//! client polls.

/// API version of the deployment URLs the fake hands out.
const DEPLOYMENTS_API: &str = "2025-04-01";
/// API version of the job URLs the fake hands out.
const JOBS_API: &str = "2025-07-01";

/// `/subscriptions/{sub}` or `/subscriptions/{sub}/resourceGroups/{rg}`.
pub(super) fn scope_path(sub: &str, rg: Option<&str>) -> String {
    match rg {
        Some(rg) => format!("/subscriptions/{sub}/resourceGroups/{rg}"),
        None => format!("/subscriptions/{sub}"),
    }
}

/// The id of a deployment at resource-group (`rg`) or subscription scope.
pub(super) fn deployment_id(sub: &str, rg: Option<&str>, name: &str) -> String {
    format!(
        "{}/providers/Microsoft.Resources/deployments/{name}",
        scope_path(sub, rg)
    )
}

/// The id of a Container Apps Job.
pub(super) fn job_id(sub: &str, rg: &str, name: &str) -> String {
    format!("/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.App/jobs/{name}")
}

/// The id of a container app.
pub(super) fn app_id(sub: &str, rg: &str, name: &str) -> String {
    format!("/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.App/containerApps/{name}")
}

/// The `Azure-AsyncOperation` URL of a deployment (`url`: the fake's base URL).
pub(super) fn deployment_status_url(url: &str, sub: &str, name: &str, op: &str) -> String {
    format!(
        "{url}/subscriptions/{sub}/providers/Microsoft.Resources/deployments/{name}/operationStatuses/{op}?api-version={DEPLOYMENTS_API}"
    )
}

/// The `Location` URL of a What-If result.
pub(super) fn what_if_url(url: &str, sub: &str, location: &str, id: &str) -> String {
    format!(
        "{url}/subscriptions/{sub}/providers/Microsoft.Resources/locations/{location}/operationResults/{id}?api-version={DEPLOYMENTS_API}"
    )
}

/// The `Azure-AsyncOperation` URL of a job PUT.
pub(super) fn job_status_url(url: &str, sub: &str, location: &str, op: &str) -> String {
    format!(
        "{url}/subscriptions/{sub}/providers/Microsoft.App/locations/{location}/containerappsjobOperationStatuses/{op}?api-version={JOBS_API}"
    )
}

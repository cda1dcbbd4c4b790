//! Container Apps jobs and apps as rotate-key sees them: the Key Vault secret references they
//! hold, and the switch of those references to a new secret version (a read-modify-write of the
//! resource, confirmed by reading it back).

use std::time::Duration;

use azure_core::http::Method;
use serde::Deserialize;
use serde_json::Value;

use super::{Arm, arm_error};
use crate::error::{Error, Result};

/// API version of Microsoft.App jobs and container apps.
pub const JOBS_API: &str = "2025-07-01";
/// The first API version whose executions say how each container ended
/// (`properties.detailedStatus`); the stable one's do not.
pub const EXECUTIONS_DETAIL_API: &str = "2025-10-02-preview";

/// Properties ARM reports but refuses (or ignores) on a write.
const READ_ONLY: [&str; 4] = ["id", "name", "type", "systemData"];
const READ_ONLY_PROPERTIES: [&str; 4] = [
    "provisioningState",
    "outboundIpAddresses",
    "eventStreamEndpoint",
    "runningState",
];

/// A Container Apps Job named by the `jobs` input: `resource-group/name` or a resource id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRef {
    /// The resource id.
    pub id: String,
    /// The job name.
    pub name: String,
}

impl JobRef {
    /// Parses one entry of `jobs`.
    pub fn parse(entry: &str, subscription: Option<&str>) -> Result<JobRef> {
        let entry = entry.trim().trim_end_matches('/');
        let parts: Vec<&str> = entry.trim_start_matches('/').split('/').collect();
        if entry.starts_with('/') {
            let ok = parts.len() == 8
                && parts[0].eq_ignore_ascii_case("subscriptions")
                && parts[2].eq_ignore_ascii_case("resourceGroups")
                && parts[4].eq_ignore_ascii_case("providers")
                && parts[5].eq_ignore_ascii_case("Microsoft.App")
                && parts[6].eq_ignore_ascii_case("jobs");
            if !ok {
                return Err(Error::input(
                    "jobs",
                    format!(
                        "`{entry}` is not a Container Apps Job resource id (/subscriptions/…/resourceGroups/…/providers/Microsoft.App/jobs/NAME)"
                    ),
                ));
            }
            return Ok(JobRef {
                id: entry.to_string(),
                name: parts[7].to_string(),
            });
        }
        match parts.as_slice() {
            [group, name] if !group.is_empty() && !name.is_empty() => {
                let Some(sub) = subscription else {
                    return Err(Error::input(
                        "azure-subscription-id",
                        format!(
                            "is required to find job `{entry}`; or give the job's full resource id in `jobs`"
                        ),
                    ));
                };
                Ok(JobRef {
                    id: format!(
                        "/subscriptions/{sub}/resourceGroups/{group}/providers/Microsoft.App/jobs/{name}"
                    ),
                    name: name.to_string(),
                })
            }
            _ => Err(Error::input(
                "jobs",
                format!("`{entry}` is neither resource-group/name nor a resource id"),
            )),
        }
    }
}

/// A Container Apps job or app that references a Key Vault secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consumer {
    /// Where it is (its resource id and name; jobs and apps are read and written alike).
    pub resource: JobRef,
    /// `job` or `app`.
    pub kind: &'static str,
    /// The version it is pinned to (a versioned reference), or `None` (versionless: it reads
    /// the latest enabled version).
    pub pinned: Option<String>,
}

/// One secret of a job or app.
#[derive(Debug, Clone)]
struct SecretEntry {
    name: String,
    key_vault_url: Option<String>,
}

/// A job or app as read: its secrets, and the whole body for a read-modify-write.
#[derive(Debug, Clone)]
pub struct Job {
    body: Value,
    secrets: Vec<SecretEntry>,
}

impl Job {
    fn from_body(body: Value) -> Job {
        // Each entry on its own: one odd entry must not hide the others (nor a plain secret).
        let secrets = body
            .pointer("/properties/configuration/secrets")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|s| SecretEntry {
                name: s
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                key_vault_url: s
                    .get("keyVaultUrl")
                    .and_then(Value::as_str)
                    .map(str::to_string),
            })
            .collect();
        Job { body, secrets }
    }

    /// The Key Vault URLs of the secrets that reference `secret_uri` (any version).
    fn references<'a>(&'a self, secret_uri: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.secrets
            .iter()
            .filter_map(|s| s.key_vault_url.as_deref())
            .filter(move |url| refers_to(url, secret_uri))
    }

    /// The body to write back: read-only fields dropped, every reference to `secret_uri`
    /// pointed at `version_uri`.
    fn switched(&self, secret_uri: &str, version_uri: &str) -> Value {
        let mut body = self.body.clone();
        if let Some(obj) = body.as_object_mut() {
            for key in READ_ONLY {
                obj.remove(key);
            }
        }
        if let Some(props) = body.get_mut("properties").and_then(Value::as_object_mut) {
            for key in READ_ONLY_PROPERTIES {
                props.remove(key);
            }
        }
        if let Some(list) = body
            .pointer_mut("/properties/configuration/secrets")
            .and_then(Value::as_array_mut)
        {
            for s in list.iter_mut() {
                let refers = s
                    .get("keyVaultUrl")
                    .and_then(Value::as_str)
                    .is_some_and(|u| refers_to(u, secret_uri));
                if refers {
                    s["keyVaultUrl"] = Value::String(version_uri.to_string());
                }
            }
        }
        body
    }
}

/// Whether a Key Vault URL is `secret_uri` or one of its versions.
fn refers_to(url: &str, secret_uri: &str) -> bool {
    let url = url.trim_end_matches('/').to_ascii_lowercase();
    let base = secret_uri.trim_end_matches('/').to_ascii_lowercase();
    url == base || url.starts_with(&format!("{base}/"))
}

/// A job as the doctor reads it: its identities and what each container may do with them,
/// the runner container's image, the Key Vault references.
#[derive(Debug, Clone)]
pub struct JobView {
    /// Where it is.
    pub resource: JobRef,
    /// `(identity resource id, lifecycle)`; an identity without a setting is `All`.
    pub identities: Vec<(String, String)>,
    /// The image of each container (init containers included).
    pub images: Vec<String>,
    /// Key Vault URLs of its secrets.
    pub key_vault_urls: Vec<String>,
    /// Its KEDA `github-runner` scale rule, when it has one.
    pub scaler: Option<Scaler>,
}

/// What a job's `github-runner` scale rule and its scale settings say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scaler {
    /// `labels`, split at commas.
    pub labels: Vec<String>,
    /// `repos`, split at commas.
    pub repos: Vec<String>,
    /// `runnerScope` (`org`, `repo`, `ent`).
    pub runner_scope: String,
    /// `maxExecutions`.
    pub max_executions: u64,
    /// `pollingInterval`, seconds.
    pub polling_interval: u64,
}

fn scaler_of(properties: &Value) -> Option<Scaler> {
    let scale = properties.pointer("/configuration/eventTriggerConfig/scale")?;
    let rule = scale
        .get("rules")?
        .as_array()?
        .iter()
        .find(|r| r.get("type").and_then(Value::as_str) == Some("github-runner"))?;
    let meta = |k: &str| {
        rule.pointer(&format!("/metadata/{k}"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let list = |k: &str| -> Vec<String> {
        meta(k)
            .split(',')
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
            .collect()
    };
    let number = |k: &str, default: u64| scale.get(k).and_then(Value::as_u64).unwrap_or(default);
    Some(Scaler {
        labels: list("labels"),
        repos: list("repos"),
        runner_scope: meta("runnerScope"),
        max_executions: number("maxExecutions", 100),
        polling_interval: number("pollingInterval", 30),
    })
}

/// One execution of a job.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Execution {
    /// Its name.
    pub name: String,
    /// Its state and times.
    pub properties: ExecutionProperties,
}

/// The state of an [`Execution`].
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ExecutionProperties {
    /// `Running`, `Processing`, `Succeeded`, `Failed`, `Degraded`, `Stopped`, `Unknown`.
    pub status: String,
    /// When it started (RFC 3339).
    pub start_time: Option<String>,
    /// When it ended (RFC 3339).
    pub end_time: Option<String>,
    /// How each replica's containers ended (newer API versions only).
    pub detailed_status: Option<DetailedStatus>,
}

/// `properties.detailedStatus` of an execution.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct DetailedStatus {
    /// The replicas.
    pub replicas: Vec<Replica>,
}

/// One replica of an execution.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Replica {
    /// Its containers.
    pub containers: Vec<ContainerEnd>,
}

/// How one container of a replica ended.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ContainerEnd {
    /// The container.
    pub name: String,
    /// Its exit code.
    pub code: Option<i64>,
    /// What the platform says of it.
    pub additional_information: Option<String>,
}

impl Execution {
    /// Why it failed, from the containers that exited with a code other than 0.
    pub fn reason(&self) -> Option<String> {
        let ends: Vec<String> = self
            .properties
            .detailed_status
            .iter()
            .flat_map(|d| &d.replicas)
            .flat_map(|r| &r.containers)
            .filter(|c| c.code.is_some_and(|code| code != 0))
            .map(|c| {
                format!(
                    "container {} exited {}{}",
                    c.name,
                    c.code.unwrap_or_default(),
                    c.additional_information
                        .as_deref()
                        .map(|i| format!(": {i}"))
                        .unwrap_or_default()
                )
            })
            .collect();
        (!ends.is_empty()).then(|| ends.join("; "))
    }
}

fn job_view(item: ListedItem) -> JobView {
    let p = &item.properties;
    let assigned: Vec<String> = item
        .identity
        .pointer("/userAssignedIdentities")
        .and_then(Value::as_object)
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    let settings = p
        .pointer("/configuration/identitySettings")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let lifecycle_of = |id: &str| {
        settings
            .iter()
            .find(|s| {
                s.get("identity")
                    .and_then(Value::as_str)
                    .is_some_and(|i| i.eq_ignore_ascii_case(id))
            })
            .and_then(|s| s.get("lifecycle").and_then(Value::as_str))
            .unwrap_or("All")
            .to_string()
    };
    let mut ids: Vec<String> = assigned;
    for s in &settings {
        if let Some(i) = s.get("identity").and_then(Value::as_str)
            && !ids.iter().any(|x| x.eq_ignore_ascii_case(i))
        {
            ids.push(i.to_string());
        }
    }
    let images = ["/template/initContainers", "/template/containers"]
        .iter()
        .flat_map(|at| {
            p.pointer(at)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|c| c.get("image").and_then(Value::as_str).map(str::to_string))
        .collect();
    let job = Job::from_body(serde_json::json!({ "properties": p }));
    JobView {
        identities: ids.iter().map(|i| (i.clone(), lifecycle_of(i))).collect(),
        images,
        key_vault_urls: job
            .secrets
            .iter()
            .filter_map(|s| s.key_vault_url.clone())
            .collect(),
        scaler: scaler_of(p),
        resource: JobRef {
            id: item.id,
            name: item.name,
        },
    }
}

/// What [`Arm::switch_secret_reference`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Switch {
    /// Every reference already named the version.
    AlreadyThere,
    /// Dry run: the job would be rewritten.
    WouldSwitch,
    /// The job was rewritten, and reading it back confirmed the version.
    Switched,
}

#[derive(Deserialize)]
struct ListedItem {
    id: String,
    name: String,
    #[serde(default)]
    identity: Value,
    #[serde(default)]
    properties: Value,
}

impl Arm {
    /// Every Container Apps job and app of `subscription` that references the secret at
    /// `secret_uri` (versionless URI) in a Key Vault secret reference.
    pub async fn consumers(&self, subscription: &str, secret_uri: &str) -> Result<Vec<Consumer>> {
        let base = secret_uri.trim_end_matches('/').to_ascii_lowercase();
        let mut out = Vec::new();
        for (kind, provider) in [("job", "jobs"), ("app", "containerApps")] {
            let path = format!("/subscriptions/{subscription}/providers/Microsoft.App/{provider}");
            let action = format!("listing the subscription's Container Apps {provider}");
            let items: Vec<ListedItem> = self.list(&path, JOBS_API, &action).await?;
            for item in items {
                let job = Job::from_body(serde_json::json!({ "properties": item.properties }));
                let Some(url) = job.references(secret_uri).next() else {
                    continue;
                };
                let pinned = url
                    .trim_end_matches('/')
                    .to_ascii_lowercase()
                    .strip_prefix(&format!("{base}/"))
                    .filter(|v| !v.is_empty())
                    .map(str::to_string);
                out.push(Consumer {
                    resource: JobRef {
                        id: item.id,
                        name: item.name,
                    },
                    kind,
                    pinned,
                });
            }
        }
        Ok(out)
    }

    /// The Container Apps jobs of a resource group.
    pub async fn jobs_in_group(&self, subscription: &str, group: &str) -> Result<Vec<JobView>> {
        let path = format!(
            "/subscriptions/{subscription}/resourceGroups/{group}/providers/Microsoft.App/jobs"
        );
        let items: Vec<ListedItem> = self
            .list(
                &path,
                JOBS_API,
                "listing the resource group's Container Apps jobs",
            )
            .await?;
        Ok(items.into_iter().map(job_view).collect())
    }

    /// A job's executions, as ARM lists them: with how their containers ended where the
    /// service describes it (a newer API version), else as the stable API lists them.
    pub async fn executions(&self, job: &JobRef) -> Result<Vec<Execution>> {
        let path = format!("{}/executions", job.id);
        let action = format!("listing the executions of job {}", job.name);
        match self.list(&path, EXECUTIONS_DETAIL_API, &action).await {
            Ok(found) => Ok(found),
            Err(Error::Arm { status: 400, .. }) => self.list(&path, JOBS_API, &action).await,
            Err(e) => Err(e),
        }
    }

    /// Reads a Container Apps job (or app).
    pub async fn get_job(&self, job: &JobRef) -> Result<Job> {
        let resp = self
            .send(Method::Get, &job.id, Some(JOBS_API), None)
            .await?;
        match resp.status {
            200 => Ok(Job::from_body(resp.body)),
            404 => Err(Error::input(
                "jobs",
                format!(
                    "Container Apps Job {} was not found ({}); check the resource group and name",
                    job.name, job.id
                ),
            )),
            _ => Err(arm_error(&format!("reading job {}", job.name), &resp)),
        }
    }

    /// Writes a Container Apps job and waits for the write to finish.
    async fn put_job(&self, job: &JobRef, body: &Value) -> Result<()> {
        let resp = self
            .send(Method::Put, &job.id, Some(JOBS_API), Some(body))
            .await?;
        if !matches!(resp.status, 200 | 201) {
            return Err(arm_error(&format!("updating job {}", job.name), &resp));
        }
        match &resp.async_operation {
            None => Ok(()),
            Some(status_url) => {
                self.wait_for_operation(
                    status_url,
                    resp.retry_after,
                    Duration::from_secs(600),
                    &format!("job {}", job.name),
                    &format!("updating job {}", job.name),
                )
                .await
            }
        }
    }

    /// Points every Key Vault reference of `job` to `secret_uri` at `version_uri`, and confirms
    /// it by reading the job back. A job without such a reference, or with a plain-value
    /// secret (which Azure does not return, so a rewrite would lose it), is refused.
    pub async fn switch_secret_reference(
        &self,
        job: &JobRef,
        secret_uri: &str,
        version_uri: &str,
        dry_run: bool,
    ) -> Result<Switch> {
        let current = self.get_job(job).await?;
        if current.references(secret_uri).next().is_none() {
            return Err(Error::input(
                "jobs",
                format!(
                    "job {} has no secret that references {secret_uri}; name only the jobs that use this key",
                    job.name
                ),
            ));
        }
        if current.references(secret_uri).all(|u| u == version_uri) {
            return Ok(Switch::AlreadyThere);
        }
        if let Some(plain) = current.secrets.iter().find(|s| s.key_vault_url.is_none()) {
            return Err(Error::input(
                "jobs",
                format!(
                    "job {} also holds secret `{}` as a plain value, which Azure does not return, so the job cannot be rewritten safely; make it a Key Vault reference too",
                    job.name,
                    if plain.name.is_empty() {
                        "?"
                    } else {
                        &plain.name
                    }
                ),
            ));
        }
        if dry_run {
            return Ok(Switch::WouldSwitch);
        }
        self.put_job(job, &current.switched(secret_uri, version_uri))
            .await?;
        let after = self.get_job(job).await?;
        if !after.references(secret_uri).all(|u| u == version_uri) {
            return Err(Error::JobNotSwitched {
                job: job.name.clone(),
                version_uri: version_uri.to_string(),
            });
        }
        Ok(Switch::Switched)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_odd_secret_entry_hides_neither_the_reference_nor_a_plain_secret() {
        let job = Job::from_body(json!({ "properties": { "configuration": { "secrets": [
            { "name": null, "value": "plain" },
            { "name": "key", "keyVaultUrl": "https://kv.vault.azure.net/secrets/app-key/v1" }
        ]}}}));
        let base = "https://kv.vault.azure.net/secrets/app-key";
        assert_eq!(job.references(base).count(), 1);
        assert!(job.secrets.iter().any(|s| s.key_vault_url.is_none()));
    }

    #[test]
    fn a_switch_drops_read_only_fields_and_rewrites_only_this_secret() {
        let job = Job::from_body(json!({
            "id": "/x", "name": "j", "type": "Microsoft.App/jobs", "systemData": {},
            "location": "westeurope",
            "properties": {
                "provisioningState": "Succeeded",
                "configuration": { "secrets": [
                    { "name": "key", "keyVaultUrl": "https://kv.vault.azure.net/secrets/app-key/v1" },
                    { "name": "other", "keyVaultUrl": "https://kv.vault.azure.net/secrets/app-key-2" }
                ]}
            }
        }));
        let base = "https://kv.vault.azure.net/secrets/app-key";
        let body = job.switched(base, &format!("{base}/v2"));
        assert_eq!(body["location"], "westeurope");
        for gone in ["id", "name", "type", "systemData"] {
            assert!(body.get(gone).is_none(), "{gone}");
        }
        assert!(body["properties"].get("provisioningState").is_none());
        let secrets = &body["properties"]["configuration"]["secrets"];
        assert_eq!(secrets[0]["keyVaultUrl"], format!("{base}/v2"));
        assert_eq!(
            secrets[1]["keyVaultUrl"], "https://kv.vault.azure.net/secrets/app-key-2",
            "a secret whose name merely starts alike is not this secret"
        );
    }
}

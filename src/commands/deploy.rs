//! `deploy`: an ARM deployment followed as a long-running operation, with progress per resource,
//! outputs as step outputs, and What-If (SPEC §3.2).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use azure_core::http::Method;
use serde_json::{Map, Value, json};

use crate::arm::{Arm, ArmResponse, DEPLOYMENTS_API, arm_error, error_tree};
use crate::cli::Inputs;
use crate::error::{Error, Result};
use crate::pools::PoolPlan;
use crate::runtime::markdown_table;
use crate::templates::{self, Builtin, Template};
use crate::{Step, say};

/// Longest silence in the log while ARM works.
const HEARTBEAT: Duration = Duration::from_secs(25);
/// Poll interval when ARM sends no `Retry-After`.
const DEFAULT_POLL: Duration = Duration::from_secs(5);

/// Where the deployment goes.
#[derive(Debug, Clone)]
enum Scope {
    ResourceGroup {
        subscription: String,
        group: String,
    },
    Subscription {
        subscription: String,
        location: String,
    },
}

impl Scope {
    fn deployment_path(&self, name: &str) -> String {
        match self {
            Scope::ResourceGroup {
                subscription,
                group,
            } => format!(
                "/subscriptions/{subscription}/resourcegroups/{group}/providers/Microsoft.Resources/deployments/{name}"
            ),
            Scope::Subscription { subscription, .. } => format!(
                "/subscriptions/{subscription}/providers/Microsoft.Resources/deployments/{name}"
            ),
        }
    }

    fn operations_path(&self, name: &str) -> String {
        match self {
            Scope::ResourceGroup {
                subscription,
                group,
            } => format!(
                "/subscriptions/{subscription}/resourcegroups/{group}/deployments/{name}/operations"
            ),
            Scope::Subscription { .. } => format!("{}/operations", self.deployment_path(name)),
        }
    }

    /// The resource group's id (`/subscriptions/…/resourceGroups/…`), or the subscription's.
    fn group_id(&self) -> String {
        match self {
            Scope::ResourceGroup {
                subscription,
                group,
            } => format!("/subscriptions/{subscription}/resourceGroups/{group}"),
            Scope::Subscription { subscription, .. } => format!("/subscriptions/{subscription}"),
        }
    }

    fn location(&self) -> Option<&str> {
        match self {
            Scope::Subscription { location, .. } => Some(location),
            Scope::ResourceGroup { .. } => None,
        }
    }

    fn describe(&self) -> String {
        match self {
            Scope::ResourceGroup { group, .. } => format!("resource group {group}"),
            Scope::Subscription { subscription, .. } => format!("subscription {subscription}"),
        }
    }
}

/// Typed `deploy` inputs.
#[derive(Debug)]
pub struct Request {
    template: Template,
    /// builtin:runner-jobs: the checked pools.
    pools: Option<PoolPlan>,
    scope: Scope,
    name: String,
    mode: &'static str,
    what_if: bool,
    timeout: Duration,
}

impl Request {
    /// Reads and checks every `deploy` input (pools included) before any request is sent.
    pub fn from_inputs(i: &Inputs) -> Result<Request> {
        let template_name =
            Inputs::text(&i.template).unwrap_or_else(|| "builtin:runner-jobs".to_string());
        let template = Template::load(&template_name)?;
        let subscription = Inputs::required(
            &i.azure_subscription_id,
            "azure-subscription-id",
            "for deploy: the subscription to deploy to, usually `${{ vars.AZURE_SUBSCRIPTION_ID }}`",
        )?;
        let default_scope = match template.builtin {
            Some(Builtin::Prerequisites) => "subscription",
            _ => "resource-group",
        };
        let scope_name = Inputs::text(&i.scope).unwrap_or_else(|| default_scope.to_string());
        let scope_name = if template.builtin == Some(Builtin::Prerequisites) {
            if scope_name != "subscription" {
                say!(
                    "builtin:prerequisites deploys at subscription scope (it creates the resource group)"
                );
            }
            "subscription".to_string()
        } else {
            scope_name
        };
        let scope = match scope_name.as_str() {
            "resource-group" => Scope::ResourceGroup {
                subscription,
                group: Inputs::required(
                    &i.resource_group,
                    "resource-group",
                    "for a resource-group scope deployment",
                )?,
            },
            "subscription" => Scope::Subscription {
                subscription,
                location: Inputs::required(
                    &i.location,
                    "location",
                    "for a subscription scope deployment (e.g. westeurope)",
                )?,
            },
            other => {
                return Err(Error::input(
                    "scope",
                    format!("`{other}` is not a scope; use resource-group or subscription"),
                ));
            }
        };
        let name = Inputs::text(&i.deployment_name).unwrap_or_else(|| template.stem.clone());
        let valid_name = !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.()".contains(c));
        if !valid_name {
            return Err(Error::input(
                "deployment-name",
                format!("`{name}` is not a deployment name (1-64 letters, digits, - _ . ( ))"),
            ));
        }
        let mode = match Inputs::text(&i.deployment_mode).as_deref() {
            None | Some("Incremental") => "Incremental",
            Some("Complete") => "Complete",
            Some(other) => {
                return Err(Error::input(
                    "deployment-mode",
                    format!("`{other}` is not a mode; use Incremental or Complete"),
                ));
            }
        };
        let minutes = Inputs::number(&i.timeout_minutes, "timeout-minutes", 60)?;
        if minutes == 0 || minutes > 24 * 60 {
            return Err(Error::input(
                "timeout-minutes",
                "must be between 1 and 1440 (a day)",
            ));
        }
        if template.builtin == Some(Builtin::Prerequisites)
            && let Some(project) =
                super::prerequisites::literal_project(Inputs::text(&i.parameters).as_deref())
        {
            super::prerequisites::check_project(&project)?;
        }
        let pools = match template.builtin {
            Some(Builtin::RunnerJobs) => Some(crate::pools::plan(
                Inputs::text(&i.pools).as_deref(),
                i.owner_or_default()?.as_deref(),
            )?),
            _ => None,
        };
        Ok(Request {
            template,
            pools,
            scope,
            name,
            mode,
            what_if: Inputs::boolean(&i.what_if, "what-if", false)?,
            timeout: Duration::from_secs(minutes * 60),
        })
    }
}

/// Runs `deploy`.
pub async fn run(step: &Step, req: &Request) -> Result<()> {
    let parameters = build_parameters(step, req).await?;
    let (cloud, credential) = step.azure().await?;
    let arm = Arm::new(
        cloud.resource_manager.clone(),
        credential.clone(),
        &step.http,
    );
    let mut body = json!({
        "properties": {
            "template": req.template.body,
            "parameters": parameters,
            "mode": req.mode,
        }
    });
    if let Some(location) = req.scope.location() {
        body["location"] = json!(location);
    }
    let path = req.scope.deployment_path(&req.name);
    say!(
        "Deployment {} ({}) to {}, mode {}",
        req.name,
        req.template.stem,
        req.scope.describe(),
        req.mode
    );
    if req.what_if || step.dry_run {
        if step.dry_run && !req.what_if {
            say!("dry-run: previewing with What-If instead of deploying");
        }
        return what_if(step, &arm, req, &path, &body).await;
    }

    let started = Instant::now();
    let created = arm
        .send(Method::Put, &path, Some(DEPLOYMENTS_API), Some(&body))
        .await?;
    if !matches!(created.status, 200 | 201) {
        return Err(arm_error(
            &format!("creating deployment {}", req.name),
            &created,
        ));
    }
    let deployment_id = created.body["id"].as_str().unwrap_or(&path).to_string();
    say!("ARM accepted the deployment: {deployment_id}");

    let mut progress = Progress::default();
    let status_url = created.async_operation.clone();
    let mut wait = created.retry_after.unwrap_or(DEFAULT_POLL);
    let final_state = loop {
        if started.elapsed() >= req.timeout {
            return Err(Error::Other(format!(
                "deployment {} is still running after {} minute(s) (`timeout-minutes`); it goes on in Azure: {deployment_id}. Follow it in the portal or with `az deployment operation {} list`, or rerun with a longer timeout-minutes",
                req.name,
                req.timeout.as_secs() / 60,
                if req.scope.location().is_some() {
                    "sub"
                } else {
                    "group"
                }
            )));
        }
        let remaining = req.timeout.saturating_sub(started.elapsed());
        crate::http::sleep_with_heartbeat(
            wait.min(remaining),
            &format!("deployment {} running", req.name),
        )
        .await;
        let (state, retry_after) = match &status_url {
            Some(url) => {
                let resp = arm.send(Method::Get, url, None, None).await?;
                if resp.status >= 400 {
                    return Err(arm_error("reading the deployment status", &resp));
                }
                (
                    resp.body["status"]
                        .as_str()
                        .unwrap_or("Running")
                        .to_string(),
                    resp.retry_after,
                )
            }
            None => {
                let resp = arm
                    .send(Method::Get, &path, Some(DEPLOYMENTS_API), None)
                    .await?;
                if resp.status >= 400 {
                    return Err(arm_error("reading the deployment", &resp));
                }
                (
                    resp.body["properties"]["provisioningState"]
                        .as_str()
                        .unwrap_or("Running")
                        .to_string(),
                    resp.retry_after,
                )
            }
        };
        // Without a new Retry-After, keep ARM's last word on the interval.
        if let Some(after) = retry_after {
            wait = after;
        }
        if is_terminal(&state) {
            break state;
        }
        progress
            .poll(&arm, &req.scope.operations_path(&req.name), started)
            .await?;
        progress.heartbeat(&state, started);
    };

    // The finished deployment and a last look at its operations (so every final state is
    // logged) are independent reads: both at once.
    let operations_path = req.scope.operations_path(&req.name);
    let (result, last_look) = tokio::join!(
        arm.send(Method::Get, &path, Some(DEPLOYMENTS_API), None),
        progress.poll(&arm, &operations_path, started)
    );
    let result = result?;
    if result.status >= 400 {
        return Err(arm_error("reading the finished deployment", &result));
    }
    last_look?;
    let props = &result.body["properties"];
    let state = props["provisioningState"]
        .as_str()
        .unwrap_or(&final_state)
        .to_string();
    let elapsed = started.elapsed().as_secs();
    if state != "Succeeded" {
        let mut lines = error_tree(&props["error"]);
        for op in &progress.failed {
            lines.push(op.clone());
        }
        for line in &lines {
            say!("{line}");
        }
        step.rt.summary(&format!(
            "### deploy {}\n\n{}",
            req.name,
            markdown_table(
                &["", ""],
                &[
                    vec!["Deployment".into(), format!("`{deployment_id}`")],
                    vec!["Result".into(), format!("**{state}** after {elapsed} s")],
                    vec!["Error".into(), lines.join("<br>")],
                ]
            )
        ));
        return Err(Error::Arm {
            action: format!("deployment {} ({state} after {elapsed} s)", req.name),
            status: result.status,
            detail: if lines.is_empty() {
                "ARM gave no error details".into()
            } else {
                lines.join("\n")
            },
            hint: format!(". See the failed operations above, and the deployment {deployment_id}"),
        });
    }
    say!("Deployment {} succeeded in {elapsed} s", req.name);

    let mut rows = vec![
        vec!["Deployment".to_string(), format!("`{deployment_id}`")],
        vec!["Result".to_string(), format!("Succeeded in {elapsed} s")],
    ];
    if let Some(outputs) = props["outputs"].as_object() {
        for (name, output) in outputs {
            let value = templates::output_text(&output["value"]);
            let secure = output["type"]
                .as_str()
                .is_some_and(|t| t.to_ascii_lowercase().starts_with("secure"))
                || req.template.output_is_secure(name);
            if secure {
                step.rt.mask(&value);
            }
            step.output(name, &value)?;
            step.record_deployment_output(name, secure);
            let shown = if secure {
                "*** (secure)".to_string()
            } else {
                format!("`{value}`")
            };
            rows.push(vec![format!("output `{name}`"), shown]);
        }
    }
    step.output("deployment-id", &deployment_id)?;
    if req.template.builtin == Some(Builtin::Prerequisites)
        && let Some(vault) = props["outputs"]["keyVaultUri"]["value"].as_str()
    {
        let secret = props["outputs"]["gitHubAppKeySecretUri"]["value"]
            .as_str()
            .and_then(|u| u.rsplit('/').next())
            .unwrap_or("github-app-key");
        super::prerequisites::wait_for_vault(step, vault, secret).await?;
    }
    step.rt.summary(&format!(
        "### deploy {}\n\n{}\n",
        req.name,
        markdown_table(&["", ""], &rows)
    ));
    Ok(())
}

fn is_terminal(state: &str) -> bool {
    matches!(state, "Succeeded" | "Failed" | "Canceled")
}

/// Parameters for the request: the file, then `parameters`, then what the action knows for the
/// built-in templates; every name checked against the template.
async fn build_parameters(step: &Step, req: &Request) -> Result<Map<String, Value>> {
    let i = &step.inputs;
    let mut params = match Inputs::text(&i.parameters_file) {
        Some(path) => templates::parameters_file(&path)?,
        None => Map::new(),
    };
    if let Some(text) = Inputs::text(&i.parameters) {
        let outputs = step.rt.outputs();
        params.extend(templates::yaml_parameters(&text, &outputs)?);
    }
    let declared = req.template.declared_parameters();
    for name in params.keys() {
        if !req.template.declares(name) {
            return Err(Error::input(
                "parameters",
                format!(
                    "parameter `{name}` is not declared by the template; it declares: {}",
                    declared.join(", ")
                ),
            ));
        }
    }
    match req.template.builtin {
        Some(Builtin::RunnerJobs) => {
            if let Some(pools) = &req.pools {
                let suffix = acr_suffix(&step.azure().await?.0);
                let group = req.scope.group_id();
                super::runner_jobs::parameters(step, pools, &group, suffix, &mut params).await?;
            }
        }
        Some(Builtin::Prerequisites) => {
            let project = params
                .get("project")
                .and_then(|p| p["value"].as_str())
                .map(str::to_string);
            if let Some(project) = &project {
                super::prerequisites::check_project(project)?;
                if let Scope::Subscription {
                    subscription,
                    location,
                } = &req.scope
                {
                    super::prerequisites::recover_vault(
                        step,
                        subscription,
                        project,
                        location,
                        &mut params,
                    )
                    .await?;
                }
            }
            if !params.contains_key("deployerObjectId") {
                let token = step
                    .arm_token("The deploying principal's object id comes from its Azure token: check the Azure inputs, or pass `deployerObjectId` in `parameters`")
                    .await?;
                let oid = crate::azure_auth::object_id_of(&token).ok_or_else(|| {
                    Error::input(
                        "parameters",
                        "the Azure token carries no object id (oid): pass `deployerObjectId` in `parameters`",
                    )
                })?;
                say!("Deploying principal (Key Vault Secrets Officer): {oid}");
                params.insert("deployerObjectId".into(), json!({ "value": oid }));
                if req.template.declares("deployerPrincipalType")
                    && !params.contains_key("deployerPrincipalType")
                {
                    let kind = match crate::azure_auth::claim_of(&token, "idtyp").as_deref() {
                        Some("user") => "User",
                        _ => "ServicePrincipal",
                    };
                    params.insert("deployerPrincipalType".into(), json!({ "value": kind }));
                }
            }
        }
        None => {
            if Inputs::text(&i.pools).is_some() {
                step.rt.warning(
                    "`pools` applies to builtin:runner-jobs only; it is ignored for this template",
                );
            }
        }
    }
    // Values of secure parameters never reach the log, the summary or an error.
    for (name, value) in &params {
        if req.template.parameter_is_secure(name) {
            mask_leaves(step, &value["value"]);
        }
    }
    let missing: Vec<String> = req
        .template
        .required_parameters()
        .into_iter()
        .filter(|p| !params.contains_key(p))
        .collect();
    if !missing.is_empty() {
        return Err(Error::input(
            "parameters",
            format!(
                "the template needs {}: add {} to `parameters`",
                missing
                    .iter()
                    .map(|m| format!("`{m}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
                if missing.len() == 1 { "it" } else { "them" }
            ),
        ));
    }
    Ok(params)
}

fn mask_leaves(step: &Step, v: &Value) {
    match v {
        Value::String(s) => step.rt.mask(s),
        Value::Array(a) => a.iter().for_each(|x| mask_leaves(step, x)),
        Value::Object(o) => o.values().for_each(|x| mask_leaves(step, x)),
        _ => {}
    }
}

fn acr_suffix(cloud: &crate::azure_auth::Cloud) -> &'static str {
    match cloud.key_vault_suffix.as_str() {
        "vault.usgovcloudapi.net" => ".azurecr.us",
        "vault.azure.cn" => ".azurecr.cn",
        _ => ".azurecr.io",
    }
}

/// Logs each resource's provisioning state change as ARM reports it.
#[derive(Default)]
struct Progress {
    states: BTreeMap<String, String>,
    failed: Vec<String>,
    last_log: Option<Instant>,
}

impl Progress {
    async fn poll(&mut self, arm: &Arm, operations_path: &str, started: Instant) -> Result<()> {
        let mut url = operations_path.to_string();
        let mut api = Some(DEPLOYMENTS_API);
        loop {
            let resp: ArmResponse = arm.send(Method::Get, &url, api, None).await?;
            if resp.status == 404 {
                return Ok(());
            }
            if resp.status >= 400 {
                return Err(arm_error("listing the deployment operations", &resp));
            }
            for op in resp.body["value"].as_array().into_iter().flatten() {
                self.observe(op, started);
            }
            match resp.body["nextLink"].as_str() {
                Some(next) if !next.is_empty() => {
                    url = next.to_string();
                    api = None;
                }
                _ => return Ok(()),
            }
        }
    }

    fn observe(&mut self, op: &Value, started: Instant) {
        let p = &op["properties"];
        let target = &p["targetResource"];
        let kind = target["resourceType"].as_str().unwrap_or("");
        let name = target["resourceName"].as_str().unwrap_or("");
        if kind.is_empty() && name.is_empty() {
            return;
        }
        let key = format!("{kind} {name}");
        let state = p["provisioningState"].as_str().unwrap_or("").to_string();
        if self.states.get(&key) == Some(&state) {
            return;
        }
        say!(
            "  {kind} {name}: {state} ({} s)",
            started.elapsed().as_secs()
        );
        self.last_log = Some(Instant::now());
        if state == "Failed" {
            let err = &p["statusMessage"]["error"];
            let tree = error_tree(if err.is_object() {
                err
            } else {
                &p["statusMessage"]
            });
            let message = if tree.is_empty() {
                p["statusMessage"].to_string()
            } else {
                tree.join(" / ")
            };
            self.failed
                .push(format!("{kind} {name} failed: {}", message.trim()));
        }
        self.states.insert(key, state);
    }

    fn heartbeat(&mut self, state: &str, started: Instant) {
        let quiet = self
            .last_log
            .map(|t| t.elapsed())
            .unwrap_or(started.elapsed());
        if quiet >= HEARTBEAT {
            say!(
                "  deployment {state}, {} s elapsed",
                started.elapsed().as_secs()
            );
            self.last_log = Some(Instant::now());
        }
    }
}

/// What-If: preview, log and summarise the changes, deploy nothing.
async fn what_if(step: &Step, arm: &Arm, req: &Request, path: &str, body: &Value) -> Result<()> {
    let started = Instant::now();
    let url = format!("{path}/whatIf");
    let mut resp = arm
        .send(Method::Post, &url, Some(DEPLOYMENTS_API), Some(body))
        .await?;
    if resp.status >= 400 {
        return Err(arm_error("What-If", &resp));
    }
    let mut last_log = Instant::now();
    while resp.status == 202 {
        let Some(location) = resp.location.clone() else {
            return Err(Error::Other(
                "ARM answered What-If with 202 and no Location to follow".into(),
            ));
        };
        if started.elapsed() >= req.timeout {
            return Err(Error::Other(format!(
                "What-If did not finish within {} minute(s) (`timeout-minutes`)",
                req.timeout.as_secs() / 60
            )));
        }
        crate::http::sleep_with_heartbeat(
            resp.retry_after.unwrap_or(DEFAULT_POLL),
            "What-If running",
        )
        .await;
        if last_log.elapsed() >= HEARTBEAT {
            say!(
                "  What-If running, {} s elapsed",
                started.elapsed().as_secs()
            );
            last_log = Instant::now();
        }
        let next = arm.send(Method::Get, &location, None, None).await?;
        if next.status >= 400 {
            return Err(arm_error("What-If", &next));
        }
        resp = ArmResponse {
            location: next.location.clone().or(Some(location)),
            ..next
        };
    }
    if resp.body["status"].as_str() == Some("Failed")
        || resp.body.get("error").is_some_and(|e| !e.is_null())
    {
        return Err(arm_error("What-If", &resp));
    }
    let changes = resp.body["properties"]["changes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut rows = Vec::new();
    let mut counted = 0;
    for change in &changes {
        let kind = change["changeType"].as_str().unwrap_or("Unknown");
        let id = change["resourceId"].as_str().unwrap_or("?");
        if !matches!(kind, "NoChange" | "Ignore") {
            counted += 1;
        }
        say!("  {kind}: {id}");
        let mut changed = Vec::new();
        for d in change["delta"].as_array().into_iter().flatten() {
            let line = format!(
                "{} {}: {} → {}",
                d["propertyChangeType"].as_str().unwrap_or(""),
                d["path"].as_str().unwrap_or(""),
                short(&d["before"]),
                short(&d["after"])
            );
            say!("      {line}");
            changed.push(line);
        }
        rows.push(vec![
            kind.to_string(),
            format!("`{id}`"),
            changed.join("<br>"),
        ]);
    }
    say!(
        "What-If: {counted} change(s) in {} resource(s); nothing was deployed",
        changes.len()
    );
    step.output("has-changes", if counted > 0 { "true" } else { "false" })?;
    step.output("changes", &counted.to_string())?;
    step.rt.summary(&format!(
        "### deploy {} (What-If, nothing deployed)\n\n{}\n{counted} change(s).\n\n",
        req.name,
        markdown_table(&["Change", "Resource", "Properties"], &rows)
    ));
    Ok(())
}

fn short(v: &Value) -> String {
    let text = match v {
        Value::Null => "(none)".to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if text.chars().count() > 80 {
        format!("{}…", text.chars().take(80).collect::<String>())
    } else {
        text
    }
}

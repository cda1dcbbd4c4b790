//! `deploy`: an ARM deployment followed as a long-running operation, with progress per resource,
//! outputs as step outputs, and What-If (SPEC §3.2). The ARM client owns the paths, bodies and
//! polling; this module decides what to deploy and reports it.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::Context;
use crate::azure::arm::deployments::{Deployment, Finished, Operation, Scope};
use crate::error::{Error, Result};
use crate::pools::PoolPlan;
use crate::runtime::markdown_table;
use crate::say;
use crate::session::Session;
use crate::templates::{self, Builtin, ParameterInput, Parameters, Template};

/// Longest silence in the log while ARM works.
const HEARTBEAT: Duration = Duration::from_secs(25);

/// The checked `deploy` inputs (see [`crate::plan`]).
#[derive(Debug)]
pub struct Request {
    /// `template`, loaded.
    pub template: Template,
    /// `parameters-file`, read.
    pub file: Option<Parameters>,
    /// `parameters`, read (outputs of earlier commands are taken at run time).
    pub parameters: ParameterInput,
    /// builtin:runner-jobs: the checked pools.
    pub pools: Option<PoolPlan>,
    /// `pools` was given for a template that takes none.
    pub pools_ignored: bool,
    /// `scope`, `resource-group`, `location`.
    pub scope: Scope,
    /// `deployment-name`.
    pub name: String,
    /// `deployment-mode`.
    pub mode: &'static str,
    /// `what-if`.
    pub what_if: bool,
    /// `timeout-minutes`.
    pub timeout: Duration,
}

/// One output of the deployment.
#[derive(Debug, Clone)]
pub struct DeploymentOutput {
    /// Its name.
    pub name: String,
    /// Its value as step-output text.
    pub value: String,
    /// Whether it is secure (masked, never exported).
    pub secure: bool,
}

/// What `deploy` did.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// The deployment's outputs (none for What-If).
    pub deployment_outputs: Vec<DeploymentOutput>,
    /// The step outputs it set.
    pub outputs: Vec<(String, String)>,
}

/// Runs `deploy`.
pub async fn run(session: &Session, req: &Request, ctx: &Context<'_>) -> Result<Outcome> {
    let parameters = parameters(session, req, ctx).await?;
    let arm = session.arm().await?;
    let deployment = Deployment {
        scope: &req.scope,
        name: &req.name,
        template: &req.template.body,
        parameters: parameters.as_map(),
        mode: req.mode,
    };
    say!(
        "Deployment {} ({}) to {}, mode {}",
        req.name,
        req.template.stem,
        req.scope.describe(),
        req.mode
    );
    if req.what_if || session.dry_run {
        if session.dry_run && !req.what_if {
            say!("dry-run: previewing with What-If instead of deploying");
        }
        return what_if(session, req, &deployment).await;
    }
    let started = Instant::now();
    let accepted = arm.create_deployment(&deployment).await?;
    say!("ARM accepted the deployment: {}", accepted.id);
    let progress = Progress::new(started);
    let finished = arm
        .follow_deployment(&deployment, &accepted, req.timeout, &|ops, state| {
            progress.observe(ops, state)
        })
        .await?
        .map_err(|_| Error::StillRunning {
            what: format!("deployment {}", req.name),
            after: format!(
                "{} minute(s) (`timeout-minutes`)",
                req.timeout.as_secs() / 60
            ),
            follow: format!(
                "it goes on in Azure: {}. Follow it in the portal or with `az deployment operation {} list`, or rerun with a longer timeout-minutes",
                accepted.id,
                req.scope.cli_word()
            ),
        })?;
    let elapsed = started.elapsed().as_secs();
    if finished.state != "Succeeded" {
        return Err(failed(
            session,
            req,
            &accepted.id,
            &finished,
            &progress,
            elapsed,
        ));
    }
    say!("Deployment {} succeeded in {elapsed} s", req.name);
    succeeded(session, req, &accepted.id, finished, elapsed).await
}

/// Logs and summarises a failed deployment; returns its error.
fn failed(
    session: &Session,
    req: &Request,
    id: &str,
    finished: &Finished,
    progress: &Progress,
    elapsed: u64,
) -> Error {
    let state = &finished.state;
    let mut lines = finished.error.clone();
    lines.extend(progress.failed());
    for line in &lines {
        say!("{line}");
    }
    session.rt.summary(&format!(
        "### deploy {}\n\n{}",
        req.name,
        markdown_table(
            &["", ""],
            &[
                vec!["Deployment".into(), format!("`{id}`")],
                vec!["Result".into(), format!("**{state}** after {elapsed} s")],
                vec!["Error".into(), lines.join("<br>")],
            ]
        )
    ));
    Error::Arm {
        action: format!("deployment {} ({state} after {elapsed} s)", req.name),
        status: finished.status,
        detail: if lines.is_empty() {
            "ARM gave no error details".into()
        } else {
            lines.join("\n")
        },
        fix: format!("See the failed operations above, and the deployment {id}"),
    }
}

/// Sets the outputs of a deployment that succeeded, waits for a new vault to answer, and
/// writes the summary.
async fn succeeded(
    session: &Session,
    req: &Request,
    id: &str,
    finished: Finished,
    elapsed: u64,
) -> Result<Outcome> {
    let mut rows = vec![
        vec!["Deployment".to_string(), format!("`{id}`")],
        vec!["Result".to_string(), format!("Succeeded in {elapsed} s")],
    ];
    let mut outcome = Outcome::default();
    for output in finished.outputs {
        let value = templates::output_text(&output.value);
        let secure = output.secure || req.template.output_is_secure(&output.name);
        if secure {
            session.rt.mask(&value);
        }
        session.output(&output.name, &value)?;
        rows.push(vec![
            format!("output `{}`", output.name),
            if secure {
                "*** (secure)".to_string()
            } else {
                format!("`{value}`")
            },
        ]);
        outcome.outputs.push((output.name.clone(), value.clone()));
        outcome.deployment_outputs.push(DeploymentOutput {
            name: output.name,
            value,
            secure,
        });
    }
    session.output("deployment-id", id)?;
    outcome
        .outputs
        .push(("deployment-id".to_string(), id.to_string()));
    let mut after = String::new();
    if req.template.builtin == Some(Builtin::Prerequisites) {
        let outputs = &outcome.deployment_outputs;
        let output = |name: &str| {
            outputs
                .iter()
                .find(|o| o.name == name)
                .map(|o| o.value.as_str())
        };
        after = super::prerequisites::settle(session, output).await?;
    }
    session.rt.summary(&format!(
        "### deploy {}\n\n{}\n{after}",
        req.name,
        markdown_table(&["", ""], &rows)
    ));
    Ok(outcome)
}

/// Parameters for the request: the file, then `parameters`, then what the action knows for the
/// built-in templates; secure values masked, and every required one present.
async fn parameters(session: &Session, req: &Request, ctx: &Context<'_>) -> Result<Parameters> {
    let mut params = req.file.clone().unwrap_or_default();
    params.extend(req.parameters.resolve(&ctx.earlier.outputs())?);
    match req.template.builtin {
        Some(Builtin::RunnerJobs) => {
            if let Some(pools) = &req.pools {
                super::runner_jobs::fill(session, pools, &req.scope.group_id(), ctx, &mut params)
                    .await?;
            }
        }
        Some(Builtin::Prerequisites) => {
            super::prerequisites::fill(session, &req.scope, &req.template, &mut params).await?;
        }
        None if req.pools_ignored => session.rt.warning(
            "`pools` applies to builtin:runner-jobs only; it is ignored for this template",
        ),
        None => {}
    }
    // Values of secure parameters never reach the log, the summary or an error.
    let names: Vec<String> = params.names().map(str::to_string).collect();
    for name in names.iter().filter(|n| req.template.parameter_is_secure(n)) {
        for leaf in params.text_leaves(name) {
            session.rt.mask(leaf);
        }
    }
    let missing: Vec<String> = req
        .template
        .required_parameters()
        .into_iter()
        .filter(|p| !params.contains(p))
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

/// Logs each resource's provisioning state change as ARM reports it, and a heartbeat when
/// nothing changed for a while.
struct Progress {
    started: Instant,
    seen: Mutex<Seen>,
}

#[derive(Default)]
struct Seen {
    states: BTreeMap<String, String>,
    failed: Vec<String>,
    last_log: Option<Instant>,
}

impl Progress {
    fn new(started: Instant) -> Progress {
        Progress {
            started,
            seen: Mutex::new(Seen::default()),
        }
    }

    fn observe(&self, operations: &[Operation], state: &str) {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        for op in operations {
            let key = format!("{} {}", op.resource_type, op.resource_name);
            if seen.states.get(&key) == Some(&op.state) {
                continue;
            }
            say!(
                "  {key}: {} ({} s)",
                op.state,
                self.started.elapsed().as_secs()
            );
            seen.last_log = Some(Instant::now());
            if let Some(error) = &op.error {
                seen.failed.push(format!("{key} failed: {error}"));
            }
            seen.states.insert(key, op.state.clone());
        }
        let quiet = seen
            .last_log
            .map(|t| t.elapsed())
            .unwrap_or(self.started.elapsed());
        if quiet >= HEARTBEAT && !matches!(state, "Succeeded" | "Failed" | "Canceled") {
            say!(
                "  deployment {state}, {} s elapsed",
                self.started.elapsed().as_secs()
            );
            seen.last_log = Some(Instant::now());
        }
    }

    fn failed(&self) -> Vec<String> {
        self.seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .failed
            .clone()
    }
}

/// What-If: preview, log and summarise the changes, deploy nothing.
async fn what_if(session: &Session, req: &Request, deployment: &Deployment<'_>) -> Result<Outcome> {
    let changes = session
        .arm()
        .await?
        .what_if(deployment, req.timeout)
        .await?
        .map_err(|_| Error::StillRunning {
            what: "What-If".into(),
            after: format!(
                "{} minute(s) (`timeout-minutes`)",
                req.timeout.as_secs() / 60
            ),
            follow: "nothing was deployed; rerun with a longer timeout-minutes".into(),
        })?;
    let mut rows = Vec::new();
    let mut counted = 0;
    for change in &changes {
        if !matches!(change.change_type.as_str(), "NoChange" | "Ignore") {
            counted += 1;
        }
        say!("  {}: {}", change.change_type, change.resource_id);
        let mut changed = Vec::new();
        for d in &change.delta {
            let line = d.describe();
            say!("      {line}");
            changed.push(line);
        }
        rows.push(vec![
            change.change_type.clone(),
            format!("`{}`", change.resource_id),
            changed.join("<br>"),
        ]);
    }
    say!(
        "What-If: {counted} change(s) in {} resource(s); nothing was deployed",
        changes.len()
    );
    let outputs = vec![
        ("has-changes".to_string(), (counted > 0).to_string()),
        ("changes".to_string(), counted.to_string()),
    ];
    session.outputs(&outputs)?;
    session.rt.summary(&format!(
        "### deploy {} (What-If, nothing deployed)\n\n{}\n{counted} change(s).\n\n",
        req.name,
        markdown_table(&["Change", "Resource", "Properties"], &rows)
    ));
    Ok(Outcome {
        deployment_outputs: Vec::new(),
        outputs,
    })
}

//! aca-runner-action: rotate a GitHub App key into Key Vault, deploy self-hosted runners on Azure
//! Container Apps Jobs, and publish what they need, as one GitHub Action (and CLI).
//!
//! The code reads in one direction: [`cli`] takes the raw inputs; [`plan`] checks them all
//! into a [`plan::Plan`] before any request; [`session`] holds the clients of the step;
//! [`commands`] orchestrate, each handing a typed outcome to the next; the client modules
//! ([`github`], [`azure`]) own their wire formats over the one HTTP client ([`http`]);
//! [`runtime`] is everything the runner sees (log, masks, outputs, summary).

pub mod azure;
pub mod cli;
pub mod commands;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod github;
pub mod http;
pub mod key;
pub mod pack;
pub mod plan;
pub mod pools;
pub mod runner_init;
pub mod runner_version;
pub mod runtime;
pub mod secret;
pub mod session;
pub mod templates;

pub use cli::{Command, Inputs};
pub use error::{Error, Result};

use commands::{Context, Earlier, build_image, deploy, doctor, rotate_key, set_variables};
use plan::{Plan, RunContext};
use runtime::Runtime;
use session::Session;

/// Runs the step: plans it from the inputs (nothing is sent when an input is refused), runs
/// its commands in pipeline order beside the Azure sign-in, revokes the tokens and writes the
/// summary. Errors are returned for the caller to render once.
pub async fn run(inputs: Inputs, ctx: RunContext) -> Result<()> {
    let rt = Runtime::get();
    rt.check_files().map_err(|(path, e)| Error::RunnerFile {
        path: path.display().to_string(),
        detail: format!("{e} (checked before the first request: nothing was done)"),
    })?;
    // Secret inputs are masked as given, before anything could echo them.
    for secret in [&inputs.private_key, &inputs.github_token]
        .into_iter()
        .flatten()
    {
        rt.mask(secret);
        rt.mask(&secret.replace("\\n", "\n"));
    }
    let plan = Plan::from_inputs(&inputs, &ctx, rt)?;
    // The raw inputs, secrets included, are not needed past the plan.
    drop(inputs);
    let http = http::Http::from_env(http::RetryPolicy::default())?;
    let session = Session::new(plan.session_options(), http, rt);
    if plan.dry_run {
        say!("dry-run: reading everything, writing nothing");
    }
    let work = run_commands(&session, &plan);
    // The Azure sign-in runs beside the commands and is dropped when they are done.
    let warm = session.prewarm(plan.sign_in_ahead());
    tokio::pin!(work, warm);
    let mut warming = true;
    let result = loop {
        tokio::select! {
            result = &mut work => break result,
            () = &mut warm, if warming => warming = false,
        }
    };
    session.revoke_tokens().await;
    debug!("{} HTTP request(s) sent", session.http.request_count());
    if let Err(e) = rt.flush_summary() {
        rt.warning(&format!("could not write the step summary: {e}"));
    }
    result
}

/// The commands of the plan, in pipeline order, each in a log group.
async fn run_commands(session: &Session, plan: &Plan) -> Result<()> {
    let rt = session.rt;
    let mut earlier = Earlier::default();
    if let Some(req) = &plan.rotate {
        rt.group(Command::RotateKey.name());
        let outcome = rotate_key::run(
            session,
            req,
            &plan.github,
            &plan.token_permissions,
            &plan.run_url,
        )
        .await;
        rt.end_group();
        earlier.rotate = Some(outcome?);
    }
    if let Some(req) = &plan.build {
        rt.group(Command::BuildImage.name());
        let token = plan.github.token.as_deref();
        let outcome = build_image::run(session, req, token).await;
        rt.end_group();
        earlier.build = Some(outcome?);
    }
    if let Some(req) = &plan.deploy {
        rt.group(Command::Deploy.name());
        let ctx = Context {
            github: &plan.github,
            token_permissions: &plan.token_permissions,
            earlier: &earlier,
        };
        let outcome = deploy::run(session, req, &ctx).await;
        rt.end_group();
        earlier.deploy = Some(outcome?);
    }
    if let Some(req) = &plan.variables {
        rt.group(Command::SetVariables.name());
        let ctx = Context {
            github: &plan.github,
            token_permissions: &plan.token_permissions,
            earlier: &earlier,
        };
        let outcome = set_variables::run(session, req, &ctx).await;
        rt.end_group();
        outcome?;
    }
    if let Some(req) = &plan.doctor {
        rt.group(Command::Doctor.name());
        let ctx = Context {
            github: &plan.github,
            token_permissions: &plan.token_permissions,
            earlier: &earlier,
        };
        let outcome = doctor::run(session, req, &ctx).await;
        rt.end_group();
        outcome?;
    }
    Ok(())
}

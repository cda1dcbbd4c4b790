//! What one step does at once, read off the fake cloud's request log (arrival and answer times)
//! with latency added, so that overlapping requests are told apart from serial ones.

use fake_cloud::{LoggedRequest, Seed, Service};

use crate::helpers::*;

/// `rotate-key deploy set-variables` in one step, as the provision workflow runs it.
fn pipeline(ctx: &TestContext) -> std::collections::BTreeMap<&'static str, String> {
    let mut inputs = ctx.rotate_inputs("app1.pkcs1.pem");
    inputs.insert("command", "rotate-key deploy set-variables".into());
    inputs.insert("azure-subscription-id", ctx.fake.seed().subscription_id);
    inputs.insert("azure-resource-manager-url", ctx.fake.url());
    inputs.insert("resource-group", "rg-runners".into());
    inputs.insert("template", "builtin:runner-jobs".into());
    inputs.insert(
        "parameters",
        "acaEnvName: cae-runners\nacrName: acrrunners\nacaMsiName: id-runners\ngitHubAppKeySecretUri: { output: secret-uri }\n".into(),
    );
    inputs.insert("variables", "RUNNER_POOL: default\n".into());
    inputs
}

fn ctx() -> TestContext {
    let ctx = TestContext::with_seed(Seed {
        github_apps: vec![default_app()],
        arm_deployment_ms: 0,
        arm_retry_after_secs: 1,
        ..Seed::default()
    });
    ctx.fake.set_latency_ms(200);
    ctx
}

fn find(log: &[LoggedRequest], what: impl Fn(&LoggedRequest) -> bool) -> Vec<&LoggedRequest> {
    log.iter().filter(|r| what(r)).collect()
}

#[test]
fn azure_sign_in_runs_beside_github_and_each_resource_signs_in_once() {
    let ctx = ctx();
    let run = ctx.run(&pipeline(&ctx), &[]);
    run.assert_ok();
    let log = ctx.fake.requests();

    // Both Entra tokens (Key Vault, ARM) are asked for while GitHub still checks the key.
    let github_token = find(&log, |r| r.path.ends_with("/access_tokens"));
    let entra = find(&log, |r| r.service == Service::Entra);
    assert_eq!(github_token.len(), 1, "one installation token per step");
    assert_eq!(entra.len(), 2, "one Entra token per resource: {entra:?}");
    for e in &entra {
        assert!(
            e.at_ms < github_token[0].done_ms,
            "Entra at {} ms, after GitHub's token was in at {} ms",
            e.at_ms,
            github_token[0].done_ms
        );
    }
    // The ARM token was ready before the deployment was sent: no sign-in between the commands.
    let put = find(&log, |r| r.service == Service::Arm && r.method == "PUT");
    assert!(entra.iter().all(|e| e.done_ms <= put[0].at_ms));
    ctx.assert_contract();
}

#[test]
fn the_installation_is_looked_up_once_per_step() {
    let ctx = ctx();
    let run = ctx.run(&pipeline(&ctx), &[]);
    run.assert_ok();
    let log = ctx.fake.requests();
    let lookups = find(&log, |r| r.path.ends_with("/installation"));
    assert_eq!(lookups.len(), 1, "{lookups:?}");
}

#[test]
fn the_finished_deployment_and_its_operations_are_read_together() {
    let ctx = ctx();
    let run = ctx.run(&pipeline(&ctx), &[]);
    run.assert_ok();
    let log = ctx.fake.requests();
    let deployment = find(&log, |r| {
        r.service == Service::Arm
            && r.method == "GET"
            && r.path.ends_with("/deployments/runner-jobs")
    });
    let operations = find(&log, |r| r.path.ends_with("/operations"));
    assert_eq!(deployment.len(), 1, "{deployment:?}");
    let last = operations.last().unwrap();
    assert!(
        last.at_ms < deployment[0].done_ms && deployment[0].at_ms < last.done_ms,
        "the last operations list ({}–{} ms) and the deployment ({}–{} ms) did not overlap",
        last.at_ms,
        last.done_ms,
        deployment[0].at_ms,
        deployment[0].done_ms
    );
    // Every resource's final state is still logged.
    assert!(
        run.log()
            .contains("Microsoft.App/jobs runner-default: Succeeded"),
        "{}",
        run.log()
    );
}

#[test]
fn the_app_and_its_installation_are_looked_up_together() {
    let ctx = ctx();
    let run = ctx.run(&pipeline(&ctx), &[]);
    run.assert_ok();
    let log = ctx.fake.requests();
    let app = find(&log, |r| r.path == "/app");
    let installation = find(&log, |r| r.path.ends_with("/installation"));
    assert!(
        installation[0].at_ms < app[0].done_ms,
        "the installation lookup waited for GET /app: {app:?} {installation:?}"
    );
}

//! The runtime image, run as the Actions runner runs a Docker action (feature `docker-tests`;
//! `.ci/run` builds the image with scripts/build-image.sh and starts dockerd first).

use fake_cloud::Seed;

use crate::helpers::*;
use crate::native::{NativeRelease, assert_same_step};

fn image() -> String {
    std::env::var("ACA_IMAGE").unwrap_or_else(|_| "aca-runner-action:local".into())
}

#[test]
fn the_image_runs_a_full_step_like_the_runner_runs_it() {
    let image = image();
    let present = std::process::Command::new("docker")
        .args(["image", "inspect", &image])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        present,
        "image {image} is missing: run scripts/build-image.sh first"
    );

    let ctx = full_step_context();
    let inputs = full_step_inputs(&ctx);
    let run = ctx.run_container(&image, &inputs);
    run.assert_ok();
    assert_eq!(run.output("rotated"), "true");
    assert!(
        run.output("deployment-id")
            .ends_with("/deployments/runner-jobs")
    );
    assert_eq!(run.output("variables-created"), "3");
    assert!(run.summary.contains("### rotate-key"), "{}", run.summary);
    assert!(
        run.summary.contains("### deploy runner-jobs"),
        "{}",
        run.summary
    );
    assert!(run.summary.contains("### set-variables"), "{}", run.summary);
    let vars = ctx.fake.variables("repo:octo-org/runners");
    assert_eq!(
        vars.get("GIT_HUB_APP_KEY_SECRET_URI").map(String::as_str),
        Some(format!("{}/secrets/github-app-key", ctx.fake.url()).as_str())
    );
    assert!(ctx.fake.installation_tokens().iter().all(|t| t.revoked));
    ctx.assert_contract();
}

#[test]
fn the_docker_action_and_the_native_action_give_the_same_outputs_and_summary() {
    let image = image();
    let docker_ctx = full_step_context();
    let docker = docker_ctx.run_container(&image, &full_step_inputs(&docker_ctx));
    docker.assert_ok();
    let native_ctx = full_step_context();
    let release = NativeRelease::publish(&native_ctx, None);
    let native = native_ctx.run_native(&release, &full_step_inputs(&native_ctx), &[]);
    native.assert_ok();
    // Dynamic outputs (the deployment's own) included.
    assert!(
        native.outputs.contains_key("gitHubAppKeySecretUri"),
        "{:?}",
        native.outputs
    );
    assert_same_step((&docker, &docker_ctx), (&native, &native_ctx));
}

fn full_step_context() -> TestContext {
    TestContext::with_seed(Seed {
        github_apps: vec![default_app()],
        arm_deployment_ms: 300,
        ..Seed::default()
    })
}

/// rotate-key, deploy and set-variables in one step, deployment outputs exported.
fn full_step_inputs(ctx: &TestContext) -> std::collections::BTreeMap<&'static str, String> {
    let mut inputs = ctx.rotate_inputs("app1.pkcs1.pem");
    inputs.insert("command", "rotate-key deploy set-variables".into());
    inputs.insert("installation-id", INSTALLATION_ID.to_string());
    inputs.insert("azure-subscription-id", ctx.fake.seed().subscription_id);
    inputs.insert("azure-resource-manager-url", ctx.fake.url());
    inputs.insert("resource-group", "rg-runners".into());
    inputs.insert("template", "builtin:runner-jobs".into());
    inputs.insert(
        "parameters",
        "acaEnvName: cae-runners\nacrName: acrrunners\nacaMsiName: id-runners\ngitHubAppKeySecretUri: { output: secret-uri }\n".into(),
    );
    inputs.insert(
        "variables",
        "RUNNER_IMAGE: acrrunners.azurecr.io/github-runner:latest\n".into(),
    );
    inputs.insert("export-outputs", "true".into());

    inputs
}

//! The three user workflows in .github/workflows, run step by step against the fake cloud: each
//! `uses: ./` step's `with:` is evaluated (`vars`, `secrets`, `steps.*.outputs`, `inputs`) the way
//! the runner would, so the variables the first workflow writes are the inputs the next ones read.

use std::collections::BTreeMap;
use std::path::Path;

use fake_cloud::Seed;

use crate::helpers::*;

const REPO_SCOPE: &str = "repo:octo-org/runners";

/// Runs every `uses: ./` step of `workflow`; returns each step's run.
fn run_workflow(ctx: &TestContext, workflow: &str) -> Vec<Run> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(".github/workflows")
        .join(workflow);
    let doc: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let mut step_outputs: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut runs = Vec::new();
    for (_, job) in doc["jobs"].as_mapping().unwrap() {
        for step in job["steps"].as_sequence().unwrap() {
            if step["uses"].as_str() != Some("./") {
                continue;
            }
            // The one condition the examples use: `steps.ID.outputs.NAME == 'VALUE'`.
            if let Some(condition) = step["if"].as_str() {
                let (left, right) = condition.split_once("==").unwrap();
                let (id, output) = left
                    .trim()
                    .strip_prefix("steps.")
                    .and_then(|p| p.split_once(".outputs."))
                    .unwrap_or_else(|| panic!("{workflow}: unsupported condition {condition}"));
                let value = step_outputs
                    .get(id)
                    .and_then(|o| o.get(output))
                    .cloned()
                    .unwrap_or_default();
                if value != right.trim().trim_matches('\'') {
                    continue;
                }
            }
            let vars = ctx.fake.variables(REPO_SCOPE);
            let mut inputs: BTreeMap<&'static str, String> = BTreeMap::new();
            for (k, v) in step["with"].as_mapping().unwrap() {
                let name = declared_inputs()
                    .into_iter()
                    .map(|(n, _)| n)
                    .find(|n| n == k.as_str().unwrap())
                    .unwrap_or_else(|| panic!("{workflow}: input {k:?} is not declared"));
                let raw = match v {
                    serde_yaml_ng::Value::String(s) => s.clone(),
                    serde_yaml_ng::Value::Bool(b) => b.to_string(),
                    serde_yaml_ng::Value::Number(n) => n.to_string(),
                    other => panic!("{workflow}: unexpected value {other:?}"),
                };
                let value = substitute(&raw, &vars, &step_outputs);
                inputs.insert(Box::leak(name.into_boxed_str()), value);
            }
            // This machine has one fake vault and one fake cloud: point the endpoints at it.
            if inputs.contains_key("key-vault") {
                inputs.insert("key-vault", ctx.fake.url());
            }
            inputs.insert("azure-authority-host", ctx.fake.url());
            inputs.insert("azure-resource-manager-url", ctx.fake.url());
            let run = ctx.run(&inputs, &[]);
            run.assert_ok();
            if let Some(id) = step["id"].as_str() {
                step_outputs.insert(id.to_string(), run.outputs.clone());
            }
            runs.push(run);
        }
    }
    runs
}

/// Evaluates the `${{ … }}` expressions the example workflows use.
fn substitute(
    raw: &str,
    vars: &BTreeMap<String, String>,
    steps: &BTreeMap<String, BTreeMap<String, String>>,
) -> String {
    let mut out = String::new();
    let mut rest = raw;
    while let Some(start) = rest.find("${{") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find("}}").unwrap() + start;
        let expr = rest[start + 3..end].trim();
        let value = if let Some(name) = expr.strip_prefix("vars.") {
            vars.get(name).cloned().unwrap_or_default()
        } else if expr == "secrets.APP_PRIVATE_KEY" {
            fixture("app1.pkcs1.pem")
        } else if let Some(path) = expr.strip_prefix("steps.") {
            let (id, output) = path.split_once(".outputs.").unwrap();
            steps[id].get(output).cloned().unwrap_or_default()
        } else if expr.starts_with("inputs.") && expr.ends_with("|| false") {
            "false".to_string()
        } else {
            panic!("unsupported expression {expr}")
        };
        out.push_str(&value);
        rest = &rest[end + 2..];
    }
    out.push_str(rest);
    out
}

#[test]
fn the_three_workflows_run_in_sequence_through_variables() {
    let ctx = TestContext::with_azurite(Seed {
        github_apps: vec![default_app()],
        arm_deployment_ms: 300,
        acr_log_chunks: 2,
        acr_log_interval_ms: 200,
        ..Seed::default()
    });
    let seed = ctx.fake.seed();
    for (name, value) in [
        ("PROJECT", "runners".to_string()),
        ("AZURE_LOCATION", "westeurope".to_string()),
        ("APP_ID", APP_ID.to_string()),
        ("APP_INSTALLATION_ID", INSTALLATION_ID.to_string()),
        ("AZURE_CLIENT_ID", seed.azure_client_id.clone()),
        ("AZURE_TENANT_ID", seed.tenant_id.clone()),
        ("AZURE_SUBSCRIPTION_ID", seed.subscription_id.clone()),
        (
            "RUNNER_POOLS",
            "- name: linux\n  labels: [linux, x64]\n- name: large\n  labels: [linux, large]\n  cpu: 2\n  max-executions: 4\n".to_string(),
        ),
    ] {
        ctx.fake.put_variable(REPO_SCOPE, name, &value);
    }

    // 1. Prerequisites: the deployment's outputs become variables; the key goes into the vault;
    //    the runner image is built from runner/ in the new registry.
    let runs = run_workflow(&ctx, "deploy-prerequisites.yml");
    assert_eq!(runs.len(), 3);
    assert!(
        runs[2]
            .output("image")
            .contains(".azurecr.io/github-runner:2.330.0@sha256:"),
        "{:?}",
        runs[2].outputs
    );
    let vars = ctx.fake.variables(REPO_SCOPE);
    assert_eq!(vars["RG_NAME"], "rg-runners");
    assert_eq!(vars["ACA_ENV_NAME"], "cae-runners");
    assert_eq!(vars["ACA_MSI_NAME"], "id-runners-runners");
    assert!(vars["ACR_NAME"].starts_with("acrrunners"), "{vars:?}");
    assert!(
        vars["KEY_VAULT_NAME"].starts_with("kv-runners-"),
        "{vars:?}"
    );
    assert_eq!(runs[1].output("rotated"), "true");
    let prereq = &ctx.fake.deployments()[0];
    assert_eq!(prereq.name, "prerequisites");
    assert_eq!(
        prereq.request_body["properties"]["parameters"]["deployerObjectId"]["value"],
        seed.azure_object_id
    );

    // 2. Runners: the variables written above are this workflow's inputs.
    let runs = run_workflow(&ctx, "provision-runners.yml");
    assert_eq!(runs.len(), 1);
    let runners = ctx.fake.deployments().last().cloned().unwrap();
    assert_eq!(runners.name, "runner-jobs");
    assert!(
        runners
            .scope_path
            .to_lowercase()
            .contains("/resourcegroups/rg-runners")
    );
    let params = &runners.request_body["properties"]["parameters"];
    assert_eq!(params["acrName"]["value"], vars["ACR_NAME"].as_str());
    assert_eq!(params["acaMsiName"]["value"], "id-runners-runners");
    assert_eq!(
        params["gitHubInstallationId"]["value"],
        INSTALLATION_ID.to_string()
    );
    assert_eq!(
        params["gitHubAppKeySecretUri"]["value"],
        format!("{}/secrets/github-app-key", ctx.fake.url())
    );
    assert_eq!(params["pools"]["value"].as_array().unwrap().len(), 2);
    assert_eq!(runs[0].output("rotated"), "false");

    // 3. The scheduled upkeep: same key, and the image already carries the current runner:
    //    nothing is rotated, built or deployed.
    let deployments = ctx.fake.deployments().len();
    let builds = ctx.fake.acr_runs().len();
    let runs = run_workflow(&ctx, "rotate-key.yml");
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].output("rotated"), "false");
    assert_eq!(runs[0].output("image-built"), "false");
    assert_eq!(ctx.fake.acr_runs().len(), builds);
    assert_eq!(ctx.fake.deployments().len(), deployments);

    // A new actions/runner release: the image is rebuilt, and the jobs deployed on it.
    ctx.fake.set_runner_release("v2.331.0");
    let runs = run_workflow(&ctx, "rotate-key.yml");
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0].output("runner-version"), "2.331.0");
    let image = runs[0].output("image");
    assert!(image.contains("/github-runner:2.331.0@sha256:"), "{image}");
    let redeployed = ctx.fake.deployments().last().cloned().unwrap();
    assert_eq!(
        redeployed.request_body["properties"]["parameters"]["runnerImage"]["value"],
        image
    );
    let job = ctx.fake.job("rg-runners", "runner-linux").unwrap();
    assert_eq!(
        job["properties"]["template"]["containers"][0]["image"],
        image
    );
    assert!(ctx.fake.installation_tokens().iter().all(|t| t.revoked));
    ctx.assert_contract();
}

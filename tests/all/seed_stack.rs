//! `naming: seed`: the names the seed pipeline (xmi-cs/aca-gh-actions-runner) gave its stack,
//! compared name by name with a fixture computed apart from the fake (tests/fixtures/seed), and
//! What-If against such a stack, seeded into the fake cloud, changing it in place.

use std::collections::BTreeSet;

use fake_cloud::Seed;
use serde_json::Value;

use crate::helpers::*;

fn fixture_stack() -> Value {
    serde_json::from_str(&fixture_text("seed/stack.json")).unwrap()
}

fn fixture_text(name: &str) -> String {
    std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name),
    )
    .unwrap()
}

/// A fake cloud whose subscription is the fixture's.
fn context() -> TestContext {
    let stack = fixture_stack();
    TestContext::with_seed(Seed {
        github_apps: vec![default_app()],
        subscription_id: stack["subscription"].as_str().unwrap().to_string(),
        arm_deployment_ms: 100,
        ..Seed::default()
    })
}

fn seed_inputs(ctx: &TestContext) -> std::collections::BTreeMap<&'static str, String> {
    let mut inputs = prerequisites_inputs(ctx, "aca-gh-runners");
    inputs.insert("location", "eastus".into());
    inputs.insert(
        "parameters",
        "project: aca-gh-runners\nnaming: seed\n".into(),
    );
    inputs
}

/// The `(type, name)` of the fixture's resources that `builtin:prerequisites` deploys (the
/// seed's secret is written by rotate-key, its job by builtin:runner-jobs).
fn prerequisite_names(stack: &Value) -> BTreeSet<(String, String)> {
    stack["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["type"].as_str().unwrap().to_string(),
                r["name"].as_str().unwrap().to_string(),
            )
        })
        .filter(|(t, _)| t != "Microsoft.KeyVault/vaults/secrets" && t != "Microsoft.App/jobs")
        .collect()
}

#[test]
fn naming_seed_gives_the_seed_pipelines_names_secret_and_variables() {
    let ctx = context();
    let stack = fixture_stack();
    let mut inputs = seed_inputs(&ctx);
    inputs.insert("command", "deploy set-variables".into());
    inputs.insert("export-outputs", "true".into());
    inputs.insert("installation-id", INSTALLATION_ID.to_string());
    let run = ctx.run(&inputs, &[]);
    run.assert_ok();

    let deployed: BTreeSet<(String, String)> = ctx
        .fake
        .resources()
        .values()
        .map(|r| {
            (
                r["type"].as_str().unwrap().to_string(),
                r["name"].as_str().unwrap().to_string(),
            )
        })
        .filter(|(t, _)| t != "Microsoft.Resources/deployments")
        .collect();
    // Name by name: every resource the seed made, and nothing besides (no role for the
    // deployer: the seed never had one).
    assert_eq!(deployed, prerequisite_names(&stack));

    let vars = ctx.fake.variables("repo:octo-org/runners");
    for (name, value) in stack["variables"].as_object().unwrap() {
        let value = value.as_str().unwrap().replace(
            "https://kv-aca-gh-runners-v4n7e5.vault.azure.net/",
            &format!("{}/", ctx.fake.url()),
        );
        assert_eq!(vars.get(name), Some(&value), "variable {name}: {vars:?}");
    }
    assert_eq!(run.output("gitHubAppKeySecretName"), "key-github-app");
    ctx.assert_contract();
}

#[test]
fn what_if_on_a_seed_built_stack_modifies_it_in_place() {
    let ctx = context();
    let stack = fixture_stack();
    for r in stack["resources"].as_array().unwrap() {
        ctx.fake.put_resource(r["id"].as_str().unwrap(), r.clone());
    }
    let mut inputs = seed_inputs(&ctx);
    inputs.insert("what-if", "true".into());
    let run = ctx.run(&inputs, &[]);
    run.assert_ok();
    let log = run.log();
    let kinds: Vec<&str> = log
        .lines()
        .filter_map(|l| {
            l.trim_start()
                .split_once(": /subscriptions/")
                .map(|(k, _)| k)
        })
        .collect();
    assert!(!kinds.is_empty(), "{}", run.log());
    assert!(
        kinds.iter().all(|k| matches!(*k, "Modify" | "NoChange")),
        "{kinds:?}\n{}",
        run.log()
    );
    // The same What-If against an empty subscription would create every one of them.
    let empty = context();
    let run = empty.run(&seed_inputs(&empty), &[("INPUT_WHAT-IF", Some("true"))]);
    run.assert_ok();
    let creates = run
        .log()
        .lines()
        .filter(|l| l.trim_start().starts_with("Create: /subscriptions/"))
        .count();
    assert_eq!(creates, prerequisite_names(&stack).len(), "{}", run.log());
}

#[test]
fn naming_seed_updates_the_seeds_job_in_place() {
    let ctx = context();
    let stack = fixture_stack();
    for r in stack["resources"].as_array().unwrap() {
        ctx.fake.put_resource(r["id"].as_str().unwrap(), r.clone());
    }
    let vars = &stack["variables"];
    let mut inputs = runner_jobs_inputs(
        &ctx,
        vars["RG_NAME"].as_str().unwrap(),
        format!(
            "project: aca-gh-runners\nnaming: seed\nacaEnvName: {}\nacrName: {}\nacaMsiName: {}\ngitHubAppKeySecretUri: {}\nrunnerImage: {}.azurecr.io/{}\n",
            vars["ACA_ENV_NAME"].as_str().unwrap(),
            vars["ACR_NAME"].as_str().unwrap(),
            vars["ACA_MSI_NAME"].as_str().unwrap(),
            vars["GH_APP_PRIVATE_KEY_SECRET_URI"].as_str().unwrap(),
            vars["ACR_NAME"].as_str().unwrap(),
            stack["image"].as_str().unwrap(),
        ),
    );
    inputs.insert("what-if", "true".into());
    let run = ctx.run(&inputs, &[]);
    run.assert_ok();
    let log = run.log();
    assert!(
        log.contains("\n  Modify: /subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-aca-gh-runners/providers/Microsoft.App/jobs/caj-aca-gh-runners\n"),
        "{log}"
    );
    assert!(!log.contains("\n  Create: "), "{log}");
}

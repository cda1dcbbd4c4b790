//! rotate-key never strands a consumer (SPEC §3.1.6): Container Apps jobs and apps pinned to a
//! version of the secret are switched when the step may write them, else their version stays
//! enabled.

use std::collections::BTreeMap;

use fake_cloud::Seed;
use serde_json::{Value, json};

use crate::helpers::*;

fn seed() -> Seed {
    Seed {
        github_apps: vec![default_app()],
        ..Seed::default()
    }
}

fn consumer(ctx: &TestContext, group: &str, secret_url: &str) -> Value {
    let sub = ctx.fake.seed().subscription_id;
    json!({
        "location": "westeurope",
        "identity": {"type": "UserAssigned", "userAssignedIdentities": {
            format!("/subscriptions/{sub}/resourceGroups/{group}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-runners"): {}
        }},
        "properties": {
            "environmentId": format!("/subscriptions/{sub}/resourceGroups/{group}/providers/Microsoft.App/managedEnvironments/cae"),
            "configuration": {
                "triggerType": "Event",
                "replicaTimeout": 1800,
                "secrets": [{"name": "github-app-key", "keyVaultUrl": secret_url, "identity": "system"}],
                "eventTriggerConfig": {"parallelism": 1, "replicaCompletionCount": 1,
                    "scale": {"minExecutions": 0, "maxExecutions": 10, "pollingInterval": 30, "rules": []}}
            },
            "template": {"containers": [{"name": "runner", "image": "r:1",
                "resources": {"cpu": 0.25, "memory": "0.5Gi"}}]}
        }
    })
}

fn reference(resource: &Value) -> String {
    resource["properties"]["configuration"]["secrets"][0]["keyVaultUrl"]
        .as_str()
        .unwrap()
        .to_string()
}

fn inputs(ctx: &TestContext, key: &str) -> BTreeMap<&'static str, String> {
    let mut i = ctx.rotate_inputs(key);
    i.insert("azure-subscription-id", ctx.fake.seed().subscription_id);
    i.insert("azure-resource-manager-url", ctx.fake.url());
    i
}

fn enabled(ctx: &TestContext) -> Vec<String> {
    ctx.fake
        .secret_versions("github-app-key")
        .into_iter()
        .filter(|v| v.enabled)
        .map(|v| v.version)
        .collect()
}

#[test]
fn a_job_switched_by_one_rotation_survives_the_next_without_jobs() {
    let ctx = TestContext::with_seed(seed());
    let secret = format!("{}/secrets/github-app-key", ctx.fake.url());
    ctx.fake
        .put_job("rg-a", "runner-default", consumer(&ctx, "rg-a", &secret));
    ctx.run(&ctx.rotate_inputs("app1.pkcs1.pem"), &[])
        .assert_ok();

    // Rotation 1 switches the job: it is pinned to the new version from now on.
    let mut first = inputs(&ctx, "app1-new.pkcs1.pem");
    first.insert("jobs", "rg-a/runner-default".into());
    let run = ctx.run(&first, &[]);
    run.assert_ok();
    let pinned = run.output("secret-version").to_string();
    assert_eq!(
        reference(&ctx.fake.job("rg-a", "runner-default").unwrap()),
        format!("{secret}/{pinned}")
    );
    assert_eq!(enabled(&ctx), std::slice::from_ref(&pinned));

    // Rotation 2, the weekly workflow: no `jobs`. The job's version stays enabled, with a
    // warning that names it.
    let run = ctx.run(&inputs(&ctx, "app1.pkcs1.pem"), &[]);
    run.assert_ok();
    let live = run.output("secret-version").to_string();
    let on = enabled(&ctx);
    assert!(
        on.contains(&pinned) && on.contains(&live) && on.len() == 2,
        "{on:?}"
    );
    assert!(
        run.log().contains(&format!(
            "::warning::job runner-default reads version {pinned} of the secret"
        )),
        "{}",
        run.log()
    );
    assert!(
        run.summary.contains("Consumer (job) `runner-default`")
            && run.summary.contains("kept enabled for it"),
        "{}",
        run.summary
    );

    // Rotation 3 with `jobs: auto` switches it, and the old version goes.
    let mut auto = inputs(&ctx, "app1-new.pkcs1.pem");
    auto.insert("jobs", "auto".into());
    let run = ctx.run(&auto, &[]);
    run.assert_ok();
    let live = run.output("secret-version").to_string();
    assert_eq!(
        reference(&ctx.fake.job("rg-a", "runner-default").unwrap()),
        format!("{secret}/{live}")
    );
    assert_eq!(enabled(&ctx), [live]);
    ctx.assert_contract();
}

#[test]
fn jobs_auto_finds_jobs_and_apps_across_resource_groups() {
    let ctx = TestContext::with_seed(seed());
    let secret = format!("{}/secrets/github-app-key", ctx.fake.url());
    let first = ctx.run(&ctx.rotate_inputs("app1.pkcs1.pem"), &[]);
    first.assert_ok();
    let v1 = first.output("secret-version").to_string();
    ctx.fake.put_job(
        "rg-a",
        "runner-linux",
        consumer(&ctx, "rg-a", &format!("{secret}/{v1}")),
    );
    ctx.fake.put_app(
        "rg-b",
        "webhook",
        consumer(&ctx, "rg-b", &format!("{secret}/{v1}")),
    );
    ctx.fake
        .put_job("rg-c", "runner-other", consumer(&ctx, "rg-c", &secret));
    let mut i = inputs(&ctx, "app1-new.pkcs1.pem");
    i.insert("jobs", "auto".into());
    let run = ctx.run(&i, &[]);
    run.assert_ok();
    let live = run.output("secret-version").to_string();
    let want = format!("{secret}/{live}");
    assert_eq!(
        reference(&ctx.fake.job("rg-a", "runner-linux").unwrap()),
        want
    );
    assert_eq!(reference(&ctx.fake.app("rg-b", "webhook").unwrap()), want);
    // auto switches versionless references too: the new version takes effect at once.
    assert_eq!(
        reference(&ctx.fake.job("rg-c", "runner-other").unwrap()),
        want
    );
    assert_eq!(enabled(&ctx), [live]);
    for name in ["runner-linux", "webhook", "runner-other"] {
        assert!(
            run.summary.contains(&format!("`{name}`")),
            "{}",
            run.summary
        );
    }
}

#[test]
fn a_consumer_the_step_cannot_write_keeps_its_version() {
    let ctx = TestContext::with_seed(seed());
    let secret = format!("{}/secrets/github-app-key", ctx.fake.url());
    let first = ctx.run(&ctx.rotate_inputs("app1.pkcs1.pem"), &[]);
    let v1 = first.output("secret-version").to_string();
    ctx.fake.put_app(
        "rg-b",
        "webhook",
        consumer(&ctx, "rg-b", &format!("{secret}/{v1}")),
    );
    ctx.fake
        .put_job("rg-a", "runner-default", consumer(&ctx, "rg-a", &secret));
    // Only the job is named: the app keeps reading v1, which stays enabled.
    let mut i = inputs(&ctx, "app1-new.pkcs1.pem");
    i.insert("jobs", "rg-a/runner-default".into());
    let run = ctx.run(&i, &[]);
    run.assert_ok();
    let live = run.output("secret-version").to_string();
    assert_eq!(
        reference(&ctx.fake.app("rg-b", "webhook").unwrap()),
        format!("{secret}/{v1}")
    );
    let on = enabled(&ctx);
    assert!(on.contains(&v1) && on.contains(&live), "{on:?}");
    assert!(
        run.log().contains("::warning::app webhook reads version"),
        "{}",
        run.log()
    );
}

#[test]
fn without_a_subscription_it_says_pinned_consumers_were_not_looked_for() {
    let ctx = TestContext::with_seed(seed());
    ctx.run(&ctx.rotate_inputs("app1.pkcs1.pem"), &[])
        .assert_ok();
    let run = ctx.run(&ctx.rotate_inputs("app1-new.pkcs1.pem"), &[]);
    run.assert_ok();
    assert!(
        run.log()
            .contains("could not be looked for (no azure-subscription-id)"),
        "{}",
        run.log()
    );
    let mut i = ctx.rotate_inputs("app1.pkcs1.pem");
    i.insert("jobs", "auto".into());
    let run = ctx.run(&i, &[]);
    assert_eq!(run.code, 2, "{}", run.log());
    assert!(run.log().contains("`jobs: auto`"), "{}", run.log());
}

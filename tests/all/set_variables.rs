//! `set-variables` end to end.

use std::collections::BTreeMap;

use fake_cloud::{Fault, FaultAction, Seed, Service};

use crate::helpers::*;

const REPO_SCOPE: &str = "repo:octo-org/runners";

fn ctx() -> TestContext {
    TestContext::with_seed(Seed {
        github_apps: vec![default_app()],
        workflow_tokens: vec!["ghs_workflowtokenfake000000000000000000".into()],
        arm_deployment_ms: 300,
        ..Seed::default()
    })
}

fn inputs(ctx: &TestContext, variables: &str) -> BTreeMap<&'static str, String> {
    let mut inputs = ctx.rotate_inputs("app1.pkcs1.pem");
    inputs.insert("command", "set-variables".into());
    inputs.remove("key-vault");
    inputs.insert("variables", variables.into());
    inputs
}

fn writes(ctx: &TestContext) -> Vec<String> {
    ctx.fake
        .requests()
        .iter()
        .filter(|r| {
            r.service == Service::GitHub
                && (r.method == "POST" || r.method == "PATCH")
                && r.path.contains("variables")
        })
        .map(|r| format!("{} {} {}", r.method, r.path, r.status))
        .collect()
}

const THREE: &str = "ACR_NAME: acrrunners\nRG_NAME: rg-runners\nKEY_VAULT_NAME: kv-runners\n";

#[test]
fn three_new_variables_are_created_then_a_rerun_writes_nothing() {
    let ctx = ctx();
    let run = ctx.run(&inputs(&ctx, THREE), &[]);
    run.assert_ok();
    let vars = ctx.fake.variables(REPO_SCOPE);
    assert_eq!(vars.get("ACR_NAME").map(String::as_str), Some("acrrunners"));
    assert_eq!(vars.len(), 3);
    assert_eq!(run.output("variables-created"), "3");
    assert_eq!(run.output("variables-updated"), "0");
    assert_eq!(run.output("variables-unchanged"), "0");
    assert!(
        run.summary.contains("| `ACR_NAME` | created |"),
        "{}",
        run.summary
    );

    let before = writes(&ctx).len();
    let again = ctx.run(&inputs(&ctx, THREE), &[]);
    again.assert_ok();
    assert_eq!(writes(&ctx).len(), before, "the rerun wrote");
    assert_eq!(again.output("variables-unchanged"), "3");
    assert!(again.log().contains("nothing written"), "{}", again.log());
    // Asked only for what it needs, and revoked.
    let tokens = ctx.fake.installation_tokens();
    assert!(tokens.iter().all(|t| t.revoked));
    assert_eq!(
        tokens[0]
            .permissions
            .get("actions_variables")
            .map(String::as_str),
        Some("write")
    );
    assert!(
        !tokens[0]
            .permissions
            .contains_key("organization_self_hosted_runners")
    );
    ctx.assert_contract();
}

#[test]
fn one_changed_value_updates_only_it() {
    let ctx = ctx();
    ctx.run(&inputs(&ctx, THREE), &[]).assert_ok();
    let before = writes(&ctx).len();
    let run = ctx.run(
        &inputs(
            &ctx,
            "ACR_NAME: acrrunners\nRG_NAME: rg-other\nKEY_VAULT_NAME: kv-runners\n",
        ),
        &[],
    );
    run.assert_ok();
    let new_writes = writes(&ctx)[before..].to_vec();
    assert_eq!(new_writes.len(), 1, "{new_writes:?}");
    assert!(new_writes[0].starts_with("PATCH") && new_writes[0].contains("RG_NAME"));
    assert_eq!(ctx.fake.variables(REPO_SCOPE)["RG_NAME"], "rg-other");
    assert_eq!(run.output("variables-updated"), "1");
    assert_eq!(run.output("variables-unchanged"), "2");
}

#[test]
fn one_invalid_name_writes_nothing_at_all() {
    let ctx = ctx();
    for bad in [
        "GITHUB_TOKEN_X: x",
        "2FAST: x",
        "BAD-NAME: x",
        "acr_name: a\nACR_NAME: b",
    ] {
        let run = ctx.run(&inputs(&ctx, &format!("GOOD_ONE: fine\n{bad}\n")), &[]);
        assert_eq!(run.code, 2, "{bad}: {}", run.log());
        assert!(run.log().contains("nothing was written"), "{}", run.log());
    }
    assert!(writes(&ctx).is_empty());
    assert!(ctx.fake.variables(REPO_SCOPE).is_empty());
}

#[test]
fn the_workflow_token_gets_a_message_that_says_what_to_use() {
    let ctx = ctx();
    let mut i = inputs(&ctx, THREE);
    i.remove("app-id");
    i.remove("private-key");
    i.insert(
        "github-token",
        "ghs_workflowtokenfake000000000000000000".into(),
    );
    let run = ctx.run(&i, &[]);
    assert_eq!(run.code, 1, "{}", run.log());
    assert!(
        run.log().contains("GITHUB_TOKEN never can"),
        "{}",
        run.log()
    );
    assert!(run.log().contains("app-id"), "{}", run.log());
    assert!(
        run.log()
            .lines()
            .filter(|l| !l.starts_with("::add-mask::"))
            .all(|l| !l.contains("ghs_workflowtokenfake")),
        "the token leaked"
    );
}

#[test]
fn export_outputs_writes_deployment_outputs_in_upper_snake_case() {
    let ctx = ctx();
    let template = ctx.dir.path().join("infra.json");
    std::fs::write(
        &template,
        r#"{"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
            "contentVersion": "1.0.0.0", "parameters": {},
            "resources": [],
            "outputs": {"acrName": {"type": "string", "value": "acrrunners"},
                        "gitHubAppKeySecretUri": {"type": "string", "value": "https://kv/secrets/k"},
                        "maxRunners": {"type": "int", "value": 4},
                        "adminPassword": {"type": "securestring", "value": "never-export-me-123"}}}"#,
    )
    .unwrap();
    let mut i = inputs(&ctx, "EXTRA: one\n");
    i.insert("command", "deploy set-variables".into());
    i.insert("template", template.display().to_string());
    i.insert("resource-group", "rg-runners".into());
    i.insert("azure-subscription-id", ctx.fake.seed().subscription_id);
    i.insert("azure-resource-manager-url", ctx.fake.url());
    i.insert("export-outputs", "true".into());
    let run = ctx.run(&i, &[]);
    run.assert_ok();
    let vars = ctx.fake.variables(REPO_SCOPE);
    assert_eq!(vars.get("ACR_NAME").map(String::as_str), Some("acrrunners"));
    assert_eq!(
        vars.get("GIT_HUB_APP_KEY_SECRET_URI").map(String::as_str),
        Some("https://kv/secrets/k")
    );
    assert_eq!(vars.get("MAX_RUNNERS").map(String::as_str), Some("4"));
    assert_eq!(vars.get("EXTRA").map(String::as_str), Some("one"));
    assert!(
        !vars.contains_key("ADMIN_PASSWORD"),
        "a secure output was exported"
    );
    assert_eq!(vars.len(), 4);
}

#[test]
fn organization_scope_with_visibility() {
    let ctx = ctx();
    let mut i = inputs(&ctx, THREE);
    i.insert("variables-scope", "organization".into());
    i.insert("variables-visibility", "all".into());
    ctx.run(&i, &[]).assert_ok();
    assert_eq!(ctx.fake.variables("org:octo-org").len(), 3);
    let body = ctx
        .fake
        .requests()
        .into_iter()
        .find(|r| r.method == "POST" && r.path == "/orgs/octo-org/actions/variables")
        .unwrap()
        .request_body;
    assert!(body.contains(r#""visibility":"all""#), "{body}");
    let tokens = ctx.fake.installation_tokens();
    assert!(
        tokens[0]
            .permissions
            .contains_key("organization_actions_variables")
    );
    ctx.assert_contract();
}

#[test]
fn environment_scope_writes_through_the_repository_id() {
    let ctx = ctx();
    let mut i = inputs(&ctx, THREE);
    i.insert("variables-scope", "environment".into());
    i.insert("environment", "production".into());
    ctx.run(&i, &[]).assert_ok();
    assert_eq!(
        ctx.fake.variables("env:octo-org/runners:production").len(),
        3
    );
    let id = ctx.fake.repo_id("octo-org/runners");
    assert!(writes(&ctx).iter().all(|w| w.contains(&format!(
        "/repositories/{id}/environments/production/variables"
    ))));
    ctx.assert_contract();
}

#[test]
fn a_create_that_meets_409_becomes_an_update() {
    let ctx = ctx();
    // The POST waits a second; meanwhile another writer creates the variable.
    ctx.fake.add_fault(Fault {
        method: Some("POST".into()),
        path_contains: "/actions/variables".into(),
        times: 1,
        action: FaultAction::Latency { ms: 1500 },
    });
    let run = std::thread::scope(|s| {
        let other_writer = s.spawn(|| {
            // Wait until the action has read the list, then create the variable first.
            for _ in 0..100 {
                if ctx
                    .fake
                    .requests()
                    .iter()
                    .any(|r| r.method == "GET" && r.path.ends_with("/actions/variables"))
                {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            std::thread::sleep(std::time::Duration::from_millis(300));
            ctx.fake
                .put_variable(REPO_SCOPE, "RACED", "by-someone-else");
        });
        let run = ctx.run(&inputs(&ctx, "RACED: mine\n"), &[]);
        other_writer.join().unwrap();
        run
    });
    run.assert_ok();
    assert!(
        run.log().contains("RACED appeared meanwhile (409)"),
        "{}",
        run.log()
    );
    assert_eq!(ctx.fake.variables(REPO_SCOPE)["RACED"], "mine");
    let w = writes(&ctx);
    assert!(w[0].starts_with("POST") && w[0].ends_with("409"), "{w:?}");
    assert!(w[1].starts_with("PATCH") && w[1].ends_with("204"), "{w:?}");
}

#[test]
fn six_writes_overlap_in_time() {
    let ctx = ctx();
    ctx.fake.set_latency_ms(400);
    let six = "A_ONE: 1\nA_TWO: 2\nA_THREE: 3\nA_FOUR: 4\nA_FIVE: 5\nA_SIX: 6\n";
    let run = ctx.run(&inputs(&ctx, six), &[]);
    run.assert_ok();
    let posts: Vec<(f64, f64)> = ctx
        .fake
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/actions/variables"))
        .map(|r| (r.at_ms, r.done_ms))
        .collect();
    assert_eq!(posts.len(), 6);
    // Concurrency from the request log: every write starts before the first one finishes, so the
    // six take about one round trip instead of six.
    let first_done = posts.iter().map(|p| p.1).fold(f64::MAX, f64::min);
    assert!(posts.iter().all(|p| p.0 < first_done), "{posts:?}");
}

#[test]
fn a_bad_variables_scope_stops_the_step_before_rotate_key_and_deploy_send_anything() {
    let ctx = ctx();
    let mut i = ctx.rotate_inputs("app1.pkcs1.pem");
    i.insert("command", "rotate-key deploy set-variables".into());
    i.insert("azure-subscription-id", ctx.fake.seed().subscription_id);
    i.insert("azure-resource-manager-url", ctx.fake.url());
    i.insert("resource-group", "rg-runners".into());
    i.insert(
        "parameters",
        "acaEnvName: e\nacrName: acrrunners\nacaMsiName: m\ngitHubAppKeySecretUri: https://kv.vault.azure.net/secrets/k\n".into(),
    );
    i.insert("variables", THREE.into());
    i.insert("variables-scope", "galaxy".into());
    let run = ctx.run(&i, &[]);
    assert_eq!(run.code, 2, "{}", run.log());
    assert!(
        run.log().contains(
            "input `variables-scope`: `galaxy` is not repository, organization or environment"
        ),
        "{}",
        run.log()
    );
    let sent: Vec<String> = ctx
        .fake
        .requests()
        .iter()
        .map(|r| format!("{:?} {} {}", r.service, r.method, r.path))
        .collect();
    assert!(
        sent.is_empty(),
        "sent before the bad input was found: {sent:?}"
    );
    assert!(ctx.fake.installation_tokens().is_empty());
}

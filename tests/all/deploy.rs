//! `deploy` end to end, and `rotate-key` with `jobs`.

use std::collections::BTreeMap;

use fake_cloud::{FailDeployment, Fault, FaultAction, Seed};
use serde_json::json;

use crate::helpers::*;

const RG: &str = "rg-runners";

fn arm_seed(deployment_ms: u64) -> Seed {
    Seed {
        github_apps: vec![default_app()],
        arm_deployment_ms: deployment_ms,
        arm_retry_after_secs: 1,
        arm_whatif_ms: 300,
        ..Seed::default()
    }
}

/// A user template with two resources and one output of every type.
fn user_template(ctx: &TestContext) -> std::path::PathBuf {
    let template = json!({
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "parameters": {
            "count": {"type": "int"},
            "enabled": {"type": "bool"},
            "names": {"type": "array"},
            "settings": {"type": "object"},
            "label": {"type": "string", "defaultValue": "x"},
            "password": {"type": "securestring", "defaultValue": "not-used"}
        },
        "resources": [
            {"type": "Microsoft.Storage/storageAccounts", "apiVersion": "2023-05-01",
             "name": "stfake01", "location": "westeurope", "kind": "StorageV2",
             "sku": {"name": "Standard_LRS"}, "properties": {}},
            {"type": "Microsoft.ManagedIdentity/userAssignedIdentities", "apiVersion": "2023-01-31",
             "name": "id-fake", "location": "westeurope"}
        ],
        "outputs": {
            "aString": {"type": "string", "value": "[parameters('label')]"},
            "anInt": {"type": "int", "value": "[parameters('count')]"},
            "aBool": {"type": "bool", "value": "[parameters('enabled')]"},
            "anArray": {"type": "array", "value": "[parameters('names')]"},
            "anObject": {"type": "object", "value": "[parameters('settings')]"},
            "aSecret": {"type": "securestring", "value": "s3cret-output-value-123"}
        }
    });
    let path = ctx.dir.path().join("main.json");
    std::fs::write(&path, serde_json::to_string_pretty(&template).unwrap()).unwrap();
    path
}

fn deploy_inputs(ctx: &TestContext, template: &str) -> BTreeMap<&'static str, String> {
    let mut inputs = ctx.rotate_inputs("app1.pkcs1.pem");
    inputs.insert("command", "deploy".into());
    inputs.remove("key-vault");
    inputs.insert("template", template.to_string());
    inputs.insert("resource-group", RG.into());
    inputs.insert("azure-subscription-id", ctx.fake.seed().subscription_id);
    inputs.insert("azure-resource-manager-url", ctx.fake.url());
    inputs
}

#[test]
fn resource_group_deployment_with_typed_parameters_and_every_output_type() {
    let ctx = TestContext::with_seed(arm_seed(1500));
    let template = user_template(&ctx);
    let mut inputs = deploy_inputs(&ctx, template.to_str().unwrap());
    inputs.insert(
        "parameters",
        "count: 3\nenabled: true\nnames: [a, b]\nsettings: { tier: gold, size: 2 }\nlabel: hello\n"
            .into(),
    );
    let run = ctx.run(&inputs, &[]);
    run.assert_ok();

    let deployments = ctx.fake.deployments();
    assert_eq!(deployments.len(), 1);
    let d = &deployments[0];
    assert_eq!(d.name, "main");
    assert!(
        d.scope_path
            .to_lowercase()
            .contains("/resourcegroups/rg-runners")
    );
    let params = &d.request_body["properties"]["parameters"];
    assert_eq!(params["count"], json!({"value": 3}));
    assert_eq!(params["enabled"], json!({"value": true}));
    assert_eq!(params["names"], json!({"value": ["a", "b"]}));
    assert_eq!(
        params["settings"],
        json!({"value": {"tier": "gold", "size": 2}})
    );
    assert_eq!(d.request_body["properties"]["mode"], "Incremental");

    assert_eq!(run.output("aString"), "hello");
    assert_eq!(run.output("anInt"), "3");
    assert_eq!(run.output("aBool"), "true");
    assert_eq!(run.output("anArray"), r#"["a","b"]"#);
    assert_eq!(run.output("anObject"), r#"{"size":2,"tier":"gold"}"#);
    assert_eq!(run.output("aSecret"), "s3cret-output-value-123");
    assert!(run.output("deployment-id").ends_with("/deployments/main"));
    // The secure output is masked before it is written, and never shown.
    let log = run.log();
    let mask = log
        .find("::add-mask::s3cret-output-value-123")
        .expect("masked");
    let others: Vec<&str> = log
        .lines()
        .filter(|l| !l.starts_with("::add-mask::"))
        .collect();
    assert!(
        others
            .iter()
            .all(|l| !l.contains("s3cret-output-value-123"))
    );
    assert!(!run.summary.contains("s3cret-output-value-123"));
    assert!(mask > 0);
    ctx.assert_contract();
}

#[test]
fn subscription_scope_deployment_sends_its_location() {
    let ctx = TestContext::with_seed(arm_seed(300));
    let template = user_template(&ctx);
    let mut inputs = deploy_inputs(&ctx, template.to_str().unwrap());
    inputs.insert("scope", "subscription".into());
    inputs.insert("location", "westeurope".into());
    inputs.insert(
        "parameters",
        "count: 1\nenabled: false\nnames: []\nsettings: {}\n".into(),
    );
    ctx.run(&inputs, &[]).assert_ok();
    let d = &ctx.fake.deployments()[0];
    assert!(!d.scope_path.to_lowercase().contains("resourcegroups"));
    assert_eq!(d.request_body["location"], "westeurope");
    ctx.assert_contract();
}

#[test]
fn a_failed_deployment_shows_the_inner_error_and_exits_1() {
    let ctx = TestContext::with_seed(arm_seed(600));
    ctx.fake.fail_deployment(FailDeployment {
        name_contains: "main".into(),
        resource_name_contains: "stfake01".into(),
        code: "StorageAccountAlreadyTaken".into(),
        message: "The storage account named stfake01 is already taken.".into(),
    });
    let template = user_template(&ctx);
    let mut inputs = deploy_inputs(&ctx, template.to_str().unwrap());
    inputs.insert(
        "parameters",
        "count: 1\nenabled: false\nnames: []\nsettings: {}\n".into(),
    );
    let run = ctx.run(&inputs, &[]);
    assert_eq!(run.code, 1, "{}", run.log());
    let log = run.log();
    assert!(log.contains("DeploymentFailed"), "{log}");
    assert!(
        log.contains(
            "StorageAccountAlreadyTaken: The storage account named stfake01 is already taken."
        ),
        "{log}"
    );
    assert!(log.contains("stfake01 failed"), "{log}");
    assert_eq!(log.matches("::error").count(), 1, "{log}");
    ctx.assert_contract();
}

#[test]
fn what_if_deploys_nothing_and_counts_changes() {
    let ctx = TestContext::with_seed(arm_seed(300));
    let template = user_template(&ctx);
    let mut inputs = deploy_inputs(&ctx, template.to_str().unwrap());
    inputs.insert(
        "parameters",
        "count: 1\nenabled: false\nnames: []\nsettings: {}\n".into(),
    );
    inputs.insert("what-if", "true".into());
    let run = ctx.run(&inputs, &[]);
    run.assert_ok();
    assert!(ctx.fake.deployments().is_empty(), "What-If deployed");
    assert_eq!(run.output("has-changes"), "true");
    assert_eq!(run.output("changes"), "2");
    assert!(
        run.log().contains("Create: /subscriptions/"),
        "{}",
        run.log()
    );
    assert!(run.summary.contains("What-If"));
    ctx.assert_contract();
}

#[test]
fn polling_follows_retry_after_and_progress_names_the_resources() {
    let ctx = TestContext::with_seed(arm_seed(6000));
    let template = user_template(&ctx);
    let mut inputs = deploy_inputs(&ctx, template.to_str().unwrap());
    inputs.insert(
        "parameters",
        "count: 1\nenabled: false\nnames: []\nsettings: {}\n".into(),
    );
    let run = ctx.run(&inputs, &[]);
    run.assert_ok();
    let polls: Vec<f64> = ctx
        .fake
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path.contains("operationStatuses"))
        .map(|r| r.at_ms)
        .collect();
    // A 6 s deployment polled every second (Retry-After: 1): about six polls (fewer when the
    // machine is slow), none early.
    assert!((5..=7).contains(&polls.len()), "{polls:?}");
    for pair in polls.windows(2) {
        assert!(pair[1] - pair[0] >= 950.0, "{polls:?}");
    }
    let log = run.log();
    assert!(
        log.contains("Microsoft.Storage/storageAccounts stfake01: Running"),
        "{log}"
    );
    assert!(
        log.contains("Microsoft.Storage/storageAccounts stfake01: Succeeded"),
        "{log}"
    );
    assert!(
        log.contains("Microsoft.ManagedIdentity/userAssignedIdentities id-fake: Succeeded"),
        "{log}"
    );
}

#[test]
fn two_pools_make_two_jobs_with_their_own_labels() {
    let ctx = TestContext::with_seed(arm_seed(300));
    let mut inputs = deploy_inputs(&ctx, "builtin:runner-jobs");
    inputs.insert("installation-id", INSTALLATION_ID.to_string());
    inputs.insert(
        "parameters",
        "acaEnvName: cae-runners\nacrName: acrrunners\nacaMsiName: id-runners\ngitHubAppKeySecretUri: https://kv.vault.azure.net/secrets/github-app-key\n".into(),
    );
    inputs.insert(
        "pools",
        "- name: small\n  labels: [linux, small]\n- name: big\n  labels: [linux, big]\n  cpu: 2\n  memory: 4Gi\n  max-executions: 3\n".into(),
    );
    let run = ctx.run(&inputs, &[]);
    run.assert_ok();
    let d = &ctx.fake.deployments()[0];
    assert_eq!(d.name, "runner-jobs");
    let pools = &d.request_body["properties"]["parameters"]["pools"]["value"];
    assert_eq!(pools[0]["jobName"], "runner-small");
    assert_eq!(pools[0]["labels"], "self-hosted,linux,small");
    assert_eq!(pools[1]["labels"], "self-hosted,linux,big");
    assert_eq!(pools[1]["cpu"], 2.0);
    let params = &d.request_body["properties"]["parameters"];
    assert_eq!(
        params["runnerImage"]["value"],
        "acrrunners.azurecr.io/github-runner:latest"
    );
    let job = ctx.fake.job(RG, "runner-small").unwrap();
    assert_eq!(
        job["properties"]["template"]["containers"][0]["image"],
        "acrrunners.azurecr.io/github-runner:latest"
    );
    assert_eq!(params["gitHubAppId"]["value"], "12345");
    assert_eq!(params["gitHubOwner"]["value"], ORG);
    let log = run.log();
    assert!(
        log.contains("Microsoft.App/jobs runner-small: Succeeded"),
        "{log}"
    );
    assert!(
        log.contains("Microsoft.App/jobs runner-big: Succeeded"),
        "{log}"
    );
    ctx.assert_contract();
}

#[test]
fn rotate_key_then_deploy_passes_the_secret_uri_through_an_output() {
    let ctx = TestContext::with_seed(arm_seed(300));
    let mut inputs = deploy_inputs(&ctx, "builtin:runner-jobs");
    inputs.insert("command", "deploy rotate-key".into());
    inputs.insert("key-vault", ctx.fake.url());
    inputs.insert("installation-id", INSTALLATION_ID.to_string());
    inputs.insert(
        "parameters",
        "acaEnvName: cae-runners\nacrName: acrrunners\nacaMsiName: id-runners\ngitHubAppKeySecretUri: { output: secret-uri }\n".into(),
    );
    let run = ctx.run(&inputs, &[]);
    run.assert_ok();
    let d = &ctx.fake.deployments()[0];
    assert_eq!(
        d.request_body["properties"]["parameters"]["gitHubAppKeySecretUri"]["value"],
        format!("{}/secrets/github-app-key", ctx.fake.url())
    );
    // rotate-key ran first although it was named second.
    let log = run.log();
    assert!(log.find("::group::rotate-key").unwrap() < log.find("::group::deploy").unwrap());
    assert_eq!(run.output("rotated"), "true");
    // One installation token for the whole step, revoked at the end.
    let tokens = ctx.fake.installation_tokens();
    assert_eq!(tokens.len(), 1);
    assert!(tokens[0].revoked);
}

#[test]
fn an_output_that_no_earlier_command_produced_is_named() {
    let ctx = TestContext::with_seed(arm_seed(300));
    let mut inputs = deploy_inputs(&ctx, "builtin:runner-jobs");
    inputs.insert(
        "parameters",
        "acaEnvName: e\nacrName: a\nacaMsiName: m\ngitHubAppKeySecretUri: { output: secret-uri }\n"
            .into(),
    );
    let run = ctx.run(&inputs, &[]);
    assert_eq!(run.code, 2);
    assert!(
        run.log()
            .contains("parameter `gitHubAppKeySecretUri` takes output `secret-uri`"),
        "{}",
        run.log()
    );
    assert!(ctx.fake.deployments().is_empty());
}

fn seed_job(ctx: &TestContext, name: &str) {
    let secret_uri = format!("{}/secrets/github-app-key", ctx.fake.url());
    ctx.fake.put_job(
        RG,
        name,
        json!({
            "location": "westeurope",
            "identity": {"type": "UserAssigned", "userAssignedIdentities": {
                format!("/subscriptions/{}/resourceGroups/{RG}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-runners", ctx.fake.seed().subscription_id): {}
            }},
            "properties": {
                "environmentId": format!("/subscriptions/{}/resourceGroups/{RG}/providers/Microsoft.App/managedEnvironments/cae", ctx.fake.seed().subscription_id),
                "configuration": {
                    "triggerType": "Event",
                    "replicaTimeout": 1800,
                    "secrets": [{"name": "github-app-key", "keyVaultUrl": secret_uri, "identity": "system"}],
                    "eventTriggerConfig": {"parallelism": 1, "replicaCompletionCount": 1,
                        "scale": {"minExecutions": 0, "maxExecutions": 10, "pollingInterval": 30, "rules": []}}
                },
                "template": {"containers": [{"name": "runner", "image": "r:1",
                    "resources": {"cpu": 0.25, "memory": "0.5Gi"}}]}
            }
        }),
    );
}

#[test]
fn rotate_key_with_jobs_switches_them_before_disabling_anything() {
    let ctx = TestContext::with_seed(arm_seed(300));
    seed_job(&ctx, "runner-default");
    ctx.run(&ctx.rotate_inputs("app1.pkcs1.pem"), &[])
        .assert_ok();
    let mut inputs = ctx.rotate_inputs("app1-new.pkcs1.pem");
    inputs.insert("jobs", format!("{RG}/runner-default"));
    inputs.insert("azure-subscription-id", ctx.fake.seed().subscription_id);
    inputs.insert("azure-resource-manager-url", ctx.fake.url());
    let run = ctx.run(&inputs, &[]);
    run.assert_ok();
    let new_version = run.output("secret-version").to_string();
    let job = ctx.fake.job(RG, "runner-default").unwrap();
    assert_eq!(
        job["properties"]["configuration"]["secrets"][0]["keyVaultUrl"],
        format!("{}/secrets/github-app-key/{new_version}", ctx.fake.url())
    );
    let order: Vec<String> = ctx
        .fake
        .requests()
        .iter()
        .filter(|r| (r.method == "PUT" || r.method == "PATCH") && r.status < 300)
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    let job_put = order
        .iter()
        .position(|r| r.contains("Microsoft.App/jobs"))
        .unwrap();
    let disable = order.iter().position(|r| r.starts_with("PATCH")).unwrap();
    assert!(job_put < disable, "{order:?}");
    assert!(
        run.log().contains("Switched job runner-default"),
        "{}",
        run.log()
    );
    ctx.assert_contract();
}

#[test]
fn a_job_that_cannot_be_switched_leaves_every_version_enabled() {
    let ctx = TestContext::with_seed(arm_seed(300));
    seed_job(&ctx, "runner-default");
    ctx.run(&ctx.rotate_inputs("app1.pkcs1.pem"), &[])
        .assert_ok();
    ctx.fake.add_fault(Fault {
        method: Some("PUT".into()),
        path_contains: "Microsoft.App/jobs".into(),
        times: 1,
        action: FaultAction::Status {
            status: 400,
            retry_after: None,
            body: Some(json!({"error": {"code": "ContainerAppSecretInvalid", "message": "Key Vault reference cannot be resolved."}})),
        },
    });
    let mut inputs = ctx.rotate_inputs("app1-new.pkcs1.pem");
    inputs.insert("jobs", format!("{RG}/runner-default"));
    inputs.insert("azure-subscription-id", ctx.fake.seed().subscription_id);
    inputs.insert("azure-resource-manager-url", ctx.fake.url());
    let run = ctx.run(&inputs, &[]);
    assert_eq!(run.code, 1, "{}", run.log());
    assert!(
        run.log().contains("ContainerAppSecretInvalid"),
        "{}",
        run.log()
    );
    assert!(
        run.log().contains("no version was disabled"),
        "{}",
        run.log()
    );
    let versions = ctx.fake.secret_versions("github-app-key");
    assert_eq!(versions.len(), 2);
    assert!(versions.iter().all(|v| v.enabled));
}

#[test]
fn a_bicep_template_without_bicep_on_path_says_so() {
    let ctx = TestContext::with_seed(arm_seed(300));
    let path = ctx.dir.path().join("main.bicep");
    std::fs::write(&path, "param count int\n").unwrap();
    let inputs = deploy_inputs(&ctx, path.to_str().unwrap());
    let empty_path = ctx.dir.path().join("no-tools");
    std::fs::create_dir_all(&empty_path).unwrap();
    let run = ctx.run(&inputs, &[("PATH", Some(empty_path.to_str().unwrap()))]);
    assert_eq!(run.code, 2, "{}", run.log());
    assert!(
        run.log().contains("no `bicep` executable is on PATH"),
        "{}",
        run.log()
    );
    assert!(ctx.fake.deployments().is_empty());
}

#[test]
fn a_parameters_file_is_read_and_parameters_override_it() {
    let ctx = TestContext::with_seed(arm_seed(300));
    let template = user_template(&ctx);
    let file = ctx.dir.path().join("main.parameters.json");
    std::fs::write(
        &file,
        serde_json::to_string(&json!({
            "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#",
            "contentVersion": "1.0.0.0",
            "parameters": {
                "count": {"value": 1}, "enabled": {"value": false},
                "names": {"value": ["from-file"]}, "settings": {"value": {}}
            }
        }))
        .unwrap(),
    )
    .unwrap();
    let mut inputs = deploy_inputs(&ctx, template.to_str().unwrap());
    inputs.insert("parameters-file", file.display().to_string());
    inputs.insert("parameters", "count: 5\n".into());
    ctx.run(&inputs, &[]).assert_ok();
    let params = &ctx.fake.deployments()[0].request_body["properties"]["parameters"];
    assert_eq!(params["count"]["value"], 5);
    assert_eq!(params["names"]["value"], json!(["from-file"]));

    inputs.insert("parameters", "colour: red\n".into());
    let run = ctx.run(&inputs, &[]);
    assert_eq!(run.code, 2);
    assert!(
        run.log()
            .contains("parameter `colour` is not declared by the template"),
        "{}",
        run.log()
    );
}

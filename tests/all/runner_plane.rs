//! The runner plane `builtin:runner-jobs` deploys (SPEC §3.2): jobs evaluated by the fake's ARM
//! and checked against the official Microsoft.App description, the key kept from the runner
//! containers, the init container's program against the fake GitHub, and the pool checks.

use std::collections::BTreeMap;
use std::process::Command;

use fake_cloud::{RunnerGroup, Seed};
use serde_json::{Value, json};

use crate::helpers::*;

const RG: &str = "rg-runners";
const PARAMETERS: &str = "acaEnvName: cae-runners\nacrName: acrrunners\nacaMsiName: id-runners\ngitHubAppKeySecretUri: https://kv.vault.azure.net/secrets/github-app-key\n";

fn seed() -> Seed {
    let mut app = default_app();
    app.installations[0]
        .permissions
        .insert("administration".into(), "write".into());
    app.installations[0].repositories = (1..=20).map(|i| format!("{ORG}/repo{i}")).collect();
    Seed {
        github_apps: vec![app],
        arm_deployment_ms: 200,
        arm_retry_after_secs: 1,
        runner_groups: vec![RunnerGroup {
            id: 7,
            name: "ci".into(),
        }],
        ..Seed::default()
    }
}

fn jobs_inputs(ctx: &TestContext, pools: &str) -> BTreeMap<&'static str, String> {
    let mut inputs = ctx.rotate_inputs("app1.pkcs1.pem");
    inputs.insert("command", "deploy".into());
    inputs.remove("key-vault");
    inputs.insert("template", "builtin:runner-jobs".into());
    inputs.insert("resource-group", RG.into());
    inputs.insert("azure-subscription-id", ctx.fake.seed().subscription_id);
    inputs.insert("azure-resource-manager-url", ctx.fake.url());
    inputs.insert("parameters", PARAMETERS.into());
    inputs.insert("pools", pools.into());
    inputs
}

const POOLS: &str = "- name: linux\n  labels: [linux, x64]\n- name: large\n  labels: [linux, large]\n  cpu: 2\n  max-executions: 4\n  runner-group: ci\n  workload-identity: id-deployer\n- name: web\n  runner-scope: repo\n  repos: [site, api]\n";

fn job_schema_errors(job: &Value) -> Vec<String> {
    let spec: Value = serde_json::from_str(include_str!(
        "../../fake-cloud/api-specs/containerapps-jobs.json"
    ))
    .unwrap();
    fake_cloud::contract::validate(&spec, &json!({"$ref": "#/definitions/Job"}), job)
}

/// Every string anywhere in `v`.
fn strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        Value::Object(o) => o.values().for_each(|x| strings(x, out)),
        _ => {}
    }
}

#[test]
fn the_deployed_jobs_validate_and_keep_the_key_from_the_runner_container() {
    let ctx = TestContext::with_seed(seed());
    let run = ctx.run(&jobs_inputs(&ctx, POOLS), &[]);
    run.assert_ok();
    let names = [
        "runner-linux",
        "runner-large",
        "runner-web-site",
        "runner-web-api",
    ];
    for name in names {
        let job = ctx
            .fake
            .job(RG, name)
            .unwrap_or_else(|| panic!("job {name} was not deployed:\n{}", run.log()));
        let errors = job_schema_errors(&job);
        assert!(errors.is_empty(), "{name}: {errors:#?}");
        let template = &job["properties"]["template"];
        let config = &job["properties"]["configuration"];

        // The runner container: no secret in any form.
        let runner = &template["containers"][0];
        assert_eq!(template["containers"].as_array().unwrap().len(), 1);
        for e in runner["env"].as_array().unwrap() {
            assert!(e.get("secretRef").is_none(), "{name}: {e}");
        }
        for v in template["volumes"].as_array().unwrap() {
            assert_ne!(v["storageType"], "Secret", "{name}: {v}");
            assert!(v.get("secrets").is_none(), "{name}: {v}");
        }
        let mut texts = Vec::new();
        strings(runner, &mut texts);
        assert!(
            texts.iter().all(|t| !t.contains("PRIVATE KEY")),
            "{name}: {runner}"
        );

        // The init container holds the key reference and shares the EmptyDir.
        let init = &template["initContainers"][0];
        assert_eq!(init["args"], json!(["runner-init"]));
        let key_ref: Vec<&Value> = init["env"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e.get("secretRef").is_some())
            .collect();
        assert_eq!(key_ref.len(), 1, "{name}");
        assert_eq!(key_ref[0]["name"], "GITHUB_APP_KEY");
        assert_eq!(template["volumes"][0]["storageType"], "EmptyDir");
        assert_eq!(init["volumeMounts"], runner["volumeMounts"]);

        // The platform identity is kept from every container.
        let settings = config["identitySettings"].as_array().unwrap();
        let platform = settings
            .iter()
            .find(|s| {
                s["identity"]
                    .as_str()
                    .unwrap()
                    .ends_with("/userAssignedIdentities/id-runners")
            })
            .unwrap();
        assert_eq!(platform["lifecycle"], "None", "{name}");

        // The scaler: KEDA's default labels off, the same labels as the runner, ETags on.
        let rule = &config["eventTriggerConfig"]["scale"]["rules"][0];
        assert_eq!(rule["metadata"]["noDefaultLabels"], "true");
        assert_eq!(rule["metadata"]["enableEtags"], "true");
        assert!(rule["metadata"].get("githubApiURL").is_some());
        assert_eq!(rule["metadata"]["applicationID"], "12345");
        let runner_labels = init["env"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == "RUNNER_LABELS")
            .unwrap()["value"]
            .clone();
        assert_eq!(rule["metadata"]["labels"], runner_labels, "{name}");
        assert_eq!(rule["auth"][0]["triggerParameter"], "appKey");
    }

    // The workload identity is available to the runner container only, without a vault role.
    let large = ctx.fake.job(RG, "runner-large").unwrap();
    let settings = large["properties"]["configuration"]["identitySettings"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(settings.len(), 2);
    assert!(
        settings[1]["identity"]
            .as_str()
            .unwrap()
            .ends_with("/id-deployer")
    );
    assert_eq!(settings[1]["lifecycle"], "Main");
    assert_eq!(
        large["properties"]["template"]["containers"][0]["resources"],
        json!({"cpu": 2.0, "memory": "4Gi"})
    );

    // One job per repository, each registering on its own repository.
    for (job, repo) in [("runner-web-site", "site"), ("runner-web-api", "api")] {
        let j = ctx.fake.job(RG, job).unwrap();
        let rule = &j["properties"]["configuration"]["eventTriggerConfig"]["scale"]["rules"][0];
        assert_eq!(rule["metadata"]["repos"], repo);
        assert_eq!(rule["metadata"]["runnerScope"], "repo");
        let env = j["properties"]["template"]["initContainers"][0]["env"]
            .as_array()
            .unwrap()
            .clone();
        let repo_env = env.iter().find(|e| e["name"] == "RUNNER_REPO").unwrap();
        assert_eq!(repo_env["value"], repo);
    }
    ctx.assert_contract();
}

#[test]
fn the_budget_is_projected_against_the_installations_limit() {
    let ctx = TestContext::with_seed(seed());
    let run = ctx.run(&jobs_inputs(&ctx, POOLS), &[]);
    run.assert_ok();
    let log = run.log();
    // 20 repositories: runner-linux polls every 30 s a listing (1) and 2 calls per repository;
    // busy adds one call per queued or running run (max-executions 10).
    assert!(
        log.contains("runner-linux: scaler 4920 idle, 6120 busy; runners 120 busy"),
        "{log}"
    );
    // runner-large names a runner group: one more call per execution.
    assert!(
        log.contains("runner-large: scaler 4920 idle, 5400 busy; runners 72 busy"),
        "{log}"
    );
    // Repository jobs poll their repository only.
    assert!(
        log.contains("runner-web-site: scaler 240 idle, 1440 busy; runners 120 busy"),
        "{log}"
    );
    assert!(
        log.contains("installation's limit of 5000; 20 repositories reachable"),
        "{log}"
    );
    assert!(log.contains("::warning::the runner pools may use"), "{log}");
    assert!(log.contains("the most is job runner-linux"), "{log}");
    assert!(log.contains("list `repos`"), "{log}");
    assert!(run.summary.contains("GitHub API budget"), "{}", run.summary);

    // Listed repositories and a slower poll stay well inside the limit: no warning.
    let run = ctx.run(
        &jobs_inputs(
            &ctx,
            "- name: linux\n  repos: [repo1, repo2]\n  polling-interval: 60\n  max-executions: 4\n",
        ),
        &[],
    );
    run.assert_ok();
    assert!(
        !run.log().contains("::warning::the runner pools"),
        "{}",
        run.log()
    );
}

#[test]
fn contained_label_sets_are_warned_about() {
    let ctx = TestContext::with_seed(seed());
    let run = ctx.run(
        &jobs_inputs(
            &ctx,
            "- name: linux\n  labels: [linux]\n  repos: [repo1]\n- name: large\n  labels: [linux, large]\n  repos: [repo1]\n",
        ),
        &[],
    );
    run.assert_ok();
    assert!(
        run.log()
            .contains("::warning::pools `linux` and `large`: a job with `runs-on: [self-hosted, linux]` starts an execution in both"),
        "{}",
        run.log()
    );
}

#[test]
fn invalid_pools_are_refused_before_any_request() {
    for (pools, message) in [
        (
            "- name: big\n  cpu: 2\n  memory: 2Gi\n",
            "cpu 2 with memory 2Gi is not a combination Container Apps offers",
        ),
        (
            "- name: web\n  runner-scope: repo\n",
            "runner-scope repo needs `repos`",
        ),
        ("- name: x\n  colour: red\n", "is not a YAML list of pools"),
    ] {
        let ctx = TestContext::with_seed(seed());
        let mut inputs = jobs_inputs(&ctx, pools);
        // The pools of a later command are checked before rotate-key writes anything.
        inputs.insert("command", "rotate-key deploy".into());
        inputs.insert("key-vault", ctx.fake.url());
        let run = ctx.run(&inputs, &[]);
        assert_eq!(run.code, 2, "{}", run.log());
        assert!(run.log().contains(message), "{message}:\n{}", run.log());
        assert!(
            ctx.fake.requests().is_empty(),
            "{:?}",
            ctx.fake
                .requests()
                .iter()
                .map(|r| format!("{} {}", r.method, r.path))
                .collect::<Vec<_>>()
        );
    }
}

#[test]
fn a_client_id_is_resolved_to_the_numeric_app_id_keda_needs() {
    let ctx = TestContext::with_seed(seed());
    let mut inputs = jobs_inputs(&ctx, "- name: linux\n  repos: repo1\n");
    inputs.insert("app-id", "Iv1.fakeclient12345".into());
    let run = ctx.run(&inputs, &[]);
    run.assert_ok();
    let d = &ctx.fake.deployments()[0];
    let params = &d.request_body["properties"]["parameters"];
    assert_eq!(params["gitHubAppId"]["value"], "12345");
    assert_eq!(
        params["gitHubInstallationId"]["value"],
        INSTALLATION_ID.to_string()
    );
    assert!(run.log().contains("is GitHub App 12345"), "{}", run.log());

    // Without the key the client id cannot be resolved: refused, nothing deployed.
    let ctx = TestContext::with_seed(seed());
    let mut inputs = jobs_inputs(&ctx, "- name: linux\n");
    inputs.insert("app-id", "Iv1.fakeclient12345".into());
    inputs.insert("installation-id", INSTALLATION_ID.to_string());
    inputs.remove("private-key");
    let run = ctx.run(&inputs, &[]);
    assert_eq!(run.code, 2, "{}", run.log());
    assert!(
        run.log().contains("needs the numeric App id"),
        "{}",
        run.log()
    );
    assert!(ctx.fake.deployments().is_empty());
}

// ---------------------------------------------------------------------------------------------
// The init container's program, run as the init container runs it.

fn init(ctx: &TestContext, env: &[(&str, &str)]) -> (i32, String, std::path::PathBuf) {
    let dir = ctx.dir.path().join(format!("jit-{}", rand_suffix()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("config");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_aca-runner-action"));
    cmd.arg("runner-init");
    cmd.env_clear();
    cmd.env("PATH", std::env::var("PATH").unwrap_or_default());
    cmd.env("SSL_CERT_FILE", &ctx.ca_file);
    cmd.env("NO_PROXY", "127.0.0.1,localhost");
    cmd.env("GITHUB_APP_ID", APP_ID.to_string());
    cmd.env("GITHUB_INSTALLATION_ID", INSTALLATION_ID.to_string());
    cmd.env("GITHUB_APP_KEY", fixture("app1.pkcs1.pem"));
    cmd.env("GITHUB_API_URL", ctx.fake.url());
    cmd.env("RUNNER_OWNER", ORG);
    cmd.env("RUNNER_LABELS", "self-hosted,linux,x64");
    cmd.env("RUNNER_NAME_PREFIX", "runner-linux");
    cmd.env("CONTAINER_APP_JOB_EXECUTION_NAME", "runner-linux-ab12cd3");
    cmd.env("JIT_CONFIG_FILE", &file);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), log, file)
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

#[test]
fn the_init_program_writes_an_organization_runner_configuration_and_revokes_its_token() {
    let ctx = TestContext::with_seed(seed());
    let as_root = {
        use std::os::unix::fs::MetadataExt as _;
        std::fs::metadata("/proc/self")
            .map(|m| m.uid() == 0)
            .unwrap_or(false)
    };
    let owner: &[(&str, &str)] = if as_root {
        &[("RUNNER_GROUP", "ci"), ("JIT_CONFIG_OWNER", "1001:1001")]
    } else {
        &[("RUNNER_GROUP", "ci")]
    };
    let (code, log, file) = init(&ctx, owner);
    assert_eq!(code, 0, "{log}");
    if as_root {
        use std::os::unix::fs::MetadataExt as _;
        // The runner container's user (uid 1001 in the actions-runner image) owns it.
        assert_eq!(std::fs::metadata(&file).unwrap().uid(), 1001);
    }
    let runners = ctx.fake.jit_runners();
    assert_eq!(runners.len(), 1);
    let r = &runners[0];
    assert_eq!(r.scope, format!("org:{ORG}"));
    assert_eq!(r.name, "runner-linux-ab12cd3");
    assert_eq!(r.labels, ["self-hosted", "linux", "x64"]);
    assert_eq!(r.runner_group_id, 7);
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        r.encoded_jit_config
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "{mode:o}");
    }
    // One token, scoped to registering runners, revoked before the program ended.
    let tokens = ctx.fake.installation_tokens();
    assert_eq!(tokens.len(), 1);
    assert!(tokens[0].revoked);
    let wanted: BTreeMap<String, String> = [(
        "organization_self_hosted_runners".to_string(),
        "write".to_string(),
    )]
    .into();
    assert_eq!(tokens[0].permissions, wanted);
    // Nothing secret in its log: not the key, the token, nor the runner's configuration.
    for secret in ctx.fake.issued_secrets() {
        assert!(!log.contains(&secret), "{log}");
    }
    assert!(!log.contains("PRIVATE KEY"), "{log}");
    assert!(
        log.contains("Registered runner runner-linux-ab12cd3"),
        "{log}"
    );
    ctx.assert_contract();
}

#[test]
fn the_init_program_registers_repository_runners_with_a_token_for_that_repository() {
    let ctx = TestContext::with_seed(seed());
    let (code, log, file) = init(&ctx, &[("RUNNER_SCOPE", "repo"), ("RUNNER_REPO", "repo3")]);
    assert_eq!(code, 0, "{log}");
    let runners = ctx.fake.jit_runners();
    assert_eq!(runners[0].scope, format!("repo:{ORG}/repo3"));
    assert_eq!(runners[0].runner_group_id, 1);
    assert!(file.exists());
    let tokens = ctx.fake.installation_tokens();
    assert_eq!(tokens[0].repositories, [format!("{ORG}/repo3")]);
    assert_eq!(tokens[0].permissions["administration"], "write");
    assert!(tokens[0].revoked);
    ctx.assert_contract();
}

#[test]
fn the_init_program_says_which_permission_the_app_lacks() {
    let mut s = seed();
    s.github_apps[0].installations[0]
        .permissions
        .remove("organization_self_hosted_runners");
    let ctx = TestContext::with_seed(s);
    let (code, log, file) = init(&ctx, &[]);
    assert_eq!(code, 1, "{log}");
    assert!(
        log.contains("does not grant `organization_self_hosted_runners: write`"),
        "{log}"
    );
    assert!(log.contains("accept it on the installation"), "{log}");
    assert!(!file.exists());
    assert!(ctx.fake.jit_runners().is_empty());
}

#[test]
fn the_init_program_without_its_key_fails_clearly() {
    let ctx = TestContext::with_seed(seed());
    let (code, log, _) = init(&ctx, &[("GITHUB_APP_KEY", "")]);
    assert_eq!(code, 1, "{log}");
    assert!(log.contains("GITHUB_APP_KEY"), "{log}");
    assert!(ctx.fake.requests().is_empty());
}

// ---------------------------------------------------------------------------------------------
// builtin:prerequisites.

#[test]
fn prerequisites_make_a_workload_profiles_environment_and_roles_named_from_principal_ids() {
    let ctx = TestContext::with_seed(seed());
    let run = ctx.run(&prerequisites_inputs(&ctx, "aca-gh-runners"), &[]);
    run.assert_ok();
    let envs = resources_of(&ctx, "Microsoft.App/managedEnvironments");
    assert_eq!(envs.len(), 1);
    assert_eq!(
        envs[0]["properties"]["workloadProfiles"],
        json!([{"name": "Consumption", "workloadProfileType": "Consumption"}])
    );
    let identity = &resources_of(&ctx, "Microsoft.ManagedIdentity/userAssignedIdentities")[0];
    let identity_id = identity["id"].as_str().unwrap().to_string();
    let assignments = resources_of(&ctx, "Microsoft.Authorization/roleAssignments");
    assert_eq!(assignments.len(), 3, "{assignments:#?}");
    // The runners' two roles go to the identity's principal id, in a deployment of their own.
    let principal_ids: Vec<&str> = assignments
        .iter()
        .map(|a| a["properties"]["principalId"].as_str().unwrap())
        .collect();
    let seed = ctx.fake.seed();
    let runners: Vec<&&str> = principal_ids
        .iter()
        .filter(|p| **p != seed.azure_object_id)
        .collect();
    assert_eq!(runners.len(), 2, "{principal_ids:?}");
    assert!(runners[0] == runners[1] && !runners[0].starts_with("fake:"));
    for a in &assignments {
        let name = a["name"].as_str().unwrap();
        assert_eq!(name.len(), 36, "{name}");
    }
    // In the template, every role assignment's name hashes a principal id, never a name.
    let template: Value =
        serde_json::from_str(include_str!("../../templates/prerequisites.json")).unwrap();
    let mut names = Vec::new();
    collect_role_names(&template, &mut names);
    assert_eq!(names.len(), 3);
    for name in names {
        assert!(
            name.contains("parameters('principalId')")
                || name.contains("parameters('deployerObjectId')"),
            "{name}"
        );
    }
    assert!(!identity_id.is_empty());
    // The vault's URI comes from the vault, and the deploy waited for nothing (no settling).
    assert_eq!(run.output("keyVaultUri"), format!("{}/", ctx.fake.url()));
    ctx.assert_contract();
}

fn collect_role_names(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            if o.get("type").and_then(Value::as_str)
                == Some("Microsoft.Authorization/roleAssignments")
            {
                out.push(o["name"].as_str().unwrap().to_string());
            }
            o.values().for_each(|x| collect_role_names(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| collect_role_names(x, out)),
        _ => {}
    }
}

#[test]
fn an_invalid_project_is_refused_before_any_request() {
    for project in ["ab", "Runners", "a-very-long-project-name", "abcdefghijk-x"] {
        let ctx = TestContext::with_seed(seed());
        let run = ctx.run(&prerequisites_inputs(&ctx, project), &[]);
        assert_eq!(run.code, 2, "{project}: {}", run.log());
        assert!(run.log().contains("`project` is"), "{}", run.log());
        assert!(ctx.fake.requests().is_empty(), "{project}");
    }
}

#[test]
fn a_soft_deleted_vault_of_the_same_name_is_recovered_or_explained() {
    // The vault name the template derives for this project and subscription.
    let ctx = TestContext::with_seed(seed());
    let run = ctx.run(&prerequisites_inputs(&ctx, "runners"), &[]);
    run.assert_ok();
    let vault = run.output("keyVaultName").to_string();

    for (location, recovered) in [("westeurope", true), ("northeurope", false)] {
        let mut s = seed();
        s.deleted_vaults = vec![fake_cloud::DeletedVault {
            name: vault.clone(),
            location: location.into(),
            resource_group: "rg-runners".into(),
            purge_protection: true,
        }];
        let ctx = TestContext::with_seed(s);
        let run = ctx.run(&prerequisites_inputs(&ctx, "runners"), &[]);
        if recovered {
            run.assert_ok();
            assert!(
                run.log()
                    .contains(&format!("Key Vault {vault} was deleted")),
                "{}",
                run.log()
            );
            let d = &ctx.fake.deployments()[0];
            assert_eq!(
                d.request_body["properties"]["parameters"]["keyVaultCreateMode"]["value"],
                "recover"
            );
        } else {
            assert_eq!(run.code, 2, "{}", run.log());
            assert!(
                run.log().contains(&format!("deleted in {location}")),
                "{}",
                run.log()
            );
            assert!(
                run.log().contains("`location: northeurope`"),
                "{}",
                run.log()
            );
            assert!(ctx.fake.deployments().is_empty());
        }
    }
}

#[test]
fn the_prerequisites_deploy_ends_when_the_deployer_can_use_the_vault() {
    let mut s = seed();
    s.kv_rbac_settle_ms = 2500;
    let ctx = TestContext::with_seed(s);
    let started = std::time::Instant::now();
    let run = ctx.run(&prerequisites_inputs(&ctx, "runners"), &[]);
    run.assert_ok();
    let log = run.log();
    assert!(
        log.contains("Waiting for the role assignment on Key Vault"),
        "{log}"
    );
    assert!(log.contains("answers the deploying principal now"), "{log}");
    assert!(started.elapsed() >= std::time::Duration::from_millis(2500));
    // The next step can use the vault at once.
    let mut rotate = ctx.rotate_inputs("app1.pkcs1.pem");
    rotate.insert("key-vault", run.output("keyVaultUri").to_string());
    ctx.run(&rotate, &[]).assert_ok();
}

#[test]
fn a_workload_identity_that_is_the_jobs_own_is_refused() {
    let ctx = TestContext::with_seed(seed());
    let run = ctx.run(
        &jobs_inputs(
            &ctx,
            "- name: deploy\n  repos: repo1\n  workload-identity: ID-Runners\n",
        ),
        &[],
    );
    assert_eq!(run.code, 2, "{}", run.log());
    assert!(
        run.log().contains("is the jobs' own identity"),
        "{}",
        run.log()
    );
    assert!(ctx.fake.deployments().is_empty());
}

#[test]
fn the_init_container_runs_the_actions_own_image() {
    let ctx = TestContext::with_seed(seed());
    let mut inputs = jobs_inputs(
        &ctx,
        "- name: linux\n  repos: repo1\n  image: team.azurecr.io/custom:1\n",
    );
    inputs.insert("command", "deploy".into());
    ctx.run(&inputs, &[]).assert_ok();
    let job = ctx.fake.job(RG, "runner-linux").unwrap();
    let template = &job["properties"]["template"];
    assert_eq!(
        template["containers"][0]["image"],
        "team.azurecr.io/custom:1"
    );
    assert_eq!(
        template["initContainers"][0]["image"],
        aca_runner_action::runner_init::ACTION_IMAGE
    );
    assert_eq!(
        template["initContainers"][0]["command"],
        json!(["/aca-runner-action"])
    );
}

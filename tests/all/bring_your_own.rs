//! `builtin:prerequisites` with a team's own environment, registry, vault and identity, by
//! resource id (`existing…Id`), in another resource group: none of them is created, and the
//! template adds only what is missing, the role assignments at those resources' own scopes.

use std::collections::BTreeMap;

use fake_cloud::Seed;
use serde_json::{Value, json};

use crate::helpers::*;

const SHARED: &str = "rg-shared";

fn context() -> TestContext {
    TestContext::with_seed(Seed {
        github_apps: vec![default_app()],
        arm_deployment_ms: 100,
        ..Seed::default()
    })
}

/// Seeds the team's resource `kind`/`name` in rg-shared; returns its id.
fn team_resource(ctx: &TestContext, kind: &str, name: &str, properties: Value) -> String {
    let id = format!(
        "/subscriptions/{}/resourceGroups/{SHARED}/providers/{kind}/{name}",
        ctx.fake.seed().subscription_id
    );
    ctx.fake.put_resource(
        &id,
        json!({"type": kind, "location": "westeurope", "properties": properties}),
    );
    id
}

/// The team's workload-profiles environment `cae-team`.
fn team_environment(ctx: &TestContext) -> String {
    team_resource(
        ctx,
        "Microsoft.App/managedEnvironments",
        "cae-team",
        json!({"workloadProfiles": [{"name": "Consumption", "workloadProfileType": "Consumption"}]}),
    )
}

/// The team's RBAC vault `kv-team`, answered by the fake's Key Vault.
fn team_vault(ctx: &TestContext) -> String {
    team_resource(
        ctx,
        "Microsoft.KeyVault/vaults",
        "kv-team",
        json!({"vaultUri": format!("{}/", ctx.fake.url()), "enableRbacAuthorization": true}),
    )
}

fn inputs_with(ctx: &TestContext, extra: &str) -> BTreeMap<&'static str, String> {
    let mut inputs = prerequisites_inputs(ctx, "aca-gh-runners");
    inputs.insert("parameters", format!("project: aca-gh-runners\n{extra}"));
    inputs
}

#[test]
fn the_teams_own_prerequisites_are_used_and_only_the_roles_are_added() {
    let ctx = context();
    let env = team_environment(&ctx);
    let acr = team_resource(
        &ctx,
        "Microsoft.ContainerRegistry/registries",
        "acrteam",
        json!({"loginServer": "acrteam.azurecr.io"}),
    );
    let kv = team_vault(&ctx);
    let msi = team_resource(
        &ctx,
        "Microsoft.ManagedIdentity/userAssignedIdentities",
        "id-team",
        json!({"principalId": "7ea70000-0000-4000-8000-000000000001", "clientId": "7ea70000-0000-4000-8000-000000000002"}),
    );
    let run = ctx.run(
        &inputs_with(
            &ctx,
            &format!(
                "existingEnvironmentId: {env}\nexistingRegistryId: {acr}\nexistingKeyVaultId: {kv}\nexistingIdentityId: {msi}\n"
            ),
        ),
        &[],
    );
    run.assert_ok();
    // None of them is created: the only one of each kind is the team's.
    for (kind, id) in [
        ("Microsoft.App/managedEnvironments", &env),
        ("Microsoft.ContainerRegistry/registries", &acr),
        ("Microsoft.KeyVault/vaults", &kv),
        ("Microsoft.ManagedIdentity/userAssignedIdentities", &msi),
    ] {
        let all: Vec<String> = resources_of(&ctx, kind)
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(all, std::slice::from_ref(id), "{kind}");
    }
    assert!(resources_of(&ctx, "Microsoft.OperationalInsights/workspaces").is_empty());
    // The roles, at the team's resources, for the team's identity and the deployer.
    let mut roles: Vec<(String, String)> =
        resources_of(&ctx, "Microsoft.Authorization/roleAssignments")
            .iter()
            .map(|a| {
                let id = a["id"].as_str().unwrap();
                let scope = id
                    .split("/providers/Microsoft.Authorization/")
                    .next()
                    .unwrap();
                let role = a["properties"]["roleDefinitionId"]
                    .as_str()
                    .unwrap()
                    .rsplit('/')
                    .next()
                    .unwrap();
                (scope.to_string(), role.to_string())
            })
            .collect();
    roles.sort();
    let mut expected = vec![
        (
            acr.clone(),
            "7f951dda-4ed3-4680-a7ca-43fe172d538d".to_string(),
        ),
        (
            kv.clone(),
            "4633458b-17de-408a-b874-0445c86b69e6".to_string(),
        ),
        (
            kv.clone(),
            "b86a8fe4-44ce-4948-aee5-eccb2c155cd7".to_string(),
        ),
    ];
    expected.sort();
    assert_eq!(roles, expected);
    let runner_roles: Vec<String> = resources_of(&ctx, "Microsoft.Authorization/roleAssignments")
        .iter()
        .map(|a| a["properties"]["principalId"].as_str().unwrap().to_string())
        .filter(|p| *p != ctx.fake.seed().azure_object_id)
        .collect();
    assert_eq!(runner_roles, ["7ea70000-0000-4000-8000-000000000001"; 2]);
    // The outputs name the team's resources, so the next steps use them.
    assert_eq!(run.output("acrName"), "acrteam");
    assert_eq!(run.output("acrId"), acr);
    assert_eq!(run.output("acaEnvName"), "cae-team");
    assert_eq!(run.output("acaEnvId"), env);
    assert_eq!(run.output("keyVaultName"), "kv-team");
    assert_eq!(
        run.output("acaMsiClientId"),
        "7ea70000-0000-4000-8000-000000000002"
    );
    assert_eq!(run.output("acrLoginServer"), "acrteam.azurecr.io");
    ctx.assert_contract();
}

#[test]
fn a_team_vault_alone_is_used_and_the_rest_is_created() {
    let ctx = context();
    let kv = team_vault(&ctx);
    let run = ctx.run(
        &inputs_with(&ctx, &format!("existingKeyVaultId: {kv}\n")),
        &[],
    );
    run.assert_ok();
    assert_eq!(resources_of(&ctx, "Microsoft.KeyVault/vaults").len(), 1);
    for kind in [
        "Microsoft.App/managedEnvironments",
        "Microsoft.ContainerRegistry/registries",
        "Microsoft.ManagedIdentity/userAssignedIdentities",
        "Microsoft.OperationalInsights/workspaces",
    ] {
        assert_eq!(resources_of(&ctx, kind).len(), 1, "{kind} is created");
    }
    assert_eq!(run.output("keyVaultId"), kv);
    ctx.assert_contract();
}

#[test]
fn the_runner_jobs_take_a_teams_environment_by_id() {
    let ctx = context();
    let env = team_environment(&ctx);
    let inputs = runner_jobs_inputs(
        &ctx,
        "rg-runners",
        format!(
            "acaEnvName: {env}\nacrName: acrrunners\nacaMsiName: id-runners\ngitHubAppKeySecretUri: https://kv-runners.vault.azure.net/secrets/github-app-key\n"
        ),
    );
    let run = ctx.run(&inputs, &[]);
    run.assert_ok();
    let job = &resources_of(&ctx, "Microsoft.App/jobs")[0];
    assert_eq!(job["properties"]["environmentId"], env.as_str());
    ctx.assert_contract();
}

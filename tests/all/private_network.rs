//! `builtin:prerequisites` with `network: private`: the network, the closed vault and registry,
//! their private endpoints and DNS zones, against the fake cloud, which checks every resource
//! body against its official description (fake-cloud/api-specs).

use fake_cloud::{Fault, FaultAction, Seed};
use serde_json::{Value, json};

use crate::helpers::*;

fn private_inputs(
    ctx: &TestContext,
    extra: &str,
) -> std::collections::BTreeMap<&'static str, String> {
    let mut inputs = prerequisites_inputs(ctx, "aca-gh-runners");
    inputs.insert(
        "parameters",
        format!("project: aca-gh-runners\nnetwork: private\n{extra}"),
    );
    inputs
}

fn one(ctx: &TestContext, kind: &str) -> Value {
    let all = resources_of(ctx, kind);
    assert_eq!(all.len(), 1, "{kind}: {all:#?}");
    all.into_iter().next().unwrap()
}

fn ids(ctx: &TestContext, kind: &str) -> Vec<String> {
    let mut ids: Vec<String> = resources_of(ctx, kind)
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

#[test]
fn private_network_closes_the_vault_and_registry_behind_endpoints_with_linked_zones() {
    let ctx = TestContext::with_seed(Seed {
        github_apps: vec![default_app()],
        arm_deployment_ms: 100,
        ..Seed::default()
    });
    let run = ctx.run(&private_inputs(&ctx, ""), &[]);
    run.assert_ok();

    let vnet = one(&ctx, "Microsoft.Network/virtualNetworks");
    let vnet_id = vnet["id"].as_str().unwrap().to_string();
    assert!(
        vnet_id.ends_with("/virtualNetworks/vnet-aca-gh-runners"),
        "{vnet_id}"
    );
    assert_eq!(
        vnet["properties"]["addressSpace"]["addressPrefixes"],
        json!(["10.60.0.0/22"])
    );
    let subnets = vnet["properties"]["subnets"].as_array().unwrap();
    let env_subnet = &subnets[0];
    assert_eq!(env_subnet["name"], "snet-environment");
    assert_eq!(
        env_subnet["properties"]["delegations"][0]["properties"]["serviceName"],
        "Microsoft.App/environments"
    );
    // Egress to GitHub through the NAT gateway and its static address.
    let nat = one(&ctx, "Microsoft.Network/natGateways");
    assert_eq!(env_subnet["properties"]["natGateway"]["id"], nat["id"]);
    let ip = one(&ctx, "Microsoft.Network/publicIPAddresses");
    assert_eq!(nat["properties"]["publicIpAddresses"][0]["id"], ip["id"]);
    assert_eq!(ip["properties"]["publicIPAllocationMethod"], "Static");

    let env = one(&ctx, "Microsoft.App/managedEnvironments");
    assert_eq!(
        env["properties"]["vnetConfiguration"],
        json!({"infrastructureSubnetId": format!("{vnet_id}/subnets/snet-environment"), "internal": true})
    );
    assert_eq!(
        env["properties"]["workloadProfiles"][0]["workloadProfileType"],
        "Consumption"
    );

    let vault = one(&ctx, "Microsoft.KeyVault/vaults");
    assert_eq!(vault["properties"]["publicNetworkAccess"], "Disabled");
    assert_eq!(vault["properties"]["networkAcls"]["defaultAction"], "Deny");
    let registry = one(&ctx, "Microsoft.ContainerRegistry/registries");
    assert_eq!(registry["sku"]["name"], "Premium");
    assert_eq!(registry["properties"]["publicNetworkAccess"], "Disabled");
    assert_eq!(
        registry["properties"]["networkRuleBypassAllowedForTasks"],
        true
    );

    // One endpoint each, in the endpoint subnet, for the vault and the registry.
    let endpoints = resources_of(&ctx, "Microsoft.Network/privateEndpoints");
    let mut targets: Vec<(String, String)> = endpoints
        .iter()
        .map(|e| {
            assert_eq!(
                e["properties"]["subnet"]["id"],
                format!("{vnet_id}/subnets/snet-endpoints")
            );
            let c = &e["properties"]["privateLinkServiceConnections"][0]["properties"];
            (
                c["privateLinkServiceId"].as_str().unwrap().to_string(),
                c["groupIds"][0].as_str().unwrap().to_string(),
            )
        })
        .collect();
    targets.sort();
    let mut expected = vec![
        (
            vault["id"].as_str().unwrap().to_string(),
            "vault".to_string(),
        ),
        (
            registry["id"].as_str().unwrap().to_string(),
            "registry".to_string(),
        ),
    ];
    expected.sort();
    assert_eq!(targets, expected);

    // The zones, linked to the network, and each endpoint's zone group naming its zone.
    let zones = ids(&ctx, "Microsoft.Network/privateDnsZones");
    assert!(
        zones[0].ends_with("/privateDnsZones/privatelink.azurecr.io"),
        "{zones:?}"
    );
    assert!(
        zones[1].ends_with("/privateDnsZones/privatelink.vaultcore.azure.net"),
        "{zones:?}"
    );
    let links = resources_of(
        &ctx,
        "Microsoft.Network/privateDnsZones/virtualNetworkLinks",
    );
    assert_eq!(links.len(), 2);
    for link in &links {
        assert_eq!(link["properties"]["virtualNetwork"]["id"], vnet_id.as_str());
        assert_eq!(link["properties"]["registrationEnabled"], false);
    }
    let groups = resources_of(
        &ctx,
        "Microsoft.Network/privateEndpoints/privateDnsZoneGroups",
    );
    let mut grouped: Vec<&str> = groups
        .iter()
        .map(|g| {
            g["properties"]["privateDnsZoneConfigs"][0]["properties"]["privateDnsZoneId"]
                .as_str()
                .unwrap()
        })
        .collect();
    grouped.sort();
    assert_eq!(grouped, zones);

    // The deploy does not probe the closed vault, and says what must now run inside.
    assert!(ctx.kv_writes().is_empty());
    assert_eq!(run.output("network"), "private");
    assert_eq!(run.output("vnetId"), vnet_id);
    assert!(
        run.summary.contains("**Private network.**"),
        "{}",
        run.summary
    );
    assert!(
        run.summary
            .contains("Run `rotate-key` and `build-image` inside that network"),
        "{}",
        run.summary
    );
    ctx.assert_contract();
}

/// Seeds the team's network `hub` in rg-network: subnet `aca` (delegated to `delegation`, with
/// `prefix`) and `endpoints`; returns the network's id.
fn team_network(ctx: &TestContext, delegation: &str, prefix: &str) -> String {
    let hub = format!(
        "/subscriptions/{}/resourceGroups/rg-network/providers/Microsoft.Network/virtualNetworks/hub",
        ctx.fake.seed().subscription_id
    );
    let delegations = if delegation.is_empty() {
        json!([])
    } else {
        json!([{"name": "aca", "properties": {"serviceName": delegation}}])
    };
    ctx.fake.put_resource(
        &hub,
        json!({"type": "Microsoft.Network/virtualNetworks", "location": "westeurope", "properties": {
            "addressSpace": {"addressPrefixes": ["10.1.0.0/16"]},
            "subnets": [
                {"name": "aca", "properties": {"addressPrefix": prefix, "delegations": delegations}},
                {"name": "endpoints", "properties": {"addressPrefix": "10.1.1.0/27"}},
            ]}}),
    );
    hub
}

#[test]
fn a_teams_subnet_that_cannot_hold_the_environment_is_refused_before_deploying() {
    for (delegation, prefix, extra, says) in [
        (
            "",
            "10.1.0.0/24",
            "",
            "is not delegated to Microsoft.App/environments",
        ),
        ("Microsoft.App/environments", "10.1.0.0/28", "", "is a /28"),
        (
            "Microsoft.App/environments",
            "10.1.0.0/24",
            "x",
            "which does not exist",
        ),
    ] {
        let ctx = TestContext::new();
        let hub = team_network(&ctx, delegation, prefix);
        let run = ctx.run(
            &private_inputs(
                &ctx,
                &format!("subnetId: {hub}/subnets/aca{extra}\nendpointSubnetId: {hub}/subnets/endpoints\n"),
            ),
            &[],
        );
        assert_eq!(run.code, 2, "{}", run.log());
        assert!(run.log().contains(says), "{says}: {}", run.log());
        assert!(ctx.fake.deployments().is_empty(), "a deployment was sent");
        ctx.assert_contract();
    }
}

#[test]
fn the_teams_own_subnets_are_used_and_no_network_is_created() {
    let ctx = TestContext::with_seed(Seed {
        github_apps: vec![default_app()],
        arm_deployment_ms: 100,
        ..Seed::default()
    });
    let hub = team_network(&ctx, "Microsoft.App/environments", "10.1.0.0/24");
    let run = ctx.run(
        &private_inputs(
            &ctx,
            &format!("subnetId: {hub}/subnets/aca\nendpointSubnetId: {hub}/subnets/endpoints\n"),
        ),
        &[],
    );
    run.assert_ok();
    assert_eq!(
        ids(&ctx, "Microsoft.Network/virtualNetworks"),
        std::slice::from_ref(&hub)
    );
    for kind in [
        "Microsoft.Network/natGateways",
        "Microsoft.Network/publicIPAddresses",
    ] {
        assert!(resources_of(&ctx, kind).is_empty(), "{kind} was created");
    }
    let env = one(&ctx, "Microsoft.App/managedEnvironments");
    assert_eq!(
        env["properties"]["vnetConfiguration"]["infrastructureSubnetId"],
        format!("{hub}/subnets/aca")
    );
    for e in resources_of(&ctx, "Microsoft.Network/privateEndpoints") {
        assert_eq!(
            e["properties"]["subnet"]["id"],
            format!("{hub}/subnets/endpoints")
        );
    }
    for link in resources_of(
        &ctx,
        "Microsoft.Network/privateDnsZones/virtualNetworkLinks",
    ) {
        assert_eq!(link["properties"]["virtualNetwork"]["id"], hub.as_str());
    }
    assert_eq!(run.output("vnetId"), hub);
    ctx.assert_contract();
}

#[test]
fn the_public_mode_creates_no_network_and_keeps_public_endpoints() {
    let ctx = TestContext::with_seed(Seed {
        github_apps: vec![default_app()],
        arm_deployment_ms: 100,
        ..Seed::default()
    });
    let run = ctx.run(&prerequisites_inputs(&ctx, "aca-gh-runners"), &[]);
    run.assert_ok();
    for kind in [
        "Microsoft.Network/virtualNetworks",
        "Microsoft.Network/privateEndpoints",
        "Microsoft.Network/privateDnsZones",
    ] {
        assert!(resources_of(&ctx, kind).is_empty(), "{kind} was created");
    }
    let env = one(&ctx, "Microsoft.App/managedEnvironments");
    assert!(
        env["properties"].get("vnetConfiguration").is_none(),
        "{env:#}"
    );
    assert_eq!(
        one(&ctx, "Microsoft.ContainerRegistry/registries")["sku"]["name"],
        "Basic"
    );
    assert_eq!(run.output("network"), "public");
    assert!(
        !run.outputs.contains_key("vnetId"),
        "no network, no vnetId output"
    );
    ctx.assert_contract();
}

#[test]
fn bad_network_parameters_are_refused_before_any_request() {
    for (extra, says) in [
        ("environmentSubnetPrefix: 10.60.0.0/28\n", "/27 or larger"),
        (
            "subnetId: /subscriptions/x/resourceGroups/n/providers/Microsoft.Network/virtualNetworks/v/subnets/s\n",
            "give `endpointSubnetId` too",
        ),
    ] {
        let ctx = TestContext::new();
        let run = ctx.run(&private_inputs(&ctx, extra), &[]);
        assert_eq!(run.code, 2, "{}", run.log());
        assert!(run.log().contains(says), "{}", run.log());
        assert!(ctx.fake.requests().is_empty());
    }
}

#[test]
fn a_vault_closed_to_this_runner_says_to_run_inside_its_network() {
    let ctx = TestContext::new();
    ctx.fake.add_fault(Fault {
        path_contains: "/secrets/".into(),
        method: None,
        times: 10,
        action: FaultAction::Status {
            status: 403,
            retry_after: None,
            body: Some(json!({"error": {
                "code": "Forbidden",
                "message": "Public network access is disabled and request is not from a trusted service nor via an approved private link.",
                "innererror": {"code": "ForbiddenByConnection"}
            }})),
        },
    });
    let run = ctx.run(&ctx.rotate_inputs("app1.pkcs1.pem"), &[]);
    assert_eq!(run.code, 1, "{}", run.log());
    assert!(
        run.log().contains("run this step inside its virtual network, on the project's own runners with `uses: OWNER/aca-runner-action/native@v0`"),
        "{}",
        run.log()
    );
}

//! A deployment's resources checked against the official descriptions of their types, over real
//! TLS: a private runner network (VNet, delegated subnet, NAT gateway, internal workload-profiles
//! environment, private endpoints with DNS zone groups, closed registry and vault) deploys; a
//! body of the wrong shape, or an api-version no description has, fails the deployment.
#![allow(clippy::unwrap_used, missing_docs)]

use fake_cloud::{FakeCloud, Options, Seed};
use serde_json::{Value, json};

mod common;
use common::{arm_auth, send};

struct Arm {
    cloud: FakeCloud,
    auth: String,
}

impl Arm {
    fn start() -> Arm {
        let cloud = FakeCloud::start(Options {
            seed: Seed {
                arm_deployment_ms: 0,
                arm_retry_after_secs: 0,
                ..Seed::default()
            },
            ..Options::default()
        })
        .unwrap();
        Arm {
            auth: arm_auth(&cloud),
            cloud,
        }
    }

    fn call(&self, method: &str, path: &str, body: &str) -> (u16, Value) {
        let sub = &self.cloud.seed().subscription_id;
        let r = send(
            &self.cloud,
            method,
            &format!("/subscriptions/{sub}/resourcegroups/rg-net{path}?api-version=2025-04-01"),
            &[
                ("authorization", &self.auth),
                ("content-type", "application/json"),
            ],
            body,
        )
        .unwrap();
        (r.status, r.json())
    }

    /// Deploys `resources` (deployment `name`, no duration) and returns the finished
    /// deployment and its operations.
    fn deploy(&self, name: &str, resources: Value) -> (Value, Vec<Value>) {
        let template = json!({
            "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
            "contentVersion": "1.0.0.0",
            "resources": resources,
        });
        let deployment = format!("/providers/Microsoft.Resources/deployments/{name}");
        let body = json!({"properties": {"mode": "Incremental", "template": template}});
        let (status, put) = self.call("PUT", &deployment, &body.to_string());
        assert_eq!(status, 201, "{put}");
        let (status, got) = self.call("GET", &deployment, "");
        assert_eq!(status, 200, "{got}");
        let (status, ops) = self.call("GET", &format!("/deployments/{name}/operations"), "");
        assert_eq!(status, 200, "{ops}");
        (got, ops["value"].as_array().unwrap().clone())
    }

    /// The failed operation's error of a deployment that must have failed.
    fn refusal(&self, name: &str, resources: Value) -> (String, String, String) {
        let (got, ops) = self.deploy(name, resources);
        assert_eq!(got["properties"]["provisioningState"], "Failed", "{got}");
        assert_eq!(got["properties"]["error"]["code"], "DeploymentFailed");
        let failed = ops
            .iter()
            .find(|op| op["properties"]["provisioningState"] == "Failed")
            .unwrap();
        let error = &failed["properties"]["statusMessage"]["error"];
        (
            failed["properties"]["targetResource"]["resourceType"]
                .as_str()
                .unwrap()
                .to_string(),
            error["code"].as_str().unwrap().to_string(),
            error["message"].as_str().unwrap().to_string(),
        )
    }
}

/// The network of a private runner environment, each resource at the api-version described.
fn private_network() -> Value {
    let location = "[parameters('location')]";
    json!([
        {
            "type": "Microsoft.Network/publicIPAddresses", "apiVersion": "2024-05-01",
            "name": "pip-nat", "location": location, "sku": {"name": "Standard"},
            "properties": {"publicIPAllocationMethod": "Static", "publicIPAddressVersion": "IPv4"},
        },
        {
            "type": "Microsoft.Network/natGateways", "apiVersion": "2024-05-01",
            "name": "nat-runners", "location": location, "sku": {"name": "Standard"},
            "properties": {
                "idleTimeoutInMinutes": 4,
                "publicIpAddresses": [{"id": "[resourceId('Microsoft.Network/publicIPAddresses', 'pip-nat')]"}],
            },
        },
        {
            "type": "Microsoft.Network/virtualNetworks", "apiVersion": "2024-05-01",
            "name": "vnet-runners", "location": location,
            "properties": {
                "addressSpace": {"addressPrefixes": ["10.20.0.0/16"]},
                "subnets": [{
                    "name": "aca",
                    "properties": {
                        "addressPrefix": "10.20.0.0/27",
                        "delegations": [{
                            "name": "Microsoft.App.environments",
                            "properties": {"serviceName": "Microsoft.App/environments"},
                        }],
                        "natGateway": {"id": "[resourceId('Microsoft.Network/natGateways', 'nat-runners')]"},
                    },
                }],
            },
        },
        {
            "type": "Microsoft.Network/virtualNetworks/subnets", "apiVersion": "2024-05-01",
            "name": "vnet-runners/endpoints",
            "properties": {"addressPrefix": "10.20.1.0/28", "privateEndpointNetworkPolicies": "Disabled"},
        },
        {
            "type": "Microsoft.App/managedEnvironments", "apiVersion": "2025-07-01",
            "name": "cae-runners", "location": location,
            "properties": {
                "vnetConfiguration": {
                    "internal": true,
                    "infrastructureSubnetId": "[resourceId('Microsoft.Network/virtualNetworks/subnets', 'vnet-runners', 'aca')]",
                },
                "workloadProfiles": [{"name": "Consumption", "workloadProfileType": "Consumption"}],
                "publicNetworkAccess": "Disabled",
            },
        },
        {
            "type": "Microsoft.ContainerRegistry/registries", "apiVersion": "2025-11-01",
            "name": "acrrunners", "location": location, "sku": {"name": "Premium"},
            "properties": {
                "publicNetworkAccess": "Disabled",
                "networkRuleBypassAllowedForTasks": true,
                "networkRuleSet": {"defaultAction": "Deny"},
            },
        },
        {
            "type": "Microsoft.KeyVault/vaults", "apiVersion": "2023-07-01",
            "name": "kv-runners", "location": location,
            "properties": {
                "tenantId": "[subscription().tenantId]",
                "sku": {"family": "A", "name": "standard"},
                "enableRbacAuthorization": true,
                "publicNetworkAccess": "Disabled",
                "networkAcls": {"defaultAction": "Deny", "bypass": "AzureServices"},
            },
        },
        {
            "type": "Microsoft.Network/privateDnsZones", "apiVersion": "2024-06-01",
            "name": "[variables('endpoints')[copyIndex()].zone]", "location": "global",
            "copy": {"name": "zones", "count": 2},
            "properties": {},
        },
        {
            "type": "Microsoft.Network/privateDnsZones/virtualNetworkLinks", "apiVersion": "2024-06-01",
            "name": "[format('{0}/vnet-runners', variables('endpoints')[copyIndex()].zone)]",
            "location": "global", "copy": {"name": "links", "count": 2},
            "properties": {"registrationEnabled": false, "virtualNetwork": {"id": "[variables('vnetId')]"}},
        },
        {
            "type": "Microsoft.Network/privateEndpoints", "apiVersion": "2024-05-01",
            "name": "[format('pe-{0}', variables('endpoints')[copyIndex()].group)]",
            "location": location, "copy": {"name": "endpoints", "count": 2},
            "properties": {
                "subnet": {"id": "[variables('endpointsSubnetId')]"},
                "privateLinkServiceConnections": [{
                    "name": "[variables('endpoints')[copyIndex()].group]",
                    "properties": {
                        "privateLinkServiceId": "[variables('endpoints')[copyIndex()].target]",
                        "groupIds": ["[variables('endpoints')[copyIndex()].group]"],
                    },
                }],
            },
        },
        {
            "type": "Microsoft.Network/privateEndpoints/privateDnsZoneGroups", "apiVersion": "2024-05-01",
            "name": "[format('pe-{0}/default', variables('endpoints')[copyIndex()].group)]",
            "copy": {"name": "groups", "count": 2},
            "properties": {"privateDnsZoneConfigs": [{
                "name": "[variables('endpoints')[copyIndex()].group]",
                "properties": {"privateDnsZoneId": "[resourceId('Microsoft.Network/privateDnsZones', variables('endpoints')[copyIndex()].zone)]"},
            }]},
        },
    ])
}

/// `resources` in a nested deployment (inner scope, as `builtin:prerequisites` nests its
/// resources) whose variables name the two private endpoints.
fn with_endpoints(resources: Value) -> Value {
    json!([{
        "type": "Microsoft.Resources/deployments", "apiVersion": "2024-03-01", "name": "network",
        "properties": {
            "mode": "Incremental",
            "expressionEvaluationOptions": {"scope": "inner"},
            "template": {
                "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
                "contentVersion": "1.0.0.0",
                "parameters": {"location": {"type": "string", "defaultValue": "westeurope"}},
                "variables": {
                    "vnetId": "[resourceId('Microsoft.Network/virtualNetworks', 'vnet-runners')]",
                    "endpointsSubnetId": "[resourceId('Microsoft.Network/virtualNetworks/subnets', 'vnet-runners', 'endpoints')]",
                    "endpoints": [
                        {"group": "vault", "zone": "privatelink.vaultcore.azure.net", "target": "[resourceId('Microsoft.KeyVault/vaults', 'kv-runners')]"},
                        {"group": "registry", "zone": "privatelink.azurecr.io", "target": "[resourceId('Microsoft.ContainerRegistry/registries', 'acrrunners')]"},
                    ],
                },
                "resources": resources,
            },
        },
    }])
}

/// `private_network()` with the resource of `rtype` changed by `change`.
fn changed(rtype: &str, change: impl Fn(&mut Value)) -> Value {
    let mut resources = private_network();
    for r in resources.as_array_mut().unwrap() {
        if r["type"] == rtype {
            change(r);
        }
    }
    with_endpoints(resources)
}

#[test]
fn a_private_runner_network_deploys() {
    let arm = Arm::start();
    let (got, ops) = arm.deploy("net", with_endpoints(private_network()));
    assert_eq!(got["properties"]["provisioningState"], "Succeeded", "{got}");
    // The nested deployment and its 15 resources (zones, links, endpoints and groups twice).
    assert_eq!(ops.len(), 16);
    let resources = arm.cloud.resources();
    let of = |suffix: &str| {
        resources
            .iter()
            .find(|(id, _)| id.ends_with(suffix))
            .map(|(_, body)| body.clone())
            .unwrap_or_else(|| panic!("no resource {suffix}"))
    };
    let env = of("/Microsoft.App/managedEnvironments/cae-runners");
    assert!(
        env["properties"]["vnetConfiguration"]["infrastructureSubnetId"]
            .as_str()
            .unwrap()
            .ends_with("/virtualNetworks/vnet-runners/subnets/aca")
    );
    let group = of("/privateEndpoints/pe-registry/privateDnsZoneGroups/default");
    assert!(
        group["properties"]["privateDnsZoneConfigs"][0]["properties"]["privateDnsZoneId"]
            .as_str()
            .unwrap()
            .ends_with("/privateDnsZones/privatelink.azurecr.io")
    );
    let vault_endpoint = of("/privateEndpoints/pe-vault");
    assert_eq!(
        vault_endpoint["properties"]["privateLinkServiceConnections"][0]["properties"]["groupIds"],
        json!(["vault"])
    );
    assert!(
        arm.cloud.contract_violations().is_empty(),
        "{:#?}",
        arm.cloud.contract_violations()
    );
}

#[test]
fn a_body_of_the_wrong_shape_fails_its_resource_as_the_provider_would() {
    let arm = Arm::start();
    let (_, _, message) = arm.refusal(
        "profiles",
        changed("Microsoft.App/managedEnvironments", |r| {
            r["properties"]["workloadProfiles"] = json!([{"name": "Consumption"}]);
        }),
    );
    assert!(
        message.contains("missing required property 'workloadProfileType'"),
        "{message}"
    );
    // The refused resource was not created.
    assert!(
        !arm.cloud
            .resources()
            .keys()
            .any(|id| id.ends_with("/managedEnvironments/cae-runners"))
    );
    let (rtype, code, message) = arm.refusal(
        "bypass",
        changed("Microsoft.ContainerRegistry/registries", |r| {
            r["properties"]["networkRuleBypassAllowedForTasks"] = json!("yes");
        }),
    );
    assert_eq!(rtype, "Microsoft.ContainerRegistry/registries");
    assert_eq!(code, "InvalidRequestContent");
    assert!(
        message.contains(
            "$.properties.networkRuleBypassAllowedForTasks: expected boolean, got string"
        ),
        "{message}"
    );
    let (rtype, code, message) = arm.refusal(
        "delegation",
        changed("Microsoft.Network/virtualNetworks", |r| {
            let subnet = &mut r["properties"]["subnets"][0]["properties"];
            subnet["delegations"] = json!({"serviceName": "Microsoft.App/environments"});
        }),
    );
    assert_eq!(rtype, "Microsoft.Network/virtualNetworks");
    assert_eq!(code, "InvalidRequestContent");
    assert!(
        message
            .contains("$.properties.subnets[0].properties.delegations: expected array, got object"),
        "{message}"
    );
}

#[test]
fn an_api_version_without_a_description_fails_its_resource_naming_those_there_are() {
    let arm = Arm::start();
    let (rtype, code, message) = arm.refusal(
        "vnet",
        changed("Microsoft.Network/virtualNetworks", |r| {
            r["apiVersion"] = json!("2099-01-01");
        }),
    );
    assert_eq!(rtype, "Microsoft.Network/virtualNetworks");
    assert_eq!(code, "NoRegisteredProviderFound");
    assert!(
        message.starts_with("No registered resource provider found for location 'westeurope' and API version '2099-01-01' for type 'virtualNetworks'. The supported api-versions are '2024-05-01'."),
        "{message}"
    );
    let (_, code, message) = arm.refusal(
        "registry",
        changed("Microsoft.ContainerRegistry/registries", |r| {
            r["apiVersion"] = json!("2025-05-01-preview");
        }),
    );
    assert_eq!(code, "NoRegisteredProviderFound");
    assert!(
        message.contains("The supported api-versions are '2023-07-01, 2025-11-01'."),
        "{message}"
    );
    // A type without a description is not checked.
    let (got, _) = arm.deploy(
        "storage",
        json!([{
            "type": "Microsoft.Storage/storageAccounts", "apiVersion": "2099-01-01",
            "name": "st1", "location": "westeurope", "properties": {"anything": 1},
        }]),
    );
    assert_eq!(got["properties"]["provisioningState"], "Succeeded", "{got}");
}

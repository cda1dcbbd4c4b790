//! What a read-only preflight reads through ARM, over real TLS: the caller's effective
//! permissions on a scope, the subscription's Key Vaults, a resource group's jobs and a job's
//! executions; every exchange checked against the vendored API descriptions.
#![allow(clippy::unwrap_used, missing_docs)]

use fake_cloud::{
    ArmRole, ContainerExit, ExecutionStatus, FakeCloud, JobExecution, KvRole, Options, roles,
};
use serde_json::{Value, json};

mod common;
use common::{arm_auth, send};

struct Arm {
    cloud: FakeCloud,
    auth: String,
}

impl Arm {
    fn start() -> Arm {
        let cloud = FakeCloud::start(Options::default()).unwrap();
        Arm {
            auth: arm_auth(&cloud),
            cloud,
        }
    }

    fn sub(&self) -> String {
        format!("/subscriptions/{}", self.cloud.seed().subscription_id)
    }

    fn get(&self, path: &str, api_version: &str) -> (u16, Value) {
        let r = send(
            &self.cloud,
            "GET",
            &format!("{path}?api-version={api_version}"),
            &[("authorization", &self.auth)],
            "",
        )
        .unwrap();
        (r.status, r.json())
    }

    /// The `value` of `GET {scope}/providers/Microsoft.Authorization/permissions`, in a
    /// stable order (ARM promises none).
    fn permissions(&self, scope: &str) -> Vec<Value> {
        let (status, body) = self.get(
            &format!("{scope}/providers/Microsoft.Authorization/permissions"),
            "2022-04-01",
        );
        assert_eq!(status, 200, "{body}");
        let mut value = body["value"].as_array().unwrap().clone();
        value.sort_by_key(Value::to_string);
        value
    }
}

/// The permission entries of these roles, in the order of [`Arm::permissions`].
fn entries(ids: &[&str]) -> Vec<Value> {
    let mut out: Vec<Value> = ids
        .iter()
        .map(|id| {
            let r = roles::built_in(id).unwrap();
            json!({
                "actions": r.actions,
                "notActions": r.not_actions,
                "dataActions": r.data_actions,
                "notDataActions": r.not_data_actions,
            })
        })
        .collect();
    out.sort_by_key(Value::to_string);
    out
}

#[test]
fn effective_permissions_follow_the_callers_roles() {
    let arm = Arm::start();
    let oid = arm.cloud.seed().azure_object_id;
    let rg = format!("{}/resourceGroups/rg-runners", arm.sub());
    let vault = format!("{rg}/providers/Microsoft.KeyVault/vaults/kv-runners");
    let registry = format!("{rg}/providers/Microsoft.ContainerRegistry/registries/acrrunners");

    // The fake's defaults: Contributor on the subscription, Secrets Officer on the vaults.
    assert_eq!(arm.permissions(&rg), entries(&[roles::CONTRIBUTOR]));
    assert_eq!(
        arm.permissions(&vault),
        entries(&[roles::CONTRIBUTOR, roles::KEY_VAULT_SECRETS_OFFICER])
    );
    assert_eq!(
        arm.permissions(&format!("{vault}/secrets/github-app-key")),
        entries(&[roles::CONTRIBUTOR, roles::KEY_VAULT_SECRETS_OFFICER])
    );
    assert_eq!(arm.permissions(&registry), entries(&[roles::CONTRIBUTOR]));
    assert_eq!(
        entries(&[roles::CONTRIBUTOR])[0]["notActions"][1],
        "Microsoft.Authorization/*/Write"
    );

    // An assignment covers its scope and what is below it, for its principal only.
    arm.cloud
        .assign_role(&registry, &oid, roles::ACR_PUSH, 3600);
    arm.cloud
        .assign_role(&rg, "someone-else", roles::USER_ACCESS_ADMINISTRATOR, 3600);
    arm.cloud
        .assign_role(&arm.sub(), &oid, roles::RBAC_ADMINISTRATOR, 3600);
    assert_eq!(
        arm.permissions(&registry),
        entries(&[
            roles::CONTRIBUTOR,
            roles::ACR_PUSH,
            roles::RBAC_ADMINISTRATOR
        ])
    );
    assert_eq!(
        arm.permissions(&rg),
        entries(&[roles::CONTRIBUTOR, roles::RBAC_ADMINISTRATOR])
    );
    assert!(
        arm.cloud
            .remove_role_assignment(&arm.sub(), &oid, roles::RBAC_ADMINISTRATOR)
    );
    assert!(
        !arm.cloud
            .remove_role_assignment(&arm.sub(), &oid, roles::RBAC_ADMINISTRATOR)
    );

    // Taking the vault role away; giving it back as an assignment; removing that.
    arm.cloud.set_kv_role(KvRole::None);
    assert_eq!(arm.permissions(&vault), entries(&[roles::CONTRIBUTOR]));
    arm.cloud
        .assign_role(&vault, &oid, roles::KEY_VAULT_SECRETS_USER, 3600);
    assert_eq!(
        arm.permissions(&vault),
        entries(&[roles::CONTRIBUTOR, roles::KEY_VAULT_SECRETS_USER])
    );
    assert!(arm.cloud.remove_role_assignment(
        &vault.to_uppercase(),
        &oid,
        roles::KEY_VAULT_SECRETS_USER
    ));
    assert_eq!(arm.permissions(&vault), entries(&[roles::CONTRIBUTOR]));

    // Reading one's permissions needs no role; with none there are no entries.
    arm.cloud.set_arm_role(ArmRole::Reader);
    assert_eq!(arm.permissions(&rg), entries(&[roles::READER]));
    arm.cloud.set_arm_role(ArmRole::None);
    assert_eq!(arm.permissions(&rg), entries(&[]));
    assert_eq!(arm.permissions(&registry), entries(&[roles::ACR_PUSH]));

    // ARM's front door as everywhere: no token, no api-version.
    let path = format!("{rg}/providers/Microsoft.Authorization/permissions");
    let r = send(
        &arm.cloud,
        "GET",
        &format!("{path}?api-version=2022-04-01"),
        &[],
        "",
    )
    .unwrap();
    assert_eq!(r.status, 401);
    let r = send(
        &arm.cloud,
        "GET",
        &path,
        &[("authorization", &arm.auth)],
        "",
    )
    .unwrap();
    assert_eq!(r.json()["error"]["code"], "MissingApiVersionParameter");

    let checked = arm
        .cloud
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/permissions") && r.status == 200)
        .count();
    assert!(checked >= 10, "{checked}");
    // Only the request sent without `api-version` broke the description.
    assert_eq!(
        arm.cloud.contract_violations(),
        [format!(
            "GET {path}: missing required query parameter 'api-version'"
        )]
    );
}

#[test]
fn vaults_are_listed_as_arm_resources() {
    let arm = Arm::start();
    let seed = arm.cloud.seed();
    let vaults = format!("{}/providers/Microsoft.KeyVault/vaults", arm.sub());
    let (status, body) = arm.get(&vaults, "2025-05-01");
    assert_eq!(status, 200, "{body}");
    let v = &body["value"][0];
    assert_eq!(body["value"].as_array().unwrap().len(), 1, "{body}");
    assert_eq!(
        v["id"],
        format!(
            "{}/resourceGroups/rg-runners/providers/Microsoft.KeyVault/vaults/kv-runners",
            arm.sub()
        )
    );
    assert_eq!(v["name"], "kv-runners");
    assert_eq!(v["type"], "Microsoft.KeyVault/vaults");
    assert_eq!(v["location"], "westus");
    assert_eq!(v["properties"]["vaultUri"], format!("{}/", arm.cloud.url()));
    assert_eq!(v["properties"]["enableRbacAuthorization"], true);
    assert_eq!(v["properties"]["tenantId"], seed.tenant_id);
    assert_eq!(
        v["properties"]["sku"],
        json!({"family": "A", "name": "standard"})
    );

    arm.cloud.set_vault_rbac("KV-runners", false);
    let (_, body) = arm.get(&vaults, "2025-05-01");
    assert_eq!(
        body["value"][0]["properties"]["enableRbacAuthorization"],
        false
    );

    arm.cloud.set_arm_role(ArmRole::Reader);
    assert_eq!(arm.get(&vaults, "2025-05-01").0, 200);
    arm.cloud.set_arm_role(ArmRole::None);
    let (status, body) = arm.get(&vaults, "2025-05-01");
    assert_eq!(status, 403);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("'Microsoft.KeyVault/vaults/read'"),
        "{body}"
    );
    assert_eq!(arm.cloud.contract_violations(), Vec::<String>::new());
}

fn job(image: &str) -> Value {
    json!({
        "location": "westus",
        "properties": {
            "environmentId": "/subscriptions/s/resourceGroups/rg-runners/providers/Microsoft.App/managedEnvironments/env",
            "configuration": {"triggerType": "Event", "replicaTimeout": 1800},
            "template": {"containers": [{
                "name": "runner",
                "image": image,
                "resources": {"cpu": 0.5, "memory": "1Gi"},
                "env": [{"name": "RUNNER_SCOPE", "value": "org"}],
            }]},
        },
    })
}

#[test]
fn a_groups_jobs_and_a_jobs_executions() {
    let arm = Arm::start();
    arm.cloud
        .put_job("rg-runners", "runner-small", job("runner:2.330.0"));
    arm.cloud.put_job("rg-other", "elsewhere", job("x:1"));
    let group = |rg: &str| {
        format!(
            "{}/resourceGroups/{rg}/providers/Microsoft.App/jobs",
            arm.sub()
        )
    };

    let (status, body) = arm.get(&group("rg-runners"), "2025-07-01");
    assert_eq!(status, 200, "{body}");
    let names: Vec<&str> = body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["runner-small"]);
    assert_eq!(
        arm.get(&group("rg-empty"), "2025-07-01").1["value"],
        json!([])
    );

    // Executions: newest first; the failure's reason only where the description has it.
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let ok = arm.cloud.add_job_execution(
        "rg-runners",
        "runner-small",
        JobExecution {
            status: ExecutionStatus::Succeeded,
            start: Some(now - 600),
            end: Some(now - 540),
            ..JobExecution::default()
        },
    );
    assert!(ok.starts_with("runner-small-"), "{ok}");
    let failed = arm.cloud.add_job_execution(
        "rg-runners",
        "runner-small",
        JobExecution {
            name: "runner-small-failed1".into(),
            status: ExecutionStatus::Failed,
            start: Some(now - 60),
            end: Some(now - 30),
            exit: Some(ContainerExit {
                code: 1,
                additional_information: "Http response code: NotFound from 'POST https://api.github.com/actions/runner-registration'".into(),
            }),
        },
    );
    arm.cloud.add_job_execution(
        "rg-runners",
        "runner-small",
        JobExecution::new(ExecutionStatus::Running),
    );
    let executions = format!("{}/runner-small/executions", group("rg-runners"));
    let (status, body) = arm.get(&executions, "2025-07-01");
    assert_eq!(status, 200, "{body}");
    let list = body["value"].as_array().unwrap();
    let states: Vec<&str> = list
        .iter()
        .map(|e| e["properties"]["status"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["Running", "Failed", "Succeeded"]);
    let f = &list[1];
    assert_eq!(f["name"], failed);
    assert_eq!(
        f["id"],
        format!("{}/runner-small/executions/{failed}", group("rg-runners"))
    );
    assert_eq!(f["type"], "Microsoft.App/jobs/executions");
    assert!(f["properties"]["endTime"].is_string(), "{f}");
    assert!(list[0]["properties"].get("endTime").is_none());
    assert_eq!(
        f["properties"]["template"]["containers"][0],
        json!({"image": "runner:2.330.0", "name": "runner", "resources": {"cpu": 0.5, "memory": "1Gi"},
               "env": [{"name": "RUNNER_SCOPE", "value": "org"}]})
    );
    assert!(f["properties"].get("detailedStatus").is_none(), "{f}");
    let (_, body) = arm.get(&executions, "2025-10-02-preview");
    let detail = &body["value"][1]["properties"]["detailedStatus"]["replicas"][0]["containers"][0];
    assert_eq!(detail["name"], "runner");
    assert_eq!(detail["code"], 1);
    assert!(
        detail["additionalInformation"]
            .as_str()
            .unwrap()
            .contains("NotFound"),
        "{body}"
    );
    assert!(
        body["value"][2]["properties"]
            .get("detailedStatus")
            .is_none()
    );

    let (status, body) = arm.get(
        &format!("{}/nope/executions", group("rg-runners")),
        "2025-07-01",
    );
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "ResourceNotFound");
    let (status, _) = arm.get(
        &format!("{}/elsewhere/executions", group("rg-other")),
        "2025-07-01",
    );
    assert_eq!(status, 200);

    arm.cloud.set_arm_role(ArmRole::None);
    let (status, body) = arm.get(&executions, "2025-07-01");
    assert_eq!(status, 403);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("'Microsoft.App/jobs/executions/read'"),
        "{body}"
    );
    assert_eq!(arm.cloud.contract_violations(), Vec::<String>::new());
}

#[test]
fn the_new_exchanges_are_contract_checked() {
    // A response the descriptions refuse is reported: proof that these routes are checked.
    use fake_cloud::Service;
    use fake_cloud::contract::check;
    let perms = "/subscriptions/s/resourceGroups/g/providers/Microsoft.KeyVault/vaults/v/providers/Microsoft.Authorization/permissions";
    let v = check(
        Service::Arm,
        "GET",
        perms,
        "api-version=2022-04-01",
        b"",
        200,
        br#"{"value":[{"actions":"*"}]}"#,
    );
    assert_eq!(v.len(), 1, "{v:?}");
    let execs = "/subscriptions/s/resourceGroups/g/providers/Microsoft.App/jobs/j/executions";
    let v = check(
        Service::Arm,
        "GET",
        execs,
        "api-version=2025-07-01",
        b"",
        200,
        br#"{"value":[{"properties":{"status":"Exploded"}}]}"#,
    );
    assert_eq!(v.len(), 1, "{v:?}");
    let v = check(
        Service::Arm,
        "GET",
        "/subscriptions/s/resourceGroups/g/providers/Microsoft.App/jobs",
        "",
        b"",
        200,
        br#"{}"#,
    );
    assert_eq!(v.len(), 2, "{v:?}");
}

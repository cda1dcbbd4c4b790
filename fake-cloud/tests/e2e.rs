//! End-to-end checks of the fake over real TLS connections (sync client, plain #[test]s).
#![allow(clippy::unwrap_used, missing_docs)]

use fake_cloud::{
    ArmRole, FailDeployment, FakeCloud, Fault, FaultAction, GithubApp, Installation, KvRole,
    NewSecretVersion, Options, Seed, Service,
};
use serde_json::{Value, json};

mod common;
use common::{entra_token, send};

const KEY: &str = include_str!("fixtures/test-app.key");
const PUB_PKCS1: &str = include_str!("fixtures/test-app.pkcs1.pub");

fn app_jwt(app_id: u64) -> String {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        &json!({"iat": now - 60, "exp": now + 540, "iss": app_id}),
        &jsonwebtoken::EncodingKey::from_rsa_pem(KEY.as_bytes()).unwrap(),
    )
    .unwrap()
}

fn start() -> FakeCloud {
    let mut perms = std::collections::BTreeMap::new();
    perms.insert("actions_variables".to_string(), "write".to_string());
    perms.insert("metadata".to_string(), "read".to_string());
    let seed = Seed {
        github_apps: vec![GithubApp {
            id: 1234,
            client_id: "Iv1.abc".into(),
            slug: "runner-app".into(),
            name: "Runner App".into(),
            public_key_pems: vec![PUB_PKCS1.into()],
            installations: vec![Installation {
                id: 55,
                account: "octo-org".into(),
                account_type: "Organization".into(),
                repository_selection: "selected".into(),
                repositories: vec!["octo-org/runners".into()],
                permissions: perms,
            }],
        }],
        workflow_tokens: vec!["ghp_workflow".into()],
        ..Seed::default()
    };
    FakeCloud::start(Options {
        seed,
        ..Options::default()
    })
    .unwrap()
}

#[test]
fn github_app_flow() {
    let cloud = start();
    let jwt = format!("Bearer {}", app_jwt(1234));
    let r = send(&cloud, "GET", "/app", &[("authorization", &jwt)], "").unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["slug"], "runner-app");
    assert!(r.header("x-github-request-id").is_some());

    let r = send(
        &cloud,
        "GET",
        "/app",
        &[("authorization", "Bearer x.y.z")],
        "",
    )
    .unwrap();
    assert_eq!(r.status, 401);

    let r = send(
        &cloud,
        "GET",
        "/repos/octo-org/runners/installation",
        &[("authorization", &jwt)],
        "",
    )
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["id"], 55);

    let r = send(
        &cloud,
        "POST",
        "/app/installations/55/access_tokens",
        &[("authorization", &jwt)],
        r#"{"permissions":{"administration":"write"}}"#,
    )
    .unwrap();
    assert_eq!(r.status, 422, "{}", r.body);

    let r = send(
        &cloud,
        "POST",
        "/app/installations/55/access_tokens",
        &[("authorization", &jwt)],
        r#"{"repositories":["runners"],"permissions":{"actions_variables":"write"}}"#,
    )
    .unwrap();
    assert_eq!(r.status, 201, "{}", r.body);
    let token = r.json()["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("ghs_") && token.len() == 40);
    let auth = format!("token {token}");
    let auth = auth.as_str();

    let vars = "/repos/octo-org/runners/actions/variables";
    let r = send(
        &cloud,
        "POST",
        vars,
        &[("authorization", auth)],
        r#"{"name":"runner_cfg","value":"a"}"#,
    )
    .unwrap();
    assert_eq!(r.status, 201, "{}", r.body);
    let r = send(
        &cloud,
        "POST",
        vars,
        &[("authorization", auth)],
        r#"{"name":"RUNNER_CFG","value":"a"}"#,
    )
    .unwrap();
    assert_eq!(r.status, 409, "{}", r.body);
    let r = send(
        &cloud,
        "PATCH",
        &format!("{vars}/Runner_Cfg"),
        &[("authorization", auth)],
        r#"{"value":"b"}"#,
    )
    .unwrap();
    assert_eq!(r.status, 204, "{}", r.body);
    let r = send(
        &cloud,
        "GET",
        &format!("{vars}/RUNNER_CFG"),
        &[("authorization", "Bearer ghp_workflow")],
        "",
    )
    .unwrap();
    assert_eq!(r.json()["value"], "b");
    let r = send(
        &cloud,
        "POST",
        vars,
        &[("authorization", "Bearer ghp_workflow")],
        r#"{"name":"X","value":"a"}"#,
    )
    .unwrap();
    assert_eq!(r.status, 403);
    let r = send(
        &cloud,
        "GET",
        &format!("{vars}?per_page=30"),
        &[("authorization", auth)],
        "",
    )
    .unwrap();
    assert_eq!(r.json()["total_count"], 1);
    assert_eq!(
        cloud
            .variables("repo:octo-org/runners")
            .get("RUNNER_CFG")
            .map(String::as_str),
        Some("b")
    );

    // Environment variables via the repository id.
    let r = send(
        &cloud,
        "GET",
        "/repos/octo-org/runners",
        &[("authorization", auth)],
        "",
    )
    .unwrap();
    let id = r.json()["id"].as_u64().unwrap();
    assert_eq!(id, cloud.repo_id("octo-org/runners"));
    let r = send(
        &cloud,
        "POST",
        &format!("/repositories/{id}/environments/prod/variables"),
        &[("authorization", auth)],
        r#"{"name":"E","value":"1"}"#,
    )
    .unwrap();
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(cloud.variables("env:octo-org/runners:prod").len(), 1);

    // Faults.
    cloud.add_fault(Fault {
        method: Some("get".into()),
        path_contains: "/actions/variables".into(),
        times: 1,
        action: FaultAction::Status {
            status: 429,
            retry_after: Some(2),
            body: None,
        },
    });
    let r = send(&cloud, "GET", vars, &[("authorization", auth)], "").unwrap();
    assert_eq!((r.status, r.header("retry-after")), (429, Some("2")));
    cloud.add_fault(Fault {
        method: None,
        path_contains: "/actions/variables".into(),
        times: 1,
        action: FaultAction::Drop,
    });
    assert!(send(&cloud, "GET", vars, &[("authorization", auth)], "").is_err());
    assert_eq!(cloud.requests().last().unwrap().status, 0);

    // Revocation.
    let r = send(
        &cloud,
        "DELETE",
        "/installation/token",
        &[("authorization", auth)],
        "",
    )
    .unwrap();
    assert_eq!(r.status, 204);
    let r = send(&cloud, "GET", vars, &[("authorization", auth)], "").unwrap();
    assert_eq!(r.status, 401);
    assert!(cloud.installation_tokens()[0].revoked);
    assert!(cloud.issued_secrets().contains(&token));

    let r = send(&cloud, "GET", "/nowhere", &[], "").unwrap();
    assert_eq!(r.status, 404);
    assert!(cloud.requests().iter().all(|q| !q.auth.contains("ghs_")));
    assert_eq!(cloud.contract_violations(), Vec::<String>::new());
}

#[test]
fn oidc_entra_keyvault_flow() {
    let dir = std::env::temp_dir().join(format!("fake-cloud-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cloud = FakeCloud::start(Options {
        ca_file: Some(dir.join("ca.pem")),
        log_file: Some(dir.join("log.jsonl")),
        ..Options::default()
    })
    .unwrap();
    assert!(
        std::fs::read_to_string(dir.join("ca.pem"))
            .unwrap()
            .contains("BEGIN CERTIFICATE")
    );
    let seed = cloud.seed();

    let r = send(
        &cloud,
        "GET",
        "/_actions/idtoken?api-version=2.0&audience=api://AzureADTokenExchange",
        &[],
        "",
    )
    .unwrap();
    assert_eq!(r.status, 401);
    let oidc_auth = format!("bearer {}", seed.oidc_request_token);
    let r = send(
        &cloud,
        "GET",
        "/_actions/idtoken?api-version=2.0&audience=api%3A%2F%2FAzureADTokenExchange",
        &[("authorization", &oidc_auth)],
        "",
    )
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let assertion = r.json()["value"].as_str().unwrap().to_string();
    let r = send(
        &cloud,
        "GET",
        "/_actions/idtoken?api-version=2.0&audience=other",
        &[("authorization", &oidc_auth)],
        "",
    )
    .unwrap();
    let wrong_aud = r.json()["value"].as_str().unwrap().to_string();

    let token_path = format!("/{}/oauth2/v2.0/token", seed.tenant_id);
    let form = |assertion: &str, scope: &str| {
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("client_assertion", assertion)
            .append_pair(
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            )
            .append_pair("client_id", &seed.azure_client_id)
            .append_pair("grant_type", "client_credentials")
            .append_pair("scope", scope)
            .finish()
    };
    let ct = [("content-type", "application/x-www-form-urlencoded")];
    let r = send(
        &cloud,
        "POST",
        &token_path,
        &ct,
        &form(&wrong_aud, "https://vault.azure.net/.default"),
    )
    .unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error_codes"][0], 700212);
    let r = send(
        &cloud,
        "POST",
        &token_path,
        &ct,
        &form(&assertion, "https://vault.azure.net"),
    )
    .unwrap();
    assert_eq!(r.json()["error"], "invalid_scope");
    let r = send(
        &cloud,
        "POST",
        &token_path,
        &ct,
        &form(&assertion, "https://vault.azure.net/.default"),
    )
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let kv_token = r.json()["access_token"].as_str().unwrap().to_string();
    let r = send(
        &cloud,
        "POST",
        &token_path,
        &ct,
        &form(&assertion, "https://management.azure.com/.default"),
    )
    .unwrap();
    let arm_token = r.json()["access_token"].as_str().unwrap().to_string();

    // IMDS
    let r = send(
        &cloud,
        "GET",
        "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://vault.azure.net",
        &[("metadata", "true")],
        "",
    )
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.json()["expires_on"].is_string());

    // Key Vault challenge, then success.
    let put = "/secrets/app-key?api-version=2025-07-01";
    let r = send(&cloud, "PUT", put, &[], "").unwrap();
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("www-authenticate").unwrap(),
        format!(
            "Bearer authorization=\"{}/{}\", resource=\"https://vault.azure.net\"",
            cloud.url(),
            seed.tenant_id
        )
    );
    let bad = format!("Bearer {arm_token}");
    assert_eq!(
        send(
            &cloud,
            "PUT",
            put,
            &[("authorization", &bad)],
            r#"{"value":"x"}"#
        )
        .unwrap()
        .status,
        401
    );
    let auth = format!("Bearer {kv_token}");
    let h = [
        ("authorization", auth.as_str()),
        ("content-type", "application/json"),
    ];
    let r = send(
        &cloud,
        "PUT",
        put,
        &h,
        r#"{"value":"v1","contentType":"application/x-pem-file","tags":{"k":"1"}}"#,
    )
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["attributes"]["recoverableDays"], 90);
    cloud.put_secret_version(
        "app-key",
        NewSecretVersion {
            value: "old".into(),
            created: Some(1_000),
            ..Default::default()
        },
    );
    let r = send(&cloud, "PUT", put, &h, r#"{"value":"v2"}"#).unwrap();
    let v2_id = r.json()["id"].as_str().unwrap().to_string();
    let r = send(
        &cloud,
        "GET",
        "/secrets/app-key/?api-version=2025-07-01",
        &h,
        "",
    )
    .unwrap();
    assert_eq!(r.json()["value"], "v2");
    assert_eq!(r.json()["id"], v2_id.as_str());
    let versions = cloud.secret_versions("app-key");
    assert_eq!(
        versions
            .iter()
            .map(|v| v.value.as_str())
            .collect::<Vec<_>>(),
        ["old", "v1", "v2"]
    );

    let r = send(
        &cloud,
        "GET",
        "/secrets/app-key/versions?api-version=2025-07-01&maxresults=2",
        &h,
        "",
    )
    .unwrap();
    assert_eq!(r.json()["value"].as_array().unwrap().len(), 2);
    let next = r.json()["nextLink"].as_str().unwrap().to_string();
    let next = next.strip_prefix(&cloud.url()).unwrap().to_string();
    let r = send(&cloud, "GET", &next, &h, "").unwrap();
    assert_eq!(r.json()["value"].as_array().unwrap().len(), 1);
    assert!(r.json()["nextLink"].is_null());

    let old = &versions[0].version;
    let r = send(
        &cloud,
        "PATCH",
        &format!("/secrets/app-key/{old}?api-version=2025-07-01"),
        &h,
        r#"{"attributes":{"enabled":false}}"#,
    )
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.json().get("value").is_none());
    let r = send(
        &cloud,
        "GET",
        &format!("/secrets/app-key/{old}?api-version=2025-07-01"),
        &h,
        "",
    )
    .unwrap();
    assert_eq!(r.status, 403);
    assert_eq!(
        send(
            &cloud,
            "GET",
            "/secrets/nope?api-version=2025-07-01",
            &h,
            ""
        )
        .unwrap()
        .status,
        404
    );
    assert_eq!(
        send(
            &cloud,
            "GET",
            "/secrets/nope/versions?api-version=2025-07-01",
            &h,
            ""
        )
        .unwrap()
        .status,
        404
    );
    assert_eq!(
        send(
            &cloud,
            "PUT",
            "/secrets/bad_name?api-version=2025-07-01",
            &h,
            r#"{"value":"x"}"#
        )
        .unwrap()
        .status,
        400
    );

    cloud.set_kv_role(KvRole::SecretsUser);
    let r = send(&cloud, "PUT", put, &h, r#"{"value":"v3"}"#).unwrap();
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["error"]["innererror"]["code"], "ForbiddenByRbac");

    assert_eq!(cloud.contract_violations(), Vec::<String>::new());
    let log = std::fs::read_to_string(dir.join("log.jsonl")).unwrap();
    assert_eq!(log.lines().count(), cloud.requests().len());
    drop(cloud);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn admin_api() {
    let cloud = start();
    let r = send(&cloud, "POST", "/_fake/latency", &[], r#"{"ms":1}"#).unwrap();
    assert_eq!(r.status, 204);
    let r = send(
        &cloud,
        "POST",
        "/_fake/faults",
        &[],
        r#"{"path_contains":"/app","times":1,"action":{"status":{"status":503}}}"#,
    )
    .unwrap();
    assert_eq!(r.status, 204);
    assert_eq!(send(&cloud, "GET", "/app", &[], "").unwrap().status, 503);
    let r = send(&cloud, "POST", "/_fake/secrets/s", &[], r#"{"value":"x"}"#).unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        send(&cloud, "GET", "/_fake/secrets/s", &[], "")
            .unwrap()
            .json()[0]["value"],
        "x"
    );
    let r = send(&cloud, "POST", "/_fake/kv-role", &[], r#"{"role":"None"}"#).unwrap();
    assert_eq!(r.status, 204);
    let r = send(
        &cloud,
        "POST",
        "/_fake/runner-release",
        &[],
        r#"{"tag":"v2.331.0"}"#,
    )
    .unwrap();
    assert_eq!(r.status, 204);
    assert_eq!(
        send(&cloud, "GET", "/_fake/seed", &[], "").unwrap().json()["runner_release"],
        "v2.331.0"
    );
    let r = send(&cloud, "POST", "/_fake/runner-release", &[], r#"{"tag":2}"#).unwrap();
    assert_eq!(r.status, 400);
    // A name a template derives, before any deployment (scripts/act.sh needs the vault's).
    let r = send(
        &cloud,
        "POST",
        "/_fake/arm-expression",
        &[],
        r#"{"expression":"[uniqueString('hello', 'world')]"}"#,
    )
    .unwrap();
    assert_eq!(r.json()["value"], "a7wkljktk6wne");
    let r = send(
        &cloud,
        "POST",
        "/_fake/arm-expression",
        &[],
        r#"{"expression":"[nosuchfunction()]"}"#,
    )
    .unwrap();
    assert_eq!(r.status, 400);
    let r = send(&cloud, "POST", "/_fake/apps", &[], r#"{"id":9,"slug":"b"}"#).unwrap();
    assert_eq!(r.status, 204);
    assert_eq!(
        send(&cloud, "GET", "/_fake/seed", &[], "").unwrap().json()["github_apps"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let reqs = send(&cloud, "GET", "/_fake/requests", &[], "")
        .unwrap()
        .json();
    assert_eq!(reqs.as_array().unwrap().len(), 1);
    assert_eq!(reqs[0]["status"], 503);
}

fn runner_template() -> Value {
    json!({
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "parameters": {
            "pools": {"type": "array"},
            "prefix": {"type": "string", "defaultValue": "run"},
            "appKey": {"type": "securestring"},
        },
        "variables": {"envName": "[format('{0}-env', parameters('prefix'))]"},
        "resources": [{
            "type": "Microsoft.App/jobs",
            "apiVersion": "2025-07-01",
            "name": "[parameters('pools')[copyIndex()].jobName]",
            "location": "westus",
            "copy": {"name": "pools", "count": "[length(parameters('pools'))]"},
            "identity": {"type": "SystemAssigned"},
            "properties": {
                "environmentId": "[resourceId('Microsoft.App/managedEnvironments', variables('envName'))]",
                "configuration": {
                    "triggerType": "Event",
                    "replicaTimeout": "[parameters('pools')[copyIndex()].timeout]",
                    "secrets": [{"name": "key", "keyVaultUrl": "https://kv.vault.azure.net/secrets/k", "identity": "system"}],
                },
                "template": {"containers": [{"name": "runner", "image": "[parameters('pools')[copyIndex()]['image']]"}]},
            },
        }],
        "outputs": {
            "prefix": {"type": "string", "value": "[parameters('prefix')]"},
            "count": {"type": "int", "value": "[length(parameters('pools'))]"},
            "appKey": {"type": "securestring", "value": "[parameters('appKey')]"},
            "jobNames": {"type": "array", "copy": {"count": "[length(parameters('pools'))]", "input": "[parameters('pools')[copyIndex()].jobName]"}},
            "clientId": {"type": "string", "value": "[reference('x', '2023-01-31').clientId]"},
        },
    })
}

fn deployment_body(pools: Value) -> String {
    json!({"properties": {
        "mode": "Incremental",
        "template": runner_template(),
        "parameters": {"pools": {"value": pools}, "appKey": {"value": "s3cret"}},
    }})
    .to_string()
}

#[test]
fn arm_deployments_what_if_and_jobs() {
    let cloud = FakeCloud::start(Options {
        seed: Seed {
            arm_deployment_ms: 300,
            arm_whatif_ms: 300,
            arm_retry_after_secs: 0,
            ..Seed::default()
        },
        ..Options::default()
    })
    .unwrap();
    let seed = cloud.seed();
    let sub = seed.subscription_id.clone();
    let token = entra_token(&cloud, "localhost", &format!("{}/.default", cloud.url()));
    let auth = format!("Bearer {token}");
    let h = [
        ("authorization", auth.as_str()),
        ("content-type", "application/json"),
    ];
    let q = "?api-version=2025-04-01";
    let dep = |name: &str| {
        format!(
            "/subscriptions/{sub}/resourcegroups/rg-x/providers/Microsoft.Resources/deployments/{name}"
        )
    };
    let rel = |url: &str| url.strip_prefix(&cloud.url()).unwrap().to_string();
    let wait_status = |url: &str, want: &str| {
        for _ in 0..100 {
            let r = send(&cloud, "GET", &rel(url), &h, "").unwrap();
            assert_eq!(r.status, 200, "{}", r.body);
            if r.json()["status"] != "Running" {
                assert_eq!(r.json()["status"], want, "{}", r.body);
                return r.json();
            }
            std::thread::sleep(std::time::Duration::from_millis(30));
        }
        panic!("{url} did not finish");
    };

    // Authentication, api-version.
    let r = send(&cloud, "GET", &format!("{}{q}", dep("d1")), &[], "").unwrap();
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"]["code"], "InvalidAuthenticationToken");
    let kv = format!(
        "Bearer {}",
        entra_token(&cloud, "localhost", "https://vault.azure.net/.default")
    );
    let r = send(
        &cloud,
        "GET",
        &format!("{}{q}", dep("d1")),
        &[("authorization", &kv)],
        "",
    )
    .unwrap();
    assert_eq!(r.status, 401, "{}", r.body);
    let mgmt = format!(
        "Bearer {}",
        entra_token(&cloud, "localhost", "https://management.azure.com/.default")
    );
    let r = send(
        &cloud,
        "GET",
        &format!("{}{q}", dep("d1")),
        &[("authorization", &mgmt)],
        "",
    )
    .unwrap();
    assert_eq!(r.status, 404, "{}", r.body);
    assert_eq!(r.json()["error"]["code"], "DeploymentNotFound");
    let r = send(&cloud, "GET", &dep("d1"), &h, "").unwrap();
    assert_eq!(r.json()["error"]["code"], "MissingApiVersionParameter");

    // Validation.
    let mut bad: Value = serde_json::from_str(&deployment_body(json!([]))).unwrap();
    bad["properties"]["parameters"]["nope"] = json!({"value": 1});
    let r = send(
        &cloud,
        "PUT",
        &format!("{}{q}", dep("d1")),
        &h,
        &bad.to_string(),
    )
    .unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["code"], "InvalidTemplate");
    assert!(
        r.body.contains("The template parameters 'nope'"),
        "{}",
        r.body
    );
    let mut bad: Value = serde_json::from_str(&deployment_body(json!([]))).unwrap();
    bad["properties"]["parameters"]
        .as_object_mut()
        .unwrap()
        .remove("pools");
    let r = send(
        &cloud,
        "PUT",
        &format!("{}{q}", dep("d1")),
        &h,
        &bad.to_string(),
    )
    .unwrap();
    assert!(
        r.body
            .contains("The value for the template parameter 'pools'"),
        "{}",
        r.body
    );
    let sub_dep = format!("/subscriptions/{sub}/providers/Microsoft.Resources/deployments/s1{q}");
    let r = send(&cloud, "PUT", &sub_dep, &h, &deployment_body(json!([]))).unwrap();
    assert_eq!(r.status, 400);
    assert!(r.body.contains("location is required"), "{}", r.body);

    // A successful 2-resource deployment.
    let pools = json!([
        {"jobName": "job-a", "timeout": 600, "image": "img:1"},
        {"jobName": "job-b", "timeout": 900, "image": "img:1"},
    ]);
    let r = send(
        &cloud,
        "PUT",
        &format!("{}{q}", dep("d1")),
        &h,
        &deployment_body(pools.clone()),
    )
    .unwrap();
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["properties"]["provisioningState"], "Accepted");
    assert_eq!(r.header("retry-after"), Some("0"));
    let status_url = r.header("azure-asyncoperation").unwrap().to_string();
    assert!(status_url.contains("/operationStatuses/"), "{status_url}");
    let r = send(
        &cloud,
        "PUT",
        &format!("{}{q}", dep("d1")),
        &h,
        &deployment_body(pools.clone()),
    )
    .unwrap();
    assert_eq!(r.status, 409);
    assert_eq!(r.json()["error"]["code"], "DeploymentActive");
    let ops_path = format!("/subscriptions/{sub}/resourceGroups/rg-x/deployments/d1/operations{q}");
    let r = send(&cloud, "GET", &ops_path, &h, "").unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(!r.json()["value"].as_array().unwrap().is_empty());
    assert_eq!(cloud.deployments()[0].state, "Running");
    wait_status(&status_url, "Succeeded");
    let r = send(&cloud, "GET", &format!("{}{q}", dep("d1")), &h, "").unwrap();
    let d = r.json();
    assert_eq!(
        d["properties"]["provisioningState"], "Succeeded",
        "{}",
        r.body
    );
    assert_eq!(d["properties"]["duration"], "PT0.3S");
    let outputs = &d["properties"]["outputs"];
    assert_eq!(outputs["prefix"], json!({"type": "String", "value": "run"}));
    assert_eq!(outputs["count"], json!({"type": "Int", "value": 2}));
    assert_eq!(
        outputs["appKey"],
        json!({"type": "SecureString", "value": "s3cret"})
    );
    assert_eq!(outputs["jobNames"]["value"], json!(["job-a", "job-b"]));
    assert!(
        outputs["clientId"]["value"]
            .as_str()
            .unwrap()
            .starts_with("fake:[reference(")
    );
    assert_eq!(
        d["properties"]["outputResources"].as_array().unwrap().len(),
        2
    );
    let r = send(&cloud, "GET", &ops_path, &h, "").unwrap();
    let ops = r.json()["value"].as_array().unwrap().clone();
    assert_eq!(ops.len(), 2, "{}", r.body);
    for (op, name) in ops.iter().zip(["job-a", "job-b"]) {
        assert_eq!(op["properties"]["provisioningState"], "Succeeded");
        assert_eq!(op["properties"]["statusCode"], "Created");
        assert_eq!(op["properties"]["targetResource"]["resourceName"], name);
    }
    let job_a =
        format!("/subscriptions/{sub}/resourceGroups/rg-x/providers/Microsoft.App/jobs/job-a");
    let resources = cloud.resources();
    assert_eq!(
        resources[&job_a]["properties"]["environmentId"],
        format!(
            "/subscriptions/{sub}/resourceGroups/rg-x/providers/Microsoft.App/managedEnvironments/run-env"
        )
    );
    let r = send(
        &cloud,
        "GET",
        &format!("{job_a}?api-version=2025-07-01"),
        &h,
        "",
    )
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.json()["properties"]["configuration"]["replicaTimeout"],
        600
    );
    assert_eq!(r.json()["properties"]["provisioningState"], "Succeeded");

    // A failed deployment.
    cloud.fail_deployment(FailDeployment {
        name_contains: "fail".into(),
        resource_name_contains: "job-c".into(),
        code: "InvalidResourceProperties".into(),
        message: "boom".into(),
    });
    let pools2 = json!([
        {"jobName": "job-c", "timeout": 1, "image": "img:1"},
        {"jobName": "job-d", "timeout": 1, "image": "img:1"},
    ]);
    let r = send(
        &cloud,
        "PUT",
        &format!("{}{q}", dep("will-fail")),
        &h,
        &deployment_body(pools2),
    )
    .unwrap();
    assert_eq!(r.status, 201, "{}", r.body);
    let status = wait_status(r.header("azure-asyncoperation").unwrap(), "Failed");
    assert_eq!(
        status["error"]["details"][0]["code"],
        "InvalidResourceProperties"
    );
    let r = send(&cloud, "GET", &format!("{}{q}", dep("will-fail")), &h, "").unwrap();
    let err = &r.json()["properties"]["error"];
    assert_eq!(err["code"], "DeploymentFailed");
    assert_eq!(err["details"][0]["message"], "boom");
    let r = send(
        &cloud,
        "GET",
        &format!("/subscriptions/{sub}/resourcegroups/rg-x/deployments/will-fail/operations{q}"),
        &h,
        "",
    )
    .unwrap();
    let ops = r.json()["value"].as_array().unwrap().clone();
    assert_eq!(ops[0]["properties"]["provisioningState"], "Failed");
    assert_eq!(ops[0]["properties"]["statusCode"], "BadRequest");
    assert_eq!(
        ops[0]["properties"]["statusMessage"]["error"]["code"],
        "InvalidResourceProperties"
    );
    assert_eq!(ops[1]["properties"]["provisioningState"], "Succeeded");
    assert!(!cloud.resources().keys().any(|k| k.ends_with("/job-c")));

    // What-If: job-a modified, job-e created, nothing deployed.
    let pools3 = json!([
        {"jobName": "job-a", "timeout": 600, "image": "img:2"},
        {"jobName": "job-b", "timeout": 900, "image": "img:1"},
        {"jobName": "job-e", "timeout": 5, "image": "img:1"},
    ]);
    let before = cloud.deployments().len();
    let r = send(
        &cloud,
        "POST",
        &format!("{}/whatIf{q}", dep("d1")),
        &h,
        &deployment_body(pools3),
    )
    .unwrap();
    assert_eq!(r.status, 202, "{}", r.body);
    let location = r.header("location").unwrap().to_string();
    assert!(location.contains("/operationResults/"), "{location}");
    let r = send(&cloud, "GET", &rel(&location), &h, "").unwrap();
    assert_eq!(r.status, 202);
    std::thread::sleep(std::time::Duration::from_millis(320));
    let r = send(&cloud, "GET", &rel(&location), &h, "").unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let changes = r.json()["properties"]["changes"]
        .as_array()
        .unwrap()
        .clone();
    let kinds: Vec<&str> = changes
        .iter()
        .map(|c| c["changeType"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["Modify", "NoChange", "Create"]);
    assert_eq!(changes[0]["delta"][0]["path"], "properties.template");
    assert_eq!(cloud.deployments().len(), before);
    assert_eq!(cloud.what_ifs().len(), 1);

    // Jobs: PUT/GET round trip, secrets hidden on GET.
    let job_b = format!(
        "/subscriptions/{sub}/resourceGroups/rg-x/providers/Microsoft.App/jobs/job-b?api-version=2025-07-01"
    );
    let job = json!({
        "location": "westus",
        "identity": {"type": "SystemAssigned"},
        "properties": {
            "configuration": {
                "triggerType": "Manual",
                "replicaTimeout": 60,
                "secrets": [
                    {"name": "plain", "value": "hunter2"},
                    {"name": "kv", "keyVaultUrl": "https://kv.vault.azure.net/secrets/k", "identity": "system"},
                ],
            },
            "template": {"containers": [{"name": "c", "image": "img:3"}]},
        },
    });
    let r = send(&cloud, "PUT", &job_b, &h, &job.to_string()).unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let op = r.header("azure-asyncoperation").unwrap().to_string();
    assert!(op.contains("containerappsjobOperationStatuses"), "{op}");
    assert_eq!(wait_status(&op, "Succeeded")["status"], "Succeeded");
    let r = send(&cloud, "GET", &job_b, &h, "").unwrap();
    let got = r.json();
    let secrets = &got["properties"]["configuration"]["secrets"];
    assert!(secrets[0].get("value").is_none());
    assert_eq!(
        secrets[1]["keyVaultUrl"],
        "https://kv.vault.azure.net/secrets/k"
    );
    assert_eq!(
        got["properties"]["template"]["containers"][0]["image"],
        "img:3"
    );
    assert_eq!(
        cloud.job("rg-x", "job-b").unwrap()["properties"]["configuration"]["secrets"][0]["value"],
        "hunter2"
    );
    let missing = format!(
        "/subscriptions/{sub}/resourceGroups/rg-x/providers/Microsoft.App/jobs/nope?api-version=2025-07-01"
    );
    let r = send(&cloud, "GET", &missing, &h, "").unwrap();
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"]["code"], "ResourceNotFound");
    cloud.put_job(
        "rg-y",
        "seeded",
        json!({"properties": {"configuration": {"triggerType": "Manual", "replicaTimeout": 5}}}),
    );
    assert_eq!(cloud.job("rg-y", "seeded").unwrap()["location"], "westus");

    // RBAC.
    cloud.set_arm_role(ArmRole::Reader);
    let r = send(
        &cloud,
        "PUT",
        &format!("{}{q}", dep("d2")),
        &h,
        &deployment_body(json!([])),
    )
    .unwrap();
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["error"]["code"], "AuthorizationFailed");
    assert!(
        r.body.contains("Microsoft.Resources/deployments/write"),
        "{}",
        r.body
    );
    let r = send(&cloud, "GET", &format!("{}{q}", dep("d1")), &h, "").unwrap();
    assert_eq!(r.status, 200);
    cloud.set_arm_role(ArmRole::None);
    let r = send(&cloud, "GET", &job_b, &h, "").unwrap();
    assert_eq!(r.status, 403);

    // Only the deliberately malformed request (no api-version) is flagged.
    let violations = cloud.contract_violations();
    assert_eq!(violations.len(), 1, "{violations:#?}");
    assert!(violations[0].contains("missing required query parameter 'api-version'"));
    assert!(cloud.requests().iter().any(|r| r.service == Service::Arm));
}

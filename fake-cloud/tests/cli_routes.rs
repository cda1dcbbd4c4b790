//! The routes and behaviours the fake has for the `az` and `gh` CLIs: serving under the
//! production host names (`Options::public_hosts`), Entra discovery documents, the subscription
//! list, deployment preflight (`…/validate`) and ARM's lenient (JSONC) request bodies.
#![allow(clippy::unwrap_used, missing_docs)]

use fake_cloud::{FakeCloud, Options, Seed, Service};
use serde_json::{Value, json};

mod common;
use common::{Resp, To, arm_auth, entra_token, handshake};

const API: &str = "?api-version=2025-04-01";
const KV_HOST: &str = "benchvault.vault.azure.net";
const ARM_HOST: &str = "management.azure.com";
const LOGIN_HOST: &str = "login.microsoftonline.com";

/// One HTTP/1.1 request over TLS with `host` as both the server name and the `host` header.
fn send(
    cloud: &FakeCloud,
    host: &str,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Resp {
    request(cloud, host, host, method, target, headers, body)
}

/// One HTTP/1.1 request over TLS with server name `sni` and `host` header `host`.
fn request(
    cloud: &FakeCloud,
    sni: &str,
    host: &str,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Resp {
    To::fake(cloud, sni, host)
        .send(method, target, headers, body.as_bytes())
        .unwrap_or_else(|e| panic!("{method} {target}: {e}"))
}

fn start(public_hosts: bool) -> FakeCloud {
    FakeCloud::start(Options {
        public_hosts,
        seed: Seed {
            arm_deployment_ms: 200,
            arm_retry_after_secs: 0,
            ..Seed::default()
        },
        ..Options::default()
    })
    .unwrap()
}

/// The `host` header value that addresses the listener itself (`127.0.0.1:PORT`).
fn listener_host(cloud: &FakeCloud) -> String {
    cloud.url().trim_start_matches("https://").to_string()
}

// ---------------------------------------------------------------------------------------------
// Public host names
// ---------------------------------------------------------------------------------------------

#[test]
fn public_hosts_certificate_names_the_production_hosts() {
    let cloud = start(true);
    for sni in [
        ARM_HOST,
        LOGIN_HOST,
        "api.github.com",
        "token.actions.githubusercontent.com",
        KV_HOST,
        "localhost",
    ] {
        handshake(&cloud, sni).unwrap_or_else(|e| panic!("handshake with SNI {sni}: {e}"));
    }
    // The wildcard covers one label only, and unrelated names stay unnamed.
    assert!(handshake(&cloud, "a.b.vault.azure.net").is_err());
    assert!(handshake(&cloud, "example.com").is_err());
}

#[test]
fn without_public_hosts_the_certificate_does_not_name_them() {
    let cloud = start(false);
    handshake(&cloud, "localhost").unwrap();
    for sni in [ARM_HOST, LOGIN_HOST, KV_HOST] {
        assert!(
            handshake(&cloud, sni).is_err(),
            "the certificate unexpectedly names {sni}"
        );
    }
}

#[test]
fn public_hosts_key_vault_challenge_names_the_public_authority() {
    let cloud = start(true);
    let tenant = cloud.seed().tenant_id;
    let r = send(
        &cloud,
        KV_HOST,
        "GET",
        "/secrets/x?api-version=7.4",
        &[],
        "",
    );
    assert_eq!(r.status, 401, "{}", r.body);
    assert_eq!(
        r.header("www-authenticate"),
        Some(
            format!(
                "Bearer authorization=\"https://login.microsoftonline.com/{tenant}\", resource=\"https://vault.azure.net\""
            )
            .as_str()
        ),
    );
}

#[test]
fn without_public_hosts_key_vault_challenge_names_the_listener() {
    let cloud = start(false);
    let tenant = cloud.seed().tenant_id;
    // Even a request addressed to a production name gets the listener URL.
    for host in ["localhost", KV_HOST] {
        let r = request(
            &cloud,
            "localhost",
            host,
            "GET",
            "/secrets/x?api-version=7.4",
            &[],
            "",
        );
        assert_eq!(r.status, 401, "{}", r.body);
        assert_eq!(
            r.header("www-authenticate"),
            Some(
                format!(
                    "Bearer authorization=\"{}/{tenant}\", resource=\"https://vault.azure.net\"",
                    cloud.url()
                )
                .as_str()
            ),
            "host {host}"
        );
    }
}

#[test]
fn public_hosts_secret_ids_use_the_addressed_vault_host() {
    let cloud = start(true);
    let kv = format!(
        "Bearer {}",
        entra_token(&cloud, LOGIN_HOST, "https://vault.azure.net/.default")
    );
    let h = [
        ("authorization", kv.as_str()),
        ("content-type", "application/json"),
    ];
    let r = send(
        &cloud,
        KV_HOST,
        "PUT",
        "/secrets/x?api-version=7.4",
        &h,
        r#"{"value":"v1"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let id = r.json()["id"].as_str().unwrap().to_string();
    assert!(
        id.starts_with("https://benchvault.vault.azure.net/secrets/x/"),
        "{id}"
    );

    // Each response names the host its own request addressed.
    let r = send(
        &cloud,
        "other.vault.azure.net",
        "GET",
        "/secrets/x?api-version=7.4",
        &h,
        "",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let id = r.json()["id"].as_str().unwrap().to_string();
    assert!(
        id.starts_with("https://other.vault.azure.net/secrets/x/"),
        "{id}"
    );
    // Addressed to the listener itself, the listener URL.
    let listener = listener_host(&cloud);
    let r = request(
        &cloud,
        "localhost",
        &listener,
        "GET",
        "/secrets/x?api-version=7.4",
        &h,
        "",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let id = r.json()["id"].as_str().unwrap().to_string();
    assert!(
        id.starts_with(&format!("{}/secrets/x/", cloud.url())),
        "{id}"
    );
    assert!(
        cloud.contract_violations().is_empty(),
        "{:#?}",
        cloud.contract_violations()
    );
}

#[test]
fn without_public_hosts_secret_ids_use_the_listener_url() {
    let cloud = start(false);
    let kv = format!(
        "Bearer {}",
        entra_token(&cloud, "localhost", "https://vault.azure.net/.default")
    );
    let h = [
        ("authorization", kv.as_str()),
        ("content-type", "application/json"),
    ];
    let r = send(
        &cloud,
        "localhost",
        "PUT",
        "/secrets/x?api-version=7.4",
        &h,
        r#"{"value":"v1"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let id = r.json()["id"].as_str().unwrap().to_string();
    assert!(
        id.starts_with(&format!("{}/secrets/x/", cloud.url())),
        "{id}"
    );
}

#[test]
fn public_hosts_arm_challenge_names_the_public_authority() {
    let cloud = start(true);
    let tenant = cloud.seed().tenant_id;
    let r = send(
        &cloud,
        ARM_HOST,
        "GET",
        "/subscriptions?api-version=2022-12-01",
        &[],
        "",
    );
    assert_eq!(r.status, 401, "{}", r.body);
    assert_eq!(r.json()["error"]["code"], "InvalidAuthenticationToken");
    let challenge = r.header("www-authenticate").unwrap();
    assert!(
        challenge.starts_with(&format!(
            "Bearer authorization_uri=\"https://login.microsoftonline.com/{tenant}\""
        )),
        "{challenge}"
    );

    let cloud = start(false);
    let r = send(
        &cloud,
        "localhost",
        "GET",
        "/subscriptions?api-version=2022-12-01",
        &[],
        "",
    );
    assert_eq!(r.status, 401, "{}", r.body);
    let challenge = r.header("www-authenticate").unwrap();
    assert!(
        challenge.starts_with(&format!(
            "Bearer authorization_uri=\"{}/{tenant}\"",
            cloud.url()
        )),
        "{challenge}"
    );
}

// ---------------------------------------------------------------------------------------------
// Entra discovery
// ---------------------------------------------------------------------------------------------

#[test]
fn openid_configuration_of_the_seeded_tenant() {
    let cloud = start(false);
    let tenant = cloud.seed().tenant_id;
    let base = cloud.url();
    let r = send(
        &cloud,
        "localhost",
        "GET",
        &format!("/{tenant}/v2.0/.well-known/openid-configuration"),
        &[],
        "",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let doc = r.json();
    assert_eq!(
        doc["token_endpoint"],
        format!("{base}/{tenant}/oauth2/v2.0/token")
    );
    assert_eq!(doc["issuer"], format!("{base}/{tenant}/v2.0"));
    assert_eq!(
        doc["authorization_endpoint"],
        format!("{base}/{tenant}/oauth2/v2.0/authorize")
    );
    // The token endpoint it names works.
    let token = entra_token(&cloud, "localhost", "https://vault.azure.net/.default");
    assert!(!token.is_empty());
    let reqs = cloud.requests();
    let logged = reqs
        .iter()
        .find(|q| q.path.ends_with("/openid-configuration"))
        .unwrap();
    assert_eq!(logged.service, Service::Entra);

    // The tenant id is matched case-insensitively; `common` and `organizations` are known.
    let r = send(
        &cloud,
        "localhost",
        "GET",
        &format!(
            "/{}/v2.0/.well-known/openid-configuration",
            tenant.to_ascii_uppercase()
        ),
        &[],
        "",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    for t in ["common", "organizations"] {
        let r = send(
            &cloud,
            "localhost",
            "GET",
            &format!("/{t}/v2.0/.well-known/openid-configuration"),
            &[],
            "",
        );
        assert_eq!(r.status, 200, "{t}: {}", r.body);
        assert_eq!(
            r.json()["token_endpoint"],
            format!("{base}/{t}/oauth2/v2.0/token")
        );
        assert_eq!(r.json()["issuer"], format!("{base}/{{tenantid}}/v2.0"));
    }
}

#[test]
fn openid_configuration_with_public_hosts_names_the_login_host() {
    let cloud = start(true);
    let tenant = cloud.seed().tenant_id;
    let r = send(
        &cloud,
        LOGIN_HOST,
        "GET",
        &format!("/{tenant}/v2.0/.well-known/openid-configuration"),
        &[],
        "",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.json()["token_endpoint"],
        format!("https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token")
    );
    let r = send(
        &cloud,
        LOGIN_HOST,
        "GET",
        "/common/discovery/instance?api-version=1.1&authorization_endpoint=https://login.microsoftonline.com/common/oauth2/authorize",
        &[],
        "",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.json()["tenant_discovery_endpoint"],
        format!("https://login.microsoftonline.com/{tenant}/v2.0/.well-known/openid-configuration")
    );
    assert_eq!(
        r.json()["metadata"][0]["preferred_network"],
        "login.microsoftonline.com"
    );
}

#[test]
fn openid_configuration_of_an_unknown_tenant_is_invalid_tenant() {
    let cloud = start(false);
    let r = send(
        &cloud,
        "localhost",
        "GET",
        "/99999999-9999-9999-9999-999999999999/v2.0/.well-known/openid-configuration",
        &[],
        "",
    );
    assert_eq!(r.status, 400, "{}", r.body);
    let e = r.json();
    assert_eq!(e["error"], "invalid_tenant");
    assert_eq!(e["error_codes"], json!([90002]));
    let description = e["error_description"].as_str().unwrap();
    assert!(
        description
            .starts_with("AADSTS90002: Tenant '99999999-9999-9999-9999-999999999999' not found."),
        "{description}"
    );
}

#[test]
fn instance_discovery_names_the_tenant_discovery_endpoint() {
    let cloud = start(false);
    let tenant = cloud.seed().tenant_id;
    let r = send(
        &cloud,
        "localhost",
        "GET",
        "/common/discovery/instance?api-version=1.1&authorization_endpoint=https://login.microsoftonline.com/common/oauth2/authorize",
        &[],
        "",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let doc = r.json();
    let endpoint = doc["tenant_discovery_endpoint"].as_str().unwrap();
    assert_eq!(
        endpoint,
        format!(
            "{}/{tenant}/v2.0/.well-known/openid-configuration",
            cloud.url()
        )
    );
    assert_eq!(doc["api-version"], "1.1");
    // The endpoint it names answers.
    let path = endpoint.strip_prefix(&cloud.url()).unwrap();
    let r = send(&cloud, "localhost", "GET", path, &[], "");
    assert_eq!(r.status, 200, "{}", r.body);
}

// ---------------------------------------------------------------------------------------------
// Subscriptions
// ---------------------------------------------------------------------------------------------

#[test]
fn subscriptions_list_and_get() {
    let cloud = start(false);
    let seed = cloud.seed();
    let auth = arm_auth(&cloud);
    let h = [("authorization", auth.as_str())];
    let r = send(
        &cloud,
        "localhost",
        "GET",
        "/subscriptions?api-version=2022-12-01",
        &h,
        "",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let list = r.json();
    let value = list["value"].as_array().unwrap();
    assert_eq!(value.len(), 1, "{}", r.body);
    assert_eq!(value[0]["subscriptionId"], seed.subscription_id);
    assert_eq!(value[0]["tenantId"], seed.tenant_id);
    assert_eq!(
        value[0]["id"],
        format!("/subscriptions/{}", seed.subscription_id)
    );
    assert_eq!(value[0]["state"], "Enabled");

    let r = send(
        &cloud,
        "localhost",
        "GET",
        &format!(
            "/subscriptions/{}?api-version=2022-12-01",
            seed.subscription_id
        ),
        &h,
        "",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["subscriptionId"], seed.subscription_id);
    assert_eq!(r.json()["tenantId"], seed.tenant_id);

    let r = send(
        &cloud,
        "localhost",
        "GET",
        "/subscriptions/00000000-0000-0000-0000-000000000000?api-version=2022-12-01",
        &h,
        "",
    );
    assert_eq!(r.status, 404, "{}", r.body);
    assert_eq!(r.json()["error"]["code"], "SubscriptionNotFound");

    // api-version is required, as everywhere in ARM.
    let r = send(&cloud, "localhost", "GET", "/subscriptions", &h, "");
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.json()["error"]["code"], "MissingApiVersionParameter");

    // Undescribed routes are not contract-checked (they would be flagged otherwise).
    assert!(
        cloud.contract_violations().is_empty(),
        "{:#?}",
        cloud.contract_violations()
    );
}

// ---------------------------------------------------------------------------------------------
// Deployment preflight and lenient bodies
// ---------------------------------------------------------------------------------------------

fn template() -> Value {
    json!({
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "parameters": {"name": {"type": "string"}},
        "resources": [{
            "type": "Microsoft.ManagedIdentity/userAssignedIdentities",
            "apiVersion": "2023-01-31",
            "name": "[parameters('name')]",
            "location": "westus",
        }],
    })
}

fn body(template: Value) -> String {
    json!({"properties": {
        "mode": "Incremental",
        "template": template,
        "parameters": {"name": {"value": "id-x"}},
    }})
    .to_string()
}

fn rg_deployment(cloud: &FakeCloud, name: &str) -> String {
    format!(
        "/subscriptions/{}/resourcegroups/rg-x/providers/Microsoft.Resources/deployments/{name}",
        cloud.seed().subscription_id
    )
}

#[test]
fn validate_evaluates_the_template_and_deploys_nothing() {
    let cloud = start(false);
    let sub = cloud.seed().subscription_id;
    let auth = arm_auth(&cloud);
    let h = [
        ("authorization", auth.as_str()),
        ("content-type", "application/json"),
    ];
    let dep = rg_deployment(&cloud, "pre1");
    let r = send(
        &cloud,
        "localhost",
        "POST",
        &format!("{dep}/validate{API}"),
        &h,
        &body(template()),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["properties"]["provisioningState"], "Succeeded");
    assert_eq!(v["name"], "pre1");
    assert_eq!(
        v["properties"]["validatedResources"],
        json!([{"id": format!(
            "/subscriptions/{sub}/resourceGroups/rg-x/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-x"
        )}])
    );
    assert_eq!(v["properties"]["parameters"]["name"]["value"], "id-x");

    // Nothing was deployed.
    assert!(cloud.deployments().is_empty(), "{:?}", cloud.deployments());
    assert!(cloud.resources().is_empty(), "{:?}", cloud.resources());
    let r = send(&cloud, "localhost", "GET", &format!("{dep}{API}"), &h, "");
    assert_eq!(r.status, 404, "{}", r.body);
    assert_eq!(r.json()["error"]["code"], "DeploymentNotFound");
    assert!(
        cloud.contract_violations().is_empty(),
        "{:#?}",
        cloud.contract_violations()
    );
}

#[test]
fn validate_rejects_what_a_put_rejects() {
    let cloud = start(false);
    let auth = arm_auth(&cloud);
    let h = [
        ("authorization", auth.as_str()),
        ("content-type", "application/json"),
    ];
    let dep = rg_deployment(&cloud, "pre2");
    let mut no_schema = template();
    no_schema.as_object_mut().unwrap().remove("$schema");
    let mut no_param = template();
    no_param["parameters"]
        .as_object_mut()
        .unwrap()
        .insert("extra".into(), json!({"type": "int"}));
    let mut unknown_param: Value = serde_json::from_str(&body(template())).unwrap();
    unknown_param["properties"]["parameters"]["nope"] = json!({"value": 1});
    for (what, b) in [
        ("no $schema", body(no_schema)),
        ("missing parameter", body(no_param)),
        ("unknown parameter", unknown_param.to_string()),
    ] {
        let validate = send(
            &cloud,
            "localhost",
            "POST",
            &format!("{dep}/validate{API}"),
            &h,
            &b,
        );
        assert_eq!(validate.status, 400, "{what}: {}", validate.body);
        assert_eq!(
            validate.json()["error"]["code"],
            "InvalidTemplate",
            "{what}: {}",
            validate.body
        );
        let put = send(&cloud, "localhost", "PUT", &format!("{dep}{API}"), &h, &b);
        assert_eq!(put.status, 400, "{what}: {}", put.body);
        assert_eq!(
            validate.json()["error"]["message"],
            put.json()["error"]["message"],
            "{what}"
        );
    }
    let r = send(
        &cloud,
        "localhost",
        "POST",
        &format!("{dep}/validate{API}"),
        &h,
        "{not json",
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.json()["error"]["code"], "InvalidRequestContent");
    assert!(cloud.deployments().is_empty());
}

#[test]
fn validate_at_subscription_scope_requires_a_location() {
    let cloud = start(false);
    let sub = cloud.seed().subscription_id;
    let auth = arm_auth(&cloud);
    let h = [
        ("authorization", auth.as_str()),
        ("content-type", "application/json"),
    ];
    let path =
        format!("/subscriptions/{sub}/providers/Microsoft.Resources/deployments/s1/validate{API}");
    let rg_template = json!({
        "$schema": "https://schema.management.azure.com/schemas/2018-05-01/subscriptionDeploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "resources": [{
            "type": "Microsoft.Resources/resourceGroups",
            "apiVersion": "2022-09-01",
            "name": "rg-new",
            "location": "westus",
        }],
    });
    let r = send(
        &cloud,
        "localhost",
        "POST",
        &path,
        &h,
        &json!({"properties": {"mode": "Incremental", "template": rg_template}}).to_string(),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.json()["error"]["code"], "InvalidDeployment");
    let r = send(
        &cloud,
        "localhost",
        "POST",
        &path,
        &h,
        &json!({"location": "westus", "properties": {"mode": "Incremental", "template": rg_template}})
            .to_string(),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["properties"]["provisioningState"], "Succeeded");
    assert_eq!(
        r.json()["id"],
        format!("/subscriptions/{sub}/providers/Microsoft.Resources/deployments/s1")
    );
    assert_eq!(
        r.json()["properties"]["validatedResources"],
        json!([{"id": format!("/subscriptions/{sub}/resourceGroups/rg-new")}])
    );
    assert!(cloud.deployments().is_empty());
    assert!(cloud.resources().is_empty());
}

#[test]
fn validate_needs_write_access() {
    let cloud = start(false);
    cloud.set_arm_role(fake_cloud::ArmRole::Reader);
    let auth = arm_auth(&cloud);
    let h = [
        ("authorization", auth.as_str()),
        ("content-type", "application/json"),
    ];
    let dep = rg_deployment(&cloud, "pre3");
    let r = send(
        &cloud,
        "localhost",
        "POST",
        &format!("{dep}/validate{API}"),
        &h,
        &body(template()),
    );
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(
        r.body
            .contains("Microsoft.Resources/deployments/validate/action"),
        "{}",
        r.body
    );
}

/// What `az deployment group create` sends: the JSON of the request with the template file's
/// text spliced in after an unquoted `template:` name (comments, CRLF and trailing commas kept).
fn az_body() -> String {
    let raw_template = "{\r\n  // A comment az keeps; the schema URL holds a '//' too.\r\n  \"$schema\": \"https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#\",\r\n  \"contentVersion\": \"1.0.0.0\",\r\n  /* block\r\n     comment */\r\n  \"parameters\": {\"name\": {\"type\": \"string\"},},\r\n  \"resources\": [\r\n    {\r\n      \"type\": \"Microsoft.ManagedIdentity/userAssignedIdentities\",\r\n      \"apiVersion\": \"2023-01-31\",\r\n      \"name\": \"[parameters('name')]\", // trailing comment\r\n      \"location\": \"westus\",\r\n    },\r\n  ],\r\n}\r\n";
    let partial = json!({"properties": {
        "parameters": {"name": {"value": "id-jsonc"}},
        "mode": "Incremental",
    }})
    .to_string();
    // az: `partial_request[:-2] + ", template:" + template + "}}"`.
    format!(
        "{}, template:{raw_template}}}}}",
        &partial[..partial.len() - 2]
    )
}

#[test]
fn jsonc_bodies_are_read_like_arm_reads_them() {
    let cloud = start(false);
    let sub = cloud.seed().subscription_id;
    let auth = arm_auth(&cloud);
    let h = [
        ("authorization", auth.as_str()),
        ("content-type", "application/json"),
    ];
    let b = az_body();
    assert!(serde_json::from_str::<Value>(&b).is_err(), "not JSONC: {b}");
    let dep = rg_deployment(&cloud, "jsonc");
    let identity = format!(
        "/subscriptions/{sub}/resourceGroups/rg-x/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-jsonc"
    );

    let r = send(
        &cloud,
        "localhost",
        "POST",
        &format!("{dep}/validate{API}"),
        &h,
        &b,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["properties"]["provisioningState"], "Succeeded");
    assert_eq!(
        r.json()["properties"]["validatedResources"],
        json!([{"id": identity}])
    );
    assert!(cloud.deployments().is_empty());

    let r = send(&cloud, "localhost", "PUT", &format!("{dep}{API}"), &h, &b);
    assert_eq!(r.status, 201, "{}", r.body);
    let deployments = cloud.deployments();
    assert_eq!(deployments.len(), 1);
    let template = &deployments[0].request_body["properties"]["template"];
    assert_eq!(
        template["$schema"],
        "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#"
    );
    assert_eq!(template["resources"][0]["name"], "[parameters('name')]");

    // The deployment runs to the end and creates the resource.
    let mut state = String::new();
    for _ in 0..100 {
        state = cloud.deployments()[0].state.clone();
        if state != "Running" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(30));
    }
    assert_eq!(state, "Succeeded");
    assert!(
        cloud.resources().contains_key(&identity),
        "{:?}",
        cloud.resources().keys()
    );
    let r = send(&cloud, "localhost", "GET", &format!("{dep}{API}"), &h, "");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["properties"]["provisioningState"], "Succeeded");

    // The contract checker judged the JSON ARM read, not the raw text.
    assert!(
        cloud.contract_violations().is_empty(),
        "{:#?}",
        cloud.contract_violations()
    );
}

#[test]
fn jsonc_trailing_commas_followed_by_comments() {
    let cloud = start(false);
    let auth = arm_auth(&cloud);
    let h = [
        ("authorization", auth.as_str()),
        ("content-type", "application/json"),
    ];
    let raw_template = "{\n  \"$schema\": \"https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#\",\n  \"contentVersion\": \"1.0.0.0\",\n  \"parameters\": {\"name\": {\"type\": \"string\"}, /* the only one */},\n  \"resources\": [\n    {\n      \"type\": \"Microsoft.ManagedIdentity/userAssignedIdentities\",\n      \"apiVersion\": \"2023-01-31\",\n      \"name\": \"[parameters('name')]\",\n      \"location\": \"westus\", // last property\n    }, // last resource\n  ],\n}\n";
    let b = format!(
        "{{\"properties\": {{\"parameters\": {{\"name\": {{\"value\": \"id-c\"}}}}, \"mode\": \"Incremental\", template:{raw_template}}}}}"
    );
    let dep = rg_deployment(&cloud, "jsonc2");
    let r = send(
        &cloud,
        "localhost",
        "POST",
        &format!("{dep}/validate{API}"),
        &h,
        &b,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.json()["properties"]["validatedResources"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn a_secret_named_discovery_is_key_vault_s() {
    // `/secrets/discovery/instance` is version `instance` of secret `discovery`, not Entra's
    // instance discovery.
    let cloud = start(true);
    let r = send(
        &cloud,
        KV_HOST,
        "GET",
        "/secrets/discovery/instance?api-version=7.4",
        &[],
        "",
    );
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(r.header("www-authenticate").is_some());
    assert_eq!(cloud.requests()[0].service, Service::KeyVault);
}

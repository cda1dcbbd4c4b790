//! End-to-end checks of the fake over real TLS connections (sync client, plain #[test]s).
#![allow(clippy::unwrap_used, missing_docs)]

use fake_cloud::{
    FakeCloud, Fault, FaultAction, GithubApp, Installation, KvRole, NewSecretVersion, Options, Seed,
};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::sync::Arc;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, pem::PemObject};

const KEY: &str = include_str!("fixtures/test-app.key");
const PUB_PKCS1: &str = include_str!("fixtures/test-app.pkcs1.pub");

struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn send(
    cloud: &FakeCloud,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> std::io::Result<Resp> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(cloud.ca_pem().as_bytes()).unwrap())
        .unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let port = cloud.url().rsplit(':').next().unwrap().to_string();
    let conn =
        rustls::ClientConnection::new(Arc::new(config), ServerName::try_from("localhost").unwrap())
            .unwrap();
    let tcp = std::net::TcpStream::connect(format!("127.0.0.1:{port}"))?;
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    let mut req = format!(
        "{method} {target} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    tls.write_all(req.as_bytes())?;
    let mut raw = Vec::new();
    if let Err(e) = tls.read_to_end(&mut raw)
        && raw.is_empty()
    {
        return Err(e);
    }
    if raw.is_empty() {
        return Err(std::io::Error::other("connection closed without response"));
    }
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Ok(Resp {
        status,
        headers,
        body: body.to_string(),
    })
}

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

//! ACR Tasks against the fake and its Azurite blob server: upload, schedule, poll, stream the log.
#![allow(clippy::unwrap_used, missing_docs)]

use fake_cloud::{AzuriteOptions, FakeCloud, Options, Seed, Service};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, pem::PemObject};

struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTPS request to `url` (`https://127.0.0.1:PORT/...`), trusting the fake's CA.
fn send(ca: &str, method: &str, url: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
    let rest = url.strip_prefix("https://").unwrap();
    let (authority, target) = rest.split_at(rest.find('/').unwrap());
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca.as_bytes()).unwrap())
        .unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let conn =
        rustls::ClientConnection::new(Arc::new(config), ServerName::try_from("127.0.0.1").unwrap())
            .unwrap();
    let tcp = std::net::TcpStream::connect(authority).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    let mut head = format!(
        "{method} {target} HTTP/1.1\r\nhost: {authority}\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    tls.write_all(head.as_bytes()).unwrap();
    tls.write_all(body).unwrap();
    let mut raw = Vec::new();
    let _ = tls.read_to_end(&mut raw);
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut body = raw[split + 4..].to_vec();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    if headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"))
    {
        body = dechunk(&body);
    }
    Resp {
        status,
        headers,
        body,
    }
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = raw.windows(2).position(|w| w == b"\r\n") {
        let size_text = String::from_utf8_lossy(&raw[..eol]).into_owned();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap();
        if size == 0 {
            break;
        }
        out.extend_from_slice(&raw[eol + 2..eol + 2 + size]);
        raw = &raw[eol + 2 + size + 2..];
    }
    out
}

fn arm_token(cloud: &FakeCloud) -> String {
    let seed = cloud.seed();
    let ca = cloud.ca_pem();
    let oidc_auth = format!("bearer {}", seed.oidc_request_token);
    let r = send(
        &ca,
        "GET",
        &format!(
            "{}/_actions/idtoken?api-version=2.0&audience=api%3A%2F%2FAzureADTokenExchange",
            cloud.url()
        ),
        &[("authorization", &oidc_auth)],
        b"",
    );
    let assertion = r.json()["value"].as_str().unwrap().to_string();
    let form = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("client_assertion", &assertion)
        .append_pair(
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        )
        .append_pair("client_id", &seed.azure_client_id)
        .append_pair("grant_type", "client_credentials")
        .append_pair("scope", "https://management.azure.com/.default")
        .finish();
    let r = send(
        &ca,
        "POST",
        &format!("{}/{}/oauth2/v2.0/token", cloud.url(), seed.tenant_id),
        &[("content-type", "application/x-www-form-urlencoded")],
        form.as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["access_token"].as_str().unwrap().to_string()
}

fn targz(dockerfile: &str) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    for (name, content) in [("Dockerfile", dockerfile), ("app/hello.txt", "hello\n")] {
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, name, content.as_bytes())
            .unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap()
}

struct Client<'a> {
    cloud: &'a FakeCloud,
    ca: String,
    auth: String,
    base: String,
}

impl Client<'_> {
    fn arm(&self, method: &str, rest: &str, body: &Value) -> Resp {
        let body = if body.is_null() {
            Vec::new()
        } else {
            serde_json::to_vec(body).unwrap()
        };
        send(
            &self.ca,
            method,
            &format!(
                "{}{}{rest}?api-version=2019-06-01-preview",
                self.cloud.url(),
                self.base
            ),
            &[
                ("authorization", &self.auth),
                ("content-type", "application/json"),
            ],
            &body,
        )
    }

    /// Lists an upload URL, uploads `archive`, returns the relative path.
    fn upload(&self, archive: &[u8]) -> String {
        let r = self.arm("POST", "/listBuildSourceUploadUrl", &Value::Null);
        assert_eq!(r.status, 200, "{}", r.text());
        let v = r.json();
        let upload = v["uploadUrl"].as_str().unwrap();
        assert!(
            upload.starts_with(&self.cloud.azurite_url().unwrap()),
            "{upload}"
        );
        let put = send(
            &self.ca,
            "PUT",
            upload,
            &[
                ("x-ms-blob-type", "BlockBlob"),
                ("x-ms-version", "2021-08-06"),
            ],
            archive,
        );
        assert_eq!(put.status, 201, "{}", put.text());
        v["relativePath"].as_str().unwrap().to_string()
    }

    fn schedule(&self, source: &str) -> Resp {
        self.arm(
            "POST",
            "/scheduleRun",
            &json!({
                "type": "DockerBuildRequest",
                "imageNames": ["runner:v1"],
                "isPushEnabled": true,
                "sourceLocation": source,
                "dockerFilePath": "Dockerfile",
                "platform": {"os": "Linux", "architecture": "amd64"},
                "timeout": 3600,
            }),
        )
    }

    /// Streams the run log like `az acr build`: properties, then ranged reads, until
    /// `Complete` is set. Returns (log, number of reads that brought new data, Complete value).
    fn stream_log(&self, run_id: &str) -> (String, usize, String) {
        let r = self.arm(
            "POST",
            &format!("/runs/{run_id}/listLogSasUrl"),
            &Value::Null,
        );
        assert_eq!(r.status, 200, "{}", r.text());
        let link = r.json()["logLink"].as_str().unwrap().to_string();
        let mut log = Vec::new();
        let mut reads = 0;
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            assert!(Instant::now() < deadline, "log never completed: {log:?}");
            let head = send(&self.ca, "HEAD", &link, &[], b"");
            assert_eq!(head.status, 200);
            let len: usize = head.header("content-length").unwrap().parse().unwrap();
            let complete = head.header("x-ms-meta-complete").map(str::to_string);
            if len > log.len() {
                let range = format!("bytes={}-{}", log.len(), len - 1);
                let got = send(&self.ca, "GET", &link, &[("x-ms-range", &range)], b"");
                assert_eq!(got.status, 206, "{}", got.text());
                log.extend_from_slice(&got.body);
                reads += 1;
                continue;
            }
            if let Some(c) = complete {
                return (String::from_utf8(log).unwrap(), reads, c);
            }
            std::thread::sleep(Duration::from_millis(150));
        }
    }
}

#[test]
fn acr_build_uploads_schedules_and_streams_the_log() {
    let azurite = AzuriteOptions::default();
    if !azurite.is_installed() {
        println!(
            "SKIPPED: Azurite is not installed; run `npm install --prefix fake-cloud/.azurite azurite@3.37.0`"
        );
        return;
    }
    let started = Instant::now();
    let cloud = FakeCloud::start(Options {
        azurite: Some(azurite),
        seed: Seed::default(),
        ..Options::default()
    })
    .unwrap();
    let sub = cloud.seed().subscription_id;
    let client = Client {
        cloud: &cloud,
        ca: cloud.ca_pem(),
        auth: format!("Bearer {}", arm_token(&cloud)),
        base: format!(
            "/subscriptions/{sub}/resourceGroups/rg-runners/providers/Microsoft.ContainerRegistry/registries/myacr"
        ),
    };

    // Unauthenticated calls are refused like any ARM call.
    let r = send(
        &client.ca,
        "POST",
        &format!(
            "{}{}/scheduleRun?api-version=2019-06-01-preview",
            cloud.url(),
            client.base
        ),
        &[],
        b"{}",
    );
    assert_eq!(r.status, 401);

    let good = targz("FROM alpine:3.20\nRUN echo hello\nCMD [\"sh\"]\n");
    let bad = targz("FROM alpine:3.20\nRUN false\nCMD [\"sh\"]\n");
    let good_path = client.upload(&good);
    let bad_path = client.upload(&bad);
    assert!(good_path.starts_with("source/") && good_path.ends_with(".tar.gz"));
    assert_eq!(cloud.uploaded_source(&good_path).unwrap(), good);
    assert_eq!(cloud.uploaded_source("source/nope.tar.gz"), None);

    let r = client.schedule("source/20000101/missing.tar.gz");
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["code"], "InvalidSourceLocation");

    let r = client.schedule(&good_path);
    assert_eq!(r.status, 200, "{}", r.text());
    let run = r.json();
    let good_id = run["name"].as_str().unwrap().to_string();
    assert_eq!(run["properties"]["status"], "Queued");
    assert_eq!(run["properties"]["runId"], good_id.as_str());
    assert_eq!(run["id"], format!("{}/runs/{good_id}", client.base));
    let r = client.schedule(&bad_path);
    assert_eq!(r.status, 200, "{}", r.text());
    let bad_id = r.json()["name"].as_str().unwrap().to_string();

    // The good run: streamed in several pieces, in order, then Succeeded.
    let (log, reads, complete) = client.stream_log(&good_id);
    assert_eq!(complete, "successful", "{log}");
    assert!(reads >= 2, "log arrived in {reads} read(s)");
    let positions: Vec<usize> = [
        "Downloading source code",
        "Step 1/3 : FROM alpine:3.20",
        "Step 2/3 : RUN echo hello",
        " ---> Running in ",
        "Step 3/3 : CMD [\"sh\"]",
        "Successfully pushed image: myacr.azurecr.io/runner:v1",
        &format!("Run ID: {good_id} was successful"),
    ]
    .iter()
    .map(|needle| {
        log.find(needle)
            .unwrap_or_else(|| panic!("{needle:?} not in {log}"))
    })
    .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{log}");
    let r = client.arm("GET", &format!("/runs/{good_id}"), &Value::Null);
    assert_eq!(r.status, 200);
    let props = r.json()["properties"].clone();
    assert_eq!(props["status"], "Succeeded", "{props}");
    assert!(props["startTime"].is_string() && props["finishTime"].is_string());
    let digest = format!("sha256:{:x}", Sha256::digest(&good));
    assert_eq!(
        props["outputImages"],
        json!([{"registry": "myacr.azurecr.io", "repository": "runner", "tag": "v1", "digest": digest}])
    );

    // The failing run.
    let (log, _, complete) = client.stream_log(&bad_id);
    assert_eq!(complete, "failed", "{log}");
    assert!(log.contains("Step 2/3 : RUN false"), "{log}");
    assert!(!log.contains("Step 3/3"), "{log}");
    assert!(
        log.contains("The command '/bin/sh -c false' returned a non-zero code: 1"),
        "{log}"
    );
    let props = client
        .arm("GET", &format!("/runs/{bad_id}"), &Value::Null)
        .json()["properties"]
        .clone();
    assert_eq!(props["status"], "Failed");
    assert!(props["runErrorMessage"].is_string(), "{props}");
    assert!(props.get("outputImages").is_none());

    let r = client.arm("GET", "/runs/cb999", &Value::Null);
    assert_eq!(r.status, 404);

    let runs = cloud.acr_runs();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0].status, "Succeeded");
    assert_eq!(runs[1].status, "Failed");
    assert_eq!(runs[0].registry, "myacr");
    assert_eq!(runs[0].request_body["sourceLocation"], good_path.as_str());
    assert!(
        cloud.requests().iter().any(|r| r.service == Service::Arm
            && r.path.ends_with("/scheduleRun")
            && r.status == 200)
    );
    assert!(cloud.contract_violations().is_empty());
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

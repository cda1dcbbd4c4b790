//! ACR Tasks against the fake and its Azurite blob server: upload, schedule, poll, stream the log.
#![allow(clippy::unwrap_used, missing_docs)]

use fake_cloud::{AzuriteOptions, FakeCloud, Options, Seed, Service};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::time::{Duration, Instant};

mod common;
use common::{Resp, To, arm_auth};

/// One request to `url` (`https://127.0.0.1:PORT/...`: the fake or its Azurite), trusting the
/// fake's CA.
fn send(ca: &str, method: &str, url: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
    let (to, target) = To::url(ca, url);
    to.send(method, &target, headers, body).unwrap()
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
        assert_eq!(r.status, 200, "{}", r.body);
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
        assert_eq!(put.status, 201, "{}", put.body);
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
        assert_eq!(r.status, 200, "{}", r.body);
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
                assert_eq!(got.status, 206, "{}", got.body);
                log.extend_from_slice(&got.bytes);
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
        auth: arm_auth(&cloud),
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
    assert_eq!(r.status, 200, "{}", r.body);
    let run = r.json();
    let good_id = run["name"].as_str().unwrap().to_string();
    assert_eq!(run["properties"]["status"], "Queued");
    assert_eq!(run["properties"]["runId"], good_id.as_str());
    assert_eq!(run["id"], format!("{}/runs/{good_id}", client.base));
    let r = client.schedule(&bad_path);
    assert_eq!(r.status, 200, "{}", r.body);
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

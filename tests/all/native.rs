//! The native action (native/action.yml): `node native/index.js` run as the runner runs a
//! node24 action, against the fake cloud's release downloads, on a copy of the checkout that
//! `scripts/native-action.cjs --release` stamped as the release workflow does.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use fake_cloud::Service;
use fake_cloud::proxy::ConnectProxy;

use crate::helpers::*;

const TAG: &str = "v0.1.0";
const REPOSITORY: &str = "octo-org/aca-runner-action";
const ASSET: &str = "aca-runner-action-linux-x64";

/// A stamped copy of the action and the release folder the fake serves.
pub struct NativeRelease {
    /// Holds the copy (`action/`), the release folder (`releases/`) and the tool cache.
    pub dir: tempfile::TempDir,
}

impl NativeRelease {
    /// Publishes the binary built by these tests as this platform's asset and stamps the copy
    /// of the action with the checksum of `recorded` (the published binary when `None`).
    pub fn publish(ctx: &TestContext, recorded: Option<&[u8]>) -> NativeRelease {
        let dir = tempfile::tempdir().unwrap();
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let action = dir.path().join("action");
        std::fs::create_dir_all(action.join("native")).unwrap();
        std::fs::create_dir_all(action.join("scripts")).unwrap();
        for file in [
            "action.yml",
            "native/action.yml",
            "native/index.js",
            "scripts/native-action.cjs",
        ] {
            std::fs::copy(root.join(file), action.join(file)).unwrap();
        }
        let published = dir.path().join("releases").join(TAG);
        std::fs::create_dir_all(&published).unwrap();
        std::fs::copy(
            env!("CARGO_BIN_EXE_aca-runner-action"),
            published.join(ASSET),
        )
        .unwrap();
        // What the release workflow saw when it stamped the action.
        let stamped_from = dir.path().join("stamped-from");
        std::fs::create_dir_all(&stamped_from).unwrap();
        match recorded {
            Some(bytes) => std::fs::write(stamped_from.join(ASSET), bytes).unwrap(),
            None => {
                std::fs::copy(published.join(ASSET), stamped_from.join(ASSET)).unwrap();
            }
        }
        let out = Command::new(node())
            .arg(action.join("scripts/native-action.cjs"))
            .args(["--root"])
            .arg(&action)
            .args(["--release", TAG, "--repository", REPOSITORY, "--assets"])
            .arg(&stamped_from)
            .output()
            .expect("node runs");
        assert!(
            out.status.success(),
            "stamping failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        ctx.fake.set_release_dir(dir.path().join("releases"));
        NativeRelease { dir }
    }

    fn index_js(&self) -> PathBuf {
        self.dir.path().join("action/native/index.js")
    }

    pub fn tool_cache(&self) -> PathBuf {
        self.dir.path().join("tool-cache")
    }

    pub fn cached_binary(&self) -> PathBuf {
        self.tool_cache()
            .join("aca-runner-action/0.1.0/x64")
            .join(ASSET)
    }
}

/// `node`: from `FAKE_CLOUD_NODE` (as the fake's Azurite), else PATH (.ci/run installs it).
fn node() -> String {
    std::env::var("FAKE_CLOUD_NODE").unwrap_or_else(|_| "node".into())
}

impl TestContext {
    /// Runs the native action's step: the runner's environment for a node24 action (the
    /// action's inputs, the tool cache, the server URL of the fake), plus `extra_env`.
    pub fn run_native(
        &self,
        release: &NativeRelease,
        inputs: &BTreeMap<&'static str, String>,
        extra_env: &[(&str, Option<&str>)],
    ) -> Run {
        let mut cmd = Command::new(node());
        cmd.arg(release.index_js());
        let server = self.fake.url();
        let cache = release.tool_cache();
        let mut env: Vec<(&str, Option<&str>)> = vec![
            ("RUNNER_OS", Some("Linux")),
            ("RUNNER_ARCH", Some("X64")),
            ("RUNNER_TOOL_CACHE", cache.to_str()),
            ("GITHUB_SERVER_URL", Some(server.as_str())),
            ("GITHUB_ACTION_REPOSITORY", Some(REPOSITORY)),
            ("INPUT_BINARY-URL", Some("")),
        ];
        env.extend_from_slice(extra_env);
        self.run_program(cmd, inputs, &env)
    }

    fn release_requests(&self) -> Vec<String> {
        self.fake
            .requests()
            .into_iter()
            .filter(|r| r.service == Service::Releases)
            .map(|r| format!("{} {} {}", r.method, r.path, r.status))
            .collect()
    }
}

#[test]
fn downloads_from_the_release_checks_caches_and_runs_the_binary_like_the_docker_action() {
    let ctx = TestContext::new();
    let release = NativeRelease::publish(&ctx, None);
    let inputs = ctx.rotate_inputs("app1.pkcs1.pem");

    let first = ctx.run_native(&release, &inputs, &[]);
    first.assert_ok();
    assert!(
        first.stdout.contains(&format!(
            "downloaded {}/{REPOSITORY}/releases/download/{TAG}/{ASSET}",
            ctx.fake.url()
        )),
        "{}",
        first.log()
    );
    // github.com answers the download with a redirect to the object, as the fake does.
    assert_eq!(
        ctx.release_requests(),
        [
            format!("GET /{REPOSITORY}/releases/download/{TAG}/{ASSET} 302"),
            format!("GET /_objects/releases/{TAG}/{ASSET} 200"),
        ]
    );
    assert!(release.cached_binary().is_file());
    assert_eq!(first.output("rotated"), "true");

    // The same step by the binary itself, on a cloud of its own: the same outputs and summary.
    let direct_ctx = TestContext::new();
    let direct = direct_ctx.run(&direct_ctx.rotate_inputs("app1.pkcs1.pem"), &[]);
    direct.assert_ok();
    assert_same_step((&first, &ctx), (&direct, &direct_ctx));

    // A second step on the same runner: the cached binary, no download.
    let second = ctx.run_native(&release, &inputs, &[]);
    second.assert_ok();
    assert!(
        second.stdout.contains("from the tool cache"),
        "{}",
        second.log()
    );
    assert_eq!(
        ctx.release_requests().len(),
        2,
        "{:?}",
        ctx.release_requests()
    );
    assert_eq!(second.output("rotated"), "false");

    // A cached file that lost its checksum is fetched again, not run.
    std::fs::write(release.cached_binary(), b"#!/bin/sh\nexit 0\n").unwrap();
    let third = ctx.run_native(&release, &inputs, &[]);
    third.assert_ok();
    assert!(
        third.stdout.contains("does not have the recorded SHA-256"),
        "{}",
        third.log()
    );
    assert_eq!(ctx.release_requests().len(), 4);
    ctx.assert_contract();
}

#[test]
fn a_binary_whose_checksum_differs_from_the_recorded_one_is_not_run() {
    let ctx = TestContext::new();
    let release = NativeRelease::publish(&ctx, Some(b"the binary the release workflow built"));
    let run = ctx.run_native(&release, &ctx.rotate_inputs("app1.pkcs1.pem"), &[]);
    assert_eq!(run.code, 1, "{}", run.log());
    assert!(
        run.stdout
            .contains("::error title=aca-runner-action (native) failed::the binary from "),
        "{}",
        run.log()
    );
    assert!(run.stdout.contains("it was not run"), "{}", run.log());
    assert!(!release.cached_binary().exists());
    // Nothing but the download was asked for.
    assert!(
        ctx.fake
            .requests()
            .iter()
            .all(|r| r.service == Service::Releases),
        "{:?}",
        ctx.fake.requests()
    );
}

#[test]
fn a_platform_without_a_binary_is_named_before_any_download() {
    let ctx = TestContext::new();
    let release = NativeRelease::publish(&ctx, None);
    let inputs = ctx.rotate_inputs("app1.pkcs1.pem");
    let arm = ctx.run_native(&release, &inputs, &[("RUNNER_ARCH", Some("ARM"))]);
    assert_eq!(arm.code, 1, "{}", arm.log());
    assert!(
        arm.stdout.contains(
            "no release binary for this runner (linux-arm): the native action runs on linux-x64, linux-arm64, macos-x64, macos-arm64, windows-x64"
        ),
        "{}",
        arm.log()
    );
    // Built by the release workflow, but not recorded in this (Linux x64 only) stamp.
    let mac = ctx.run_native(&release, &inputs, &[("RUNNER_OS", Some("macOS"))]);
    assert_eq!(mac.code, 1, "{}", mac.log());
    assert!(
        mac.stdout.contains("records no SHA-256 for macos-x64"),
        "{}",
        mac.log()
    );
    assert!(ctx.fake.requests().is_empty(), "{:?}", ctx.fake.requests());
}

#[test]
fn the_download_goes_through_https_proxy_unless_no_proxy_names_the_host() {
    let ctx = TestContext::new();
    let release = NativeRelease::publish(&ctx, None);
    let proxy = ConnectProxy::start().unwrap();
    // An input the plan refuses: the binary stops before any request, so every tunnel is the
    // download's.
    let mut inputs = ctx.rotate_inputs("app1.pkcs1.pem");
    inputs.insert("key-vault", String::new());
    let proxy_url = proxy.url();
    let run = ctx.run_native(
        &release,
        &inputs,
        &[("HTTPS_PROXY", Some(&proxy_url)), ("NO_PROXY", Some(""))],
    );
    assert!(run.stdout.contains("downloaded"), "{}", run.log());
    assert!(
        run.log().contains("::error title=Invalid input"),
        "{}",
        run.log()
    );
    let port = ctx.fake.url().rsplit(':').next().unwrap().to_string();
    assert_eq!(
        proxy.connects(),
        [format!("127.0.0.1:{port}"), format!("127.0.0.1:{port}")],
        "one tunnel for the download, one for the object it redirects to"
    );

    std::fs::remove_dir_all(release.tool_cache()).unwrap();
    let run = ctx.run_native(
        &release,
        &inputs,
        &[
            ("HTTPS_PROXY", Some(&proxy_url)),
            ("NO_PROXY", Some("localhost,127.0.0.1")),
        ],
    );
    assert!(run.stdout.contains("downloaded"), "{}", run.log());
    assert_eq!(
        proxy.connects().len(),
        2,
        "NO_PROXY names the host: no tunnel"
    );
}

#[test]
fn binary_url_points_the_download_at_a_mirror() {
    let ctx = TestContext::new();
    let release = NativeRelease::publish(&ctx, None);
    // A mirror behind basic authentication: its credentials never reach the log.
    let mirror = format!(
        "{}/_objects/releases/{TAG}/",
        ctx.fake
            .url()
            .replace("https://", "https://mirror-user:mirror-secret@")
    );
    let run = ctx.run_native(
        &release,
        &ctx.rotate_inputs("app1.pkcs1.pem"),
        &[
            ("INPUT_BINARY-URL", Some(&mirror)),
            ("GITHUB_SERVER_URL", Some("https://github.invalid")),
        ],
    );
    run.assert_ok();
    assert_eq!(
        ctx.release_requests(),
        [format!("GET /_objects/releases/{TAG}/{ASSET} 200")]
    );
    assert!(!run.log().contains("mirror-secret"), "{}", run.log());
    assert!(
        run.log().contains("downloaded https://127.0.0.1:"),
        "{}",
        run.log()
    );
    // A mirror without the asset: the answer says what a mirror must hold.
    std::fs::remove_dir_all(release.tool_cache()).unwrap();
    let run = ctx.run_native(
        &release,
        &ctx.rotate_inputs("app1.pkcs1.pem"),
        &[(
            "INPUT_BINARY-URL",
            Some(&format!("{}/_objects/releases/v9.9.9", ctx.fake.url())),
        )],
    );
    assert_eq!(run.code, 1, "{}", run.log());
    assert!(run.stdout.contains("answers 404"), "{}", run.log());
}

/// Two runs of one step on clouds of their own wrote the same outputs and summary: equal but
/// for the fake's URL and the values each Key Vault picks (version ids, creation times).
pub fn assert_same_step(a: (&Run, &TestContext), b: (&Run, &TestContext)) {
    const VOLATILE: [&str; 3] = ["secret-version", "secret-version-uri", "key-created-at"];
    let normalize = |(run, ctx): (&Run, &TestContext), text: &str| {
        let mut text = text.to_string();
        for name in VOLATILE {
            if let Some(value) = run.outputs.get(name) {
                text = text.replace(value.as_str(), &format!("<{name}>"));
            }
        }
        text.replace(&ctx.fake.url(), "<fake>")
    };
    let outputs = |side: (&Run, &TestContext)| -> BTreeMap<String, String> {
        side.0
            .outputs
            .iter()
            .map(|(k, v)| (k.clone(), normalize(side, v)))
            .collect()
    };
    assert_eq!(outputs(a), outputs(b), "outputs differ");
    assert_eq!(
        normalize(a, &a.0.summary),
        normalize(b, &b.0.summary),
        "summaries differ"
    );
}

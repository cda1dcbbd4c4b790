//! The test universe: a fake cloud per test and the real binary run the way a runner runs a
//! Docker action step.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use fake_cloud::{FakeCloud, GithubApp, Installation, Options, Seed, Service};

pub const APP_ID: u64 = 12345;
pub const INSTALLATION_ID: u64 = 777;
pub const ORG: &str = "octo-org";

pub fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/keys")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn fixture_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/keys")
        .join(name)
}

/// The App every test uses: id 12345, installed on octo-org, both `app1` and `app1-new` keys valid.
pub fn default_app() -> GithubApp {
    let mut permissions = BTreeMap::new();
    permissions.insert("organization_self_hosted_runners".into(), "write".into());
    permissions.insert("actions_variables".into(), "write".into());
    permissions.insert("organization_actions_variables".into(), "write".into());
    permissions.insert("metadata".into(), "read".into());
    GithubApp {
        id: APP_ID,
        client_id: "Iv1.fakeclient12345".into(),
        slug: "octo-runners".into(),
        name: "Octo Runners".into(),
        public_key_pems: vec![fixture("app1.public.pem"), fixture("app1-new.public.pem")],
        installations: vec![Installation {
            id: INSTALLATION_ID,
            account: ORG.into(),
            account_type: "Organization".into(),
            repository_selection: "all".into(),
            repositories: vec![format!("{ORG}/runners")],
            permissions,
        }],
    }
}

/// One run's results.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub outputs: BTreeMap<String, String>,
    pub output_file: String,
    pub summary: String,
}

impl Run {
    /// stdout + stderr, as the step log shows them.
    pub fn log(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
    pub fn assert_ok(&self) -> &Self {
        assert_eq!(self.code, 0, "run failed:\n{}", self.log());
        self
    }
    pub fn output(&self, name: &str) -> &str {
        self.outputs
            .get(name)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("no output {name} in {:?}\n{}", self.outputs, self.log()))
    }
}

pub struct TestContext {
    pub fake: FakeCloud,
    pub dir: tempfile::TempDir,
    pub ca_file: PathBuf,
    runs: std::cell::Cell<u32>,
}

impl TestContext {
    pub fn new() -> Self {
        Self::with_seed(Seed {
            github_apps: vec![default_app()],
            ..Seed::default()
        })
    }

    pub fn with_seed(seed: Seed) -> Self {
        Self::start(seed, None)
    }

    fn start(seed: Seed, azurite: Option<fake_cloud::AzuriteOptions>) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca_file = dir.path().join("fake-ca.pem");
        let fake = FakeCloud::start(Options {
            ca_file: Some(ca_file.clone()),
            seed,
            azurite,
            ..Options::default()
        })
        .expect("fake cloud starts");
        TestContext {
            fake,
            dir,
            ca_file,
            runs: std::cell::Cell::new(0),
        }
    }

    /// The inputs of a typical rotate-key step against this fake cloud.
    pub fn rotate_inputs(&self, key_fixture: &str) -> BTreeMap<&'static str, String> {
        let seed = self.fake.seed();
        let mut inputs = BTreeMap::new();
        inputs.insert("command", "rotate-key".to_string());
        inputs.insert("app-id", APP_ID.to_string());
        inputs.insert("private-key", fixture(key_fixture));
        inputs.insert("key-vault", self.fake.url());
        inputs.insert("azure-client-id", seed.azure_client_id.clone());
        inputs.insert("azure-tenant-id", seed.tenant_id.clone());
        inputs.insert("azure-authority-host", self.fake.url());
        inputs
    }

    /// The environment a runner gives a Docker action step.
    pub fn runner_env(&self) -> BTreeMap<String, String> {
        let seed = self.fake.seed();
        let url = self.fake.url();
        let mut env = BTreeMap::new();
        for (k, v) in [
            ("GITHUB_ACTIONS", "true".to_string()),
            ("CI", "true".to_string()),
            ("GITHUB_API_URL", url.clone()),
            ("GITHUB_SERVER_URL", "https://github.com".to_string()),
            ("GITHUB_REPOSITORY", format!("{ORG}/runners")),
            ("GITHUB_REPOSITORY_OWNER", ORG.to_string()),
            ("GITHUB_RUN_ID", "4242".to_string()),
            ("GITHUB_WORKSPACE", self.dir.path().display().to_string()),
            (
                "ACTIONS_ID_TOKEN_REQUEST_URL",
                format!("{url}/_actions/idtoken?api-version=2.0"),
            ),
            (
                "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
                seed.oidc_request_token.clone(),
            ),
            ("SSL_CERT_FILE", self.ca_file.display().to_string()),
            ("NO_PROXY", "127.0.0.1,localhost".to_string()),
        ] {
            env.insert(k.to_string(), v);
        }
        env
    }

    /// Runs the binary with `inputs` (every other declared input set to its action.yml default
    /// or empty, as the runner does) and the runner environment plus `extra_env`.
    pub fn run(
        &self,
        inputs: &BTreeMap<&'static str, String>,
        extra_env: &[(&str, Option<&str>)],
    ) -> Run {
        self.run_program(
            Command::new(env!("CARGO_BIN_EXE_aca-runner-action")),
            inputs,
            extra_env,
        )
    }

    /// Runs `cmd` (the binary, or the native action's `node index.js`) the way [`Self::run`]
    /// runs the binary.
    pub fn run_program(
        &self,
        mut cmd: Command,
        inputs: &BTreeMap<&'static str, String>,
        extra_env: &[(&str, Option<&str>)],
    ) -> Run {
        let n = self.runs.get() + 1;
        self.runs.set(n);
        let output_file = self.dir.path().join(format!("output-{n}"));
        let summary_file = self.dir.path().join(format!("summary-{n}"));
        std::fs::write(&output_file, "").unwrap();
        std::fs::write(&summary_file, "").unwrap();
        cmd.env_clear();
        cmd.env("PATH", std::env::var("PATH").unwrap_or_default());
        for (name, default) in declared_inputs() {
            let value = inputs.get(name.as_str()).cloned().unwrap_or(default);
            cmd.env(format!("INPUT_{}", name.to_uppercase()), value);
        }
        for name in inputs.keys() {
            assert!(
                declared_inputs().iter().any(|(n, _)| n == name),
                "input {name} is not declared in action.yml"
            );
        }
        for (k, v) in self.runner_env() {
            cmd.env(k, v);
        }
        cmd.env("GITHUB_OUTPUT", &output_file);
        cmd.env("GITHUB_STEP_SUMMARY", &summary_file);
        for (k, v) in extra_env {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        let out = cmd.output().expect("binary runs");
        let output_text = std::fs::read_to_string(&output_file).unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            outputs: parse_output_file(&output_text),
            output_file: output_text,
            summary: std::fs::read_to_string(&summary_file).unwrap(),
        }
    }

    /// Requests whose method writes, to Key Vault.
    pub fn kv_writes(&self) -> Vec<String> {
        self.fake
            .requests()
            .into_iter()
            .filter(|r| {
                r.service == Service::KeyVault && (r.method == "PUT" || r.method == "PATCH")
            })
            .map(|r| format!("{} {}", r.method, r.path))
            .collect()
    }

    /// Fails when any exchange did not match the official API descriptions.
    pub fn assert_contract(&self) {
        let v = self.fake.contract_violations();
        assert!(v.is_empty(), "contract violations:\n{}", v.join("\n"));
    }
}

/// action.yml's inputs with their defaults ("" when none).
pub fn declared_inputs() -> Vec<(String, String)> {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("action.yml")).unwrap();
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
    doc["inputs"]
        .as_mapping()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            let default = match &v["default"] {
                serde_yaml_ng::Value::String(s) => s.clone(),
                serde_yaml_ng::Value::Number(n) => n.to_string(),
                serde_yaml_ng::Value::Bool(b) => b.to_string(),
                _ => String::new(),
            };
            (k.as_str().unwrap().to_string(), default)
        })
        .collect()
}

/// Parses the `name<<DELIM … DELIM` file-command format.
pub fn parse_output_file(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if let Some((name, delim)) = line.split_once("<<") {
            let mut value = Vec::new();
            for l in lines.by_ref() {
                if l == delim {
                    break;
                }
                value.push(l);
            }
            out.insert(name.to_string(), value.join("\n"));
        } else if let Some((name, value)) = line.split_once('=') {
            out.insert(name.to_string(), value.to_string());
        }
    }
    out
}

/// The fingerprint openssl computes: SHA-256 over the DER SubjectPublicKeyInfo, base64.
pub fn openssl_fingerprint(private_key_path: &Path) -> String {
    let script = format!(
        "openssl pkey -in '{}' -pubout -outform DER | openssl dgst -sha256 -binary | openssl base64 -A",
        private_key_path.display()
    );
    let out = Command::new("sh")
        .arg("-c")
        .arg(script)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    format!("SHA256:{}", String::from_utf8_lossy(&out.stdout).trim())
}

#[cfg(feature = "docker-tests")]
impl TestContext {
    /// Runs `image` the way the Actions runner runs a Docker action: workspace and file-command
    /// folders mounted, `--workdir /github/workspace`, every `INPUT_*` and `GITHUB_*` passed with
    /// `-e NAME` from the docker process's environment, host network to reach the fake cloud.
    pub fn run_container(&self, image: &str, inputs: &BTreeMap<&'static str, String>) -> Run {
        let n = self.runs.get() + 1;
        self.runs.set(n);
        let commands_dir = self.dir.path().join("file_commands");
        std::fs::create_dir_all(&commands_dir).unwrap();
        let output_name = format!("set_output_{n}");
        let summary_name = format!("step_summary_{n}");
        std::fs::write(commands_dir.join(&output_name), "").unwrap();
        std::fs::write(commands_dir.join(&summary_name), "").unwrap();
        let ca_in_workspace = "/github/workspace/fake-ca.pem";

        let mut env: Vec<(String, String)> = Vec::new();
        for (name, default) in declared_inputs() {
            let value = inputs.get(name.as_str()).cloned().unwrap_or(default);
            env.push((format!("INPUT_{}", name.to_uppercase()), value));
        }
        for (k, v) in self.runner_env() {
            let v = match k.as_str() {
                "SSL_CERT_FILE" => ca_in_workspace.to_string(),
                "GITHUB_WORKSPACE" => "/github/workspace".to_string(),
                _ => v,
            };
            env.push((k, v));
        }
        env.push((
            "GITHUB_OUTPUT".into(),
            format!("/github/file_commands/{output_name}"),
        ));
        env.push((
            "GITHUB_STEP_SUMMARY".into(),
            format!("/github/file_commands/{summary_name}"),
        ));
        env.push(("HOME".into(), "/github/home".into()));

        let mut cmd = Command::new("docker");
        cmd.env_clear();
        cmd.env("PATH", std::env::var("PATH").unwrap_or_default());
        cmd.args([
            "run",
            "--rm",
            "--network",
            "host",
            "--workdir",
            "/github/workspace",
        ]);
        for (k, v) in &env {
            cmd.arg("-e").arg(k);
            cmd.env(k, v);
        }
        cmd.arg("-v")
            .arg(format!("{}:/github/workspace", self.dir.path().display()));
        cmd.arg("-v")
            .arg(format!("{}:/github/file_commands", commands_dir.display()));
        cmd.arg(image);
        let out = cmd.output().expect("docker runs");
        let output_text = std::fs::read_to_string(commands_dir.join(&output_name)).unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            outputs: parse_output_file(&output_text),
            output_file: output_text,
            summary: std::fs::read_to_string(commands_dir.join(&summary_name)).unwrap(),
        }
    }
}

impl TestContext {
    /// A fake cloud with Azurite behind its ACR Tasks (scripts/azurite.sh installs it).
    pub fn with_azurite(seed: Seed) -> Self {
        let azurite = fake_cloud::AzuriteOptions::default();
        assert!(
            azurite.is_installed(),
            "Azurite is not installed: run scripts/azurite.sh"
        );
        Self::start(seed, Some(azurite))
    }
}

/// A `deploy` step of `builtin:prerequisites` for `project`.
pub fn prerequisites_inputs(ctx: &TestContext, project: &str) -> BTreeMap<&'static str, String> {
    let mut inputs = ctx.rotate_inputs("app1.pkcs1.pem");
    inputs.insert("command", "deploy".into());
    inputs.remove("key-vault");
    inputs.insert("template", "builtin:prerequisites".into());
    inputs.insert("location", "westeurope".into());
    inputs.insert("parameters", format!("project: {project}\n"));
    inputs.insert("azure-subscription-id", ctx.fake.seed().subscription_id);
    inputs.insert("azure-resource-manager-url", ctx.fake.url());
    inputs
}

/// The fake's resources of one type.
pub fn resources_of(ctx: &TestContext, kind: &str) -> Vec<serde_json::Value> {
    ctx.fake
        .resources()
        .into_values()
        .filter(|r| {
            r["type"]
                .as_str()
                .is_some_and(|t| t.eq_ignore_ascii_case(kind))
        })
        .collect()
}

/// A `deploy` step of `builtin:runner-jobs` into `resource_group` with `parameters` (YAML).
pub fn runner_jobs_inputs(
    ctx: &TestContext,
    resource_group: &str,
    parameters: String,
) -> BTreeMap<&'static str, String> {
    let mut inputs = ctx.rotate_inputs("app1.pkcs1.pem");
    inputs.insert("command", "deploy".into());
    inputs.remove("key-vault");
    inputs.insert("installation-id", INSTALLATION_ID.to_string());
    inputs.insert("azure-subscription-id", ctx.fake.seed().subscription_id);
    inputs.insert("azure-resource-manager-url", ctx.fake.url());
    inputs.insert("resource-group", resource_group.to_string());
    inputs.insert("template", "builtin:runner-jobs".into());
    inputs.insert("parameters", parameters);
    inputs
}

//! `build-image`: build and push the runner image with ACR Tasks, streaming the build log into the
//! step log as it is written (SPEC §3.4; what `az acr build` does).

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::acr::{self, Registry};
use crate::arm::Arm;
use crate::cli::Inputs;
use crate::error::{Error, Result};
use crate::runner_version::{self, RunnerVersion};
use crate::runtime::markdown_table;
use crate::secret::Secret;
use crate::{Step, say};

/// How often the growing log is read.
const LOG_POLL: Duration = Duration::from_secs(1);
/// Log lines kept for the error of a failed build.
const TAIL: usize = 20;

/// Typed `build-image` inputs.
#[derive(Debug)]
pub struct Request {
    registry: String,
    group: String,
    subscription: String,
    image: String,
    context: PathBuf,
    dockerfile: String,
    timeout: Duration,
    build_args: Vec<(String, String)>,
    runner_version: Option<VersionWanted>,
}

/// `runner-version`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum VersionWanted {
    /// The current `actions/runner` release.
    Latest,
    /// This version.
    Exact(RunnerVersion),
}

/// Reads `build-args`: a YAML map of names to scalar values.
pub fn build_args(text: Option<&str>) -> Result<Vec<(String, String)>> {
    let Some(text) = text else {
        return Ok(Vec::new());
    };
    let yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str(text)
        .map_err(|e| Error::input("build-args", format!("is not a YAML map ({e})")))?;
    let Some(map) = yaml.as_mapping() else {
        return Err(Error::input(
            "build-args",
            "must be a YAML map of build argument names to values",
        ));
    };
    let mut out = Vec::new();
    for (k, v) in map {
        let name = k.as_str().unwrap_or_default().to_string();
        let valid = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(Error::input(
                "build-args",
                format!("`{name}` is not a build argument name (letters, digits, _)"),
            ));
        }
        let value = match v {
            serde_yaml_ng::Value::String(s) => s.clone(),
            serde_yaml_ng::Value::Number(n) => n.to_string(),
            serde_yaml_ng::Value::Bool(b) => b.to_string(),
            _ => {
                return Err(Error::input(
                    "build-args",
                    format!("`{name}` must be a string, number or boolean"),
                ));
            }
        };
        out.push((name, value));
    }
    Ok(out)
}

fn runner_version(text: Option<&str>) -> Result<Option<VersionWanted>> {
    let Some(text) = text else {
        return Ok(None);
    };
    if text.eq_ignore_ascii_case("latest") {
        return Ok(Some(VersionWanted::Latest));
    }
    let version = RunnerVersion::parse(text).ok_or_else(|| {
        Error::input(
            "runner-version",
            format!("`{text}` is neither `latest` nor a version like 2.336.0"),
        )
    })?;
    if version < runner_version::MINIMUM {
        return Err(Error::input(
            "runner-version",
            format!(
                "{version} is older than {}, the oldest runner GitHub registers; use `latest`",
                runner_version::MINIMUM
            ),
        ));
    }
    Ok(Some(VersionWanted::Exact(version)))
}

impl Request {
    /// Reads and checks every `build-image` input before any request is sent.
    pub fn from_inputs(i: &Inputs) -> Result<Request> {
        let registry = Inputs::required(
            &i.registry,
            "registry",
            "for build-image: the Container Registry name (e.g. the prerequisites output acrName)",
        )?;
        let registry = registry
            .trim_end_matches(".azurecr.io")
            .trim_end_matches(".azurecr.us")
            .trim_end_matches(".azurecr.cn")
            .to_string();
        if !(5..=50).contains(&registry.len())
            || !registry.chars().all(|c| c.is_ascii_alphanumeric())
        {
            return Err(Error::input(
                "registry",
                format!("`{registry}` is not a registry name (5-50 letters and digits)"),
            ));
        }
        let image = Inputs::required(
            &i.image,
            "image",
            "for build-image: name:tag of the image to build",
        )?;
        let image = if image
            .rsplit('/')
            .next()
            .is_some_and(|last| last.contains(':'))
        {
            image
        } else {
            format!("{image}:latest")
        };
        if image.contains('@') || image.contains(' ') {
            return Err(Error::input(
                "image",
                format!("`{image}` is not name:tag (no digest, no spaces)"),
            ));
        }
        let minutes = Inputs::number(&i.timeout_minutes, "timeout-minutes", 60)?;
        if minutes == 0 || minutes > 8 * 60 {
            return Err(Error::input(
                "timeout-minutes",
                "must be between 1 and 480 for build-image (ACR Tasks stop a run after 8 hours)",
            ));
        }
        let build_args = build_args(Inputs::text(&i.build_args).as_deref())?;
        let runner_version = runner_version(Inputs::text(&i.runner_version).as_deref())?;
        if runner_version.is_some() && build_args.iter().any(|(n, _)| n == "RUNNER_VERSION") {
            return Err(Error::input(
                "build-args",
                "sets RUNNER_VERSION, which `runner-version` sets too; give one of them",
            ));
        }
        Ok(Request {
            build_args,
            runner_version,
            registry,
            group: Inputs::required(
                &i.resource_group,
                "resource-group",
                "for build-image: the registry's resource group",
            )?,
            subscription: Inputs::required(
                &i.azure_subscription_id,
                "azure-subscription-id",
                "for build-image: the registry's subscription",
            )?,
            image,
            context: PathBuf::from(Inputs::text(&i.context).unwrap_or_else(|| ".".into())),
            dockerfile: Inputs::text(&i.dockerfile).unwrap_or_else(|| "Dockerfile".into()),
            timeout: Duration::from_secs(minutes * 60),
        })
    }
}

/// The image's repository and the tags to push: with `runner-version`, the version and the
/// version with a content tag (`2.336.0-1a2b3c4d5e`), then the `image` tag.
fn tags(image: &str, version: Option<&str>, content: &str) -> (String, Vec<String>) {
    let (repo, tag) = image.rsplit_once(':').unwrap_or((image, "latest"));
    let mut tags = Vec::new();
    if let Some(v) = version {
        tags.push(v.to_string());
        tags.push(format!("{v}-{content}"));
    }
    if !tags.iter().any(|t| t == tag) {
        tags.push(tag.to_string());
    }
    (repo.to_string(), tags)
}

/// Ten hex digits of SHA-256 over the packed context, the Dockerfile path and the build
/// arguments: what decides whether an image built before is this build's image.
fn content_tag(archive: &[u8], dockerfile: &str, arguments: &[(String, String)]) -> String {
    use sha2::Digest as _;
    let mut h = sha2::Sha256::new();
    h.update(archive);
    h.update(b"\0");
    h.update(dockerfile.as_bytes());
    let mut sorted = arguments.to_vec();
    sorted.sort();
    for (k, v) in sorted {
        h.update(b"\0");
        h.update(k.as_bytes());
        h.update(b"=");
        h.update(v.as_bytes());
    }
    h.finalize()
        .iter()
        .take(5)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Runs `build-image`.
pub async fn run(step: &Step, req: &Request) -> Result<()> {
    let version = match req.runner_version {
        None => None,
        Some(VersionWanted::Exact(v)) => Some(v.to_string()),
        Some(VersionWanted::Latest) => {
            let token = Inputs::text(&step.inputs.github_token).map(|t| Secret::masked(t, step.rt));
            let v = step
                .github()
                .await?
                .latest_runner_version(token.as_ref())
                .await?;
            say!("The current actions/runner release is {v}");
            Some(v)
        }
    };
    if let Some(v) = &version {
        step.output("runner-version", v)?;
    }
    let packed = crate::pack::pack(&req.context, &req.dockerfile)?;
    let mut arguments = req.build_args.clone();
    if let Some(v) = &version {
        arguments.push(("RUNNER_VERSION".into(), v.clone()));
    }
    let content = content_tag(&packed.archive, &req.dockerfile, &arguments);
    let (repo, tags) = tags(&req.image, version.as_deref(), &content);
    say!(
        "Build context {}: {} file(s), {} path(s) left out by .dockerignore, {} KiB packed",
        req.context.display(),
        packed.files,
        packed.excluded,
        packed.archive.len().div_ceil(1024)
    );
    if step.dry_run {
        say!(
            "dry-run: would build {} in registry {} from {}",
            req.image,
            req.registry,
            req.dockerfile
        );
        return Ok(());
    }
    let (cloud, credential) = step.azure().await?;
    let arm = Arm::new(
        cloud.resource_manager.clone(),
        credential.clone(),
        &step.http,
    );
    let registry = Registry::new(&req.subscription, &req.group, &req.registry);
    if let Some(v) = &version
        && let Some(image) = existing(step, &arm, &registry, &repo, v, &content).await?
    {
        say!("{image} is in the registry already: nothing to build");
        step.output("image", &image)?;
        step.output("image-built", "false")?;
        step.rt.summary(&format!(
            "### build-image\n\n{}\n",
            markdown_table(
                &["", ""],
                &[
                    vec!["Image".into(), format!("`{image}` (already built)")],
                    vec!["Runner version".into(), v.clone()],
                ]
            )
        ));
        return Ok(());
    }
    let images: Vec<String> = tags.iter().map(|t| format!("{repo}:{t}")).collect();

    let upload = acr::upload_url(&arm, &registry).await?;
    acr::upload(&step.http, &upload, packed.archive).await?;
    say!("Uploaded the build context");
    let request = acr::docker_build_request(
        &images,
        &upload.relative_path,
        &req.dockerfile,
        &arguments,
        req.timeout.as_secs(),
    );
    let run_id = acr::schedule(&arm, &registry, &request).await?;
    say!("Build run {run_id} queued in {}", req.registry);
    let started = Instant::now();
    let log_url = acr::log_url(&arm, &registry, &run_id).await?;

    let mut offset = 0u64;
    let mut partial = String::new();
    let mut tail: VecDeque<String> = VecDeque::new();
    let mut last_output = Instant::now();
    let mut polls = 0u32;
    let mut state = acr::run_state(&arm, &registry, &run_id).await?;
    let mut drained_after_finish = 0;
    loop {
        let chunk = acr::read_log(&step.http, &log_url, offset).await?;
        if !chunk.bytes.is_empty() {
            offset += chunk.bytes.len() as u64;
            partial.push_str(&String::from_utf8_lossy(&chunk.bytes));
            while let Some(pos) = partial.find('\n') {
                let line: String = partial.drain(..=pos).collect();
                let line = line.trim_end_matches(['\n', '\r']).to_string();
                say!("{line}");
                tail.push_back(line);
                if tail.len() > TAIL {
                    tail.pop_front();
                }
            }
            last_output = Instant::now();
        }
        polls += 1;
        if chunk.bytes.is_empty() || polls.is_multiple_of(5) {
            state = acr::run_state(&arm, &registry, &run_id).await?;
        }
        if state.finished() {
            // Read until the log says it is complete (or stays quiet twice after the end).
            if chunk.complete
                || (chunk.bytes.is_empty() && {
                    drained_after_finish += 1;
                    drained_after_finish >= 3
                })
            {
                break;
            }
        }
        if started.elapsed() >= req.timeout {
            return Err(Error::Other(format!(
                "build run {run_id} is still running after {} minute(s) (`timeout-minutes`); it goes on in ACR: `az acr task logs --registry {} --run-id {run_id}`",
                req.timeout.as_secs() / 60,
                req.registry
            )));
        }
        if last_output.elapsed() >= Duration::from_secs(25) {
            say!(
                "  build {} ({}), {} s elapsed",
                run_id,
                state.status,
                started.elapsed().as_secs()
            );
            last_output = Instant::now();
        }
        if !chunk.complete {
            tokio::time::sleep(LOG_POLL).await;
        }
    }
    if !partial.trim().is_empty() {
        say!("{}", partial.trim_end());
        tail.push_back(partial.trim_end().to_string());
    }
    let state = acr::run_state(&arm, &registry, &run_id).await?;
    let elapsed = started.elapsed().as_secs();
    if state.status != "Succeeded" {
        let tail_text = tail.iter().cloned().collect::<Vec<_>>().join("\n");
        step.rt.summary(&format!(
            "### build-image {}\n\n{}\n",
            req.image,
            markdown_table(
                &["", ""],
                &[
                    vec!["Run".into(), format!("`{run_id}`")],
                    vec![
                        "Result".into(),
                        format!("**{}** after {elapsed} s", state.status)
                    ],
                ]
            )
        ));
        return Err(Error::Other(format!(
            "build run {run_id} {} after {elapsed} s{}. Last lines of its log:\n{tail_text}",
            state.status.to_lowercase(),
            state.error.map(|e| format!(" ({e})")).unwrap_or_default()
        )));
    }
    let Some(image) = state.images.first().cloned() else {
        return Err(Error::Other(format!(
            "build run {run_id} succeeded but reported no pushed image"
        )));
    };
    say!("Built and pushed {image} in {elapsed} s");
    step.output("image", &image)?;
    step.output("image-built", "true")?;
    step.rt.summary(&format!(
        "### build-image\n\n{}\n",
        markdown_table(
            &["", ""],
            &[
                vec!["Image".into(), format!("`{image}`")],
                vec!["Run".into(), format!("`{run_id}`, {elapsed} s")],
            ]
        )
    ));
    Ok(())
}

/// `registry/repo:version@digest` when the registry already holds this build (its content tag):
/// the same runner version from the same context and arguments.
async fn existing(
    step: &Step,
    arm: &Arm,
    registry: &Registry,
    repo: &str,
    version: &str,
    content: &str,
) -> Result<Option<String>> {
    let login = acr::login_server(arm, registry).await?;
    let token = step
        .arm_token("Check azure-client-id, azure-tenant-id and azure-auth: the registry is read with the step's Azure identity")
        .await?;
    let token = Secret::masked(token.token.secret(), step.rt);
    let tag = format!("{version}-{content}");
    let digest = acr::tag_digest(&step.http, &login, &token, repo, &tag).await?;
    // A login server with a path (a registry behind a proxy, or the fake cloud) is named as
    // ACR names the images it pushes.
    let shown = if login.contains('/') {
        format!("{}.azurecr.io", registry.name.to_ascii_lowercase())
    } else {
        login
    };
    Ok(digest.map(|d| format!("{shown}/{repo}:{version}@{d}")))
}

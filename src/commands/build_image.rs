//! `build-image`: build and push the runner image with ACR Tasks, streaming the build log into the
//! step log as it is written (SPEC §3.4; what `az acr build` does).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::azure::acr::{self, Registry};
use crate::error::{Error, Result};
use crate::runner_version::{self, RunnerVersion};
use crate::runtime::markdown_table;
use crate::say;
use crate::secret::Secret;
use crate::session::Session;

/// The checked `build-image` inputs (see [`crate::plan`]).
#[derive(Debug)]
pub struct Request {
    /// `registry`: the registry's name.
    pub registry: String,
    /// `resource-group`: the registry's.
    pub group: String,
    /// `azure-subscription-id`: the registry's.
    pub subscription: String,
    /// `image`: `name:tag`.
    pub image: String,
    /// `context`.
    pub context: PathBuf,
    /// `dockerfile`, inside the context.
    pub dockerfile: String,
    /// `timeout-minutes`.
    pub timeout: Duration,
    /// `build-args`.
    pub build_args: Vec<(String, String)>,
    /// `runner-version`.
    pub runner_version: Option<VersionWanted>,
}

/// `runner-version`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionWanted {
    /// The current `actions/runner` release.
    Latest,
    /// This version.
    Exact(RunnerVersion),
}

/// What `build-image` did.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// `registry/repository:tag@digest` of the image (built now or before).
    pub image: Option<String>,
    /// The step outputs it set.
    pub outputs: Vec<(String, String)>,
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

impl VersionWanted {
    /// Reads `runner-version`: `latest` or a version GitHub still registers.
    pub fn parse(text: Option<&str>) -> Result<Option<VersionWanted>> {
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
pub async fn run(
    session: &Session,
    req: &Request,
    github_token: Option<&Secret>,
) -> Result<Outcome> {
    let version = match req.runner_version {
        None => None,
        Some(VersionWanted::Exact(v)) => Some(v.to_string()),
        Some(VersionWanted::Latest) => {
            let v = session
                .github()
                .await?
                .latest_runner_version(github_token)
                .await?;
            say!("The current actions/runner release is {v}");
            Some(v)
        }
    };
    let mut outputs = Vec::new();
    if let Some(v) = &version {
        outputs.push(("runner-version".to_string(), v.clone()));
        session.output("runner-version", v)?;
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
    if session.dry_run {
        say!(
            "dry-run: would build {} in registry {} from {}",
            req.image,
            req.registry,
            req.dockerfile
        );
        return Ok(Outcome {
            image: None,
            outputs,
        });
    }
    let registry = Registry::new(&req.subscription, &req.group, &req.registry);
    if let Some(v) = &version
        && let Some(image) = existing(session, &registry, &repo, v, &content).await?
    {
        say!("{image} is in the registry already: nothing to build");
        session.rt.summary(&format!(
            "### build-image\n\n{}\n",
            markdown_table(
                &["", ""],
                &[
                    vec!["Image".into(), format!("`{image}` (already built)")],
                    vec!["Runner version".into(), v.clone()],
                ]
            )
        ));
        return finish(session, image, false, outputs);
    }
    let images: Vec<String> = tags.iter().map(|t| format!("{repo}:{t}")).collect();
    let image = build(session, req, &registry, &images, packed.archive, &arguments).await?;
    finish(session, image, true, outputs)
}

/// Sets the `image` and `image-built` outputs.
fn finish(
    session: &Session,
    image: String,
    built: bool,
    mut outputs: Vec<(String, String)>,
) -> Result<Outcome> {
    let more = vec![
        ("image".to_string(), image.clone()),
        ("image-built".to_string(), built.to_string()),
    ];
    session.outputs(&more)?;
    outputs.extend(more);
    Ok(Outcome {
        image: Some(image),
        outputs,
    })
}

/// Uploads the context, runs the build in ACR Tasks with its log streamed, and returns the
/// pushed image.
async fn build(
    session: &Session,
    req: &Request,
    registry: &Registry,
    images: &[String],
    archive: Vec<u8>,
    arguments: &[(String, String)],
) -> Result<String> {
    let arm = session.arm().await?;
    let upload = acr::upload_url(arm, registry).await?;
    acr::upload(&session.http, &upload, archive).await?;
    say!("Uploaded the build context");
    let request = acr::docker_build_request(
        images,
        &upload.relative_path,
        &req.dockerfile,
        arguments,
        req.timeout.as_secs(),
    );
    let run_id = acr::schedule(arm, registry, &request).await?;
    say!("Build run {run_id} queued in {}", req.registry);
    let started = Instant::now();
    let run = acr::follow_run(arm, &session.http, registry, &run_id, req.timeout)
        .await?
        .map_err(|_| Error::StillRunning {
            what: format!("build run {run_id}"),
            after: format!(
                "{} minute(s) (`timeout-minutes`)",
                req.timeout.as_secs() / 60
            ),
            follow: format!(
                "it goes on in ACR: `az acr task logs --registry {} --run-id {run_id}`",
                req.registry
            ),
        })?;
    let elapsed = started.elapsed().as_secs();
    if run.state.status != "Succeeded" {
        return Err(failed(session, req, &run_id, run, elapsed));
    }
    let Some(image) = run.state.images.first().cloned() else {
        return Err(Error::Unexpected {
            service: "ACR Tasks",
            detail: format!("build run {run_id} succeeded but reported no pushed image"),
        });
    };
    say!("Built and pushed {image} in {elapsed} s");
    session.rt.summary(&format!(
        "### build-image\n\n{}\n",
        markdown_table(
            &["", ""],
            &[
                vec!["Image".into(), format!("`{image}`")],
                vec!["Run".into(), format!("`{run_id}`, {elapsed} s")],
            ]
        )
    ));
    Ok(image)
}

/// Summarises a build run that did not succeed; returns its error.
fn failed(
    session: &Session,
    req: &Request,
    run_id: &str,
    run: acr::FinishedRun,
    elapsed: u64,
) -> Error {
    session.rt.summary(&format!(
        "### build-image {}\n\n{}\n",
        req.image,
        markdown_table(
            &["", ""],
            &[
                vec!["Run".into(), format!("`{run_id}`")],
                vec![
                    "Result".into(),
                    format!("**{}** after {elapsed} s", run.state.status)
                ],
            ]
        )
    ));
    Error::BuildFailed {
        run_id: run_id.to_string(),
        state: run.state.status.to_lowercase(),
        elapsed,
        reason: run
            .state
            .error
            .map(|e| format!(" ({e})"))
            .unwrap_or_default(),
        tail: run.tail.join("\n"),
    }
}

/// `registry/repo:version@digest` when the registry already holds this build (its content tag):
/// the same runner version from the same context and arguments.
async fn existing(
    session: &Session,
    registry: &Registry,
    repo: &str,
    version: &str,
    content: &str,
) -> Result<Option<String>> {
    let login = acr::login_server(session.arm().await?, registry).await?;
    let token = session
        .arm_token("Check azure-client-id, azure-tenant-id and azure-auth: the registry is read with the step's Azure identity")
        .await?;
    let token = Secret::masked(token.token.secret(), session.rt);
    let tag = format!("{version}-{content}");
    let digest = acr::tag_digest(&session.http, &login, &token, repo, &tag).await?;
    // A login server with a path (a registry behind a proxy, or the fake cloud) is named as
    // ACR names the images it pushes.
    let shown = if login.contains('/') {
        format!("{}.azurecr.io", registry.name.to_ascii_lowercase())
    } else {
        login
    };
    Ok(digest.map(|d| format!("{shown}/{repo}:{version}@{d}")))
}

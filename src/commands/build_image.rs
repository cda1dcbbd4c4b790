//! `build-image`: build and push the runner image with ACR Tasks, streaming the build log into the
//! step log as it is written (SPEC §3.4; what `az acr build` does).

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::acr::{self, Registry};
use crate::arm::Arm;
use crate::cli::Inputs;
use crate::error::{Error, Result};
use crate::runtime::markdown_table;
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
        Ok(Request {
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

/// Runs `build-image`.
pub async fn run(step: &Step, req: &Request) -> Result<()> {
    let packed = crate::pack::pack(&req.context, &req.dockerfile)?;
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

    let upload = acr::upload_url(&arm, &registry).await?;
    acr::upload(&step.http, &upload, packed.archive).await?;
    say!("Uploaded the build context");
    let request = acr::docker_build_request(
        &req.image,
        &upload.relative_path,
        &req.dockerfile,
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

//! ACR Tasks, the ARM side of `az acr build`: source upload URLs, quick runs (`scheduleRun`)
//! simulated against the uploaded archive, run status and the run log, kept in Azurite.

use crate::AcrRunRecord;
use crate::arm::{Action, admit};
use crate::azurite::{Blobs, INSTALL_HINT};
use crate::state::{AcrRun, State, lock};
use crate::util::{Req, Resp, azure_error, random_hex, random_uuid, rfc3339};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::Duration;

type Shared = Arc<Mutex<State>>;

impl AcrRun {
    pub fn record(&self) -> AcrRunRecord {
        AcrRunRecord {
            run_id: self.run_id.clone(),
            registry: self.registry.clone(),
            request_body: self.request_body.clone(),
            status: self.status.clone(),
        }
    }

    fn to_json(&self) -> Value {
        let platform = self
            .request_body
            .get("platform")
            .cloned()
            .unwrap_or_else(|| json!({"os": "Linux", "architecture": "amd64"}));
        let mut props = json!({
            "runId": self.run_id,
            "status": self.status,
            "lastUpdatedTime": now(),
            "runType": "QuickRun",
            "createTime": self.create_time,
            "platform": platform,
            "agentConfiguration": {"cpu": 2},
            "isArchiveEnabled": false,
            "provisioningState": "Succeeded",
        });
        let set = |props: &mut Value, k: &str, v: Value| {
            if let Some(o) = props.as_object_mut() {
                o.insert(k.to_string(), v);
            }
        };
        if let Some(t) = &self.start_time {
            set(&mut props, "startTime", json!(t));
        }
        if let Some(t) = &self.finish_time {
            set(&mut props, "finishTime", json!(t));
        }
        if !self.output_images.is_empty() {
            set(&mut props, "outputImages", json!(self.output_images));
        }
        if let Some(e) = &self.error {
            set(&mut props, "runErrorMessage", json!(e));
        }
        json!({
            "id": format!("{}/runs/{}", self.base, self.run_id),
            "name": self.run_id,
            "type": "Microsoft.ContainerRegistry/registries/runs",
            "properties": props,
        })
    }
}

fn now() -> String {
    rfc3339(time::OffsetDateTime::now_utc())
}

/// Whether a path is under `.../providers/Microsoft.ContainerRegistry/registries/{name}` (and
/// not ARM's permissions of it).
pub(crate) fn is_acr_path(path: &str) -> bool {
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    // A registry's `providers/Microsoft.Authorization/permissions` is ARM's, not the registry's.
    let permissions = segs.len() > 3
        && segs[segs.len() - 3..]
            .iter()
            .zip(["providers", "microsoft.authorization", "permissions"])
            .all(|(s, want)| s.eq_ignore_ascii_case(want));
    !permissions
        && segs.len() >= 8
        && segs[0].eq_ignore_ascii_case("subscriptions")
        && segs[2].eq_ignore_ascii_case("resourcegroups")
        && segs[4].eq_ignore_ascii_case("providers")
        && segs[5].eq_ignore_ascii_case("microsoft.containerregistry")
        && segs[6].eq_ignore_ascii_case("registries")
}

/// Handles an ACR route (admitted as the other ARM routes are).
pub(crate) async fn handle(shared: &Shared, req: &Req) -> Resp {
    let segs = req.segments();
    let (sub, rg, registry) = (segs[1].clone(), segs[3].clone(), segs[7].clone());
    let rest: Vec<String> = segs[8..].iter().map(|s| s.to_ascii_lowercase()).collect();
    let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
    let base = format!(
        "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{registry}"
    );
    let action = match (req.method.as_str(), rest.as_slice()) {
        ("GET", []) => Action::read("Microsoft.ContainerRegistry/registries/read"),
        ("POST", ["listbuildsourceuploadurl"]) => {
            Action::write("Microsoft.ContainerRegistry/registries/listBuildSourceUploadUrl/action")
        }
        ("POST", ["schedulerun"]) => {
            Action::write("Microsoft.ContainerRegistry/registries/scheduleRun/action")
        }
        ("GET", ["runs", _]) => Action::read("Microsoft.ContainerRegistry/registries/runs/read"),
        ("POST", ["runs", _, "listlogsasurl"]) => {
            Action::read("Microsoft.ContainerRegistry/registries/runs/listLogSasUrl/action")
        }
        _ => {
            return azure_error(
                404,
                "NotFound",
                &format!("fake-cloud: no ACR route for {} {}", req.method, req.path),
            );
        }
    };
    let blobs = {
        let st = lock(shared);
        if let Err(refused) = admit(&st, req, &sub, Some(action)) {
            return refused;
        }
        st.acr.blobs.clone()
    };
    if let ("GET", []) = (req.method.as_str(), rest.as_slice()) {
        let login = lock(shared).login_server(&registry);
        return Resp::json(
            200,
            &json!({
                "id": base,
                "name": registry,
                "type": "Microsoft.ContainerRegistry/registries",
                "location": "westus",
                "sku": {"name": "Basic", "tier": "Basic"},
                "properties": {
                    "loginServer": login,
                    "provisioningState": "Succeeded",
                    "adminUserEnabled": false,
                },
            }),
        );
    }
    let Some(blobs) = blobs else {
        return azure_error(
            503,
            "AzuriteNotRunning",
            &format!(
                "fake-cloud: ACR Tasks need Azurite: install it with `{INSTALL_HINT}` and start the fake with Options.azurite (or --azurite)"
            ),
        );
    };
    let result = match rest.as_slice() {
        ["listbuildsourceuploadurl"] => upload_url(&blobs).await,
        ["schedulerun"] => schedule_run(shared, &blobs, req, &registry, &base).await,
        ["runs", id] => find_run(shared, &registry, id).map(|r| Resp::json(200, &r.to_json())),
        ["runs", id, _] => find_run(shared, &registry, id).map(|r| {
            let link = blobs.blob_url(
                "logs",
                &format!("{}/rawtext.log", r.run_id),
                "r",
                Duration::from_secs(3600),
            );
            Resp::json(200, &json!({"logLink": link}))
        }),
        _ => Err(azure_error(
            404,
            "NotFound",
            "fake-cloud: no such ACR route",
        )),
    };
    result.unwrap_or_else(|r| r)
}

fn internal(e: String) -> Resp {
    azure_error(500, "InternalServerError", &format!("fake-cloud: {e}"))
}

fn find_run(shared: &Shared, registry: &str, id: &str) -> Result<AcrRun, Resp> {
    lock(shared)
        .acr
        .runs
        .iter()
        .find(|r| r.run_id.eq_ignore_ascii_case(id) && r.registry.eq_ignore_ascii_case(registry))
        .cloned()
        .ok_or_else(|| {
            azure_error(
                404,
                "ResourceNotFound",
                &format!("The run '{id}' of registry '{registry}' could not be found."),
            )
        })
}

async fn upload_url(blobs: &Blobs) -> Result<Resp, Resp> {
    blobs.create_container("source").await.map_err(internal)?;
    let today = time::OffsetDateTime::now_utc();
    let blob = format!(
        "{:04}{:02}{:02}/{}.tar.gz",
        today.year(),
        u8::from(today.month()),
        today.day(),
        random_uuid()
    );
    Ok(Resp::json(
        200,
        &json!({
            "uploadUrl": blobs.blob_url("source", &blob, "cw", Duration::from_secs(3600)),
            "relativePath": format!("source/{blob}"),
        }),
    ))
}

fn bad_request(code: &str, message: &str) -> Resp {
    azure_error(400, code, message)
}

async fn schedule_run(
    shared: &Shared,
    blobs: &Blobs,
    req: &Req,
    registry: &str,
    base: &str,
) -> Result<Resp, Resp> {
    let body = req.json().filter(Value::is_object).ok_or_else(|| {
        bad_request(
            "InvalidRequestContent",
            "The request body must be a JSON object.",
        )
    })?;
    let kind = body.get("type").and_then(Value::as_str).unwrap_or("");
    if !kind.eq_ignore_ascii_case("DockerBuildRequest") {
        return Err(bad_request(
            "InvalidRunRequestType",
            &format!(
                "fake-cloud supports only run requests of type DockerBuildRequest, not '{kind}'."
            ),
        ));
    }
    let source = body
        .get("sourceLocation")
        .and_then(Value::as_str)
        .unwrap_or("");
    let invalid_source = || {
        bad_request(
            "InvalidSourceLocation",
            &format!("The source location '{source}' is invalid or does not exist."),
        )
    };
    let Some((container, blob)) = source
        .split_once('/')
        .filter(|(c, b)| !c.is_empty() && !b.is_empty())
    else {
        return Err(invalid_source());
    };
    let archive = blobs
        .get_blob(container, blob)
        .await
        .map_err(internal)?
        .ok_or_else(invalid_source)?;
    let run_id = lock(shared).acr.next_run_id();
    blobs.create_container("logs").await.map_err(internal)?;
    let log_blob = format!("{run_id}/rawtext.log");
    blobs
        .create_append_blob("logs", &log_blob)
        .await
        .map_err(internal)?;
    let run = AcrRun {
        run_id: run_id.clone(),
        registry: registry.to_string(),
        base: base.to_string(),
        request_body: body.clone(),
        status: "Queued".into(),
        create_time: now(),
        start_time: None,
        finish_time: None,
        output_images: Vec::new(),
        error: None,
    };
    let json = run.to_json();
    let (chunks, interval) = {
        let mut st = lock(shared);
        st.acr.runs.push(run);
        (
            st.seed.acr_log_chunks.max(1),
            Duration::from_millis(st.seed.acr_log_interval_ms),
        )
    };
    let sim = Simulation {
        shared: shared.clone(),
        blobs: blobs.clone(),
        run_id,
        log_blob,
        registry: registry.to_ascii_lowercase(),
        body,
        archive,
        chunks,
        interval,
    };
    tokio::spawn(sim.run());
    Ok(Resp::json(200, &json))
}

struct Simulation {
    shared: Shared,
    blobs: Blobs,
    run_id: String,
    log_blob: String,
    registry: String,
    body: Value,
    archive: Vec<u8>,
    chunks: usize,
    interval: Duration,
}

/// What the simulated build produced.
struct Outcome {
    /// Log lines before the tail.
    body: Vec<String>,
    /// The last chunk.
    tail: Vec<String>,
    error: Option<String>,
    images: Vec<Value>,
}

fn stamp() -> String {
    let t = time::OffsetDateTime::now_utc();
    format!(
        "{:04}/{:02}/{:02} {:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Reads one file out of a `.tar.gz`.
fn extract(archive: &[u8], wanted: &str) -> Result<String, String> {
    let wanted = wanted.trim_start_matches("./");
    let gz = flate2::read::GzDecoder::new(archive);
    let mut tar = tar::Archive::new(gz);
    let entries = tar
        .entries()
        .map_err(|e| format!("the source archive is not a valid tar.gz: {e}"))?;
    for entry in entries {
        let mut entry =
            entry.map_err(|e| format!("the source archive is not a valid tar.gz: {e}"))?;
        let path = entry
            .path()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        if path.trim_start_matches("./") == wanted {
            let mut text = String::new();
            entry
                .read_to_string(&mut text)
                .map_err(|e| format!("cannot read {wanted}: {e}"))?;
            return Ok(text);
        }
    }
    Err(format!(
        "unable to understand the Dockerfile: open {wanted}: no such file or directory"
    ))
}

/// Dockerfile instructions (continuations joined, comments dropped) and whether it asks to fail.
fn instructions(dockerfile: &str) -> (Vec<String>, bool) {
    let mut out = Vec::new();
    let mut fake_fail = false;
    let mut current = String::new();
    for line in dockerfile.lines() {
        let t = line.trim();
        if current.is_empty() && t.starts_with('#') {
            fake_fail |= t == "# fake-fail";
            continue;
        }
        if t.is_empty() && current.is_empty() {
            continue;
        }
        if let Some(head) = t.strip_suffix('\\') {
            current.push_str(head.trim());
            current.push(' ');
            continue;
        }
        current.push_str(t);
        out.push(std::mem::take(&mut current).trim().to_string());
    }
    if !current.trim().is_empty() {
        out.push(current.trim().to_string());
    }
    (out, fake_fail)
}

/// The BuildKit-only part of an instruction, which the classic builder refuses.
pub(crate) fn buildkit_only(instruction: &str) -> Option<String> {
    let mut words = instruction.split_whitespace();
    let verb = words.next()?.to_ascii_uppercase();
    if instruction.contains("<<") && matches!(verb.as_str(), "RUN" | "COPY" | "ADD") {
        return Some("heredoc (<<)".into());
    }
    let flags: &[&str] = match verb.as_str() {
        "COPY" => &["--chmod", "--link", "--parents", "--exclude"],
        "ADD" => &[
            "--chmod",
            "--link",
            "--checksum",
            "--keep-git-dir",
            "--exclude",
        ],
        "RUN" => &["--mount", "--network", "--security"],
        _ => &[],
    };
    words
        .take_while(|w| w.starts_with("--"))
        .map(|w| w.split('=').next().unwrap_or(w))
        .find(|w| flags.contains(w))
        .map(str::to_string)
}

impl Simulation {
    fn outcome(&self) -> Outcome {
        let digest = hex(&Sha256::digest(&self.archive));
        let login = format!("{}.azurecr.io", self.registry);
        let mut body = vec![
            format!("{} Downloading source code...", stamp()),
            format!("{} Finished downloading source code", stamp()),
            format!(
                "{} Using acb_vol_{} as the home volume",
                stamp(),
                random_uuid()
            ),
            format!("{} Setting up Docker configuration...", stamp()),
            format!("{} Successfully set up Docker configuration", stamp()),
            format!("{} Logging in to registry: {login}", stamp()),
            format!("{} Successfully logged into {login}", stamp()),
            format!(
                "{} Executing step ID: build. Timeout(sec): 28800, Working directory: '', Network: ''",
                stamp()
            ),
            format!("{} Launching container with name: build", stamp()),
            format!(
                "Sending build context to Docker daemon  {:.3}kB",
                self.archive.len() as f64 / 1000.0
            ),
        ];
        let path = self
            .body
            .get("dockerFilePath")
            .and_then(Value::as_str)
            .unwrap_or("Dockerfile");
        let failed_tail = |mut tail: Vec<String>, error: String| {
            tail.push(format!(
                "{} Container failed during run: build. No retries remaining.",
                stamp()
            ));
            tail.push("failed to run step ID: build: exit status 1".into());
            tail.push(String::new());
            tail.push(format!(
                "Run ID: {} failed after 3s. Error: {error}",
                self.run_id
            ));
            tail
        };
        let dockerfile = match extract(&self.archive, path) {
            Ok(d) => d,
            Err(e) => {
                return Outcome {
                    body,
                    tail: failed_tail(vec![e.clone()], e.clone()),
                    error: Some(e),
                    images: Vec::new(),
                };
            }
        };
        let (steps, fake_fail) = instructions(&dockerfile);
        let n = steps.len();
        let fail_at = steps
            .iter()
            .position(|s| {
                let mut words = s.split_whitespace();
                words.next().is_some_and(|w| w.eq_ignore_ascii_case("RUN"))
                    && words.collect::<Vec<_>>() == ["false"]
            })
            .or(fake_fail.then(|| n.saturating_sub(1)));
        for (i, step) in steps.iter().enumerate() {
            body.push(format!("Step {}/{n} : {step}", i + 1));
            // ACR Tasks quick runs build with the classic builder: BuildKit-only syntax fails.
            if let Some(flag) = buildkit_only(step) {
                let msg = format!(
                    "the {flag} option requires BuildKit. Refer to https://docs.docker.com/go/buildkit/ to learn how to build images with BuildKit enabled"
                );
                return Outcome {
                    body,
                    tail: failed_tail(vec![msg.clone()], msg.clone()),
                    error: Some(msg),
                    images: Vec::new(),
                };
            }
            if Some(i) == fail_at {
                body.push(format!(" ---> Running in {}", random_hex(12)));
                let msg = "The command '/bin/sh -c false' returned a non-zero code: 1".to_string();
                return Outcome {
                    body,
                    tail: failed_tail(vec![msg], "failed during run, err: exit status 1".into()),
                    error: Some("failed during run, err: exit status 1".into()),
                    images: Vec::new(),
                };
            }
            let is_from = step
                .split_whitespace()
                .next()
                .is_some_and(|w| w.eq_ignore_ascii_case("FROM"));
            if !is_from {
                body.push(format!(" ---> Running in {}", random_hex(12)));
                body.push(format!(
                    "Removing intermediate container {}",
                    random_hex(12)
                ));
            }
            body.push(format!(" ---> {}", random_hex(12)));
        }
        let push = self
            .body
            .get("isPushEnabled")
            .and_then(Value::as_bool)
            .unwrap_or(true);
        let names: Vec<String> = self
            .body
            .get("imageNames")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let mut tail = vec![format!("Successfully built {}", random_hex(12))];
        let mut images = Vec::new();
        for name in &names {
            let name = name
                .strip_prefix(&format!("{login}/"))
                .unwrap_or(name)
                .to_string();
            let (repo, tag) = match name.rsplit_once(':') {
                Some((r, t)) if !t.contains('/') => (r.to_string(), t.to_string()),
                _ => (name.clone(), "latest".to_string()),
            };
            tail.push(format!("Successfully tagged {login}/{repo}:{tag}"));
            if push {
                tail.push(format!(
                    "{} Pushing image: {login}/{repo}:{tag}, attempt 1",
                    stamp()
                ));
                tail.push(format!("{tag}: digest: sha256:{digest} size: 1573"));
                tail.push(format!(
                    "{} Successfully pushed image: {login}/{repo}:{tag}",
                    stamp()
                ));
                images.push(json!({
                    "registry": login,
                    "repository": repo,
                    "tag": tag,
                    "digest": format!("sha256:{digest}"),
                }));
            }
        }
        tail.push(format!(
            "{} Successfully executed container: build",
            stamp()
        ));
        tail.push(String::new());
        tail.push(format!("Run ID: {} was successful after 3s", self.run_id));
        Outcome {
            body,
            tail,
            error: None,
            images,
        }
    }

    fn update(&self, f: impl FnOnce(&mut AcrRun)) {
        let mut st = lock(&self.shared);
        if let Some(run) = st.acr.runs.iter_mut().find(|r| r.run_id == self.run_id) {
            f(run);
        }
    }

    async fn run(self) {
        let result = self.write_log().await;
        let (status, meta) = match &result {
            Ok(None) => ("Succeeded", "successful"),
            Ok(Some(_)) | Err(_) => ("Failed", "failed"),
        };
        let finish = now();
        self.update(|r| {
            r.status = status.into();
            r.start_time.get_or_insert_with(|| finish.clone());
            r.finish_time = Some(finish.clone());
            match result {
                Ok(None) => {}
                Ok(Some(error)) => r.error = Some(error),
                Err(e) => r.error = Some(format!("fake-cloud: {e}")),
            }
        });
        if let Err(e) = self
            .blobs
            .set_metadata("logs", &self.log_blob, &[("Complete", meta)])
            .await
        {
            eprintln!("fake-cloud: run {}: {e}", self.run_id);
        }
    }

    /// Writes the log; `Ok(Some(error))` when the build failed, `Ok(None)` on success.
    async fn write_log(&self) -> Result<Option<String>, String> {
        let outcome = self.outcome();
        let body_chunks = self.chunks.saturating_sub(1).max(1);
        let per = outcome.body.len().div_ceil(body_chunks).max(1);
        let mut pieces: Vec<String> = outcome
            .body
            .chunks(per)
            .map(|c| c.iter().map(|l| format!("{l}\n")).collect())
            .collect();
        if self.chunks == 1 {
            pieces.clear();
            let all: String = outcome
                .body
                .iter()
                .chain(&outcome.tail)
                .map(|l| format!("{l}\n"))
                .collect();
            pieces.push(all);
        } else {
            pieces.push(outcome.tail.iter().map(|l| format!("{l}\n")).collect());
        }
        for (i, piece) in pieces.iter().enumerate() {
            if i > 0 {
                tokio::time::sleep(self.interval).await;
            }
            self.blobs
                .append_block("logs", &self.log_blob, piece.as_bytes())
                .await?;
            if i == 0 {
                let t = now();
                self.update(|r| {
                    r.status = "Running".into();
                    r.start_time = Some(t);
                });
            }
        }
        if outcome.error.is_none() {
            let images = outcome.images;
            {
                let mut st = lock(&self.shared);
                let tags = st
                    .acr
                    .tags
                    .entry(self.registry.to_ascii_lowercase())
                    .or_default();
                for image in &images {
                    let (Some(repo), Some(tag), Some(digest)) = (
                        image.get("repository").and_then(Value::as_str),
                        image.get("tag").and_then(Value::as_str),
                        image.get("digest").and_then(Value::as_str),
                    ) else {
                        continue;
                    };
                    tags.insert(format!("{repo}:{tag}"), digest.to_string());
                }
            }
            self.update(|r| r.output_images = images);
        }
        Ok(outcome.error)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The registry a data-plane request is for and the path inside it: `/registry/NAME/…` on the
/// listener, or any path on `NAME.azurecr.io`.
pub(crate) fn data_target(host: Option<&str>, path: &str) -> Option<(String, String)> {
    if let Some(rest) = path.strip_prefix("/registry/") {
        let (name, inner) = rest.split_once('/').unwrap_or((rest, ""));
        return Some((name.to_ascii_lowercase(), format!("/{inner}")));
    }
    let host = host?.split(':').next()?.to_ascii_lowercase();
    let name = host.strip_suffix(".azurecr.io")?;
    Some((name.to_string(), path.to_string()))
}

fn registry_error(status: u16, code: &str, message: &str) -> Resp {
    Resp::json(
        status,
        &json!({"errors": [{"code": code, "message": message, "detail": null}]}),
    )
}

/// The registry's token service and its tag API (what `az acr repository show-tags` uses):
/// `POST /oauth2/exchange` (an Entra token for a refresh token), `POST /oauth2/token` (a
/// refresh token for an access token), `GET /acr/v1/{repository}/_tags/{tag}`.
pub(crate) fn handle_data(st: &mut State, registry: &str, path: &str, req: &Req) -> Resp {
    let form: BTreeMap<String, String> = url::form_urlencoded::parse(&req.body)
        .into_owned()
        .collect();
    match (req.method.as_str(), path) {
        ("POST", "/oauth2/exchange") => {
            let aad = form.get("access_token").cloned().unwrap_or_default();
            let known = st.entra_tokens.iter().any(|t| t.token == aad);
            if form.get("grant_type").map(String::as_str) != Some("access_token") || !known {
                return registry_error(401, "UNAUTHORIZED", "authentication required");
            }
            let token = format!("acr-refresh-{}", random_hex(24));
            st.acr.data_tokens.push(token.clone());
            st.remember_issued(&token);
            Resp::json(200, &json!({"refresh_token": token}))
        }
        ("POST", "/oauth2/token") => {
            let refresh = form.get("refresh_token").cloned().unwrap_or_default();
            if form.get("grant_type").map(String::as_str) != Some("refresh_token")
                || !st.acr.data_tokens.contains(&refresh)
            {
                return registry_error(401, "UNAUTHORIZED", "authentication required");
            }
            let token = format!("acr-access-{}", random_hex(24));
            st.acr.data_tokens.push(token.clone());
            st.remember_issued(&token);
            Resp::json(200, &json!({"access_token": token}))
        }
        ("GET", p) if p.starts_with("/acr/v1/") => {
            let authorized = req
                .bearer()
                .is_some_and(|t| st.acr.data_tokens.contains(&t));
            if !authorized {
                return registry_error(401, "UNAUTHORIZED", "authentication required");
            }
            let inner = p.trim_start_matches("/acr/v1/");
            let Some((repo, tag)) = inner.rsplit_once("/_tags/") else {
                return registry_error(
                    404,
                    "NAME_UNKNOWN",
                    "repository name not known to registry",
                );
            };
            let login = st.login_server(registry);
            match st
                .acr
                .tags
                .get(registry)
                .and_then(|t| t.get(&format!("{repo}:{tag}")))
            {
                Some(digest) => Resp::json(
                    200,
                    &json!({
                        "registry": login,
                        "imageName": repo,
                        "tag": {
                            "name": tag, "digest": digest,
                            "createdTime": now(), "lastUpdateTime": now(), "signed": false,
                            "changeableAttributes": {"deleteEnabled": true, "writeEnabled": true, "readEnabled": true, "listEnabled": true},
                        },
                    }),
                ),
                None => registry_error(404, "TAG_UNKNOWN", "the specified tag does not exist"),
            }
        }
        _ => registry_error(404, "NOT_FOUND", "not found"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_instructions() {
        let (steps, fail) = instructions(
            "# syntax\nFROM alpine\n\nRUN echo a \\\n  && echo b\n# fake-fail\nCMD [\"sh\"]\n",
        );
        assert_eq!(
            steps,
            ["FROM alpine", "RUN echo a && echo b", "CMD [\"sh\"]"]
        );
        assert!(fail);
        assert!(is_acr_path(
            "/subscriptions/s/resourceGroups/g/providers/Microsoft.ContainerRegistry/registries/r/scheduleRun"
        ));
        assert!(!is_acr_path(
            "/subscriptions/s/resourceGroups/g/providers/Microsoft.App/jobs/j"
        ));
        assert!(!is_acr_path(
            "/subscriptions/s/resourceGroups/g/providers/Microsoft.ContainerRegistry/registries/r/providers/Microsoft.Authorization/permissions"
        ));
    }
}

//! `build-image` end to end: ACR Tasks on the fake cloud, blobs in a real Azurite.

use std::collections::BTreeMap;

use fake_cloud::Seed;
use sha2::Digest;

use crate::helpers::*;

fn ctx() -> TestContext {
    TestContext::with_azurite(Seed {
        github_apps: vec![default_app()],
        acr_log_chunks: 4,
        acr_log_interval_ms: 700,
        ..Seed::default()
    })
}

/// A build context with a .dockerignore, a file with spaces, a symlink and ignored files.
fn context(ctx: &TestContext, dockerfile: &str) -> std::path::PathBuf {
    let root = ctx.dir.path().join("runner ctx");
    std::fs::create_dir_all(root.join("scripts")).unwrap();
    std::fs::create_dir_all(root.join("cache")).unwrap();
    std::fs::write(root.join("Dockerfile"), dockerfile).unwrap();
    std::fs::write(root.join(".dockerignore"), "cache\n*.tmp\n!keep.tmp\n").unwrap();
    std::fs::write(root.join("scripts/start runner.sh"), "#!/bin/sh\n").unwrap();
    std::fs::write(root.join("cache/big.bin"), "x").unwrap();
    std::fs::write(root.join("scratch.tmp"), "x").unwrap();
    std::fs::write(root.join("keep.tmp"), "x").unwrap();
    std::os::unix::fs::symlink("start runner.sh", root.join("scripts/entrypoint")).unwrap();
    root
}

fn inputs(ctx: &TestContext, root: &std::path::Path) -> BTreeMap<&'static str, String> {
    let mut inputs = ctx.rotate_inputs("app1.pkcs1.pem");
    inputs.insert("command", "build-image".into());
    inputs.remove("key-vault");
    inputs.insert("registry", "acrrunners".into());
    inputs.insert("image", "github-runner:v1".into());
    inputs.insert("context", root.display().to_string());
    inputs.insert("resource-group", "rg-runners".into());
    inputs.insert("azure-subscription-id", ctx.fake.seed().subscription_id);
    inputs.insert("azure-resource-manager-url", ctx.fake.url());
    inputs
}

const GOOD: &str = "FROM ubuntu:24.04\nCOPY scripts /scripts\nRUN echo built\nENTRYPOINT [\"/scripts/entrypoint\"]\n";

#[test]
fn builds_uploads_the_context_minus_dockerignore_and_streams_the_log() {
    let ctx = ctx();
    let root = context(&ctx, GOOD);
    let started = std::time::Instant::now();
    let run = ctx.run(&inputs(&ctx, &root), &[]);
    run.assert_ok();

    // The archive holds exactly the context minus what .dockerignore excludes.
    let runs = ctx.fake.acr_runs();
    assert_eq!(runs.len(), 1);
    let source = runs[0].request_body["sourceLocation"]
        .as_str()
        .unwrap()
        .to_string();
    let archive = ctx.fake.uploaded_source(&source).expect("uploaded");
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(archive.as_slice()));
    let mut names: Vec<String> = tar
        .entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let p = e.path().unwrap().display().to_string();
            match e.link_name().unwrap() {
                Some(target) => format!("{p} -> {}", target.display()),
                None => p,
            }
        })
        .collect();
    names.sort();
    assert_eq!(
        names,
        vec![
            ".dockerignore",
            "Dockerfile",
            "keep.tmp",
            "scripts/",
            "scripts/entrypoint -> start runner.sh",
            "scripts/start runner.sh",
        ]
    );
    assert_eq!(runs[0].request_body["imageNames"][0], "github-runner:v1");
    assert_eq!(runs[0].request_body["isPushEnabled"], true);
    assert_eq!(runs[0].request_body["platform"]["os"], "Linux");

    // The output is fully qualified, with the digest the build reported.
    let digest = format!("sha256:{:x}", sha2::Sha256::digest(&archive));
    assert_eq!(
        run.output("image"),
        format!("acrrunners.azurecr.io/github-runner:v1@{digest}")
    );

    // The log arrived in order, each line once, while the fake wrote it over seconds.
    assert!(started.elapsed() >= std::time::Duration::from_millis(2000));
    let log = run.log();
    let steps: Vec<&str> = log.lines().filter(|l| l.starts_with("Step ")).collect();
    assert_eq!(steps.len(), 4, "{log}");
    for (i, line) in steps.iter().enumerate() {
        assert!(line.starts_with(&format!("Step {}/4", i + 1)), "{steps:?}");
    }
    let mut seen = std::collections::BTreeSet::new();
    for line in log.lines().filter(|l| l.starts_with("Step ")) {
        assert!(seen.insert(line), "twice: {line}");
    }
    assert!(run.summary.contains("### build-image"), "{}", run.summary);
    ctx.assert_contract();
}

#[test]
fn a_failed_build_exits_1_with_the_tail_of_its_log() {
    let ctx = ctx();
    let root = context(&ctx, "FROM ubuntu:24.04\nRUN false\nRUN echo never\n");
    let run = ctx.run(&inputs(&ctx, &root), &[]);
    assert_eq!(run.code, 1, "{}", run.log());
    let error = run
        .log()
        .lines()
        .skip_while(|l| !l.starts_with("::error"))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(error.contains("failed"), "{error}");
    assert!(error.contains("returned a non-zero code: 1"), "{error}");
    assert!(!run.outputs.contains_key("image"));
}

#[test]
fn dry_run_packs_and_uploads_nothing() {
    let ctx = ctx();
    let root = context(&ctx, GOOD);
    let mut i = inputs(&ctx, &root);
    i.insert("dry-run", "true".into());
    let run = ctx.run(&i, &[]);
    run.assert_ok();
    assert!(
        run.log().contains("dry-run: would build github-runner:v1"),
        "{}",
        run.log()
    );
    assert!(ctx.fake.acr_runs().is_empty());
}

fn runner_inputs(ctx: &TestContext) -> BTreeMap<&'static str, String> {
    let runner = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("runner");
    let mut i = inputs(ctx, &runner);
    i.insert("image", "github-runner:latest".into());
    i.insert("runner-version", "latest".into());
    i.insert(
        "build-args",
        "EXTRA_PACKAGES: \"make gcc\"\nRETRIES: 3\n".into(),
    );
    i
}

#[test]
fn the_runner_image_builds_with_the_latest_runner_and_is_not_built_twice() {
    let ctx = ctx();
    let run = ctx.run(&runner_inputs(&ctx), &[]);
    run.assert_ok();
    // The project's own runner/ builds with the classic builder ACR quick runs use.
    let runs = ctx.fake.acr_runs();
    assert_eq!(runs.len(), 1);
    let body = &runs[0].request_body;
    let names: Vec<&str> = body["imageNames"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");
    assert_eq!(names[0], "github-runner:2.330.0");
    assert!(
        names[1].starts_with("github-runner:2.330.0-") && names[1].len() == 32,
        "{names:?}"
    );
    assert_eq!(names[2], "github-runner:latest");
    let args: BTreeMap<String, String> = body["arguments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["name"].as_str().unwrap().to_string(),
                a["value"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(args["RUNNER_VERSION"], "2.330.0");
    assert_eq!(args["EXTRA_PACKAGES"], "make gcc");
    assert_eq!(args["RETRIES"], "3");
    assert_eq!(run.output("runner-version"), "2.330.0");
    assert_eq!(run.output("image-built"), "true");
    let built = run.output("image").to_string();
    assert!(
        built.starts_with("acrrunners.azurecr.io/github-runner:2.330.0@sha256:"),
        "{built}"
    );

    // Again: the registry holds that version's tag, so nothing is uploaded or built.
    let again = ctx.run(&runner_inputs(&ctx), &[]);
    again.assert_ok();
    assert_eq!(ctx.fake.acr_runs().len(), 1, "{}", again.log());
    assert_eq!(again.output("image-built"), "false");
    assert_eq!(again.output("image"), built);
    assert!(again.log().contains("nothing to build"), "{}", again.log());
    let shown: String = again
        .log()
        .lines()
        .filter(|l| !l.starts_with("::add-mask::"))
        .collect::<Vec<_>>()
        .join("\n");
    for secret in ctx.fake.issued_secrets() {
        assert!(!shown.contains(&secret), "{secret} in {shown}");
        assert!(!again.output_file.contains(&secret));
    }
    // The registry's own tokens were masked as they arrived.
    assert!(
        again.log().contains("::add-mask::acr-access-"),
        "{}",
        again.log()
    );

    // Another build argument (or another context) is another image: it is built.
    let mut changed = runner_inputs(&ctx);
    changed.insert("build-args", "EXTRA_PACKAGES: make\n".into());
    let rebuilt = ctx.run(&changed, &[]);
    rebuilt.assert_ok();
    assert_eq!(ctx.fake.acr_runs().len(), 2);
    assert_eq!(rebuilt.output("image-built"), "true");

    // A newer release builds again.
    ctx.fake.set_runner_release("v2.331.0");
    let newer = ctx.run(&runner_inputs(&ctx), &[]);
    newer.assert_ok();
    assert_eq!(ctx.fake.acr_runs().len(), 3);
    assert_eq!(newer.output("runner-version"), "2.331.0");
    ctx.assert_contract();
}

#[test]
fn buildkit_only_syntax_fails_on_the_classic_builder() {
    let ctx = ctx();
    let root = context(
        &ctx,
        "FROM ubuntu:24.04\nCOPY --chmod=0755 scripts /scripts\nRUN echo never\n",
    );
    let run = ctx.run(&inputs(&ctx, &root), &[]);
    assert_eq!(run.code, 1, "{}", run.log());
    assert!(
        run.log().contains("the --chmod option requires BuildKit"),
        "{}",
        run.log()
    );
}

#[test]
fn a_runner_version_github_refuses_is_refused_before_any_request() {
    let ctx = ctx();
    let mut i = runner_inputs(&ctx);
    i.insert("runner-version", "2.321.0".into());
    let run = ctx.run(&i, &[]);
    assert_eq!(run.code, 2, "{}", run.log());
    assert!(
        run.log()
            .contains("older than 2.329.0, the oldest runner GitHub registers"),
        "{}",
        run.log()
    );
    i.insert("runner-version", "latest".into());
    i.insert("build-args", "RUNNER_VERSION: 2.330.0\n".into());
    let run = ctx.run(&i, &[]);
    assert_eq!(run.code, 2, "{}", run.log());
    assert!(ctx.fake.requests().is_empty());
}

#[test]
fn the_runner_dockerfile_uses_no_buildkit_only_syntax_and_names_todays_defaults() {
    let dockerfile = include_str!("../../runner/Dockerfile");
    for line in dockerfile
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
    {
        assert!(
            fake_cloud::buildkit_only(line).is_none(),
            "BuildKit-only: {line}"
        );
    }
    assert!(!dockerfile.contains("# syntax="));
    assert!(
        dockerfile.contains(&format!(
            "ARG RUNNER_VERSION={}",
            aca_runner_action::runner_version::DEFAULT
        )),
        "runner/Dockerfile's RUNNER_VERSION default differs from runner_version::DEFAULT"
    );
    // The init container runs the image of the same release of the action as action.yml.
    let action = include_str!("../../action.yml");
    let image = action
        .lines()
        .find_map(|l| l.trim().strip_prefix("image: docker://"))
        .unwrap();
    assert_eq!(aca_runner_action::runner_init::ACTION_IMAGE, image);
    // The checker itself refuses what the classic builder refuses.
    assert!(fake_cloud::buildkit_only("COPY --chmod=0755 a /a").is_some());
    assert!(fake_cloud::buildkit_only("RUN --mount=type=cache,target=/x true").is_some());
    assert!(fake_cloud::buildkit_only("COPY --from=action /a /b").is_none());
}

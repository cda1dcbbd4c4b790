//! The fault campaign (issue 13): seeded runs of `rotate-key`, `rotate-key` with `jobs`, and the
//! whole `rotate-key deploy set-variables` step, each with 1–4 random faults on random requests
//! of every service (429 with `Retry-After`, 5xx, GitHub's secondary rate limit, connections
//! dropped before the answer and after the write was applied, slow answers). After every run the
//! invariants are checked; a clean rerun must converge and one more must write nothing.
//!
//! `scripts/fault-campaign.sh [RUNS] [SEED]` runs it at any length; the test suite runs a short
//! one (`ACA_CAMPAIGN_RUNS`, default 16; `ACA_CAMPAIGN_SEED`, default 1; bounded by
//! `ACA_CAMPAIGN_SECONDS`, default 180: the runs started by then are the campaign).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use fake_cloud::{Fault, FaultAction, Seed};
use serde_json::{Value, json};

use crate::helpers::*;

const RG: &str = "rg-runners";

/// xorshift64*: the campaign is the same for the same seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Scenario {
    Rotate,
    RotateWithJobs,
    Pipeline,
}

/// Requests a fault can hit: (method, path fragment).
const TARGETS: &[(Option<&str>, &str)] = &[
    (Some("GET"), "/app"),
    (Some("GET"), "/installation"),
    (Some("POST"), "/access_tokens"),
    (Some("DELETE"), "/installation/token"),
    (Some("GET"), "/_actions/idtoken"),
    (Some("POST"), "/oauth2/v2.0/token"),
    (Some("GET"), "/versions"),
    (Some("PUT"), "/secrets/"),
    (Some("PATCH"), "/secrets/"),
    (Some("GET"), "/secrets/"),
    (Some("PUT"), "/deployments/"),
    (Some("GET"), "/deployments/"),
    (Some("GET"), "/operationStatuses/"),
    (Some("GET"), "Microsoft.App/jobs"),
    (Some("PUT"), "Microsoft.App/jobs/"),
    (Some("GET"), "/actions/variables"),
    (Some("POST"), "/actions/variables"),
    (Some("GET"), "/rate_limit"),
    (None, "/"),
];

const KINDS: &[&str] = &[
    "429",
    "500",
    "502",
    "503",
    "secondary-rate-limit",
    "drop",
    "drop-after-applied",
    "slow",
];

fn fault(kind: &str, method: Option<&str>, path: &str) -> Fault {
    let status = |status: u16, retry_after: Option<u64>, body: Option<Value>| FaultAction::Status {
        status,
        retry_after,
        body,
    };
    let action = match kind {
        "429" => status(429, Some(1), None),
        "500" => status(500, None, None),
        "502" => status(502, None, None),
        "503" => status(503, Some(1), None),
        "secondary-rate-limit" => status(
            403,
            Some(1),
            Some(
                json!({"message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.", "documentation_url": "https://docs.github.com/rest"}),
            ),
        ),
        "drop" => FaultAction::Drop,
        "drop-after-applied" => FaultAction::DropAfterApplied,
        _ => FaultAction::Latency { ms: 400 },
    };
    Fault {
        method: method.map(str::to_string),
        path_contains: path.to_string(),
        times: 1,
        action,
    }
}

fn seed() -> Seed {
    Seed {
        github_apps: vec![default_app()],
        arm_deployment_ms: 100,
        arm_retry_after_secs: 1,
        ..Seed::default()
    }
}

fn job(ctx: &TestContext) -> Value {
    let sub = ctx.fake.seed().subscription_id;
    json!({
        "location": "westeurope",
        "identity": {"type": "UserAssigned", "userAssignedIdentities": {
            format!("/subscriptions/{sub}/resourceGroups/{RG}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-runners"): {}
        }},
        "properties": {
            "environmentId": format!("/subscriptions/{sub}/resourceGroups/{RG}/providers/Microsoft.App/managedEnvironments/cae"),
            "configuration": {
                "triggerType": "Event", "replicaTimeout": 1800,
                "secrets": [{"name": "github-app-key", "keyVaultUrl": format!("{}/secrets/github-app-key", ctx.fake.url()), "identity": "system"}],
                "eventTriggerConfig": {"parallelism": 1, "replicaCompletionCount": 1,
                    "scale": {"minExecutions": 0, "maxExecutions": 10, "pollingInterval": 30, "rules": []}}
            },
            "template": {"containers": [{"name": "runner", "image": "r:1",
                "resources": {"cpu": 0.25, "memory": "0.5Gi"}}]}
        }
    })
}

fn inputs(ctx: &TestContext, scenario: Scenario, key: &str) -> BTreeMap<&'static str, String> {
    let mut i = ctx.rotate_inputs(key);
    i.insert("installation-id", INSTALLATION_ID.to_string());
    match scenario {
        Scenario::Rotate => {}
        Scenario::RotateWithJobs => {
            i.insert("jobs", format!("{RG}/runner-default"));
            i.insert("azure-subscription-id", ctx.fake.seed().subscription_id);
            i.insert("azure-resource-manager-url", ctx.fake.url());
        }
        Scenario::Pipeline => {
            i.insert("command", "rotate-key deploy set-variables".into());
            i.insert("azure-subscription-id", ctx.fake.seed().subscription_id);
            i.insert("azure-resource-manager-url", ctx.fake.url());
            i.insert("resource-group", RG.into());
            i.insert("template", "builtin:runner-jobs".into());
            i.insert(
                "parameters",
                "acaEnvName: cae-runners\nacrName: acrrunners\nacaMsiName: id-runners\ngitHubAppKeySecretUri: { output: secret-uri }\n".into(),
            );
            i.insert("pools", "- name: linux\n  repos: runners\n".into());
            i.insert(
                "variables",
                "RUNNER_RG: rg-runners\nKEY_URI: { output: secret-uri }\n".into(),
            );
        }
    }
    i
}

/// What the world must look like after any run, failed or not. Returns the violations.
fn invariants(ctx: &TestContext, run: &Run, versions_before: usize) -> Vec<String> {
    let mut bad = Vec::new();
    let versions = ctx.fake.secret_versions("github-app-key");
    if versions.len() < versions_before {
        bad.push(format!(
            "a version was deleted ({versions_before} → {})",
            versions.len()
        ));
    }
    let accepted = [
        openssl_fingerprint(&fixture_path("app1.pkcs1.pem")),
        openssl_fingerprint(&fixture_path("app1-new.pkcs1.pem")),
    ];
    match versions.last() {
        Some(v) if v.enabled => {
            let fp = v
                .tags
                .get("github-app-key-fingerprint")
                .cloned()
                .unwrap_or_default();
            if !accepted.contains(&fp) {
                bad.push(format!(
                    "the latest version holds a key GitHub does not accept ({fp})"
                ));
            }
        }
        Some(v) => bad.push(format!("the latest version {} is disabled", v.version)),
        None => bad.push("no version at all".into()),
    }
    if let Some(job) = ctx.fake.job(RG, "runner-default") {
        let url = job["properties"]["configuration"]["secrets"][0]["keyVaultUrl"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if let Some(version) = url.trim_end_matches('/').rsplit('/').next()
            && url.contains("/secrets/github-app-key/")
            && !versions.iter().any(|v| v.version == version && v.enabled)
        {
            bad.push(format!(
                "job runner-default points at disabled version {version}"
            ));
        }
    }
    // A token whose minting answer was lost never reached the client, which cannot revoke
    // what it never held (it expires within the hour); every other one must be revoked.
    let unheard = ctx
        .fake
        .requests()
        .iter()
        .filter(|r| {
            r.path.ends_with("/access_tokens")
                && r.response_body.contains("dropped after it was applied")
        })
        .count();
    let unrevoked = ctx
        .fake
        .installation_tokens()
        .iter()
        .filter(|t| !t.revoked)
        .count();
    if unrevoked > unheard {
        bad.push(format!(
            "{} installation token(s) the client received were not revoked",
            unrevoked - unheard
        ));
    }
    let log = run.log();
    if run.code != 0 {
        if !log.contains("::error") {
            bad.push(format!("exit {} without an ::error annotation", run.code));
        }
        if log.contains("internal error") {
            bad.push("a panic".into());
        }
    }
    let shown: String = log
        .lines()
        .filter(|l| !l.starts_with("::add-mask::"))
        .collect::<Vec<_>>()
        .join("\n");
    for secret in ctx.fake.issued_secrets() {
        if secret.len() >= 8
            && (shown.contains(&secret)
                || run.output_file.contains(&secret)
                || run.summary.contains(&secret))
        {
            bad.push("a secret reached the log, the outputs or the summary".into());
        }
    }
    if shown.contains("PRIVATE KEY") {
        bad.push("key material in the log".into());
    }
    bad
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn fault_campaign() {
    let runs = env_number("ACA_CAMPAIGN_RUNS", 16);
    let seed_value = env_number("ACA_CAMPAIGN_SEED", 1);
    let budget = Duration::from_secs(env_number("ACA_CAMPAIGN_SECONDS", 180));
    let mut rng = Rng(seed_value.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let started = Instant::now();
    let mut faults_by_kind: BTreeMap<&str, u64> = BTreeMap::new();
    let mut by_scenario: BTreeMap<Scenario, u64> = BTreeMap::new();
    let (mut ok, mut clean_failures, mut done) = (0u64, 0u64, 0u64);
    let mut violations: Vec<String> = Vec::new();
    for n in 0..runs {
        if started.elapsed() >= budget {
            break;
        }
        let scenario = *rng.pick(&[
            Scenario::Rotate,
            Scenario::RotateWithJobs,
            Scenario::Pipeline,
        ]);
        *by_scenario.entry(scenario).or_default() += 1;
        let ctx = TestContext::with_seed(seed());
        if scenario == Scenario::RotateWithJobs {
            ctx.fake.put_job(RG, "runner-default", job(&ctx));
        }
        // The starting point: the first key stored, cleanly.
        ctx.run(&inputs(&ctx, Scenario::Rotate, "app1.pkcs1.pem"), &[])
            .assert_ok();
        let before = ctx.fake.secret_versions("github-app-key").len();
        let count = 1 + rng.below(4);
        let mut plan = Vec::new();
        for _ in 0..count {
            let kind = *rng.pick(KINDS);
            let (method, path) = *rng.pick(TARGETS);
            *faults_by_kind.entry(kind).or_default() += 1;
            plan.push(format!("{kind} on {} {path}", method.unwrap_or("*")));
            ctx.fake.add_fault(fault(kind, method, path));
        }
        let run = ctx.run(&inputs(&ctx, scenario, "app1-new.pkcs1.pem"), &[]);
        let mut bad = invariants(&ctx, &run, before);
        if run.code == 0 {
            ok += 1;
        } else {
            clean_failures += 1;
        }
        // A clean rerun converges: the new key live, alone enabled, every consumer on it.
        ctx.fake.clear_faults();
        let rerun = ctx.run(&inputs(&ctx, scenario, "app1-new.pkcs1.pem"), &[]);
        if rerun.code != 0 {
            bad.push(format!("the clean rerun failed:\n{}", rerun.log()));
        }
        bad.extend(invariants(&ctx, &rerun, before));
        let versions = ctx.fake.secret_versions("github-app-key");
        let enabled: Vec<_> = versions.iter().filter(|v| v.enabled).collect();
        let new_fp = openssl_fingerprint(&fixture_path("app1-new.pkcs1.pem"));
        if enabled.len() != 1 || enabled[0].tags.get("github-app-key-fingerprint") != Some(&new_fp)
        {
            bad.push(format!(
                "after the clean rerun {} version(s) are enabled, not the new key alone",
                enabled.len()
            ));
        }
        // And one more writes nothing to the vault or to the variables.
        let writes_before = ctx.kv_writes().len();
        let variable_writes = |ctx: &TestContext| {
            ctx.fake
                .requests()
                .iter()
                .filter(|r| r.path.contains("/actions/variables") && r.method != "GET")
                .count()
        };
        let variables_before = variable_writes(&ctx);
        let last = ctx.run(&inputs(&ctx, scenario, "app1-new.pkcs1.pem"), &[]);
        if last.code != 0 {
            bad.push(format!("the run after convergence failed:\n{}", last.log()));
        }
        if ctx.kv_writes().len() != writes_before || variable_writes(&ctx) != variables_before {
            bad.push("the run after convergence wrote again".into());
        }
        for b in bad {
            violations.push(format!("run {n} ({scenario:?}; {}): {b}", plan.join(", ")));
        }
        done += 1;
    }
    let faults: u64 = faults_by_kind.values().sum();
    println!(
        "fault campaign (seed {seed_value}): {done} run(s) in {:.0} s, {by_scenario:?}",
        started.elapsed().as_secs_f64()
    );
    println!("faults injected: {faults} {faults_by_kind:?}");
    println!(
        "exit 0: {ok}; clean failures: {clean_failures}; violations: {}",
        violations.len()
    );
    assert!(done > 0, "the campaign ran nothing");
    assert!(violations.is_empty(), "{violations:#?}");
}

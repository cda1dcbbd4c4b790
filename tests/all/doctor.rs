//! `doctor` (SPEC §3.5): a healthy world gives every row ✔; each broken thing gives exactly its
//! row ✗ with the fix, the others unaffected; an unreachable service is one ✗ row; and no
//! scenario writes anything (the only non-reads are minting and revoking the token).

use std::collections::BTreeMap;

use fake_cloud::{ContainerExit, ExecutionStatus, JobExecution, KvRole, NewSecretVersion, Seed};
use serde_json::json;

use crate::helpers::*;

const RG: &str = "rg-runners";
const POOLS: &str =
    "- name: linux\n  labels: [linux, x64]\n  image: acrrunners.azurecr.io/github-runner:2.336.0\n";

fn doctor_inputs(ctx: &TestContext) -> BTreeMap<&'static str, String> {
    let mut inputs = ctx.rotate_inputs("app1.pkcs1.pem");
    inputs.insert("command", "doctor".into());
    inputs.insert("azure-subscription-id", ctx.fake.seed().subscription_id);
    inputs.insert("azure-resource-manager-url", ctx.fake.url());
    inputs.insert("resource-group", RG.into());
    inputs.insert("pools", POOLS.into());
    inputs.insert("registry", "acrrunners".into());
    inputs
}

/// One row of the log: mark, "Area · Check", what was found (and the fix after " → ").
#[derive(Debug, Clone)]
struct Row {
    mark: String,
    check: String,
    text: String,
}

fn rows(log: &str) -> Vec<Row> {
    log.lines()
        .filter_map(|l| {
            let (mark, rest) = l.split_once(' ')?;
            if !matches!(mark, "✔" | "⚠" | "✗") {
                return None;
            }
            let (check, text) = rest.split_once(": ")?;
            Some(Row {
                mark: mark.into(),
                check: check.into(),
                text: text.into(),
            })
        })
        .collect()
}

/// The healthy world: the key stored by rotate-key first; the doctor step's requests only.
struct World {
    ctx: TestContext,
}

impl World {
    /// The key stored and the runner jobs deployed, as the three workflows leave them.
    fn new(mut seed: Seed) -> World {
        seed.arm_deployment_ms = 200;
        seed.arm_retry_after_secs = 1;
        let ctx = TestContext::with_seed(seed);
        let mut setup = doctor_inputs(&ctx);
        setup.insert("command", "rotate-key deploy".into());
        setup.insert("template", "builtin:runner-jobs".into());
        setup.insert(
            "parameters",
            "acaEnvName: cae-runners\nacrName: acrrunners\nacaMsiName: id-runners\n".into(),
        );
        let run = ctx.run(&setup, &[]);
        run.assert_ok();
        World { ctx }
    }

    fn healthy() -> World {
        World::new(Seed {
            github_apps: vec![default_app()],
            ..Seed::default()
        })
    }

    /// Runs doctor with `change` applied to the inputs; returns the run, its rows, and the
    /// requests it sent.
    fn doctor(
        &self,
        change: impl FnOnce(&mut BTreeMap<&'static str, String>),
    ) -> (Run, Vec<Row>, Vec<(String, String)>) {
        let before = self.ctx.fake.requests().len();
        let mut inputs = doctor_inputs(&self.ctx);
        change(&mut inputs);
        let run = self.ctx.run(&inputs, &[]);
        let sent = self.ctx.fake.requests()[before..]
            .iter()
            .map(|r| (r.method.clone(), r.path.clone()))
            .collect();
        let rows = rows(&run.log());
        (run, rows, sent)
    }
}

/// Only reads, token minting and token revocation.
fn assert_read_only(sent: &[(String, String)]) {
    for (method, path) in sent {
        let token_exchange = (method == "POST"
            && (path.ends_with("/access_tokens") || path.contains("/oauth2/")))
            || (method == "DELETE" && path == "/installation/token");
        assert!(
            matches!(method.as_str(), "GET" | "HEAD") || token_exchange,
            "doctor wrote: {method} {path}"
        );
    }
}

fn find<'a>(rows: &'a [Row], check: &str) -> &'a Row {
    rows.iter()
        .find(|r| r.check == check)
        .unwrap_or_else(|| panic!("no row {check}: {rows:#?}"))
}

/// `broken`'s row is ✗ with a fix; every other row keeps the healthy world's mark (rows that
/// depend on the broken one may be missing).
fn assert_only(healthy: &[Row], broken: &[Row], check: &str) {
    let row = find(broken, check);
    assert_eq!(row.mark, "✗", "{check}: {row:?}");
    assert!(row.text.contains(" → "), "{check} names no fix: {row:?}");
    for r in broken.iter().filter(|r| r.check != check) {
        if let Some(h) = healthy.iter().find(|h| h.check == r.check) {
            assert_eq!(r.mark, h.mark, "{} changed with {check}: {r:?}", r.check);
        }
    }
}

#[test]
fn a_broken_github_side_shows_its_row_and_nothing_else_changes() {
    let world = World::healthy();
    let (run, healthy, sent) = world.doctor(|_| {});
    assert_read_only(&sent);
    assert!(
        run.output("warnings").parse::<u32>().is_ok(),
        "{}",
        run.log()
    );

    // The key of another App.
    let other = fixture("other.pkcs1.pem");
    let (run, broken, sent) = world.doctor(|i| {
        i.insert("private-key", other);
    });
    assert_read_only(&sent);
    assert_eq!(run.code, 1, "{}", run.log());
    assert_only(&healthy, &broken, "GitHub · App key");
    assert!(
        find(&broken, "GitHub · App key")
            .text
            .contains("fingerprint")
    );

    // Pools over the installation's budget.
    let (_, broken, sent) = world.doctor(|i| {
        i.insert(
            "pools",
            "- name: huge\n  max-executions: 100\n  polling-interval: 5\n  image: acrrunners.azurecr.io/github-runner:2.336.0\n".into(),
        );
    });
    assert_read_only(&sent);
    assert_only(&healthy, &broken, "Pools · API budget");

    // Overlapping labels.
    let (_, broken, _) = world.doctor(|i| {
        i.insert(
            "pools",
            format!("{POOLS}- name: big\n  labels: [linux, x64, big]\n  polling-interval: 300\n  image: acrrunners.azurecr.io/github-runner:2.336.0\n"),
        );
    });
    assert_only(&healthy, &broken, "Pools · Labels");

    // A runner GitHub refuses.
    let (_, broken, _) = world.doctor(|i| {
        i.insert(
            "pools",
            "- name: linux\n  labels: [linux, x64]\n  image: acrrunners.azurecr.io/github-runner:2.300.0\n".into(),
        );
    });
    assert_only(&healthy, &broken, "Runner · Runner version");

    // The federated credential does not match this workflow (another audience).
    let (_, broken, sent) = world.doctor(|i| {
        i.insert("azure-audience", "api://someone-else".into());
    });
    assert_read_only(&sent);
    let sign_in = find(&broken, "Azure · Sign-in");
    assert_eq!(sign_in.mark, "✗");
    assert!(sign_in.text.contains("AADSTS700212"), "{sign_in:?}");
}

#[test]
fn an_app_without_the_runner_permission_is_one_cross() {
    let mut app = default_app();
    app.installations[0]
        .permissions
        .remove("organization_self_hosted_runners");
    let world = World::new(Seed {
        github_apps: vec![app],
        ..Seed::default()
    });
    let healthy = World::healthy();
    let (_, healthy_rows, _) = healthy.doctor(|_| {});
    let (run, rows, sent) = world.doctor(|_| {});
    assert_read_only(&sent);
    assert_only(&healthy_rows, &rows, "GitHub · Runner permission");
    assert!(run.summary.contains("organization_self_hosted_runners"));
}

#[test]
fn an_unreachable_github_is_one_row_and_the_azure_checks_still_run() {
    let world = World::healthy();
    let (_, healthy, _) = world.doctor(|_| {});
    let (run, rows, sent) = world.doctor(|i| {
        i.insert("github-api-url", "https://127.0.0.1:9".into());
    });
    assert_read_only(&sent);
    assert_eq!(run.code, 1);
    assert_eq!(find(&rows, "GitHub · App key").mark, "✗");
    let check = "Azure · Sign-in";
    assert_eq!(
        find(&rows, check).mark,
        find(&healthy, check).mark,
        "{check}"
    );
}

#[test]
fn a_healthy_world_is_all_ticks() {
    let world = World::healthy();
    let (run, rows, sent) = world.doctor(|_| {});
    assert_read_only(&sent);
    assert_eq!(run.code, 0, "{}", run.log());
    let not_ok: Vec<&Row> = rows.iter().filter(|r| r.mark != "✔").collect();
    assert!(not_ok.is_empty(), "{not_ok:#?}");
    assert_eq!(run.output("problems"), "0");
    assert_eq!(run.output("warnings"), "0");
    assert!(
        run.summary
            .contains("| ✔ | Runner jobs · Executions of runner-linux |")
    );
    world.ctx.assert_contract();
    println!("{}", run.summary);
}

#[test]
fn a_broken_azure_side_shows_its_row_and_nothing_else_changes() {
    let world = World::healthy();
    let (_, healthy, _) = world.doctor(|_| {});
    let seed = world.ctx.fake.seed();

    // The caller may read the key but not store it.
    world.ctx.fake.set_kv_role(KvRole::SecretsUser);
    let (_, broken, sent) = world.doctor(|_| {});
    assert_read_only(&sent);
    assert_only(&healthy, &broken, "Azure · Vault role");
    assert!(
        find(&broken, "Azure · Vault role")
            .text
            .contains("secrets/setSecret")
    );
    world.ctx.fake.set_kv_role(KvRole::SecretsOfficer);

    // A vault on access policies.
    world.ctx.fake.set_vault_rbac(&seed.vault_name, false);
    let (_, broken, _) = world.doctor(|_| {});
    assert_only(&healthy, &broken, "Azure · Key Vault");
    world.ctx.fake.set_vault_rbac(&seed.vault_name, true);

    // A consumer pinned to a disabled version.
    let old = world.ctx.fake.put_secret_version(
        "github-app-key",
        NewSecretVersion {
            value: "old".into(),
            enabled: false,
            created: Some(1_600_000_000),
            ..NewSecretVersion::default()
        },
    );
    let secret_uri = format!("{}/secrets/github-app-key", world.ctx.fake.url());
    world.ctx.fake.put_app(
        RG,
        "app-pinned",
        json!({ "properties": { "configuration": { "secrets": [
            { "name": "key", "keyVaultUrl": format!("{secret_uri}/{}", old.version), "identity": "system" }
        ]}}}),
    );
    let (_, broken, sent) = world.doctor(|_| {});
    assert_read_only(&sent);
    assert_only(&healthy, &broken, "Key · Consumer");

    // A failed execution, with its reason.
    let mut failed = JobExecution::new(ExecutionStatus::Failed);
    failed.exit = Some(ContainerExit {
        code: 1,
        additional_information: "Error: the runner could not register".into(),
    });
    world.ctx.fake.add_job_execution(RG, "runner-linux", failed);
    let world_rows = world.doctor(|_| {}).1;

    let row = find(&world_rows, "Runner jobs · Executions of runner-linux");
    assert_eq!(row.mark, "✗", "{row:?}");
    assert!(row.text.contains("could not register"), "{row:?}");
}

#[test]
fn an_unreachable_azure_is_one_row_and_the_github_checks_still_run() {
    let world = World::healthy();
    let (_, healthy, _) = world.doctor(|_| {});
    let (run, rows, _) = world.doctor(|i| {
        i.insert("azure-authority-host", "https://127.0.0.1:9".into());
    });
    assert_eq!(run.code, 1);
    assert_eq!(find(&rows, "Azure · Sign-in").mark, "✗");
    for r in rows
        .iter()
        .filter(|r| r.check.starts_with("GitHub") || r.check.starts_with("Pools"))
    {
        assert_eq!(r.mark, find(&healthy, &r.check).mark, "{r:?}");
    }
}

#[test]
fn without_pools_the_deployed_jobs_are_read_back() {
    let world = World::healthy();
    let (run, rows, sent) = world.doctor(|i| {
        i.remove("pools");
    });
    assert_read_only(&sent);
    assert_eq!(run.code, 0, "{}", run.log());
    let pools = find(&rows, "Pools · Pools");
    assert_eq!(pools.mark, "✔");
    assert!(
        pools.text.contains("read back from the deployed jobs")
            && pools.text.contains("runner-linux"),
        "{pools:?}"
    );
    assert_eq!(find(&rows, "Pools · API budget").mark, "✔");
    // The runner version now comes from the deployed job's image.
    assert_eq!(find(&rows, "Runner · Runner version").mark, "✔");
}

#[test]
fn a_vault_closed_to_this_runners_network_is_a_warning_not_a_cross() {
    let world = World::healthy();
    world.ctx.fake.add_fault(fake_cloud::Fault {
        path_contains: "/secrets/".into(),
        method: None,
        times: 100,
        action: fake_cloud::FaultAction::Status {
            status: 403,
            retry_after: None,
            body: Some(serde_json::json!({"error": {
                "code": "Forbidden",
                "message": "Public network access is disabled and request is not from a trusted service nor via an approved private link.",
                "innererror": {"code": "ForbiddenByConnection"}
            }})),
        },
    });
    let (run, rows, sent) = world.doctor(|_| {});
    assert_read_only(&sent);
    let key = find(&rows, "Key · Versions");
    assert_eq!(key.mark, "⚠", "{key:?}");
    assert!(
        key.text.contains("run doctor inside the vault's network"),
        "{key:?}"
    );
    assert_eq!(run.output("problems"), "0", "{rows:#?}");
    assert_eq!(run.code, 0, "{}", run.log());
}

//! Fresh role assignments settle (SPEC §3.1.6): rotate-key waits out a 403 ForbiddenByRbac for
//! a caller whose Key Vault role is younger than 15 minutes, and fails at once otherwise.

use std::time::{Duration, Instant};

use fake_cloud::{KvRole, Seed};

use crate::helpers::*;

const OFFICER: &str = "b86a8fe4-44ce-4948-aee5-eccb2c155cd7";

fn ctx(settle_ms: u64) -> TestContext {
    TestContext::with_seed(Seed {
        github_apps: vec![default_app()],
        kv_rbac_settle_ms: settle_ms,
        ..Seed::default()
    })
}

fn vault_scope(ctx: &TestContext) -> String {
    format!(
        "/subscriptions/{}/resourceGroups/rg-runners/providers/Microsoft.KeyVault/vaults/kv-runners",
        ctx.fake.seed().subscription_id
    )
}

fn inputs(ctx: &TestContext) -> std::collections::BTreeMap<&'static str, String> {
    let mut i = ctx.rotate_inputs("app1.pkcs1.pem");
    i.insert("azure-subscription-id", ctx.fake.seed().subscription_id);
    i.insert("azure-resource-manager-url", ctx.fake.url());
    i
}

#[test]
fn a_fresh_assignment_is_waited_out() {
    let ctx = ctx(2500);
    let seed = ctx.fake.seed();
    ctx.fake
        .assign_role(&vault_scope(&ctx), &seed.azure_object_id, OFFICER, 20);
    let started = Instant::now();
    let run = ctx.run(&inputs(&ctx), &[]);
    run.assert_ok();
    assert!(started.elapsed() >= Duration::from_millis(2500));
    assert!(
        run.log().contains("whose Key Vault role was assigned"),
        "{}",
        run.log()
    );
    assert_eq!(run.output("rotated"), "true");
}

#[test]
fn an_old_assignment_fails_at_once_with_the_role_to_assign() {
    let ctx = ctx(0);
    ctx.fake.set_kv_role(KvRole::None);
    let seed = ctx.fake.seed();
    ctx.fake
        .assign_role(&vault_scope(&ctx), &seed.azure_object_id, OFFICER, 3600);
    let started = Instant::now();
    let run = ctx.run(&inputs(&ctx), &[]);
    assert_eq!(run.code, 1, "{}", run.log());
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(
        !run.log().contains("waiting for Azure RBAC"),
        "{}",
        run.log()
    );
    assert!(
        run.log()
            .contains("needs the role `Key Vault Secrets Officer`"),
        "{}",
        run.log()
    );
}

#[test]
fn without_a_subscription_a_refusal_is_not_waited_out() {
    let ctx = ctx(60_000);
    let seed = ctx.fake.seed();
    ctx.fake
        .assign_role(&vault_scope(&ctx), &seed.azure_object_id, OFFICER, 20);
    let started = Instant::now();
    let run = ctx.run(&ctx.rotate_inputs("app1.pkcs1.pem"), &[]);
    assert_eq!(run.code, 1, "{}", run.log());
    assert!(started.elapsed() < Duration::from_secs(20));
}

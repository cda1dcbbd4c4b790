//! `rotate-key` end to end.

use std::collections::BTreeMap;

use fake_cloud::{Fault, FaultAction, KvRole, NewSecretVersion, Service};

use crate::helpers::*;

const SECRET: &str = "github-app-key";

#[test]
fn first_run_stores_the_key_with_tags_and_outputs() {
    let ctx = TestContext::new();
    let run = ctx.run(&ctx.rotate_inputs("app1.pkcs1.pem"), &[]);
    run.assert_ok();
    let versions = ctx.fake.secret_versions(SECRET);
    assert_eq!(versions.len(), 1);
    let v = &versions[0];
    assert!(v.enabled);
    assert_eq!(v.content_type.as_deref(), Some("application/x-pem-file"));
    let fp = openssl_fingerprint(&fixture_path("app1.pkcs1.pem"));
    assert_eq!(v.tags.get("github-app-key-fingerprint"), Some(&fp));
    assert_eq!(
        v.tags.get("github-app-id").map(String::as_str),
        Some("12345")
    );
    assert_eq!(
        v.tags.get("rotated-by").map(String::as_str),
        Some("https://github.com/octo-org/runners/actions/runs/4242")
    );
    assert_eq!(v.value, fixture("app1.pkcs1.pem"));

    assert_eq!(run.output("rotated"), "true");
    assert_eq!(run.output("key-fingerprint"), fp);
    assert_eq!(
        run.output("secret-uri"),
        format!("{}/secrets/{SECRET}", ctx.fake.url())
    );
    assert_eq!(run.output("secret-version"), v.version);
    assert_eq!(
        run.output("secret-version-uri"),
        format!("{}/secrets/{SECRET}/{}", ctx.fake.url(), v.version)
    );
    assert!(run.output("key-created-at").ends_with('Z'));
    assert!(run.log().contains("::group::rotate-key"));
    assert!(run.log().contains("within 30 minutes"), "{}", run.log());
    let summary = normalize(&run.summary, &ctx, &[&v.version]);
    assert_eq!(
        summary,
        "### rotate-key

|  |  |
| --- | --- |
| GitHub App | 12345 |
| Secret | `FAKE/secrets/github-app-key` |
| Live version | `VERSION0` |
| Key fingerprint | `FINGERPRINT` |
| Rotated | true |
| Key created | TIME |
| Disabled versions | none |

Container Apps Jobs that reference the secret without a version pick up the new version within 30 minutes; until then they may still use the old, now disabled, version from their cache.
"
    );
    ctx.assert_contract();
}

#[test]
fn rerun_with_the_same_key_writes_nothing() {
    let ctx = TestContext::new();
    ctx.run(&ctx.rotate_inputs("app1.pkcs1.pem"), &[])
        .assert_ok();
    let writes_before = ctx.kv_writes().len();
    let run = ctx.run(&ctx.rotate_inputs("app1.pkcs8.pem"), &[]);
    run.assert_ok();
    assert_eq!(ctx.kv_writes().len(), writes_before, "second run wrote");
    assert_eq!(run.output("rotated"), "false");
    assert_eq!(ctx.fake.secret_versions(SECRET).len(), 1);
    assert!(run.log().contains("Unchanged"), "{}", run.log());
    ctx.assert_contract();
}

#[test]
fn a_new_key_is_stored_before_older_versions_are_disabled() {
    let ctx = TestContext::new();
    ctx.run(&ctx.rotate_inputs("app1.pkcs1.pem"), &[])
        .assert_ok();
    let first = ctx.fake.secret_versions(SECRET)[0].version.clone();
    let run = ctx.run(&ctx.rotate_inputs("app1-new.pkcs1.pem"), &[]);
    run.assert_ok();
    let versions = ctx.fake.secret_versions(SECRET);
    assert_eq!(versions.len(), 2);
    assert!(!versions[0].enabled, "old version still enabled");
    assert!(versions[1].enabled);
    assert_eq!(run.output("secret-version"), versions[1].version);
    // Order on the wire: the PUT of the new version comes before the PATCH that disables the old.
    let writes = ctx.kv_writes();
    let put = writes.iter().rposition(|w| w.starts_with("PUT")).unwrap();
    let patch = writes.iter().position(|w| w.starts_with("PATCH")).unwrap();
    assert!(put < patch, "{writes:?}");
    assert!(writes[patch].ends_with(&first));
    ctx.assert_contract();
}

#[test]
fn disable_previous_versions_false_keeps_them_enabled() {
    let ctx = TestContext::new();
    ctx.run(&ctx.rotate_inputs("app1.pkcs1.pem"), &[])
        .assert_ok();
    let mut inputs = ctx.rotate_inputs("app1-new.pkcs1.pem");
    inputs.insert("disable-previous-versions", "false".into());
    ctx.run(&inputs, &[]).assert_ok();
    let versions = ctx.fake.secret_versions(SECRET);
    assert_eq!(versions.len(), 2);
    assert!(versions.iter().all(|v| v.enabled));
    assert!(ctx.kv_writes().iter().all(|w| !w.starts_with("PATCH")));
}

#[test]
fn another_apps_key_is_refused_and_nothing_is_written() {
    let ctx = TestContext::new();
    let run = ctx.run(&ctx.rotate_inputs("other.pkcs1.pem"), &[]);
    assert_eq!(run.code, 1, "{}", run.log());
    assert!(
        run.log()
            .contains("this key is not valid for GitHub App 12345 (revoked, or another app's key)"),
        "{}",
        run.log()
    );
    assert!(run.log().contains("::error title="));
    assert!(ctx.kv_writes().is_empty());
    assert!(ctx.fake.secret_versions(SECRET).is_empty());
}

#[test]
fn paste_variants_give_one_fingerprint_equal_to_openssls() {
    let ctx = TestContext::new();
    let expected = openssl_fingerprint(&fixture_path("app1.pkcs1.pem"));
    let pkcs1 = fixture("app1.pkcs1.pem");
    let variants = [
        ("pkcs1", pkcs1.clone()),
        ("pkcs8", fixture("app1.pkcs8.pem")),
        ("crlf", pkcs1.replace('\n', "\r\n")),
        ("escaped", pkcs1.trim().replace('\n', "\\n")),
    ];
    for (name, pem) in variants {
        let mut inputs = ctx.rotate_inputs("app1.pkcs1.pem");
        inputs.insert("private-key", pem);
        inputs.insert("dry-run", "true".into());
        let run = ctx.run(&inputs, &[]);
        run.assert_ok();
        assert_eq!(run.output("key-fingerprint"), expected, "variant {name}");
    }
    assert!(ctx.kv_writes().is_empty());
}

#[test]
fn unusable_keys_are_refused_without_echoing_them() {
    let ctx = TestContext::new();
    let pkcs1 = fixture("app1.pkcs1.pem");
    let truncated: String = pkcs1.lines().take(8).collect::<Vec<_>>().join("\n");
    let cases = [
        ("garbage", "this is not a key at all".to_string()),
        ("ec", fixture("ec.pem")),
        ("ed25519", fixture("ed25519.pkcs8.pem")),
        ("encrypted", fixture("encrypted.pem")),
        ("public", fixture("app1.public.pem")),
        ("truncated", truncated),
    ];
    for (name, pem) in cases {
        let mut inputs = ctx.rotate_inputs("app1.pkcs1.pem");
        inputs.insert("private-key", pem.clone());
        let run = ctx.run(&inputs, &[]);
        assert_eq!(run.code, 2, "{name}: {}", run.log());
        assert!(
            run.log().contains("input `private-key`"),
            "{name}: {}",
            run.log()
        );
        // The mask commands carry the input by design (the runner hides them); nothing else may.
        let shown: String = run
            .log()
            .lines()
            .filter(|l| !l.starts_with("::add-mask::"))
            .collect::<Vec<_>>()
            .join("\n");
        for line in pem
            .lines()
            .filter(|l| l.len() > 20 && !l.starts_with("-----"))
        {
            assert!(!shown.contains(line), "{name}: key material in the log");
        }
    }
    assert!(
        ctx.fake.requests().is_empty(),
        "a bad key must fail before any request"
    );
}

#[test]
fn key_vault_403_names_the_role_and_keeps_the_previous_version() {
    let ctx = TestContext::new();
    ctx.run(&ctx.rotate_inputs("app1.pkcs1.pem"), &[])
        .assert_ok();
    ctx.fake.set_kv_role(KvRole::SecretsUser);
    let run = ctx.run(&ctx.rotate_inputs("app1-new.pkcs1.pem"), &[]);
    assert_eq!(run.code, 1);
    assert!(
        run.log().contains("Key Vault Secrets Officer"),
        "{}",
        run.log()
    );
    assert!(run.log().contains("ForbiddenByRbac"), "{}", run.log());
    let versions = ctx.fake.secret_versions(SECRET);
    assert_eq!(versions.len(), 1);
    assert!(versions[0].enabled);
}

#[test]
fn throttling_and_unavailability_are_retried() {
    let ctx = TestContext::new();
    ctx.fake.add_fault(Fault {
        method: Some("PUT".into()),
        path_contains: "/secrets/".into(),
        times: 1,
        action: FaultAction::Status {
            status: 429,
            retry_after: Some(1),
            body: None,
        },
    });
    ctx.fake.add_fault(Fault {
        method: Some("PUT".into()),
        path_contains: "/secrets/".into(),
        times: 1,
        action: FaultAction::Status {
            status: 503,
            retry_after: None,
            body: None,
        },
    });
    let run = ctx.run(&ctx.rotate_inputs("app1.pkcs1.pem"), &[]);
    run.assert_ok();
    let puts: Vec<u16> = ctx
        .fake
        .requests()
        .iter()
        .filter(|r| r.method == "PUT" && r.service == Service::KeyVault && r.status != 401)
        .map(|r| r.status)
        .collect();
    assert_eq!(puts, vec![429, 503, 200]);
    assert!(run.log().contains("retrying in 1.0s"), "{}", run.log());
    assert_eq!(ctx.fake.secret_versions(SECRET).len(), 1);
}

#[test]
fn without_the_oidc_request_url_it_asks_for_id_token_write() {
    let ctx = TestContext::new();
    let run = ctx.run(
        &ctx.rotate_inputs("app1.pkcs1.pem"),
        &[
            ("ACTIONS_ID_TOKEN_REQUEST_URL", None),
            ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", None),
        ],
    );
    assert_eq!(run.code, 1);
    assert!(
        run.log().contains("permissions: id-token: write"),
        "{}",
        run.log()
    );
    assert!(ctx.kv_writes().is_empty());
}

#[test]
fn a_key_older_than_max_key_age_days_fails_with_guidance() {
    let ctx = TestContext::new();
    let fp = openssl_fingerprint(&fixture_path("app1.pkcs1.pem"));
    let mut tags = BTreeMap::new();
    tags.insert("github-app-key-fingerprint".to_string(), fp);
    let hundred_days_ago = now() - 100 * 86_400;
    ctx.fake.put_secret_version(
        SECRET,
        NewSecretVersion {
            value: fixture("app1.pkcs1.pem"),
            content_type: Some("application/x-pem-file".into()),
            tags,
            enabled: true,
            created: Some(hundred_days_ago),
        },
    );
    let mut inputs = ctx.rotate_inputs("app1.pkcs1.pem");
    inputs.insert("max-key-age-days", "30".into());
    let run = ctx.run(&inputs, &[]);
    assert_eq!(run.code, 1, "{}", run.log());
    assert!(run.log().contains("100 days old"), "{}", run.log());
    assert!(
        run.log().contains("generate a new private key"),
        "{}",
        run.log()
    );
    assert_eq!(run.output("rotated"), "false");
    assert!(ctx.kv_writes().is_empty());

    inputs.insert("max-key-age-days", "365".into());
    ctx.run(&inputs, &[]).assert_ok();
}

#[test]
fn dry_run_writes_nothing() {
    let ctx = TestContext::new();
    ctx.run(&ctx.rotate_inputs("app1.pkcs1.pem"), &[])
        .assert_ok();
    let before = ctx.kv_writes().len();
    let mut inputs = ctx.rotate_inputs("app1-new.pkcs1.pem");
    inputs.insert("dry-run", "true".into());
    let run = ctx.run(&inputs, &[]);
    run.assert_ok();
    assert_eq!(ctx.kv_writes().len(), before);
    assert!(
        run.log().contains("dry-run: would store a new version"),
        "{}",
        run.log()
    );
    assert_eq!(ctx.fake.secret_versions(SECRET).len(), 1);
}

#[test]
fn every_installation_token_is_revoked() {
    let ctx = TestContext::new();
    ctx.run(&ctx.rotate_inputs("app1.pkcs1.pem"), &[])
        .assert_ok();
    ctx.run(&ctx.rotate_inputs("app1.pkcs1.pem"), &[])
        .assert_ok();
    let tokens = ctx.fake.installation_tokens();
    assert_eq!(tokens.len(), 2);
    assert!(tokens.iter().all(|t| t.revoked), "{tokens:?}");

    let mut inputs = ctx.rotate_inputs("app1.pkcs1.pem");
    inputs.insert("skip-token-revoke", "true".into());
    ctx.run(&inputs, &[]).assert_ok();
    let tokens = ctx.fake.installation_tokens();
    assert_eq!(tokens.iter().filter(|t| !t.revoked).count(), 1);
}

#[test]
fn with_runner_debug_no_secret_reaches_any_output() {
    let ctx = TestContext::new();
    let a = ctx.run(
        &ctx.rotate_inputs("app1.pkcs1.pem"),
        &[("RUNNER_DEBUG", Some("1"))],
    );
    a.assert_ok();
    let b = ctx.run(
        &ctx.rotate_inputs("app1-new.pkcs1.pem"),
        &[("RUNNER_DEBUG", Some("1"))],
    );
    b.assert_ok();
    assert!(a.log().contains("::debug::"), "debug lines expected");
    let mut secrets: Vec<String> = ctx.fake.issued_secrets();
    assert!(secrets.len() >= 4, "{secrets:?}");
    secrets.push(ctx.fake.seed().oidc_request_token.clone());
    for key in ["app1.pkcs1.pem", "app1-new.pkcs1.pem"] {
        for line in fixture(key).lines().filter(|l| !l.starts_with("-----")) {
            secrets.push(line.to_string());
        }
    }
    for run in [&a, &b] {
        for (what, text) in [
            ("stdout", &run.stdout),
            ("stderr", &run.stderr),
            ("output file", &run.output_file),
            ("summary", &run.summary),
        ] {
            for line in text.lines().filter(|l| !l.starts_with("::add-mask::")) {
                for s in &secrets {
                    assert!(!line.contains(s.as_str()), "a secret in {what}: {line}");
                }
            }
        }
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Replaces what changes from run to run with stable words.
fn normalize(text: &str, ctx: &TestContext, versions: &[&str]) -> String {
    let mut out = text.replace(&ctx.fake.url(), "FAKE");
    for (i, v) in versions.iter().enumerate() {
        out = out.replace(v, &format!("VERSION{i}"));
    }
    let fp = openssl_fingerprint(&fixture_path("app1.pkcs1.pem"));
    out = out.replace(&fp, "FINGERPRINT");
    out.lines()
        .map(|l| {
            if l.starts_with("| Key created |") {
                "| Key created | TIME |".to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

#[test]
fn an_unchanged_key_is_recognised_from_the_version_list_without_reading_the_value() {
    let ctx = TestContext::new();
    ctx.run(&ctx.rotate_inputs("app1.pkcs1.pem"), &[])
        .assert_ok();
    let before = ctx.fake.requests().len();
    let run = ctx.run(&ctx.rotate_inputs("app1.pkcs1.pem"), &[]);
    run.assert_ok();
    assert_eq!(run.output("rotated"), "false");
    let vault: Vec<String> = ctx.fake.requests()[before..]
        .iter()
        .filter(|r| r.service == Service::KeyVault)
        .map(|r| format!("{} {} {}", r.method, r.path, r.status))
        .collect();
    // The version list (its first try meets the challenge); the value is never fetched.
    assert_eq!(
        vault,
        [
            format!("GET /secrets/{SECRET}/versions 401"),
            format!("GET /secrets/{SECRET}/versions 200"),
        ],
        "{vault:?}"
    );
}

#[test]
fn a_version_stored_by_other_means_is_compared_by_its_value() {
    // No fingerprint tag (stored by `az keyvault secret set`, say): the value decides.
    let ctx = TestContext::new();
    ctx.fake.put_secret_version(
        SECRET,
        NewSecretVersion {
            value: fixture("app1.pkcs8.pem"),
            ..NewSecretVersion::default()
        },
    );
    let run = ctx.run(&ctx.rotate_inputs("app1.pkcs1.pem"), &[]);
    run.assert_ok();
    assert_eq!(run.output("rotated"), "false", "{}", run.log());
    assert!(ctx.kv_writes().is_empty());

    let run = ctx.run(&ctx.rotate_inputs("app1-new.pkcs1.pem"), &[]);
    run.assert_ok();
    assert_eq!(run.output("rotated"), "true", "{}", run.log());
}

#[test]
fn a_rejected_key_is_reported_at_once_whatever_the_vault_is_doing() {
    // The vault side is busy retrying 503s while GitHub rejects the key: the GitHub error ends
    // the command without waiting for the vault.
    let ctx = TestContext::new();
    ctx.fake.add_fault(Fault {
        method: Some("GET".into()),
        path_contains: "/versions".into(),
        times: 4,
        action: FaultAction::Status {
            status: 503,
            retry_after: Some(2),
            body: None,
        },
    });
    let started = std::time::Instant::now();
    let run = ctx.run(&ctx.rotate_inputs("other.pkcs1.pem"), &[]);
    assert_eq!(run.code, 1, "{}", run.log());
    assert!(
        run.log().contains("this key is not valid for GitHub App"),
        "{}",
        run.log()
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(4),
        "waited {:?} for the vault's retries",
        started.elapsed()
    );
    assert!(ctx.kv_writes().is_empty());
}

#[test]
fn without_disable_previous_versions_the_list_is_not_read() {
    // Listing versions is a right a vault may not grant; without disable-previous-versions the
    // latest value alone decides.
    let ctx = TestContext::new();
    ctx.run(&ctx.rotate_inputs("app1.pkcs1.pem"), &[])
        .assert_ok();
    let before = ctx.fake.requests().len();
    let mut inputs = ctx.rotate_inputs("app1.pkcs1.pem");
    inputs.insert("disable-previous-versions", "false".into());
    let run = ctx.run(&inputs, &[]);
    run.assert_ok();
    assert_eq!(run.output("rotated"), "false");
    assert!(
        ctx.fake.requests()[before..]
            .iter()
            .all(|r| !r.path.ends_with("/versions")),
        "{:?}",
        ctx.fake.requests()
    );
}

#[test]
fn a_store_whose_answer_is_lost_leaves_one_enabled_version() {
    // The vault applies the PUT but the answer never arrives; the client's retry stores the
    // key again. Every copy but the live one must end up disabled.
    let ctx = TestContext::new();
    ctx.run(&ctx.rotate_inputs("app1.pkcs1.pem"), &[])
        .assert_ok();
    for times in [1, 2] {
        let ctx = TestContext::new();
        ctx.run(&ctx.rotate_inputs("app1.pkcs1.pem"), &[])
            .assert_ok();
        ctx.fake.add_fault(Fault {
            method: Some("PUT".into()),
            path_contains: "/secrets/".into(),
            times,
            action: FaultAction::DropAfterApplied,
        });
        let run = ctx.run(&ctx.rotate_inputs("app1-new.pkcs1.pem"), &[]);
        run.assert_ok();
        let versions = ctx.fake.secret_versions("github-app-key");
        assert_eq!(versions.len(), 2 + times as usize, "{versions:#?}");
        let enabled: Vec<_> = versions.iter().filter(|v| v.enabled).collect();
        assert_eq!(
            enabled.len(),
            1,
            "{times} lost answer(s): {versions:#?}\n{}",
            run.log()
        );
        assert_eq!(enabled[0].version, run.output("secret-version"));
        assert_eq!(enabled[0].version, versions.last().unwrap().version);
        // A rerun converges: nothing more to write.
        let again = ctx.run(&ctx.rotate_inputs("app1-new.pkcs1.pem"), &[]);
        again.assert_ok();
        assert_eq!(
            ctx.fake.secret_versions("github-app-key").len(),
            versions.len()
        );
    }
}

#[test]
fn an_unwritable_output_or_summary_file_stops_the_step_before_any_request() {
    let ctx = TestContext::new();
    let missing = ctx.dir.path().join("no-such-dir/file");
    let missing = missing.to_str().unwrap();
    for name in ["GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY"] {
        let run = ctx.run(
            &ctx.rotate_inputs("app1.pkcs1.pem"),
            &[(name, Some(missing))],
        );
        assert_eq!(run.code, 1, "{}", run.log());
        assert!(
            run.log().contains(&format!(
                "::error title=aca-runner-action failed::cannot write the runner file {missing}"
            )),
            "{}",
            run.log()
        );
        assert!(run.log().contains("nothing was done"), "{}", run.log());
        assert!(
            ctx.fake.requests().is_empty(),
            "{name}: requests were sent: {:?}",
            ctx.fake.requests()
        );
    }
}

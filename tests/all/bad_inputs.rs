//! The README's table of bad inputs: every row is run here through the real binary, and the
//! table in the README must be exactly what these runs print (so it cannot drift). A changed
//! message fails this test with the table to paste.

use std::collections::BTreeMap;

use crate::helpers::*;

/// (command, input, bad value, extra inputs; an empty extra value removes that input).
type Case = (
    &'static str,
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

const CASES: &[Case] = &[
    ("rotate-key", "command", "rotate-keys", &[]),
    ("rotate-key", "command", "doctor deploy", &[]),
    ("rotate-key", "app-id", "", &[]),
    ("rotate-key", "private-key", "not a key", &[]),
    ("rotate-key", "private-key", "@encrypted.pem", &[]),
    ("rotate-key", "private-key", "@ec.pem", &[]),
    ("rotate-key", "installation-id", "abc", &[]),
    ("rotate-key", "key-vault", "1vault", &[]),
    ("rotate-key", "secret-name", "github_app_key", &[]),
    ("rotate-key", "verify-key", "maybe", &[]),
    ("rotate-key", "max-key-age-days", "-1", &[]),
    ("rotate-key", "secret-expires-in-days", "40000", &[]),
    ("rotate-key", "jobs", "just-a-name", &[]),
    (
        "rotate-key",
        "jobs",
        "auto",
        &[("azure-subscription-id", "")],
    ),
    ("rotate-key", "azure-auth", "password", &[]),
    ("rotate-key", "azure-environment", "Mars", &[]),
    ("deploy", "template", "builtin:nope", &[]),
    ("deploy", "scope", "tenant", &[]),
    ("deploy", "deployment-mode", "Partial", &[]),
    ("deploy", "timeout-minutes", "0", &[]),
    (
        "deploy",
        "parameters",
        "project: Runners",
        &[
            ("template", "builtin:prerequisites"),
            ("location", "westeurope"),
        ],
    ),
    (
        "deploy",
        "pools",
        "- name: big\n  cpu: 2\n  memory: 2Gi",
        &[],
    ),
    ("deploy", "pools", "- name: web\n  runner-scope: repo", &[]),
    ("deploy", "pools", "- name: x\n  colour: red", &[]),
    ("build-image", "registry", "x", &[]),
    ("build-image", "runner-version", "2.300.0", &[]),
    ("build-image", "build-args", "A B: 1", &[]),
    ("set-variables", "variables-scope", "galaxy", &[]),
    ("set-variables", "variables", "1BAD: x", &[]),
];

fn base(ctx: &TestContext, command: &str) -> BTreeMap<&'static str, String> {
    let mut i = ctx.rotate_inputs("app1.pkcs1.pem");
    i.insert("command", command.to_string());
    i.insert("azure-subscription-id", ctx.fake.seed().subscription_id);
    i.insert("azure-resource-manager-url", ctx.fake.url());
    match command {
        "deploy" => {
            i.insert("resource-group", "rg-runners".into());
            i.insert(
                "parameters",
                "acaEnvName: e\nacrName: acrrunners\nacaMsiName: m\ngitHubAppKeySecretUri: https://kv.vault.azure.net/secrets/k\n".into(),
            );
        }
        "build-image" => {
            i.insert("registry", "acrrunners".into());
            i.insert("resource-group", "rg-runners".into());
            i.insert("image", "github-runner:latest".into());
        }
        "set-variables" => {
            i.insert("variables", "NAME: value\n".into());
        }
        _ => {}
    }
    i
}

/// The `::error` annotation's message, decoded, on one line.
fn error_message(log: &str) -> String {
    let line = log
        .lines()
        .find(|l| l.starts_with("::error"))
        .unwrap_or_default();
    let message = line.splitn(3, "::").nth(2).unwrap_or_default();
    message
        .replace("%0A", " ")
        .replace("%0D", "")
        .replace("%25", "%")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', "⏎")
}

fn table() -> String {
    let mut out = String::from(
        "| command | input | bad value | exit | the error |\n| --- | --- | --- | --- | --- |\n",
    );
    for (command, input, value, extra) in CASES {
        let ctx = TestContext::new();
        let mut inputs = base(&ctx, command);
        let shown = match value.strip_prefix('@') {
            Some(file) => {
                inputs.insert(input, fixture(file));
                format!("({file})")
            }
            None => {
                if value.is_empty() {
                    inputs.remove(input);
                } else {
                    inputs.insert(input, value.to_string());
                }
                if value.is_empty() {
                    "(absent)".to_string()
                } else {
                    format!("`{}`", cell(value))
                }
            }
        };
        for (k, v) in *extra {
            if v.is_empty() {
                inputs.remove(k);
            } else {
                inputs.insert(k, v.to_string());
            }
        }
        let run = ctx.run(&inputs, &[]);
        assert_ne!(
            run.code,
            0,
            "{command} {input}={value}: accepted\n{}",
            run.log()
        );
        let message = error_message(&run.log());
        assert!(
            !message.is_empty(),
            "{command} {input}: no ::error\n{}",
            run.log()
        );
        // Refused before anything was sent.
        assert!(
            ctx.fake.requests().is_empty(),
            "{command} {input}={value}: sent {:?}",
            ctx.fake
                .requests()
                .iter()
                .map(|r| format!("{} {}", r.method, r.path))
                .collect::<Vec<_>>()
        );
        out.push_str(&format!(
            "| {command} | `{input}` | {shown} | {} | {} |\n",
            run.code,
            cell(&message)
        ));
    }
    out
}

#[test]
fn the_readme_table_of_bad_inputs_is_what_the_binary_says() {
    let generated = table();
    let readme = include_str!("../../README.md");
    let start = "<!-- bad-inputs:start -->\n";
    let end = "<!-- bad-inputs:end -->";
    let current = readme
        .split_once(start)
        .and_then(|(_, rest)| rest.split_once(end))
        .map(|(table, _)| table)
        .unwrap_or_default();
    assert!(
        current == generated,
        "README.md's bad-input table differs from what the binary says; put this between the markers:\n{generated}"
    );
}

/// The whole pipeline: a bad input of any command, the last ones included, stops the step
/// before the first request, so that rotate-key never stores a key (and deploy never runs) in a
/// step that set-variables would then refuse.
#[test]
fn a_bad_input_of_a_later_command_stops_the_pipeline_before_any_request() {
    for (command, input, value, extra) in CASES {
        if *command == "rotate-key" || value.is_empty() || value.starts_with('@') {
            continue;
        }
        let ctx = TestContext::new();
        let mut inputs = BTreeMap::new();
        for c in ["rotate-key", "build-image", "deploy", "set-variables"] {
            inputs.extend(base(&ctx, c));
        }
        inputs.insert(
            "command",
            "rotate-key build-image deploy set-variables".into(),
        );
        inputs.insert(input, value.to_string());
        for (k, v) in *extra {
            if v.is_empty() {
                inputs.remove(k);
            } else {
                inputs.insert(k, v.to_string());
            }
        }
        let run = ctx.run(&inputs, &[]);
        assert_ne!(run.code, 0, "{input}={value}: accepted\n{}", run.log());
        let sent: Vec<String> = ctx
            .fake
            .requests()
            .iter()
            .map(|r| format!("{} {}", r.method, r.path))
            .collect();
        assert!(
            sent.is_empty(),
            "{command} {input}={value}: the step sent {sent:?} before refusing it"
        );
    }
}

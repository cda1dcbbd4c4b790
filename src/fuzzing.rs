//! The properties the fuzz targets (`fuzz/`) check, one function per target, shared with the
//! regression test that replays every input a campaign found (`fuzz/regressions/<target>/`).
//! Each function panics when a property fails; none may panic otherwise, whatever the input.

use std::collections::BTreeMap;

/// `private-key` parsing and normalisation: never a panic; a key that parses has a
/// `SHA256:` fingerprint, and its normalised PEM parses again to the same fingerprint.
pub fn private_key(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let rt = crate::runtime::Runtime::default();
    if let Ok((key, pem)) = crate::key::AppKey::parse_for_storage(text, &rt) {
        assert!(key.fingerprint().starts_with("SHA256:"));
        let again = crate::key::AppKey::parse(pem.expose()).expect("a normalised key parses");
        assert_eq!(again.fingerprint(), key.fingerprint());
    }
}

/// The YAML inputs: `parameters`, `pools`, `variables`, `build-args` (the first byte picks
/// which). Errors are fine, panics are not; checked pools keep the limits they promise.
pub fn yaml_inputs(data: &[u8]) {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let mut outputs = BTreeMap::new();
    outputs.insert(
        "secret-uri".to_string(),
        "https://kv.vault.azure.net/secrets/k".to_string(),
    );
    match which % 4 {
        0 => {
            let _ = crate::templates::ParameterInput::parse(text).and_then(|p| p.resolve(&outputs));
        }
        1 => {
            if let Ok(plan) = crate::pools::plan(Some(text), Some("octo-org")) {
                for job in &plan.jobs {
                    assert!(job.job_name.len() <= 32, "{}", job.job_name);
                    assert!(job.job_name.len() + 8 <= crate::pools::RUNNER_NAME_MAX);
                    assert!((job.memory_gib - 2.0 * job.cpu).abs() < 1e-6);
                    assert!(
                        job.labels
                            .iter()
                            .any(|l| l.eq_ignore_ascii_case("self-hosted"))
                    );
                    let _ = job.budget(1000);
                }
            }
        }
        2 => {
            let _ = crate::commands::set_variables::parse_variables(text, &outputs);
        }
        _ => {
            let _ = crate::commands::build_image::build_args(Some(text));
        }
    }
}

/// ARM outputs → step outputs → the output file: any JSON value renders as text, the text
/// written in the file-command form reads back whole, and an annotation's escaping undoes.
pub fn outputs(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(value) = serde_json::from_str::<serde_json::Value>(&text) {
        let _ = crate::templates::output_text(&value);
    }
    // The runner reads `NAME<<DELIMITER`, then lines up to the delimiter's own line.
    let value = text.replace('\r', "");
    let record = crate::runtime::file_command("out", &value, 1);
    let mut lines = record.split('\n');
    let head = lines.next().expect("a first line");
    let delimiter = head
        .strip_prefix("out<<")
        .expect("the name and the delimiter");
    let mut read = Vec::new();
    for line in lines.by_ref() {
        if line == delimiter {
            break;
        }
        read.push(line);
    }
    assert_eq!(read.join("\n"), value, "the value reads back whole");
    let escaped = crate::runtime::escape_data(&text);
    assert!(!escaped.contains('\n') && !escaped.contains('\r'));
    let unescaped = escaped
        .replace("%0A", "\n")
        .replace("%0D", "\r")
        .replace("%25", "%");
    assert_eq!(unescaped, text);
}

/// `.dockerignore` patterns: any pattern file (before a NUL byte) and path (after it), no panic.
pub fn dockerignore(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (patterns, path) = text.split_once('\0').unwrap_or((&text, "a/b"));
    let ignore = crate::pack::DockerIgnore::parse(patterns);
    let _ = ignore.excludes(path);
    let _ = ignore.excludes("Dockerfile");
}

//! action.yml and the CLI describe the same inputs.

use std::collections::BTreeSet;

use aca_runner_action::Inputs;
use clap::CommandFactory;

use crate::helpers::declared_inputs;

#[test]
fn action_yml_inputs_match_the_cli_flags() {
    let declared: BTreeSet<String> = declared_inputs().into_iter().map(|(n, _)| n).collect();
    let cli: BTreeSet<String> = Inputs::command()
        .get_arguments()
        .filter_map(|a| a.get_long().map(str::to_string))
        .filter(|l| l != "help" && l != "version")
        .collect();
    assert_eq!(declared, cli);
    for arg in Inputs::command().get_arguments() {
        if let Some(long) = arg.get_long() {
            if long == "help" || long == "version" {
                continue;
            }
            let env = arg.get_env().map(|e| e.to_string_lossy().into_owned());
            assert_eq!(
                env.as_deref(),
                Some(format!("INPUT_{}", long.to_uppercase()).as_str()),
                "--{long}"
            );
            assert!(arg.get_help().is_some(), "--{long} has no help");
        }
    }
}

#[test]
fn every_input_and_output_has_a_description() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/action.yml")).unwrap();
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
    for section in ["inputs", "outputs"] {
        for (name, spec) in doc[section].as_mapping().unwrap() {
            let d = spec["description"].as_str().unwrap_or_default();
            assert!(d.len() > 10, "{section}.{name:?} lacks a description");
        }
    }
    assert!(doc["branding"]["icon"].is_string());
}

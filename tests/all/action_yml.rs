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

#[test]
fn the_native_action_has_the_root_actions_inputs_and_outputs_plus_binary_url() {
    let load = |path: &str| -> serde_yaml_ng::Value {
        let text =
            std::fs::read_to_string(format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap();
        serde_yaml_ng::from_str(&text).unwrap()
    };
    let root = load("action.yml");
    let native = load("native/action.yml");
    let mut inputs = native["inputs"].as_mapping().unwrap().clone();
    let binary_url = inputs
        .remove("binary-url")
        .expect("native input binary-url");
    assert!(binary_url["default"].is_null(), "binary-url has no default");
    // Word for word: names, descriptions, defaults, required.
    assert_eq!(&inputs, root["inputs"].as_mapping().unwrap());
    assert_eq!(native["outputs"], root["outputs"]);
    assert_eq!(native["runs"]["using"].as_str(), Some("node24"));
    assert_eq!(native["runs"]["main"].as_str(), Some("index.js"));
    // The release it downloads is the one the root action's image names.
    let image = root["runs"]["image"].as_str().unwrap();
    let tag = image.rsplit(':').next().unwrap();
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/native/action.yml")).unwrap();
    assert!(
        text.contains(&format!("\n# release-tag: {tag}\n")),
        "native/action.yml names another release than {image}"
    );
}

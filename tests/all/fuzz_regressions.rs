//! Every input in fuzz/regressions/<target>/ (seeds, and each crash a fuzz run found) replayed
//! through the property its fuzz target checks, on stable.

use std::path::Path;

/// A fuzz target's property.
type Check = fn(&[u8]);

#[test]
fn every_regression_input_passes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions");
    let targets: [(&str, Check); 4] = [
        ("private_key", aca_runner_action::fuzzing::private_key),
        ("yaml_inputs", aca_runner_action::fuzzing::yaml_inputs),
        ("outputs", aca_runner_action::fuzzing::outputs),
        ("dockerignore", aca_runner_action::fuzzing::dockerignore),
    ];
    for (target, check) in targets {
        let dir = root.join(target);
        let mut count = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            check(&std::fs::read(&path).unwrap());
            count += 1;
        }
        assert!(count > 0, "{} holds no input", dir.display());
    }
}

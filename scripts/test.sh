#!/usr/bin/env bash
# The project's test command (README "Run the tests"; .ci/run calls it).
# Unit tests, the fake cloud's own tests, and the end-to-end tests that run the real binary
# against the fake cloud the way a runner runs the step.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --locked "$@"

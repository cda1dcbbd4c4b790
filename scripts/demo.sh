#!/usr/bin/env bash
# The whole rotate-key flow on this machine, against the fake cloud (no GitHub, no Azure):
# starts the fake cloud, then runs the action three times exactly as a runner runs a Docker action
# step (INPUT_* variables, GITHUB_OUTPUT, GITHUB_STEP_SUMMARY, the OIDC request variables), and
# shows what a runner would show: the step log, the outputs and the step summary.
#   1. first rotation: the key is stored
#   2. the same key again (PKCS#8 this time): nothing is written
#   3. a new key: a new version is stored, then the old one is disabled
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet --locked --workspace --bins
source scripts/runner-env.sh
work=$(mktemp -d)
trap 'kill "$fake_pid" 2>/dev/null || true; rm -rf "$work"' EXIT
start_fake "$work"
echo "fake cloud at $url"

show() { # show TITLE KEYFILE
  echo
  echo "================ $1 ================"
  echo "---- step log"
  run_step target/debug/aca-runner-action "$2" 2>&1
  echo "---- GITHUB_OUTPUT"
  cat "$work/output"
  echo "---- GITHUB_STEP_SUMMARY"
  cat "$work/summary"
}

show "1. first rotation" app1.pkcs1.pem
show "2. same key again (nothing to do)" app1.pkcs8.pem
show "3. a new key" app1-new.pkcs1.pem

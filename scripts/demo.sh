#!/usr/bin/env bash
# The whole rotate-key flow on this machine, against the fake cloud (no GitHub, no Azure):
# starts the fake cloud, then runs the action three times exactly as a runner runs a Docker action
# step (INPUT_* variables, GITHUB_OUTPUT, GITHUB_STEP_SUMMARY, the OIDC request variables), and
# shows what a runner would show: the step log, the outputs and the step summary.
#   1. first rotation: the key is stored
#   2. the same key again: nothing is written
#   3. a new key: a new version is stored, then the old one is disabled
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet --locked --workspace --bins
bin=target/debug/aca-runner-action
work=$(mktemp -d)
trap 'kill "$fake_pid" 2>/dev/null || true; rm -rf "$work"' EXIT

keys=tests/fixtures/keys
python3 - "$keys" >"$work/seed.json" <<'PY'
import json, sys
keys = sys.argv[1]
pem = lambda n: open(f"{keys}/{n}").read()
print(json.dumps({"github_apps": [{
    "id": 12345, "client_id": "Iv1.fakeclient12345", "slug": "octo-runners", "name": "Octo Runners",
    "public_key_pems": [pem("app1.public.pem"), pem("app1-new.public.pem")],
    "installations": [{"id": 777, "account": "octo-org", "account_type": "Organization",
        "repository_selection": "all", "repositories": ["octo-org/runners"],
        "permissions": {"organization_self_hosted_runners": "write", "actions_variables": "write",
                        "metadata": "read"}}]}]}))
PY

target/debug/fake-cloud --port 0 --ca-file "$work/ca.pem" --seed "$work/seed.json" >"$work/fake.out" &
fake_pid=$!
for _ in $(seq 100); do grep -q '^ready ' "$work/fake.out" 2>/dev/null && break; sleep 0.1; done
url=$(sed -n 's/^ready //p' "$work/fake.out")
[ -n "$url" ] || { echo "the fake cloud did not start"; exit 1; }
echo "fake cloud at $url"

step() { # step TITLE KEYFILE
  local title=$1 key=$2
  : >"$work/output"; : >"$work/summary"
  echo
  echo "================ $title ================"
  echo "---- step log"
  env -i PATH="$PATH" HOME="$HOME" \
    GITHUB_ACTIONS=true GITHUB_API_URL="$url" GITHUB_SERVER_URL=https://github.com \
    GITHUB_REPOSITORY=octo-org/runners GITHUB_REPOSITORY_OWNER=octo-org GITHUB_RUN_ID=1 \
    GITHUB_OUTPUT="$work/output" GITHUB_STEP_SUMMARY="$work/summary" \
    ACTIONS_ID_TOKEN_REQUEST_URL="$url/_actions/idtoken?api-version=2.0" \
    ACTIONS_ID_TOKEN_REQUEST_TOKEN=fake-actions-request-token \
    SSL_CERT_FILE="$work/ca.pem" NO_PROXY=127.0.0.1,localhost \
    INPUT_COMMAND=rotate-key INPUT_APP-ID=12345 INPUT_PRIVATE-KEY="$(cat "$keys/$key")" \
    INPUT_KEY-VAULT="$url" INPUT_AZURE-AUTHORITY-HOST="$url" \
    INPUT_AZURE-CLIENT-ID=22222222-2222-2222-2222-222222222222 \
    INPUT_AZURE-TENANT-ID=11111111-1111-1111-1111-111111111111 \
    INPUT_SECRET-NAME=github-app-key INPUT_VERIFY-KEY=true INPUT_DISABLE-PREVIOUS-VERSIONS=true \
    INPUT_MAX-KEY-AGE-DAYS=0 INPUT_SECRET-EXPIRES-IN-DAYS=0 INPUT_SKIP-TOKEN-REVOKE=false \
    INPUT_DRY-RUN=false \
    "$bin" 2>&1
  echo "---- GITHUB_OUTPUT"
  cat "$work/output"
  echo "---- GITHUB_STEP_SUMMARY"
  cat "$work/summary"
}

step "1. first rotation" app1.pkcs1.pem
step "2. same key again (nothing to do)" app1.pkcs8.pem
step "3. a new key" app1-new.pkcs1.pem

#!/usr/bin/env bash
# Time from `docker run` to exit of the runtime image for a no-change rotate-key against the local
# fake cloud, run as the Actions runner runs a Docker action (-e INPUT_*, mounts, workdir).
# Prints the image size and min/median/max over RUNS runs; asserts nothing.
#   bench/container.sh [RUNS]    (default 7; needs a Docker engine)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-7}
scripts/build-image.sh >/dev/null
cargo build --quiet --locked -p fake-cloud
source scripts/runner-env.sh
work=$(mktemp -d)
trap 'kill "$fake_pid" 2>/dev/null || true; rm -rf "$work"' EXIT
start_fake "$work"
mkdir -p "$work/fc"
cp "$work/ca.pem" "$work/fc/ca.pem"
key=$(cat "$keys/app1.pkcs1.pem")

one() {
  : >"$work/fc/output"; : >"$work/fc/summary"
  env -i PATH="$PATH" \
    GITHUB_ACTIONS=true GITHUB_API_URL="$url" GITHUB_REPOSITORY=octo-org/runners \
    GITHUB_REPOSITORY_OWNER=octo-org GITHUB_OUTPUT=/github/file_commands/output \
    GITHUB_STEP_SUMMARY=/github/file_commands/summary \
    ACTIONS_ID_TOKEN_REQUEST_URL="$url/_actions/idtoken?api-version=2.0" \
    ACTIONS_ID_TOKEN_REQUEST_TOKEN=fake-actions-request-token \
    SSL_CERT_FILE=/github/file_commands/ca.pem \
    INPUT_COMMAND=rotate-key INPUT_APP-ID=12345 INPUT_PRIVATE-KEY="$key" INPUT_KEY-VAULT="$url" \
    INPUT_AZURE-AUTHORITY-HOST="$url" \
    INPUT_AZURE-CLIENT-ID=22222222-2222-2222-2222-222222222222 \
    INPUT_AZURE-TENANT-ID=11111111-1111-1111-1111-111111111111 \
    docker run --rm --network host --workdir /github/workspace \
      -v "$work/fc:/github/file_commands" -v "$work:/github/workspace" \
      -e GITHUB_ACTIONS -e GITHUB_API_URL -e GITHUB_REPOSITORY -e GITHUB_REPOSITORY_OWNER \
      -e GITHUB_OUTPUT -e GITHUB_STEP_SUMMARY -e ACTIONS_ID_TOKEN_REQUEST_URL \
      -e ACTIONS_ID_TOKEN_REQUEST_TOKEN -e SSL_CERT_FILE -e INPUT_COMMAND -e INPUT_APP-ID \
      -e INPUT_PRIVATE-KEY -e INPUT_KEY-VAULT -e INPUT_AZURE-AUTHORITY-HOST \
      -e INPUT_AZURE-CLIENT-ID -e INPUT_AZURE-TENANT-ID \
      aca-runner-action:local >/dev/null 2>&1
}

one   # first store, not counted
grep -q "rotated<<" "$work/fc/output" || { echo "the container step failed" >&2; exit 1; }
times=()
for ((i = 0; i < runs; i++)); do
  start=$(date +%s%N); one; end=$(date +%s%N)
  grep -A1 "^rotated<<" "$work/fc/output" | grep -qx false || { echo "expected no change" >&2; exit 1; }
  times+=($(( (end - start) / 1000000 )))
done
echo "image: $(docker image inspect -f '{{.Size}}' aca-runner-action:local) bytes (without Bicep)"
python3 - "${times[*]}" <<'PY'
import statistics, sys
t = [float(x) for x in sys.argv[1].split()]
print(f"docker run → exit, no-change rotate-key, {len(t)} runs: min {min(t):.0f} ms, median {statistics.median(t):.0f} ms, max {max(t):.0f} ms")
PY

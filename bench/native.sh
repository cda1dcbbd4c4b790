#!/usr/bin/env bash
# Step wall time of a no-change rotate-key on a warm runner, three ways, interleaved run by run
# against one local fake cloud: the Docker action (image present, as `docker run` by the runner),
# the native action with its binary in the tool cache, and the native action's first step on a
# runner (download from the fake's release mirror, SHA-256 check, cache, run). Prints a table
# with min/median/max and the ratios of the medians; asserts nothing.
#   bench/native.sh [RUNS]    (default 7; needs a Docker engine and node)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-7}
scripts/build-image.sh >/dev/null
cargo build --quiet --locked -p fake-cloud
source scripts/runner-env.sh
bin=target/x86_64-unknown-linux-gnu/release/aca-runner-action
work=$(mktemp -d)
trap 'kill "$fake_pid" 2>/dev/null || true; rm -rf "$work"' EXIT

# A release v0.1.0 of this build, and a copy of the action stamped with its checksum.
mkdir -p "$work/releases/v0.1.0" "$work/action/native" "$work/action/scripts"
cp "$bin" "$work/releases/v0.1.0/aca-runner-action-linux-x64"
cp action.yml "$work/action/"
cp native/action.yml native/index.js "$work/action/native/"
node scripts/native-action.cjs --root "$work/action" --release v0.1.0 \
  --repository octo-org/aca-runner-action --assets "$work/releases/v0.1.0" >/dev/null

FAKE_RELEASES="$work/releases" start_fake "$work"
run_step "$bin" app1.pkcs1.pem >/dev/null 2>&1 # the key in the vault: every timed step is a no-change one

native() { # native CACHE_DIR
  STEP_LAUNCHER=node run_step "$work/action/native/index.js" app1.pkcs1.pem RUNNER_OS=Linux RUNNER_ARCH=X64 RUNNER_TOOL_CACHE="$1" \
    GITHUB_SERVER_URL="$url" GITHUB_ACTION_REPOSITORY=octo-org/aca-runner-action INPUT_BINARY-URL= \
    >"$work/log" 2>&1
}
check() { grep -A1 "^rotated<<" "$1" | grep -qx false || { echo "$2: expected a no-change step" >&2; exit 1; }; }
ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
native "$work/warm-cache" || { echo "the native step failed:" >&2; cat "$work/log" >&2; exit 1; } # fills the warm cache

docker_t=() cached_t=() first_t=()
for ((i = 0; i < runs; i++)); do
  t=$(date +%s%N); run_container_step aca-runner-action:local app1.pkcs1.pem >/dev/null 2>&1
  docker_t+=("$(ms "$t")"); check "$work/fc/output" docker
  t=$(date +%s%N); native "$work/warm-cache"; cached_t+=("$(ms "$t")"); check "$work/output" cached
  rm -rf "$work/cold-cache"
  t=$(date +%s%N); native "$work/cold-cache"; first_t+=("$(ms "$t")"); check "$work/output" first
done
echo "binary: $(stat -c %s "$bin") bytes; image: $(docker image inspect -f '{{.Size}}' aca-runner-action:local) bytes"
python3 - "${docker_t[*]}" "${cached_t[*]}" "${first_t[*]}" <<'PY'
import statistics, sys
rows = [("Docker action, image present", sys.argv[1]), ("native action, binary cached", sys.argv[2]),
        ("native action, first download", sys.argv[3])]
base = statistics.median(float(x) for x in sys.argv[1].split())
print("| step | runs | wall ms min / median / max | median ÷ Docker |")
print("| --- | --- | --- | --- |")
for name, xs in rows:
    t = [float(x) for x in xs.split()]
    print(f"| {name} | {len(t)} | {min(t):.0f} / {statistics.median(t):.0f} / {max(t):.0f} | {statistics.median(t) / base:.2f} |")
PY

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
one() { run_container_step aca-runner-action:local app1.pkcs1.pem >/dev/null 2>&1; }

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

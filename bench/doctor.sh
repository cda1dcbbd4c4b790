#!/usr/bin/env bash
# Figures for one `doctor` run against the local fake cloud at 0 and 50 ms per request: wall time
# (min/median/max) and HTTP requests per run (the fake cloud's request log), after one rotate-key
# has stored the key. Prints a table; asserts nothing (doctor's own exit code is not judged).
#   bench/doctor.sh [RUNS] [LATENCIES_MS]    (default 7 "0 50")
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-7}
latencies=${2:-"0 50"}
RUSTFLAGS="-C target-feature=+crt-static" \
  cargo build --quiet --locked --release -p aca-runner-action --target x86_64-unknown-linux-gnu
cargo build --quiet --locked -p fake-cloud
source scripts/runner-env.sh
bin=target/x86_64-unknown-linux-gnu/release/aca-runner-action
pools=$'- name: linux\n  labels: [linux, x64]\n  image: acrrunners.azurecr.io/github-runner:2.336.0'

echo "| latency | runs | wall ms min/median/max | HTTP requests min/median/max |"
echo "| --- | --- | --- | --- |"
for latency in $latencies; do
  work=$(mktemp -d)
  FAKE_LATENCY_MS=$latency start_fake "$work"
  run_step "$bin" app1.pkcs1.pem >/dev/null 2>&1 # the key in the vault
  walls=() reqs=()
  for ((i = 0; i < runs; i++)); do
    before=$(request_count)
    /usr/bin/time -f "%e" -o "$work/time" bash -c "$(declare -f run_step); work='$work' url='$url' keys='$keys'; run_step '$bin' app1.pkcs1.pem INPUT_COMMAND=doctor INPUT_AZURE-SUBSCRIPTION-ID=44444444-4444-4444-4444-444444444444 INPUT_AZURE-RESOURCE-MANAGER-URL='$url' INPUT_RESOURCE-GROUP=rg-runners INPUT_POOLS='$pools'" >/dev/null 2>&1 || true
    walls+=("$(tail -n 1 "$work/time")"); reqs+=($(( $(request_count) - before )))
  done
  kill "$fake_pid" 2>/dev/null || true
  python3 - "$latency" "$runs" "${walls[*]}" "${reqs[*]}" <<'PY'
import statistics, sys
latency, runs, walls, reqs = sys.argv[1], sys.argv[2], *[list(map(float, a.split())) for a in sys.argv[3:]]
f = lambda xs, k=1: f"{min(xs)*k:.3g} / {statistics.median(xs)*k:.3g} / {max(xs)*k:.3g}"
print(f"| {latency} ms | {runs} | {f(walls, 1000)} | {f(reqs)} |")
PY
  rm -rf "$work"
done

#!/usr/bin/env bash
# Figures for one rotate-key run against the local fake cloud: release binary size, wall time and
# peak RSS (GNU time), HTTP requests per run (the fake cloud's request log), for an unchanged key
# and a changed key. Prints a table; asserts nothing.
#   bench/rotate-key.sh [RUNS]    (default 7)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-7}
# The binary that ships: static, release profile (lto, codegen-units 1, strip).
RUSTFLAGS="-C target-feature=+crt-static" \
  cargo build --quiet --locked --release -p aca-runner-action --target x86_64-unknown-linux-gnu
cargo build --quiet --locked -p fake-cloud
source scripts/runner-env.sh
work=$(mktemp -d)
trap 'kill "$fake_pid" 2>/dev/null || true; rm -rf "$work"' EXIT
start_fake "$work"
bin=target/x86_64-unknown-linux-gnu/release/aca-runner-action

measure() { # measure LABEL KEY...   (keys cycle per run)
  local label=$1; shift
  local keys_list=("$@") i=0 walls=() rss=() reqs=()
  for ((i = 0; i < runs; i++)); do
    local key=${keys_list[$((i % ${#keys_list[@]}))]}
    local before; before=$(request_count)
    /usr/bin/time -f "%e %M" -o "$work/time" bash -c "$(declare -f run_step); work='$work' url='$url' keys='$keys'; run_step '$bin' '$key'" >/dev/null 2>&1
    read -r wall maxrss <"$work/time"
    walls+=("$wall"); rss+=("$maxrss"); reqs+=($(( $(request_count) - before )))
  done
  python3 - "$label" "${walls[*]}" "${rss[*]}" "${reqs[*]}" <<'PY'
import statistics, sys
label, walls, rss, reqs = sys.argv[1], *[list(map(float, a.split())) for a in sys.argv[2:]]
f = lambda xs, k=1: f"{min(xs)*k:.3g} / {statistics.median(xs)*k:.3g} / {max(xs)*k:.3g}"
print(f"| {label} | {f(walls, 1000)} | {f(rss, 1/1024)} | {f(reqs)} |")
PY
}

echo "release binary: $(stat -c %s "$bin") bytes ($(( $(stat -c %s "$bin") / 1024 / 1024 )) MiB)"
run_step "$bin" app1.pkcs1.pem >/dev/null 2>&1   # first store, not counted
echo "| run ($runs each) | wall ms min/median/max | peak RSS MiB min/median/max | HTTP requests min/median/max |"
echo "| --- | --- | --- | --- |"
measure "unchanged key" app1.pkcs1.pem
measure "changed key (alternating keys)" app1-new.pkcs1.pem app1.pkcs1.pem

#!/usr/bin/env bash
# Figures for the start of one runner job execution, as builtin:runner-jobs runs it, against the
# local fake cloud: the init container's program (aca-runner-action runner-init: installation
# token, JIT configuration, revocation) and then runner/entrypoint.sh up to the runner's
# "Listening for Jobs", with a stub run.sh in place of the real runner (which needs GitHub).
# Prints min / median / max per part; asserts nothing.
#   bench/runner-start.sh [ROUNDS] [LATENCIES_MS]     (default 9 "0 50")
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-9}
latencies=${2:-"0 50"}
RUSTFLAGS="-C target-feature=+crt-static" \
  cargo build --quiet --locked --release -p aca-runner-action --target x86_64-unknown-linux-gnu
cargo build --quiet --locked -p fake-cloud
bin=$PWD/target/x86_64-unknown-linux-gnu/release/aca-runner-action
source scripts/runner-env.sh
base=$(mktemp -d)
fake_pid=
trap 'kill "$fake_pid" 2>/dev/null || true; rm -rf "$base"' EXIT

# The stub runner: takes its configuration as run.sh does, says what the real one says when ready.
mkdir -p "$base/home"
cat >"$base/home/run.sh" <<'SH'
#!/bin/sh
[ -n "${ACTIONS_RUNNER_INPUT_JITCONFIG:-}" ] || { echo "stub run.sh: no ACTIONS_RUNNER_INPUT_JITCONFIG" >&2; exit 3; }
echo "√ Connected to GitHub"
echo "Listening for Jobs"
SH
chmod +x "$base/home/run.sh"

now_ms() { date +%s%3N; }

printf '%-10s %-8s %8s %8s %8s\n' latency part min median max
for latency in $latencies; do
  work="$base/fake-$latency"
  mkdir -p "$work"
  FAKE_LATENCY_MS=$latency start_fake "$work"
  inits=() runners=() totals=()
  for ((i = 0; i < rounds; i++)); do
    jit="$work/jit-$i"
    mkdir -p "$jit"
    t0=$(now_ms)
    env -i PATH="$PATH" SSL_CERT_FILE="$work/ca.pem" NO_PROXY=127.0.0.1,localhost \
      GITHUB_APP_ID=12345 GITHUB_INSTALLATION_ID=777 GITHUB_API_URL="$url" \
      GITHUB_APP_KEY="$(cat "$keys/app1.pkcs1.pem")" RUNNER_SCOPE=org RUNNER_OWNER=octo-org \
      RUNNER_LABELS=self-hosted,linux,x64 RUNNER_NAME_PREFIX=runner-linux \
      CONTAINER_APP_JOB_EXECUTION_NAME="runner-linux-bench$i" JIT_CONFIG_FILE="$jit/config" \
      "$bin" runner-init >"$work/init-$i.log" 2>&1
    t1=$(now_ms)
    env -i PATH="$PATH" RUNNER_HOME="$base/home" JIT_CONFIG_FILE="$jit/config" \
      bash runner/entrypoint.sh | grep -q "Listening for Jobs"
    t2=$(now_ms)
    inits+=($((t1 - t0))) runners+=($((t2 - t1))) totals+=($((t2 - t0)))
  done
  kill "$fake_pid" 2>/dev/null || true
  wait "$fake_pid" 2>/dev/null || true
  for part in init runner total; do
    case $part in
      init) values=("${inits[@]}") ;;
      runner) values=("${runners[@]}") ;;
      total) values=("${totals[@]}") ;;
    esac
    python3 - "$latency" "$part" "${values[@]}" <<'PY'
import statistics, sys
latency, part, *v = sys.argv[1:]
v = sorted(int(x) for x in v)
print(f"{latency + ' ms':<10} {part:<8} {v[0]:>6}ms {statistics.median(v):>6.0f}ms {v[-1]:>6}ms")
PY
  done
done
echo "(init: token, JIT configuration and revocation against the fake GitHub; runner: entrypoint.sh"
echo " to 'Listening for Jobs' with a stub run.sh; the real runner adds its own start-up and session)"

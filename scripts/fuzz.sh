#!/usr/bin/env bash
# Runs every fuzz target (fuzz/, cargo-fuzz on the nightly toolchain) for a bounded time each,
# seeded with the regression inputs, and copies any crash into fuzz/regressions/<target>/ so
# that the stable test suite replays it (tests/all/fuzz_regressions.rs).
#   scripts/fuzz.sh [SECONDS_PER_TARGET]     (default 60)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
status=0
for target in private_key yaml_inputs outputs dockerignore; do
  corpus=$(mktemp -d)
  cp fuzz/regressions/$target/* "$corpus"/ 2>/dev/null || true
  log=$(mktemp)
  if cargo +nightly fuzz run --fuzz-dir fuzz "$target" "$corpus" -- \
      -max_total_time="$seconds" -max_len=4096 -rss_limit_mb=2048 >"$log" 2>&1; then
    runs=$(grep -oE '#[0-9]+' "$log" | tail -1 | tr -d '#')
    echo "$target: ${runs:-0} executions in ${seconds} s, no crash"
  else
    status=1
    echo "$target: CRASH" >&2
    tail -30 "$log" >&2
    for crash in fuzz/artifacts/$target/crash-* fuzz/artifacts/$target/leak-* fuzz/artifacts/$target/timeout-*; do
      [ -e "$crash" ] && cp "$crash" fuzz/regressions/$target/ && echo "  kept $(basename "$crash")" >&2
    done
  fi
  rm -rf "$corpus" "$log"
done
exit "$status"

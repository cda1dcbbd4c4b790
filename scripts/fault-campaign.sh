#!/usr/bin/env bash
# The fault campaign at any length (tests/all/campaign.rs): seeded runs of rotate-key,
# rotate-key with jobs and the whole rotate-key deploy set-variables step against the fake
# cloud, 1-4 random faults each (429 with Retry-After, 5xx, GitHub's secondary rate limit,
# connections dropped before the answer and after the write was applied, slow answers), the
# invariants checked after every run. Prints runs, faults by kind, exit-0 runs, clean failures
# and violations (which fail it).
#   scripts/fault-campaign.sh [RUNS] [SEED] [SECONDS]     (default 300 1 3600)
set -euo pipefail
cd "$(dirname "$0")/.."
sh scripts/azurite.sh >/dev/null
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
ACA_CAMPAIGN_RUNS=${1:-300} ACA_CAMPAIGN_SEED=${2:-1} ACA_CAMPAIGN_SECONDS=${3:-3600} \
  cargo test --locked --test all campaign::fault_campaign -- --nocapture --exact >"$log" 2>&1 \
  || status=$?
grep -E '^(fault campaign|faults injected|exit 0|test campaign)' "$log" || true
if [ "$status" -ne 0 ]; then
  cat "$log" >&2
fi
exit "$status"

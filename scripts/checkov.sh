#!/usr/bin/env bash
# checkov's ARM checks over builtin:prerequisites as Azure would receive it: the template is
# deployed to the fake cloud (the real binary, real parameters: `network: public`, then
# `network: private`), and every resource the deployment made, with its evaluated body, goes
# into one expanded template per mode (expressions resolved, nested deployments flattened),
# which checkov scans. Each mode must pass every check but the ones listed below.
#   CHECKOV=/path/to/checkov scripts/checkov.sh     (.ci/run installs checkov from PyPI)
set -euo pipefail
cd "$(dirname "$0")/.."
CHECKOV=${CHECKOV:-checkov}
command -v "$CHECKOV" >/dev/null || { echo "no checkov ($CHECKOV): pip install checkov==3.3.30" >&2; exit 2; }
# Left on purpose, each a documented choice (README: "The infrastructure scan"):
# in both modes
#   CKV_AZURE_166  registry quarantine policy: every pushed image would stay unpullable until a
#                  scanner marks it verified; nothing in this pipeline does, so jobs could not start
# in the public mode (vault and registry reached from GitHub-hosted runners and the platform,
# whose addresses no firewall rule can list; network: private closes both)
#   CKV_AZURE_109  Key Vault firewall rules (networkAcls.defaultAction Deny)
#   CKV_AZURE_189  Key Vault public network access disabled
#   CKV_AZURE_139  registry public network access disabled
#   CKV_AZURE_163  registry SKU Standard or Premium (Basic is the cost choice; private is Premium)
SKIPS=CKV_AZURE_166
PUBLIC_SKIPS=$SKIPS,CKV_AZURE_109,CKV_AZURE_189,CKV_AZURE_139,CKV_AZURE_163

cargo build --quiet --locked --workspace --bins
source scripts/runner-env.sh
work=$(mktemp -d)
trap 'kill "$fake_pid" 2>/dev/null || true; rm -rf "$work"' EXIT
start_fake "$work"
sub=44444444-4444-4444-4444-444444444444

status=0
for mode in public private; do
  project="scan-$mode"
  run_step target/debug/aca-runner-action app1.pkcs1.pem INPUT_COMMAND=deploy INPUT_KEY-VAULT= \
    INPUT_TEMPLATE=builtin:prerequisites INPUT_LOCATION=westeurope \
    "INPUT_PARAMETERS=project: $project"$'\n'"network: $mode" \
    INPUT_AZURE-SUBSCRIPTION-ID=$sub INPUT_AZURE-RESOURCE-MANAGER-URL="$url" >"$work/deploy-$mode.log" 2>&1 \
    || { cat "$work/deploy-$mode.log" >&2; echo "scripts/checkov.sh: the $mode deployment failed" >&2; exit 1; }
  curl -sf --cacert "$work/ca.pem" "$url/_fake/resources" >"$work/resources.json"
  python3 - "$project" templates/prerequisites.json "$work/resources.json" >"$work/$mode.json" <<'PY'
import json, sys
project, template = sys.argv[1], json.load(open(sys.argv[2]))
# The template's api-version of each type (the fake's registry keeps bodies, not versions).
versions = {}
def walk(v):
    if isinstance(v, dict):
        if "type" in v and "apiVersion" in v and isinstance(v["type"], str):
            versions[v["type"].lower()] = v["apiVersion"]
        for x in v.values(): walk(x)
    elif isinstance(v, list):
        for x in v: walk(x)
walk(template)
resources = []
for rid, r in sorted(json.load(open(sys.argv[3])).items()):
    if f"/resourcegroups/rg-{project}/providers/".lower() not in rid.lower() or r["type"] == "Microsoft.Resources/deployments":
        continue
    segs = rid.split("/providers/", 1)[1].split("/")
    name = "/".join(segs[2::2])   # a child's name is parent/child, as in a template
    out = {"type": r["type"], "apiVersion": versions.get(r["type"].lower(), "2024-01-01"), "name": name}
    for k in ("location", "sku", "kind", "identity", "tags", "properties"):
        if k in r: out[k] = r[k]
    resources.append(out)
print(json.dumps({"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
                  "contentVersion": "1.0.0.0", "resources": resources}, indent=2))
PY
  skips=(--skip-check "$SKIPS")
  [ "$mode" = public ] && skips=(--skip-check "$PUBLIC_SKIPS")
  echo "== checkov, builtin:prerequisites network: $mode ($(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["resources"]))' "$work/$mode.json") resources)"
  "$CHECKOV" -f "$work/$mode.json" --framework arm --compact "${skips[@]}" >"$work/checkov-$mode.log" 2>&1 || status=1
  grep -E "^(Passed|Check:|\s+FAILED)" "$work/checkov-$mode.log" || { cat "$work/checkov-$mode.log" >&2; status=1; }
done
[ "$status" = 0 ] && echo "checkov: both modes pass (skips: $PUBLIC_SKIPS in public, $SKIPS in private)"
exit $status

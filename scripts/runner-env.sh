# Sourced by scripts/demo.sh and bench/*.sh: start the fake cloud and run the action binary the way
# a runner runs a Docker action step.
#   start_fake WORKDIR          sets $url and $fake_pid (seeded App 12345 with the app1 keys);
#                               FAKE_LATENCY_MS, FAKE_RELEASES (release downloads folder) optional
#   run_step BIN KEYFILE [VAR=VALUE ...]   runs one rotate-key step; $work/output, $work/summary
#                               (STEP_LAUNCHER=node runs BIN with node: the native action)
#   run_container_step IMAGE KEYFILE     the same step through the image, as the runner runs a
#                                        Docker action (-e, mounts, workdir); $work/fc/output

keys=${keys:-tests/fixtures/keys}

start_fake() {
  work=$1
  python3 - "$keys" >"$work/seed.json" <<'PY'
import json, sys
keys = sys.argv[1]
pem = lambda n: open(f"{keys}/{n}").read()
print(json.dumps({"github_apps": [{
    "id": 12345, "client_id": "Iv1.fakeclient12345", "slug": "octo-runners", "name": "Octo Runners",
    "public_key_pems": [pem("app1.public.pem"), pem("app1-new.public.pem")],
    "installations": [{"id": 777, "account": "octo-org", "account_type": "Organization",
        "repository_selection": "all", "repositories": ["octo-org/runners"],
        "permissions": {"organization_self_hosted_runners": "write", "actions_variables": "write",
                        "metadata": "read"}}]}]}))
PY
  "${FAKE_CLOUD:-target/debug/fake-cloud}" --port 0 --ca-file "$work/ca.pem" --seed "$work/seed.json" \
    ${FAKE_LATENCY_MS:+--latency-ms "$FAKE_LATENCY_MS"} ${FAKE_RELEASES:+--releases "$FAKE_RELEASES"} \
    >"$work/fake.out" &
  fake_pid=$!
  for _ in $(seq 100); do grep -q '^ready ' "$work/fake.out" 2>/dev/null && break; sleep 0.1; done
  url=$(sed -n 's/^ready //p' "$work/fake.out")
  [ -n "$url" ] || { echo "the fake cloud did not start" >&2; return 1; }
}

run_step() {
  local bin=$1 key=$2
  shift 2
  : >"$work/output"; : >"$work/summary"
  env -i PATH="$PATH" HOME="$HOME" \
    GITHUB_ACTIONS=true GITHUB_API_URL="$url" GITHUB_SERVER_URL=https://github.com \
    GITHUB_REPOSITORY=octo-org/runners GITHUB_REPOSITORY_OWNER=octo-org GITHUB_RUN_ID=1 \
    GITHUB_OUTPUT="$work/output" GITHUB_STEP_SUMMARY="$work/summary" \
    ACTIONS_ID_TOKEN_REQUEST_URL="$url/_actions/idtoken?api-version=2.0" \
    ACTIONS_ID_TOKEN_REQUEST_TOKEN=fake-actions-request-token \
    SSL_CERT_FILE="$work/ca.pem" NO_PROXY=127.0.0.1,localhost \
    INPUT_COMMAND=rotate-key INPUT_APP-ID=12345 INPUT_PRIVATE-KEY="$(cat "$keys/$key")" \
    INPUT_INSTALLATION-ID= INPUT_OWNER= INPUT_REPOSITORY= INPUT_GITHUB-API-URL= \
    INPUT_KEY-VAULT="$url" INPUT_AZURE-AUTHORITY-HOST="$url" INPUT_AZURE-RESOURCE-MANAGER-URL= \
    INPUT_AZURE-CLIENT-ID=22222222-2222-2222-2222-222222222222 \
    INPUT_AZURE-TENANT-ID=11111111-1111-1111-1111-111111111111 \
    INPUT_AZURE-AUTH= INPUT_AZURE-ENVIRONMENT= INPUT_AZURE-AUDIENCE= \
    INPUT_SECRET-NAME=github-app-key INPUT_VERIFY-KEY=true INPUT_DISABLE-PREVIOUS-VERSIONS=true \
    INPUT_MAX-KEY-AGE-DAYS=0 INPUT_SECRET-EXPIRES-IN-DAYS=0 INPUT_SKIP-TOKEN-REVOKE=false \
    INPUT_DRY-RUN=false "$@" \
    ${STEP_LAUNCHER:-} "$bin"
}

# Number of requests the fake cloud has logged so far (admin requests are not logged).
request_count() {
  curl -s --cacert "$work/ca.pem" "$url/_fake/requests" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'
}

# One rotate-key step through the runtime image, the way the runner runs a Docker action.
run_container_step() {
  local image=$1 key
  key=$(cat "$keys/$2")
  mkdir -p "$work/fc"
  cp "$work/ca.pem" "$work/fc/ca.pem"
  : >"$work/fc/output"; : >"$work/fc/summary"
  env -i PATH="$PATH" \
    GITHUB_ACTIONS=true GITHUB_API_URL="$url" GITHUB_REPOSITORY=octo-org/runners \
    GITHUB_REPOSITORY_OWNER=octo-org GITHUB_OUTPUT=/github/file_commands/output \
    GITHUB_STEP_SUMMARY=/github/file_commands/summary \
    ACTIONS_ID_TOKEN_REQUEST_URL="$url/_actions/idtoken?api-version=2.0" \
    ACTIONS_ID_TOKEN_REQUEST_TOKEN=fake-actions-request-token \
    SSL_CERT_FILE=/github/file_commands/ca.pem \
    INPUT_COMMAND=rotate-key INPUT_APP-ID=12345 INPUT_PRIVATE-KEY="$key" INPUT_KEY-VAULT="$url" \
    INPUT_AZURE-AUTHORITY-HOST="$url" \
    INPUT_AZURE-CLIENT-ID=22222222-2222-2222-2222-222222222222 \
    INPUT_AZURE-TENANT-ID=11111111-1111-1111-1111-111111111111 \
    docker run --rm --network host --workdir /github/workspace \
      -v "$work/fc:/github/file_commands" -v "$work:/github/workspace" \
      -e GITHUB_ACTIONS -e GITHUB_API_URL -e GITHUB_REPOSITORY -e GITHUB_REPOSITORY_OWNER \
      -e GITHUB_OUTPUT -e GITHUB_STEP_SUMMARY -e ACTIONS_ID_TOKEN_REQUEST_URL \
      -e ACTIONS_ID_TOKEN_REQUEST_TOKEN -e SSL_CERT_FILE -e INPUT_COMMAND -e INPUT_APP-ID \
      -e INPUT_PRIVATE-KEY -e INPUT_KEY-VAULT -e INPUT_AZURE-AUTHORITY-HOST \
      -e INPUT_AZURE-CLIENT-ID -e INPUT_AZURE-TENANT-ID \
      "$image"
}

#!/usr/bin/env bash
# Registers one ephemeral runner with the GitHub App's key (from the Key Vault secret reference),
# runs one job, and exits. Environment (set by builtin:runner-jobs): APP_ID, APP_PRIVATE_KEY,
# RUNNER_SCOPE (org|repo), ORG_NAME, REPOS, LABELS, GITHUB_API_URL, RUNNER_NAME_PREFIX, EPHEMERAL.
set -euo pipefail
api=${GITHUB_API_URL:-https://api.github.com}
b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
now=$(date +%s)
header=$(printf '{"alg":"RS256","typ":"JWT"}' | b64url)
payload=$(printf '{"iat":%s,"exp":%s,"iss":"%s"}' "$((now - 60))" "$((now + 540))" "$APP_ID" | b64url)
signature=$(printf '%s.%s' "$header" "$payload" \
  | openssl dgst -sha256 -sign <(printf '%s\n' "$APP_PRIVATE_KEY") | b64url)
jwt="$header.$payload.$signature"
gh() { curl -fsS -H "Accept: application/vnd.github+json" -H "X-GitHub-Api-Version: 2022-11-28" "$@"; }

if [ "${RUNNER_SCOPE:-org}" = repo ]; then
  repo="$ORG_NAME/${REPOS%%,*}"
  installation=$(gh -H "Authorization: Bearer $jwt" "$api/repos/$repo/installation" | jq -r .id)
  token=$(gh -X POST -H "Authorization: Bearer $jwt" "$api/app/installations/$installation/access_tokens" | jq -r .token)
  reg=$(gh -X POST -H "Authorization: token $token" "$api/repos/$repo/actions/runners/registration-token" | jq -r .token)
  url="${api%/api/v3}"; url="${url/api.github.com/github.com}/$repo"
else
  installation=$(gh -H "Authorization: Bearer $jwt" "$api/orgs/$ORG_NAME/installation" | jq -r .id)
  token=$(gh -X POST -H "Authorization: Bearer $jwt" "$api/app/installations/$installation/access_tokens" | jq -r .token)
  reg=$(gh -X POST -H "Authorization: token $token" "$api/orgs/$ORG_NAME/actions/runners/registration-token" | jq -r .token)
  url="${api%/api/v3}"; url="${url/api.github.com/github.com}/$ORG_NAME"
fi
curl -fsS -X DELETE -H "Authorization: token $token" "$api/installation/token" || true

./config.sh --unattended --disableupdate --ephemeral \
  --url "$url" --token "$reg" \
  --name "${RUNNER_NAME_PREFIX:-aca}-$(hostname)" \
  ${LABELS:+--labels "$LABELS"}
exec ./run.sh

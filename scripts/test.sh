#!/usr/bin/env bash
# The project's test command (README "Run the tests"; .ci/run calls it).
# 1. unit tests, the fake cloud's own tests, and the end-to-end tests that run the real binary
#    against the fake cloud the way a runner runs the step;
# 2. with a Docker engine: the runtime image built from this checkout and run the way the runner
#    runs a Docker action (.ci/run starts dockerd and sets ACA_REQUIRE_DOCKER=1 so this part
#    cannot be skipped there).
set -euo pipefail
cd "$(dirname "$0")/.."
# The fake cloud's ACR Tasks keep their blobs in Azurite (npm registry); installed once.
sh scripts/azurite.sh >/dev/null
cargo test --workspace --locked "$@"
if docker info >/dev/null 2>&1; then
  scripts/build-image.sh
  cargo test --locked --features docker-tests --test all container
elif [ -n "${ACA_REQUIRE_DOCKER:-}" ]; then
  echo "no Docker engine answers, and ACA_REQUIRE_DOCKER is set" >&2
  exit 1
else
  echo "container test skipped: no Docker engine here (.ci/run starts one)"
fi

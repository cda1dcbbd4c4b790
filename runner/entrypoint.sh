#!/usr/bin/env bash
# Starts one ephemeral just-in-time runner from the configuration the init container
# (aca-runner-action runner-init) wrote to the EmptyDir volume both mount, and runs one job.
# This container never holds the GitHub App key or a token: it has nothing to register with but
# that file, which is removed once read.
#
# run.sh (not the listener itself) is started, so that a runner that lags a release updates
# itself before it takes its job; the scheduled workflow rebuilds the image on each release, so
# that is rare.
set -euo pipefail
file=${JIT_CONFIG_FILE:-/jit/config}
if [ ! -s "$file" ]; then
  echo "no runner configuration at $file: the init container (aca-runner-action runner-init) did not write one; see its log" >&2
  exit 1
fi
# The runner reads its configuration from ACTIONS_RUNNER_INPUT_JITCONFIG and clears it: unlike
# a --jitconfig argument, it never shows in the process list that workflow steps can read.
ACTIONS_RUNNER_INPUT_JITCONFIG=$(cat "$file")
export ACTIONS_RUNNER_INPUT_JITCONFIG
rm -f "$file" || true
cd "${RUNNER_HOME:-/home/runner}"
exec ./run.sh

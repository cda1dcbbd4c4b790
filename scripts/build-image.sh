#!/usr/bin/env bash
# Builds the action's runtime image from a binary built on this machine (this machine cannot pull
# base images; the runtime stage is FROM scratch): a static release binary and the CA roots.
#   scripts/build-image.sh [TAG]      (default aca-runner-action:local)
# Prints the image size. The release workflow builds the same stage from source instead.
set -euo pipefail
cd "$(dirname "$0")/.."
tag=${1:-aca-runner-action:local}
target=x86_64-unknown-linux-gnu
RUSTFLAGS="-C target-feature=+crt-static" \
  cargo build --quiet --release --locked -p aca-runner-action --target "$target"
bin=target/$target/release/aca-runner-action
if ! ldd "$bin" 2>&1 | grep -qE "statically linked|not a dynamic executable"; then
  echo "$bin is not static:" >&2
  ldd "$bin" >&2
  exit 1
fi
context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT
cp "$bin" "$context/aca-runner-action"
cp /etc/ssl/certs/ca-certificates.crt "$context/ca-certificates.crt"
# BuildKit skips the stages this build does not need (the from-source build stage and its Rust
# base image). Debian's docker.io client has BuildKit built in; a newer client elsewhere on PATH
# may want the buildx plugin instead, which Debian does not package.
docker=docker
[ -x /usr/bin/docker ] && docker=/usr/bin/docker
DOCKER_BUILDKIT=1 "$docker" build --quiet --target runtime --build-arg BINARY_FROM=local \
  -f Dockerfile -t "$tag" "$context" >/dev/null
echo "image $tag: $(docker image inspect -f '{{.Size}}' "$tag") bytes"

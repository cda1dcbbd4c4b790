# The action's runtime image: a static binary, CA roots and (release only) the Bicep CLI, on
# scratch. Runs as root, as GitHub requires of Docker actions. The entrypoint is the binary itself
# in exec form: a /bin/sh wrapper would drop the INPUT_* variables whose names hold a hyphen.
#
# Release (from source):    docker build --target runtime-bicep .
# Here (from a local build): scripts/build-image.sh   (BINARY_FROM=local, context = the binary)
ARG BINARY_FROM=build

# ---- build: the static binary from source (release workflow)
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN RUSTFLAGS="-C target-feature=+crt-static" \
      cargo build --release --locked -p aca-runner-action --target x86_64-unknown-linux-gnu \
 && mkdir -p /out \
 && cp target/x86_64-unknown-linux-gnu/release/aca-runner-action /out/ \
 && cp /etc/ssl/certs/ca-certificates.crt /out/

# ---- local: the same two files, built on this machine (scripts/build-image.sh)
FROM scratch AS local
COPY aca-runner-action ca-certificates.crt /out/

FROM ${BINARY_FROM} AS binary

# ---- runtime: what a step runs (without Bicep)
FROM scratch AS runtime
COPY --from=binary /out/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=binary /out/aca-runner-action /aca-runner-action
ENV SSL_CERT_DIR=/etc/ssl/certs
ENTRYPOINT ["/aca-runner-action"]

# ---- bicep: the pinned, checksum-verified Bicep CLI (self-contained single-file build)
FROM debian:bookworm-slim AS bicep
# Both are required: the release workflow passes the version it pins and the SHA-256 the
# maintainers recorded for that file (repository variables BICEP_VERSION, BICEP_SHA256).
ARG BICEP_VERSION
ARG BICEP_SHA256
ADD https://github.com/Azure/bicep/releases/download/${BICEP_VERSION}/bicep-linux-x64 /bicep
RUN test -n "${BICEP_VERSION}" && test -n "${BICEP_SHA256}" \
 && echo "${BICEP_SHA256}  /bicep" | sha256sum -c - \
 && chmod 0755 /bicep

# ---- runtime-bicep: the published image
FROM runtime AS runtime-bicep
COPY --from=bicep /bicep /usr/local/bin/bicep
ENV PATH=/usr/local/bin

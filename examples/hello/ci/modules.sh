#!/usr/bin/env bash
# Builds examples/hello for every line of ./kernels, signs the modules and publishes them
# to MODULE_REPO; skips kernels whose artifact is already the same build (cache key).
# Needs IMAGE_TEMPLATE, MODULE_REPO, a `ckms login`, and the signing key and certificate
# in MODULE_SIGNING_KEY / MODULE_SIGNING_CERT (PEM text, e.g. from CI secrets).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
mapfile -t kernels < <(grep -v '^#' "$here/kernels" | grep .)
keys=$(mktemp -d)
trap 'rm -rf "$keys"' EXIT
(umask 077 && printf '%s\n' "$MODULE_SIGNING_KEY" >"$keys/signing.key")
printf '%s\n' "$MODULE_SIGNING_CERT" >"$keys/signing.crt"
args=()
for k in "${kernels[@]}"; do args+=(--kernel "$k"); done
# The module's own files only: the cache key covers the whole source tree, and a change
# to this pipeline must not rebuild every kernel.
mkdir "$keys/hello"
cp "$here"/../{dkms.conf,Makefile,hello.c} "$keys/hello/"
logs=${CKMS_LOG_DIR:-$PWD/ckms-logs}
# The summary table goes to the job log; the per-kernel build logs are kept as artifacts.
ckms build "$keys/hello" "${args[@]}" --image-template "$IMAGE_TEMPLATE" \
  --sign-key "$keys/signing.key" --sign-cert "$keys/signing.crt" --output "$MODULE_REPO" \
  --cache-dir "${CKMS_CACHE_DIR:-/var/cache/ckms}" --log-dir "$logs"

#!/usr/bin/env bash
# Builds examples/hello for exactly the kernels Debian offers (./flavours) that MODULE_REPO
# has no artifact of this PACKAGE_VERSION for (./kernels.sh), signs the modules and
# publishes them. A changed module is a new PACKAGE_VERSION, which every kernel then lacks.
# Needs IMAGE_TEMPLATE, MODULE_REPO, a `ckms login`, and the signing key and certificate
# in MODULE_SIGNING_KEY / MODULE_SIGNING_CERT (PEM text, e.g. from CI secrets).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# Not read through <(...): a failing ckms must fail the job, not look like "nothing to do".
wanted=$("$here/kernels.sh")
mapfile -t kernels < <(printf '%s' "$wanted" | grep .)
if [ "${#kernels[@]}" -eq 0 ]; then
  echo "every kernel Debian offers has the module"
  exit 0
fi
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

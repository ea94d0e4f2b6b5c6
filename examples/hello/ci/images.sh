#!/usr/bin/env bash
# Makes and pushes a kernel build image for each kernel that still needs the module and has
# no image yet (./kernels.sh images), over a toolchain root filesystem from mmdebstrap (the
# same for every kernel, so its layer is pushed once).
# Needs IMAGE_TEMPLATE (e.g. ghcr.io/ORG/kernel-build:{release}), MODULE_REPO and a `ckms login`.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# Not read through <(...): a failing ckms must fail the job, not look like "nothing to do".
wanted=$("$here/kernels.sh" images)
mapfile -t kernels < <(printf '%s' "$wanted" | grep .)
if [ "${#kernels[@]}" -eq 0 ]; then
  echo "every kernel that needs the module has a build image"
  exit 0
fi
work=$(mktemp -d)
# Split-/usr toolchain: ckms's headers layer carries a real /lib, which would replace a
# merged-/usr lib -> usr/lib link when the image's layers are applied.
mmdebstrap --mode=unshare --variant=minbase --hook-dir=/usr/share/mmdebstrap/hooks/no-merged-usr \
  --include=gcc-12,make,libc6-dev,libelf-dev,libssl3,patch,kmod,mawk \
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' bookworm "$work/toolchain.tar"
args=()
for k in "${kernels[@]}"; do args+=(--kernel "$k"); done
ckms image build --toolchain-tar "$work/toolchain.tar" "${args[@]}" --template "$IMAGE_TEMPLATE" --compression zstd

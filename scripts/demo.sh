#!/usr/bin/env bash
# The main job on embedded defaults, end to end on this machine:
#   a kernel build image for the newest Debian cloud kernel (its headers packages over a
#   toolchain made by mmdebstrap) -> the example module's source as an OCI artifact in a
#   registry started on 127.0.0.1 -> `ckms build` in a rootless runc sandbox, signed,
#   published into a local OCI layout -> an unchanged re-run that builds nothing -> the
#   artifact copied to the registry -> a node-side fetch that verifies digests, signature
#   and vermagic (the host kernel cannot insert modules; docs/loader.md shows the insertion
#   in a VM).
# Run as root on Debian bookworm. Output in $CKMS_DEMO_DIR (default ./demo-out); the
# toolchain root filesystem is kept in $CKMS_DEMO_CACHE between runs.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${CKMS_DEMO_DIR:-$root/demo-out}
cache=${CKMS_DEMO_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ckms-demo}

if [ "$(id -u)" -ne 0 ]; then
  echo "demo: run as root (apt-get, mmdebstrap and rootful runc with a user namespace)" >&2
  exit 1
fi
for tool in docker-registry runc mmdebstrap; do
  command -v "$tool" >/dev/null || { "$root/scripts/install-deps.sh"; break; }
done
cmake -S "$root" -B "$root/build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C "$root/build" ckms
ckms=$root/build/cli/ckms

# shellcheck source=../bench/registry-fixture.sh
. "$root/bench/registry-fixture.sh"
rm -rf "$out"
mkdir -p "$out" "$cache"
trap stop_registries EXIT
port=$(free_port)
start_registry "$out/registry" "$port"
registry=127.0.0.1:$port

step() { printf '\n== %s\n' "$*"; }

release=$("$root/scripts/kernel-releases.sh" 1)
echo "kernel: $release; registry on $registry"

step "lint the example module's dkms.conf"
"$ckms" lint "$root/examples/hello"

step "toolchain root filesystem (mmdebstrap, cached in $cache)"
# Split-/usr, as docs/build.md explains: a headers layer carries a real /lib.
toolchain=$cache/toolchain.tar
# mmdebstrap picks its output format from the name: the temp name ends in .tar too.
if [ ! -f "$toolchain" ]; then
  rm -rf "$toolchain"
  mmdebstrap --mode=unshare --variant=minbase --hook-dir=/usr/share/mmdebstrap/hooks/no-merged-usr \
    --include=gcc-12,make,libc6-dev,libelf-dev,libssl3,patch,kmod,mawk \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' bookworm "$cache/toolchain.tmp.tar"
  mv "$cache/toolchain.tmp.tar" "$toolchain"
fi

step "kernel build image for $release into oci:$out/images"
"$ckms" image build --kernel "$release" --toolchain-tar "$toolchain" --output "oci:$out/images" \
  --apt-cache "$cache/debs" --compression zstd

step "signing key, and the module source as an artifact in the registry"
"$ckms" key generate --key "$out/signing.key" --cert "$out/signing.crt" --subject "ckms demo" --bits 2048
"$ckms" source push "$root/examples/hello" "$registry/ckms/hello-source:1.0.0" --plain-http

build() {
  "$ckms" build "$registry/ckms/hello-source:1.0.0" --plain-http --kernel "$release" \
    --image-template "oci:$out/images:{release}" --cache-dir "$out/cache" \
    --sign-key "$out/signing.key" --sign-cert "$out/signing.crt" --param greeting=demo \
    --output "oci:$out/modules"
}
step "ckms build in the runc sandbox, published to oci:$out/modules"
build
step "the same build again: nothing to do"
build

step "the module artifact, copied to the registry"
"$ckms" copy "oci:$out/modules:1.0.0" "$registry/ckms/hello:1.0.0" --plain-http
"$ckms" inspect --plain-http "$registry/ckms/hello:1.0.0"
"$ckms" tags --plain-http "$registry/ckms/hello"

step "a node fetches it for $release: digests, signature and vermagic verified"
"$ckms" load "$registry/ckms/hello:1.0.0" --plain-http --kernel "$release" --fetch-only \
  --trust "$out/signing.crt" --cache-dir "$out/node-cache" --state-dir "$out/node-state"
"$ckms" verify "oci:$out/modules"
"$ckms" verify "oci:$out/node-cache"
echo
echo "demo: ok (output in $out)"

#!/usr/bin/env bash
# The main job on embedded defaults: build ckms, publish the example module's source tree
# as an OCI artifact into a local OCI layout, copy it through a registry started on
# 127.0.0.1, pull it back and check every byte. Run as root on Debian bookworm.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${CKMS_DEMO_DIR:-$root/demo-out}

if [ "$(id -u)" -eq 0 ] && ! command -v docker-registry >/dev/null; then
  "$root/scripts/install-deps.sh"
fi
cmake -S "$root" -B "$root/build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C "$root/build" ckms
ckms=$root/build/cli/ckms

# shellcheck source=../bench/registry-fixture.sh
. "$root/bench/registry-fixture.sh"
rm -rf "$out"; mkdir -p "$out"
trap stop_registries EXIT
port=$(free_port)
start_registry "$out/registry" "$port"
echo "registry on 127.0.0.1:$port"

step() { printf '\n== %s\n' "$*"; }

step "lint the example module's dkms.conf"
"$ckms" lint "$root/examples/hello" || true

step "publish the example module source as an artifact into oci:$out/layout"
tar -C "$root/examples" --sort=name --owner=0 --group=0 --mtime=@0 -czf "$out/ckms-hello-source.tar.gz" hello
"$ckms" push "oci:$out/layout:ckms-hello-1.0.0" \
  "$out/ckms-hello-source.tar.gz:application/vnd.oci.image.layer.v1.tar+gzip" \
  --artifact-type application/vnd.ckms.source.v1 --annotation org.opencontainers.image.version=1.0.0

step "copy it to the registry and inspect it there"
"$ckms" copy "oci:$out/layout:ckms-hello-1.0.0" "127.0.0.1:$port/ckms/hello-source:1.0.0" --plain-http
"$ckms" inspect --plain-http "127.0.0.1:$port/ckms/hello-source:1.0.0"
"$ckms" tags --plain-http "127.0.0.1:$port/ckms/hello-source"

step "pull it back and compare"
"$ckms" pull --plain-http "127.0.0.1:$port/ckms/hello-source:1.0.0" -o "$out/pulled"
cmp "$out/ckms-hello-source.tar.gz" "$out/pulled/ckms-hello-source.tar.gz"
"$ckms" verify "oci:$out/layout"
echo "demo: ok (output in $out)"

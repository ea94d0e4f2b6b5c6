#!/usr/bin/env bash
# arm64 modules cross-built on amd64, proven on a real arm64 kernel: Debian's newest arm64
# cloud kernel booted in qemu-system-aarch64 (-M virt -cpu cortex-a57, TCG).
#
#   1. `ckms image build --arch arm64` and `ckms build` of examples/hello for that kernel
#      (cross-compiled, signed); `ckms build --runtime none` of hello for an amd64 kernel
#      into the same repository, so that the version's index holds both.
#   2. On the host, `ckms load --fetch-only --machine aarch64` verifies the arm64 module for
#      the arm64 node (signature, release, ELF machine) into a node cache, and refuses the
#      amd64 artifact for that node.
#   3. In the guest, busybox's insmod (static, from busybox-static:arm64) inserts the
#      verified module from that cache, and the amd64 module is refused by the kernel with
#      nothing inserted. The guest runs no ckms: the node binary is linked statically
#      against Debian's amd64 archives, and building it for aarch64 needs every library it
#      links in its arm64 -dev package; the checks ckms makes before an insert are made on
#      the host by the same code, against the guest's machine and release.
#
# Usage: arm64_vm_test.sh CKMS_BINARY SOURCE_DIR CACHE_DIR
# Exits 77 (skipped) only when Debian's archive cannot be reached, saying so.
set -euo pipefail

ckms=$1
source_dir=$2
cache=${CKMS_TEST_CACHE:-$3}
mkdir -p "$cache"

fail() {
  echo "arm64_vm_test: FAILED: $*" >&2
  exit 1
}
say() { echo "arm64_vm_test: $*"; }

release=$("$source_dir/scripts/kernel-releases.sh" 1 arm64)
[ -n "$release" ] || fail "apt knows no arm64 cloud kernel: run scripts/install-deps.sh (dpkg --add-architecture arm64)"
amd64_release=$("$source_dir/scripts/kernel-releases.sh" 1 amd64)
[ -e "/usr/src/linux-headers-$amd64_release/Makefile" ] || fail "no headers for $amd64_release: run scripts/install-deps.sh"

uri=$(apt-get download --print-uris "linux-headers-$release:arm64" 2>&1 | sed -n "s/^'\([^']*\)'.*/\1/p" | head -n 1)
[ -n "$uri" ] || fail "apt gives no address for linux-headers-$release:arm64"
if ! curl -sfI --max-time 30 "$uri" >/dev/null; then
  echo "arm64_vm_test: SKIPPED: Debian's archive is unreachable ($uri)"
  exit 77
fi

work=$(mktemp -d /tmp/ckms-test-arm64-vm.XXXXXX)
trap 'rm -rf "$work"' EXIT
# runc's user-namespace sandbox traverses every parent of the build image's root.
chmod 755 "$work"

# Debian packages for the guest, cached: the kernel and a static arm64 busybox.
debs="$cache/arm64-guest"
mkdir -p "$debs"
for package in "linux-image-$release" busybox-static; do
  if ! ls "$debs/${package}_"*_arm64.deb >/dev/null 2>&1; then
    (cd "$debs" && apt-get download "$package:arm64" >/dev/null 2>&1) || fail "apt-get download $package:arm64"
  fi
done
guest="$work/guest-packages"
for deb in "$debs/linux-image-${release}_"*_arm64.deb "$debs/busybox-static_"*_arm64.deb; do
  dpkg-deb -x "$deb" "$guest"
done
vmlinuz="$guest/boot/vmlinuz-$release"
[ -e "$vmlinuz" ] || fail "no $vmlinuz in linux-image-$release"

# The cross toolchain's root filesystem, cached under the name the build tests give it.
packages=gcc-12-aarch64-linux-gnu,binutils-aarch64-linux-gnu,make,libelf1,libssl3,patch,kmod,mawk
id=$(printf '%s' "$packages no-merged-usr" | sha256sum | cut -c1-12)
toolchain="$cache/toolchain-bookworm-$id.tar"
if [ ! -e "$toolchain" ]; then
  sources=$(grep -l debian-archive-keyring /etc/apt/sources.list.d/*.sources | head -n 1)
  mmdebstrap --mode=unshare --variant=minbase --hook-dir=/usr/share/mmdebstrap/hooks/no-merged-usr \
    --include="$packages" --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/info/*' \
    bookworm "$toolchain.tmp.tar" "$sources" >"$work/mmdebstrap.log" 2>&1 || fail "mmdebstrap: $(tail -5 "$work/mmdebstrap.log")"
  mv "$toolchain.tmp.tar" "$toolchain"
fi

say "building for $release (cross) and $amd64_release"
"$ckms" image build --arch arm64 --toolchain-tar "$toolchain" --output "oci:$work/images" \
  --apt-cache "$cache/debs" --compression zstd --kernel "$release" >"$work/image.log" 2>&1 ||
  fail "ckms image build: $(cat "$work/image.log")"
"$ckms" key generate --key "$work/key.pem" --cert "$work/cert.pem" --subject "ckms arm64 test key" --bits 2048 \
  >/dev/null
cp -r "$source_dir/examples/hello" "$work/hello"
"$ckms" build "$work/hello" --kernel "$release" --image-template "oci:$work/images:{release}" \
  --sign-key "$work/key.pem" --sign-cert "$work/cert.pem" --cache-dir "$work/build-cache" \
  --output "oci:$work/out" >"$work/build-arm64.log" 2>&1 || fail "ckms build (arm64): $(cat "$work/build-arm64.log")"
"$ckms" build "$work/hello" --runtime none --kernel "$amd64_release" \
  --sign-key "$work/key.pem" --sign-cert "$work/cert.pem" --cache-dir "$work/build-cache" \
  --output "oci:$work/out" >"$work/build-amd64.log" 2>&1 || fail "ckms build (amd64): $(cat "$work/build-amd64.log")"
"$ckms" inspect "oci:$work/out:1.0.0" | grep -q "linux/arm64 $release" || fail "the index lacks linux/arm64 $release"

# Host-side verification for the arm64 node, into the cache the guest's modules come from.
node=(--trust "$work/cert.pem" --cache-dir "$work/node-cache" --state-dir "$work/node-state" --fetch-only
  --machine aarch64)
"$ckms" --json load "${node[@]}" --kernel "$release" "oci:$work/out:1.0.0" >"$work/fetch.json" ||
  fail "ckms load --fetch-only for the arm64 node"
digest=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); assert r["modules"][0]["action"]=="fetched"; print(r["modules"][0]["digest"].split(":")[1])' "$work/fetch.json")
arm64_ko=$(find "$work/node-cache" -type f -name "$digest" | head -n 1)
[ -n "$arm64_ko" ] || fail "the verified module $digest is not in the node cache"
readelf -h "$arm64_ko" | grep -q AArch64 || fail "the arm64 module is not AArch64 code"
set +e
"$ckms" load "${node[@]}" --kernel "$amd64_release" "oci:$work/out:1.0.0" >"$work/refused.log" 2>&1
refused=$?
set -e
[ "$refused" -ne 0 ] && grep -q "wrong architecture" "$work/refused.log" ||
  fail "the amd64 artifact was not refused for the arm64 node (exit $refused): $(cat "$work/refused.log")"
say "host: arm64 module verified for the node; amd64 artifact refused: $(head -n 1 "$work/refused.log")"

# The amd64 module itself, verified for this machine, to offer to the arm64 kernel.
"$ckms" --json load --trust "$work/cert.pem" --cache-dir "$work/host-cache" --state-dir "$work/host-state" \
  --fetch-only --kernel "$amd64_release" "oci:$work/out:1.0.0" >"$work/fetch-amd64.json"
digest=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["modules"][0]["digest"].split(":")[1])' "$work/fetch-amd64.json")
amd64_ko=$(find "$work/host-cache" -type f -name "$digest" | head -n 1)
readelf -h "$amd64_ko" | grep -q "X86-64" || fail "the amd64 module is not x86-64 code"

root="$work/initramfs"
mkdir -p "$root/bin" "$root/proc" "$root/sys" "$root/dev" "$root/tmp"
cp "$guest/bin/busybox" "$root/bin/busybox"
cp "$arm64_ko" "$root/arm64.ko"
cp "$amd64_ko" "$root/amd64.ko"
cat >"$root/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
echo "CKMS-MARK machine=$(uname -m) release=$(uname -r)"
if insmod /amd64.ko 2>/tmp/err; then echo "CKMS-MARK amd64=inserted"; else echo "CKMS-MARK amd64=refused $(cat /tmp/err)"; fi
echo "CKMS-MARK after-amd64=[$(cut -d' ' -f1 /proc/modules | tr '\n' ' ')]"
if insmod /arm64.ko greeting=from-the-arm64-guest; then echo "CKMS-MARK arm64=inserted"; else echo "CKMS-MARK arm64=failed"; fi
echo "CKMS-MARK modules=[$(cut -d' ' -f1 /proc/modules | tr '\n' ' ')]"
dmesg | grep 'ckms_hello: from-the-arm64-guest' >/dev/null && echo "CKMS-MARK greeting=seen"
poweroff -f
EOF
chmod 755 "$root/init"
(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) >"$work/initrd.cpio"

say "booting $release in qemu-system-aarch64 (TCG)"
timeout 900 qemu-system-aarch64 -M virt -cpu cortex-a57 -accel tcg -m 512 -nographic -no-reboot \
  -kernel "$vmlinuz" -initrd "$work/initrd.cpio" -append 'console=ttyAMA0 panic=-1 quiet' \
  </dev/null >"$work/console.log" 2>&1 || true
grep -a "CKMS-MARK" "$work/console.log" | tr -d '\r' >"$work/marks" || true
cat "$work/marks"
expect() { grep -qxF "CKMS-MARK $1" "$work/marks" || fail "the guest did not report '$1'; console: $(tail -30 "$work/console.log")"; }
expect "machine=aarch64 release=$release"
grep -q "^CKMS-MARK amd64=refused" "$work/marks" || fail "the arm64 kernel accepted the amd64 module"
expect "after-amd64=[]"
expect "arm64=inserted"
expect "modules=[ckms_hello ]"
expect "greeting=seen"
say "ok: the cross-built module loads on $release; the amd64 one is refused with nothing inserted"

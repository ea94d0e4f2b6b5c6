#!/usr/bin/env bash
# The same module (examples/hello, or DIR) built three ways in one run, make against Debian's
# headers each time, ROUNDS rounds each (default 3), median wall time:
#   amd64     make for the newest amd64 cloud kernel, the host's gcc-12
#   cross     make ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu- for the newest arm64 cloud
#             kernel (what `ckms build` runs for it), gcc-12-aarch64-linux-gnu
#   emulated  the arm64 build done natively by an arm64 gcc-12 and make in an arm64 root
#             filesystem, under qemu-user (qemu-aarch64-static through binfmt_misc, registered
#             in a user namespace of its own, so the host's binfmt table is not touched)
# and prints cross/amd64 (goal: within 1.2) and emulated/cross.
#
# Usage: bench/cross_vs_native.sh [ROUNDS] [MODULE_DIR]
# Needs: scripts/install-deps.sh (dpkg --add-architecture arm64, the cross toolchain,
# qemu-user-static), root, a kernel with binfmt_misc per user namespace (6.7 or later).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
rounds=${1:-3}
module=${2:-$here/examples/hello}
cache=${CKMS_TEST_CACHE:-$here/build/test-cache}/cross-bench
mkdir -p "$cache"

arm64=$("$here/scripts/kernel-releases.sh" 1 arm64)
amd64=$("$here/scripts/kernel-releases.sh" 1 amd64)
[ -n "$arm64" ] || { echo "no arm64 kernel known to apt: run scripts/install-deps.sh" >&2; exit 1; }
[ -e "/usr/src/linux-headers-$amd64/Makefile" ] || { echo "no headers for $amd64: run scripts/install-deps.sh" >&2; exit 1; }
abi=${arm64%-cloud-arm64}

work=$(mktemp -d /tmp/ckms-cross-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT

download() { # PACKAGE:ARCH ("all" for an architecture-independent one) into the cache, once
  local name=${1%%:*} arch=${1##*:} found
  local spec=$1
  [ "$arch" = all ] && spec=$name
  found=$(find "$cache" -maxdepth 1 -name "${name}_*_${arch}.deb" | head -n 1)
  if [ -z "$found" ]; then
    (cd "$cache" && apt-get download "$spec" >/dev/null 2>&1)
    found=$(find "$cache" -maxdepth 1 -name "${name}_*_${arch}.deb" | head -n 1)
  fi
  [ -n "$found" ] || { echo "apt-get download $spec failed" >&2; exit 1; }
  echo "$found"
}

# The cross tree: arm64 headers, -common, the build machine's kbuild (docs/images.md).
cross="$work/cross"
for package in "linux-headers-$arm64:arm64" "linux-headers-$abi-common:all" "linux-kbuild-6.1:amd64"; do
  dpkg-deb -x "$(download "$package")" "$cross"
done

# The emulated tree: an arm64 root filesystem with the native compiler, the same headers and
# the arm64 kbuild. Packages are only unpacked (--variant=extract runs no arm64 maintainer
# script); the one alternative make needs, awk, is linked by hand.
rootfs_tar="$cache/arm64-native-rootfs.tar"
if [ ! -e "$rootfs_tar" ]; then
  sources=$(grep -l debian-archive-keyring /etc/apt/sources.list.d/*.sources | head -n 1)
  mmdebstrap --mode=root --variant=extract --architectures=arm64 \
    --include=libc6,libgcc-s1,gcc-12,cpp-12,binutils,make,mawk,coreutils,dash,bash,sed,grep,findutils,diffutils,libelf1,libssl3,kmod \
    bookworm "$rootfs_tar.tmp.tar" "$sources" >/dev/null 2>&1
  mv "$rootfs_tar.tmp.tar" "$rootfs_tar"
fi
native="$work/native"
mkdir -p "$native"
tar -xf "$rootfs_tar" -C "$native"
for package in "linux-headers-$arm64:arm64" "linux-headers-$abi-common:all" "linux-kbuild-6.1:arm64"; do
  dpkg-deb -x "$(download "$package")" "$native"
done
ln -sf mawk "$native/usr/bin/awk"
ln -sf gcc-12 "$native/usr/bin/gcc"
ln -sf dash "$native/bin/sh"
mkdir -p "$native/src" "$native/proc" "$native/dev"

now() { date +%s.%N; }
median() { sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }

fresh_copy() { # a clean copy of the module at $1
  rm -rf "$1"
  cp -r "$module" "$1"
}

build_amd64() {
  fresh_copy "$work/m-amd64"
  make -s -C "/usr/src/linux-headers-$amd64" M="$work/m-amd64" modules >/dev/null 2>&1
}

# Debian's headers name -common and kbuild by absolute path: the cross tree is bound over
# /usr/src and /usr/lib/linux-kbuild-6.1 in a mount namespace of its own.
build_cross() {
  fresh_copy "$work/m-cross"
  unshare --mount sh -c "mount --bind '$cross/usr/src' /usr/src &&
    mount --bind '$cross/usr/lib/linux-kbuild-6.1' /usr/lib/linux-kbuild-6.1 &&
    make -s -C /usr/src/linux-headers-$arm64 M='$work/m-cross' ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu- \
      CC=aarch64-linux-gnu-gcc-12 modules" >/dev/null 2>&1
}

magic=$(printf '%s' ':qemu-aarch64:M::\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:/usr/bin/qemu-aarch64-static:F')
build_emulated() {
  fresh_copy "$native/src/m"
  unshare --user --map-root-user --mount --pid --fork sh -c "
    mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc &&
    printf '%s' '$magic' > /proc/sys/fs/binfmt_misc/register &&
    mount -t proc proc '$native/proc' &&
    chroot '$native' /usr/bin/make -s -C /usr/src/linux-headers-$arm64 M=/src/m CC=gcc-12 modules" >/dev/null 2>&1
}

check() { # FILE MACHINE
  readelf -h "$1" | grep -q "Machine:.*$2" || { echo "$1 is not $2 code" >&2; exit 1; }
}

declare -A times
for way in amd64 cross emulated; do
  for _ in $(seq "$rounds"); do
    start=$(now)
    "build_$way"
    times[$way]+="$(echo "$(now) - $start" | bc) "
  done
done
check "$work/m-amd64/ckms_hello.ko" "X86-64"
check "$work/m-cross/ckms_hello.ko" "AArch64"
check "$native/src/m/ckms_hello.ko" "AArch64"

med() { echo "${times[$1]}" | tr ' ' '\n' | grep . | median; }
amd64_s=$(med amd64)
cross_s=$(med cross)
emulated_s=$(med emulated)
printf 'module %s, %s rounds each, median wall seconds\n' "$(basename "$module")" "$rounds"
printf '  amd64 (%s)          %6.2f\n' "$amd64" "$amd64_s"
printf '  cross (%s)          %6.2f\n' "$arm64" "$cross_s"
printf '  emulated (%s, qemu-user) %6.2f\n' "$arm64" "$emulated_s"
printf 'cross / amd64     = %.2f  (goal: 1.2 or less)\n' "$(echo "$cross_s / $amd64_s" | bc -l)"
printf 'emulated / cross  = %.2f\n' "$(echo "$emulated_s / $cross_s" | bc -l)"

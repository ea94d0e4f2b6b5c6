#!/usr/bin/env bash
# Installs everything ckms needs to build and everything its tests drive for real
# (registry, runtime, skopeo, qemu, dkms), from Debian's archive only.
set -euo pipefail

packages=(
  # build
  build-essential cmake ninja-build pkg-config git
  libcurl4-openssl-dev nlohmann-json3-dev libarchive-dev libssl-dev libkmod-dev
  libelf-dev libseccomp-dev libyaml-cpp-dev libcli11-dev libfmt-dev libzstd-dev liblzma-dev zlib1g-dev
  catch2
  # real components the tests drive
  docker-registry apache2-utils openssl runc skopeo umoci
  qemu-system-x86 busybox-static kmod cpio mmdebstrap uidmap
  systemd  # systemd-sysext, for the --sysext test's merge
  dkms dpkg-dev xz-utils zstd curl ca-certificates python3 bc
  rpm
  # arm64 modules cross-built here (docs/images.md, "Another architecture"), booted in
  # qemu-system-aarch64, and the emulated native build the benchmark compares with
  gcc-12-aarch64-linux-gnu binutils-aarch64-linux-gnu qemu-system-arm qemu-user-static
  # PKCS#11 signing keys (the engine sign-file uses) and a software token to test them;
  # lz4 unpacks Debian's kernel image for its built-in certificate (tests)
  libengine-pkcs11-openssl softhsm2 lz4
  # style check (scripts/check-format.sh)
  clang-format clang-tidy
  # fuzzing
  clang libclang-rt-14-dev
)

export DEBIAN_FRONTEND=noninteractive
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: run as root (it calls apt-get install)" >&2
  exit 1
fi
# arm64 packages (kernel headers and images, busybox-static) are downloaded, never installed.
dpkg --add-architecture arm64
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
echo "install-deps: ${#packages[@]} packages present"

# Kernel headers for the tests: the two newest cloud ABIs, plus the generic flavour of the
# newest (modules whose BUILD_EXCLUSIVE_CONFIG the cloud flavour lacks build against it).
mapfile -t releases < <("$(dirname "$0")/kernel-releases.sh" 2)
if [ "${#releases[@]}" -lt 2 ]; then
  echo "install-deps: the archive has fewer than two cloud kernel ABIs" >&2
  exit 1
fi
generic="${releases[-1]%-cloud-amd64}-amd64"
apt-get install -y -qq --no-install-recommends \
  "${releases[@]/#/linux-headers-}" "linux-headers-${generic}" >/dev/null
echo "install-deps: kernel headers for ${releases[*]} ${generic}"

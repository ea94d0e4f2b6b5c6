#!/usr/bin/env bash
# Shared by both pipelines: builds ckms from this repository in a Debian bookworm job and
# installs what `ckms build` and `ckms image build` drive (runc, mmdebstrap).
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
  build-essential cmake ninja-build pkg-config ca-certificates \
  libcurl4-openssl-dev nlohmann-json3-dev libarchive-dev libssl-dev libkmod-dev libelf-dev \
  libyaml-cpp-dev libcli11-dev libfmt-dev libzstd-dev liblzma-dev zlib1g-dev \
  runc mmdebstrap uidmap >/dev/null
cmake -S "$root" -B "$root/build-ci" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCKMS_TESTS=OFF >/dev/null
ninja -C "$root/build-ci" ckms >/dev/null
install -m 0755 "$root/build-ci/cli/ckms" /usr/local/bin/ckms
install -D -m 0755 "$root/build-ci/cli/ckms-full" /usr/local/libexec/ckms/ckms-full
ckms --version

#!/usr/bin/env bash
# Prints the kernel releases the tests build for: the newest N (default 2) Debian bookworm
# cloud ABIs of ARCH (default amd64) whose headers and image the archive holds today.
# Discovered, never hard-coded, because security updates move the ABI. Another ARCH needs
# `dpkg --add-architecture ARCH && apt-get update` first (scripts/install-deps.sh).
set -euo pipefail
count=${1:-2}
arch=${2:-amd64}
apt-cache search --names-only "^linux-headers-[0-9.]+-[0-9]+-cloud-${arch}\$" \
  | awk '{print $1}' | sed 's/^linux-headers-//' | sort -V \
  | while read -r release; do
      apt-cache show "linux-image-${release}:${arch}" >/dev/null 2>&1 && echo "$release"
    done | tail -n "$count"

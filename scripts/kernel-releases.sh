#!/usr/bin/env bash
# Prints the kernel releases the tests build for: the newest N (default 2) Debian bookworm
# cloud ABIs whose headers and image the archive holds today. Discovered, never hard-coded,
# because security updates move the ABI.
set -euo pipefail
count=${1:-2}
apt-cache search --names-only '^linux-headers-[0-9.]+-[0-9]+-cloud-amd64$' \
  | awk '{print $1}' | sed 's/^linux-headers-//' | sort -V \
  | while read -r release; do
      apt-cache show "linux-image-${release}" >/dev/null 2>&1 && echo "$release"
    done | tail -n "$count"

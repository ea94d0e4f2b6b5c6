#!/bin/sh
# Downloads Debian's *-dkms binary packages into CACHE/dkms-debs and unpacks each one's
# /usr/src/<name>-<version>/ into CACHE/dkms-src/<package>/, the corpus of real dkms.conf
# files that the builder tests read. Idempotent: a package already present is skipped, so
# a second run costs one apt-cache lookup per package.
#
# usage: fetch-dkms-packages.sh CACHE [PACKAGE...]
set -eu

if [ $# -lt 1 ]; then
  echo "usage: $0 CACHE [PACKAGE...]" >&2
  exit 2
fi
cache=$1
shift

# The corpus: every *-dkms package of bookworm main that ships a dkms.conf, chosen for the
# range of dkms.conf styles (plain assignments, several modules, MAKE overrides,
# BUILD_EXCLUSIVE_*, PATCH, shell logic).
if [ $# -eq 0 ]; then
  set -- acpi-call-dkms bbswitch-dkms dahdi-dkms ddcci-dkms digimend-dkms \
    dm-writeboost-dkms dpdk-kmods-dkms evdi-dkms falcosecurity-scap-dkms \
    gost-crypto-dkms iptables-netflow-dkms jool-dkms lime-forensics-dkms \
    lttng-modules-dkms nat-rtsp-dkms openafs-modules-dkms openrazer-driver-dkms \
    openvpn-dco-dkms rapiddisk-dkms rtpengine-kernel-dkms tp-smapi-dkms \
    v4l2loopback-dkms xtables-addons-dkms xtrx-dkms langford-dkms apfs-dkms \
    librem-ec-acpi-dkms vpoll-dkms adv-17v35x-dkms west-chamber-dkms
fi

debs=$cache/dkms-debs
srcs=$cache/dkms-src
mkdir -p "$debs" "$srcs"

for package in "$@"; do
  if [ -e "$srcs/$package/.complete" ]; then
    continue
  fi
  if ! ls "$debs/${package}"_*.deb >/dev/null 2>&1; then
    # apt-get download writes into the current directory only.
    (cd "$debs" && apt-get download -q "$package") || {
      echo "warning: $package could not be downloaded; skipped" >&2
      continue
    }
  fi
  deb=$(ls "$debs/${package}"_*.deb | head -n 1)
  work=$srcs/$package.partial
  rm -rf "$work"
  mkdir -p "$work/root"
  dpkg-deb -x "$deb" "$work/root"
  conf=$(find "$work/root/usr/src" -maxdepth 2 -name dkms.conf | head -n 1)
  if [ -z "$conf" ]; then
    echo "warning: $package has no /usr/src/*/dkms.conf; skipped" >&2
    rm -rf "$work"
    continue
  fi
  # Keep only the source tree (what `dkms add` would see), named as DKMS names it.
  tree=$(dirname "$conf")
  rm -rf "$srcs/$package"
  mkdir -p "$srcs/$package"
  mv "$tree" "$srcs/$package/$(basename "$tree")"
  rm -rf "$work"
  touch "$srcs/$package/.complete"
done

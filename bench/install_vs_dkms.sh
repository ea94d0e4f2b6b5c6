#!/usr/bin/env bash
# ckms install against dkms install of the same module, already built, for the same kernel
# and module tree: both place one file under /lib/modules/R/updates/{ckms,dkms} and run
# depmod -a R over the whole tree, which is most of the time.
#   - `dkms install` (after `dkms add` and `dkms build`, untimed) in a private mount
#     namespace whose /var/lib/dkms is a tmpfs and whose /lib/modules/R is a copy of the
#     kernel package's tree: the host's DKMS state and modules are untouched;
#   - `ckms install oci:LAYOUT:1.0.0 --kernel R --root ROOT` of the artifact `ckms build`
#     published, from a warm cache (the artifact fetched once before), verified each time.
# Each run is followed by the matching uninstall (untimed).
#
# usage: bench/install_vs_dkms.sh BUILD_DIR [RUNS]   (BUILD_DIR holds ckms and ckms-full)
# As root (dkms, unshare). Needs linux-headers-R and the linux-image-R package (downloaded).
set -euo pipefail

build=$(realpath "${1:?usage: bench/install_vs_dkms.sh BUILD_DIR [RUNS]}")
runs=${2:-5}
root=$(cd "$(dirname "$0")/.." && pwd)
ckms="$build/cli/ckms"
[ "$(id -u)" -eq 0 ] || { echo "install_vs_dkms: run as root (dkms, unshare)" >&2; exit 1; }
for tool in dkms unshare depmod apt-get dpkg-deb; do
  command -v "$tool" >/dev/null || { echo "install_vs_dkms: $tool is missing (scripts/install-deps.sh)" >&2; exit 1; }
done

release=""
for k in $("$root/scripts/kernel-releases.sh" 100); do
  [ -f "/usr/src/linux-headers-$k/Makefile" ] && release=$k
done
[ -n "$release" ] || { echo "install_vs_dkms: no linux-headers of a cloud kernel installed" >&2; exit 1; }

work=$(mktemp -d /tmp/ckms-bench-install.XXXXXX)
chmod 0755 "$work"
cleanup() {
  local rc=$?
  [ $rc -eq 0 ] || tail -n 40 "$work/commands.log" >&2
  rm -rf "$work"
}
trap cleanup EXIT
log() { "$@" >>"$work/commands.log" 2>&1; }

# The kernel's module tree, as its package installs it, depmod'ed: one copy per tool.
(cd "$work" && log apt-get download "linux-image-$release")
log dpkg-deb -x "$work"/linux-image-"$release"_*.deb "$work/image"
for tool in ckms dkms; do
  mkdir -p "$work/$tool/lib/modules"
  cp -a "$work/image/lib/modules/$release" "$work/$tool/lib/modules/"
  log depmod -b "$work/$tool" "$release"
done
# What linux-headers adds to the tree; dkms builds through it.
ln -s "/usr/src/linux-headers-$release" "$work/dkms/lib/modules/$release/build"

log "$ckms" key generate --key "$work/signing.key" --cert "$work/signing.crt" --bits 2048
log "$ckms" build "$root/examples/hello" --runtime none --kernel "$release" --output "oci:$work/layout" \
  --sign-key "$work/signing.key" --sign-cert "$work/signing.crt" --cache-dir "$work/build-cache"
install=("$ckms" -q install "oci:$work/layout:1.0.0" --kernel "$release" --root "$work/ckms" --trust "$work/signing.crt")
log "${install[@]}"
log "$ckms" uninstall --all --root "$work/ckms"

TIMEFORMAT=%R
seconds() { { time "$@" >>"$work/commands.log" 2>&1; } 2>&1; }
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

for _ in $(seq "$runs"); do
  seconds "${install[@]}"
  log "$ckms" uninstall --all --root "$work/ckms"
done >"$work/ckms.times"

mkdir -p "$work/src"
cp -r "$root/examples/hello" "$work/src/ckms-hello-1.0.0"
keys="mok_signing_key=$work/signing.key mok_certificate=$work/signing.crt"
unshare --mount sh -c "set -e
  mount -t tmpfs bench /var/lib/dkms
  mkdir -p /lib/modules/$release
  mount --bind '$work/dkms/lib/modules/$release' /lib/modules/$release
  $keys dkms add -m ckms-hello -v 1.0.0 --sourcetree '$work/src' >>'$work/commands.log' 2>&1
  $keys dkms build -m ckms-hello -v 1.0.0 -k $release --sourcetree '$work/src' >>'$work/commands.log' 2>&1
  for i in \$(seq $runs); do
    start=\$(date +%s.%N)
    $keys dkms install -m ckms-hello -v 1.0.0 -k $release --sourcetree '$work/src' >>'$work/commands.log' 2>&1
    end=\$(date +%s.%N)
    test -f /lib/modules/$release/updates/dkms/ckms_hello.ko
    dkms uninstall -m ckms-hello -v 1.0.0 -k $release >>'$work/commands.log' 2>&1
    awk -v a=\$start -v b=\$end 'BEGIN { printf \"%.3f\\n\", b - a }'
  done" >"$work/dkms.times"

t_ckms=$(median <"$work/ckms.times")
t_dkms=$(median <"$work/dkms.times")
cat <<EOF
examples/hello into $release's module tree, median of $runs runs ($(nproc) CPUs, load $(cut -d' ' -f1 /proc/loadavg)):
  dkms install (built already)         ${t_dkms} s   1.00
  ckms install (fetched already)       ${t_ckms} s   $(ratio "$t_ckms" "$t_dkms") x dkms   (goal: within 1.0x)
EOF

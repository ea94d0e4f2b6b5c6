#!/usr/bin/env bash
# ckms build against what a user would run instead, on examples/hello with the same kernel
# headers and signing key:
#   - `ckms build` in the runc sandbox, its build image already unpacked (--force rebuilds);
#   - `dkms build` (add + build in a private mount namespace whose /var/lib/dkms is a
#     tmpfs, and private source and install trees: the host's DKMS state is untouched);
#   - bare `make -C /usr/src/linux-headers-R M=DIR modules` on the host.
# Then the no-op re-run of `ckms build` for KERNELS (default 10) distinct kernel releases:
# every cloud ABI the archive has headers and an image for, then the generic flavour of the
# newest ABIs until the count is reached (bookworm holds six ABIs, each in both flavours).
#
# usage: bench/build_vs_dkms.sh CKMS [RUNS] [TOOLCHAIN_TAR] [KERNELS]
# As root (dkms, unshare, rootful runc). Without TOOLCHAIN_TAR, one is made with mmdebstrap
# and kept in $CKMS_BENCH_CACHE (default ~/.cache/ckms-bench), like the tests' fixture.
set -euo pipefail

ckms=$(realpath "${1:?usage: bench/build_vs_dkms.sh CKMS [RUNS] [TOOLCHAIN_TAR]}")
runs=${2:-3}
toolchain=${3:-}
want=${4:-10}
root=$(cd "$(dirname "$0")/.." && pwd)
cache=${CKMS_BENCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ckms-bench}
[ "$(id -u)" -eq 0 ] || { echo "build_vs_dkms: run as root (dkms, unshare, rootful runc)" >&2; exit 1; }
for tool in dkms unshare mmdebstrap openssl; do
  command -v "$tool" >/dev/null || { echo "build_vs_dkms: $tool is missing (scripts/install-deps.sh)" >&2; exit 1; }
done

work=$(mktemp -d /tmp/ckms-bench-build.XXXXXX)
chmod 0755 "$work"
# runc puts each build container in a cpu cgroup of its own (cgroup v1: /<container id>,
# weight 1024 beside everything else on the machine). The baselines get the same by running
# the bench in a cgroup of its own, so a busy machine slows every tool alike.
cgroup=""
if [ -w /sys/fs/cgroup/cpu/cgroup.procs ]; then
  cgroup=/sys/fs/cgroup/cpu/ckms-bench-$$
  mkdir "$cgroup"
  echo $$ >"$cgroup/cgroup.procs"
fi
# A failing step shows its output: every command logs to commands.log. CKMS_BENCH_KEEP=1
# keeps the work dir (images, output) for a closer look.
cleanup() {
  local rc=$?
  [ $rc -eq 0 ] || tail -n 40 "$work/commands.log" >&2
  if [ -n "$cgroup" ]; then
    echo $$ >/sys/fs/cgroup/cpu/cgroup.procs
    rmdir "$cgroup" 2>/dev/null || true
  fi
  if [ -n "${CKMS_BENCH_KEEP:-}" ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
mkdir -p "$cache"

TIMEFORMAT=%R
seconds() { { time "$@" >>"$work/commands.log" 2>&1; } 2>&1; }
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

if [ -z "$toolchain" ]; then
  toolchain="$cache/toolchain-bookworm.tar"
  if [ ! -f "$toolchain" ]; then
    sources=$(grep -l debian-archive-keyring /etc/apt/sources.list.d/*.sources | head -n1)
    echo "toolchain: mmdebstrap into $toolchain (once)" >&2
    # Split-/usr: see tests/integration/build/build_fixture.cpp.
    mmdebstrap --mode=unshare --variant=minbase --hook-dir=/usr/share/mmdebstrap/hooks/no-merged-usr \
      --include=gcc-12,make,libc6-dev,libelf-dev,libssl3,patch,kmod,mawk \
      --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
      --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/info/*' \
      bookworm "$toolchain.tmp" "$sources" >>"$work/commands.log" 2>&1
    mv "$toolchain.tmp" "$toolchain"
  fi
fi

mapfile -t cloud < <("$root/scripts/kernel-releases.sh" 100)
release=""
for k in "${cloud[@]}"; do
  [ -f "/usr/src/linux-headers-$k/Makefile" ] && release=$k
done
kernels=("${cloud[@]}")
for ((i = ${#cloud[@]} - 1; i >= 0 && ${#kernels[@]} < want; i--)); do
  generic=${cloud[i]%-cloud-amd64}-amd64
  apt-cache show "linux-headers-$generic" >/dev/null 2>&1 && kernels+=("$generic")
done
[ -n "$release" ] || { echo "build_vs_dkms: no installed cloud headers (scripts/install-deps.sh)" >&2; exit 1; }

openssl req -new -nodes -utf8 -sha256 -days 365 -batch -x509 -subj "/CN=ckms bench key" \
  -newkey rsa:2048 -keyout "$work/signing.key" -out "$work/signing.crt" >>"$work/commands.log" 2>&1
image_args=()
for k in "${kernels[@]}"; do image_args+=(--kernel "$k"); done
echo "images: ${#kernels[@]} kernels: ${kernels[*]}" >&2
t_images=$(seconds "$ckms" image build --toolchain-tar "$toolchain" "${image_args[@]}" \
  --output "oci:$work/images" --apt-cache "$cache/debs" --compression zstd)

build=(build "$root/examples/hello" --image-template "oci:$work/images:{release}" --sign-key "$work/signing.key"
       --sign-cert "$work/signing.crt" --cache-dir "$work/cache" --output "oci:$work/out")
echo "compare on $release, $runs runs each" >&2
t_cold=$(seconds "$ckms" "${build[@]}" --kernel "$release")
for _ in $(seq "$runs"); do seconds "$ckms" "${build[@]}" --kernel "$release" --force; done >"$work/ckms.times"

for i in $(seq "$runs"); do
  d="$work/dkms-$i"
  mkdir -p "$d/src" "$d/install"
  cp -r "$root/examples/hello" "$d/src/ckms-hello-1.0.0"
  trees="--sourcetree $d/src --installtree $d/install"
  keys="mok_signing_key=$work/signing.key mok_certificate=$work/signing.crt"
  unshare --mount sh -c "set -e; mount -t tmpfs bench /var/lib/dkms
    $keys dkms add -m ckms-hello -v 1.0.0 $trees >>'$work/commands.log' 2>&1
    start=\$(date +%s.%N)
    $keys dkms build -m ckms-hello -v 1.0.0 -k $release $trees >>'$work/commands.log' 2>&1
    end=\$(date +%s.%N)
    cp /var/lib/dkms/ckms-hello/1.0.0/$release/x86_64/module/ckms_hello.ko '$d/dkms.ko'
    awk -v a=\$start -v b=\$end 'BEGIN { printf \"%.3f\\n\", b - a }'"
done >"$work/dkms.times"

for i in $(seq "$runs"); do
  cp -r "$root/examples/hello" "$work/make-$i"
  seconds make -j"$(nproc)" -C "/usr/src/linux-headers-$release" "M=$work/make-$i" modules
done >"$work/make.times"

"$ckms" pull "oci:$work/out:1.0.0-$release" -o "$work/pulled" >>"$work/commands.log" 2>&1
same=no
cmp -s "$work/pulled/ckms_hello.ko" "$work/dkms-1/dkms.ko" && same=yes

all_args=()
for k in "${kernels[@]}"; do all_args+=(--kernel "$k"); done
t_all=$(seconds "$ckms" "${build[@]}" "${all_args[@]}")
for _ in $(seq "$runs"); do seconds "$ckms" "${build[@]}" "${all_args[@]}"; done >"$work/noop.times"

t_ckms=$(median <"$work/ckms.times")
t_dkms=$(median <"$work/dkms.times")
t_make=$(median <"$work/make.times")
t_noop=$(median <"$work/noop.times")
cat <<EOF
examples/hello on $release, median of $runs runs ($(nproc) CPUs, load $(cut -d' ' -f1 /proc/loadavg)):
  bare make                    ${t_make} s   1.00
  dkms build                   ${t_dkms} s   $(ratio "$t_dkms" "$t_make") x make
  ckms build (image unpacked)  ${t_ckms} s   $(ratio "$t_ckms" "$t_make") x make, $(ratio "$t_ckms" "$t_dkms") x dkms
  ckms build, first (unpack)   ${t_cold} s
  module bytes equal to dkms's (same key): $same
${#kernels[@]} kernels:
  ckms image build             ${t_images} s
  ckms build, all kernels      ${t_all} s
  no-op re-run, all kernels    ${t_noop} s
EOF

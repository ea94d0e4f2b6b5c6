#!/usr/bin/env bash
# Times `ckms copy` against `skopeo copy` for the same image between two registries on
# loopback and prints per-round times and the ratio (goal: ckms no slower than skopeo, <= 1.0).
#
# Fair rounds: every copy, by either tool, goes into a destination registry started empty for
# it, and skopeo's blob-info cache is removed before each of its copies, so neither tool can
# skip uploads by mounting blobs that an earlier round pushed (skopeo otherwise learns such
# mounts from its cache and later rounds measure no transfer at all). Rounds alternate which
# tool goes first, so a busy phase of a shared machine does not always hit the same one.
#
# Usage: bench/copy_vs_skopeo.sh [CKMS_BINARY] [IMAGE_MB] [ROUNDS] [LAYERS]
# The image has LAYERS (default 3) incompressible layers of IMAGE_MB/LAYERS MiB each (before
# gzip), e.g. 64 3 (default), 256 3 (a large toolchain), 64 20 (many small layers).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
ckms=${1:-$here/../build/cli/ckms}
image_mb=${2:-64}
rounds=${3:-3}
layers=${4:-3}
# shellcheck source=registry-fixture.sh
. "$here/registry-fixture.sh"

work=$(mktemp -d)
trap 'stop_registries; rm -rf "$work"' EXIT
src_port=$(free_port); start_registry "$work/src" "$src_port"

# The image is made with umoci and pushed to the source by skopeo.
umoci init --layout "$work/image" >/dev/null
umoci new --image "$work/image:bench" >/dev/null
for i in $(seq "$layers"); do
  mkdir -p "$work/rootfs$i"
  head -c "$((image_mb * 1024 * 1024 / layers))" /dev/urandom >"$work/rootfs$i/data$i"
  umoci raw add-layer --image "$work/image:bench" <(tar -C "$work/rootfs$i" -cf - .) >/dev/null
  rm -rf "$work/rootfs$i"
done
skopeo copy --quiet --dest-tls-verify=false "oci:$work/image:bench" "docker://127.0.0.1:$src_port/bench/image:1" >/dev/null
source_digest=$("$ckms" inspect --raw --plain-http "127.0.0.1:$src_port/bench/image:1" | sha256sum | cut -d' ' -f1)

if [ "$(id -u)" = 0 ]; then
  skopeo_cache=/var/lib/containers/cache/blob-info-cache-v1.boltdb
else
  skopeo_cache=${XDG_DATA_HOME:-$HOME/.local/share}/containers/cache/blob-info-cache-v1.boltdb
fi

seconds() { local start end; start=$(date +%s.%N); "$@" >/dev/null 2>&1; end=$(date +%s.%N); echo "$end - $start" | bc -l; }

# time_copy TOOL ROUND: copies the source image into a fresh registry with TOOL, checks that the
# copy has the source's manifest digest, and prints the seconds the copy took.
time_copy() {
  local tool=$1 round=$2 dir="$work/dst-$1-$2" port t digest
  port=$(free_port); start_registry "$dir" "$port"
  if [ "$tool" = skopeo ]; then
    rm -f "$skopeo_cache"
    t=$(seconds skopeo copy --quiet --src-tls-verify=false --dest-tls-verify=false \
          "docker://127.0.0.1:$src_port/bench/image:1" "docker://127.0.0.1:$port/bench/image:1")
  else
    t=$(seconds "$ckms" --quiet copy --plain-http \
          "127.0.0.1:$src_port/bench/image:1" "127.0.0.1:$port/bench/image:1")
  fi
  digest=$("$ckms" inspect --raw --plain-http "127.0.0.1:$port/bench/image:1" | sha256sum | cut -d' ' -f1)
  stop_registry "$dir"; rm -rf "$dir"
  # Same manifest as the source, or the comparison means nothing.
  [ "$digest" = "$source_digest" ] || { echo "$tool round $round: digest $digest, source $source_digest" >&2; exit 1; }
  echo "$t"
}

ckms_total=0; skopeo_total=0
for round in $(seq "$rounds"); do
  if [ $((round % 2)) = 1 ]; then
    s=$(time_copy skopeo "$round"); c=$(time_copy ckms "$round")
  else
    c=$(time_copy ckms "$round"); s=$(time_copy skopeo "$round")
  fi
  printf 'round %d: skopeo %.2f s, ckms %.2f s\n' "$round" "$s" "$c"
  skopeo_total=$(echo "$skopeo_total + $s" | bc -l); ckms_total=$(echo "$ckms_total + $c" | bc -l)
done
printf 'copy %d MiB image in %d layers, %d rounds: skopeo %.2f s, ckms %.2f s, ratio ckms/skopeo %.2f\n' \
  "$image_mb" "$layers" "$rounds" "$skopeo_total" "$ckms_total" "$(echo "$ckms_total / $skopeo_total" | bc -l)"

#!/usr/bin/env bash
# Times `ckms copy` against `skopeo copy` for the same image on loopback in two modes and
# prints per-round times and the ratio ckms/skopeo of each (goal: ckms no slower than skopeo,
# <= 1.0, in both):
#
# same:  within one registry, from bench/image to a new repository of it per copy, as a CI
#        pipeline promotes an artifact. Both tools may mount blobs across repositories instead
#        of moving them: ckms mounts from the source repository, skopeo from what its
#        blob-info cache knows (primed by the push of the source image, and kept, as skopeo
#        keeps it in normal use).
# fresh: between two registries: every copy, by either tool, goes into a destination registry
#        started empty for it, and skopeo's blob-info cache is removed before each of its
#        copies, so neither tool can skip uploads by mounting blobs that an earlier round
#        pushed (skopeo otherwise learns such mounts from its cache and later rounds measure
#        no transfer at all). Every byte moves.
#
# Rounds alternate which tool goes first, so a busy phase of a shared machine does not always
# hit the same one.
#
# Usage: bench/copy_vs_skopeo.sh [CKMS_BINARY] [IMAGE_MB] [ROUNDS] [LAYERS] [MODES]
# The image has LAYERS (default 3) incompressible layers of IMAGE_MB/LAYERS MiB each (before
# gzip), e.g. 64 3 (default), 256 3 (a large toolchain), 64 20 (many small layers). MODES is
# "same fresh" (default), "same" or "fresh".
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
ckms=${1:-$here/../build/cli/ckms}
image_mb=${2:-64}
rounds=${3:-3}
layers=${4:-3}
modes=${5:-same fresh}
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

# check_copy TOOL ROUND REFERENCE: the copy has the source's manifest digest, or the
# comparison means nothing.
check_copy() {
  local digest
  digest=$("$ckms" inspect --raw --plain-http "$3" | sha256sum | cut -d' ' -f1)
  [ "$digest" = "$source_digest" ] || { echo "$1 round $2: digest $digest, source $source_digest" >&2; exit 1; }
}

# copy_with TOOL SOURCE DESTINATION: prints the seconds TOOL took to copy.
copy_with() {
  if [ "$1" = skopeo ]; then
    seconds skopeo copy --quiet --src-tls-verify=false --dest-tls-verify=false "docker://$2" "docker://$3"
  else
    seconds "$ckms" --quiet copy --plain-http "$2" "$3"
  fi
}

# time_same TOOL ROUND: copies the source image into a new repository of its own registry.
time_same() {
  local destination="127.0.0.1:$src_port/bench/$1-$2:1" t
  t=$(copy_with "$1" "127.0.0.1:$src_port/bench/image:1" "$destination")
  check_copy "$1" "$2" "$destination"
  echo "$t"
}

# time_fresh TOOL ROUND: copies the source image into a registry started empty for it.
time_fresh() {
  local dir="$work/dst-$1-$2" port t
  port=$(free_port); start_registry "$dir" "$port"
  [ "$1" = skopeo ] && rm -f "$skopeo_cache"
  t=$(copy_with "$1" "127.0.0.1:$src_port/bench/image:1" "127.0.0.1:$port/bench/image:1")
  check_copy "$1" "$2" "127.0.0.1:$port/bench/image:1"
  stop_registry "$dir"; rm -rf "$dir"
  echo "$t"
}

# run_mode MODE: the rounds of one mode; prints them and the mode's ratio.
run_mode() {
  local mode=$1 ckms_total=0 skopeo_total=0 round s c
  for round in $(seq "$rounds"); do
    if [ $((round % 2)) = 1 ]; then
      s=$("time_$mode" skopeo "$round"); c=$("time_$mode" ckms "$round")
    else
      c=$("time_$mode" ckms "$round"); s=$("time_$mode" skopeo "$round")
    fi
    printf '%s round %d: skopeo %.3f s, ckms %.3f s\n' "$mode" "$round" "$s" "$c"
    skopeo_total=$(echo "$skopeo_total + $s" | bc -l); ckms_total=$(echo "$ckms_total + $c" | bc -l)
  done
  ratios+=("$(printf '%-5s copy of a %d MiB image in %d layers, %d rounds: skopeo %.3f s, ckms %.3f s, ratio ckms/skopeo %.2f' \
    "$mode" "$image_mb" "$layers" "$rounds" "$skopeo_total" "$ckms_total" "$(echo "$ckms_total / $skopeo_total" | bc -l)")")
}

ratios=()
# "same" first: the fresh rounds empty skopeo's cache, which the same-registry rounds keep.
for mode in $modes; do
  case $mode in
    same | fresh) run_mode "$mode" ;;
    *) echo "unknown mode '$mode': same or fresh" >&2; exit 2 ;;
  esac
done
printf '%s\n' "${ratios[@]}"

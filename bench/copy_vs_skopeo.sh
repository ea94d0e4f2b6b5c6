#!/usr/bin/env bash
# Times `ckms copy` against `skopeo copy` for the same image between the same two registries
# on loopback, in one run, and prints the ratio (goal: ckms no slower than skopeo, <= 1.0).
# Usage: bench/copy_vs_skopeo.sh [CKMS_BINARY] [LAYER_MB] [ROUNDS]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
ckms=${1:-$here/../build/cli/ckms}
layer_mb=${2:-64}
rounds=${3:-3}
# shellcheck source=registry-fixture.sh
. "$here/registry-fixture.sh"

work=$(mktemp -d)
trap 'stop_registries; rm -rf "$work"' EXIT
src_port=$(free_port); start_registry "$work/src" "$src_port"
dst_port=$(free_port); start_registry "$work/dst" "$dst_port"

# An image of three incompressible layers made with umoci, pushed to the source by skopeo.
umoci init --layout "$work/image" >/dev/null
umoci new --image "$work/image:bench" >/dev/null
for i in 1 2 3; do
  mkdir -p "$work/rootfs$i"
  head -c "$((layer_mb * 1024 * 1024 / 3))" /dev/urandom >"$work/rootfs$i/data$i"
  umoci raw add-layer --image "$work/image:bench" <(tar -C "$work/rootfs$i" -cf - .) >/dev/null
done
skopeo copy --quiet --dest-tls-verify=false "oci:$work/image:bench" "docker://127.0.0.1:$src_port/bench/image:1" >/dev/null

seconds() { local start end; start=$(date +%s.%N); "$@" >/dev/null 2>&1; end=$(date +%s.%N); echo "$end - $start" | bc -l; }

ckms_total=0; skopeo_total=0
for round in $(seq "$rounds"); do
  s=$(seconds skopeo copy --quiet --src-tls-verify=false --dest-tls-verify=false \
        "docker://127.0.0.1:$src_port/bench/image:1" "docker://127.0.0.1:$dst_port/bench/skopeo$round:1")
  c=$(seconds "$ckms" --quiet copy --plain-http \
        "127.0.0.1:$src_port/bench/image:1" "127.0.0.1:$dst_port/bench/ckms$round:1")
  printf 'round %d: skopeo %.2f s, ckms %.2f s\n' "$round" "$s" "$c"
  skopeo_total=$(echo "$skopeo_total + $s" | bc -l); ckms_total=$(echo "$ckms_total + $c" | bc -l)
done
# Same digest on both sides, or the comparison means nothing.
a=$(skopeo inspect --raw --tls-verify=false "docker://127.0.0.1:$dst_port/bench/skopeo1:1" | sha256sum | cut -d' ' -f1)
b=$("$ckms" inspect --raw --plain-http "127.0.0.1:$dst_port/bench/ckms1:1" | sha256sum | cut -d' ' -f1)
[ "$a" = "$b" ] || { echo "digests differ: skopeo $a, ckms $b" >&2; exit 1; }
printf 'copy %d MiB image, %d rounds: skopeo %.2f s, ckms %.2f s, ratio ckms/skopeo %.2f\n' \
  "$layer_mb" "$rounds" "$skopeo_total" "$ckms_total" "$(echo "$ckms_total / $skopeo_total" | bc -l)"

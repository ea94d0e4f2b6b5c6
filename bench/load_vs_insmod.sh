#!/usr/bin/env bash
# Times `ckms load` against plain `insmod` of the same module file inside a Debian kernel
# booted in qemu (TCG): warm (--offline, from the cache), warm but asking the registry,
# cold (empty cache, from a registry on the host), kmod's and busybox's insmod, and
# `ckms --version` for the process start alone. Prints medians and the warm/insmod ratio
# (goal: within 1.2x). It is the loader's VM test with more rounds.
#
# Usage: bench/load_vs_insmod.sh [BUILD_DIR] [ROUNDS]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../build}
rounds=${2:-10}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! CKMS_BENCH_ROUNDS=$rounds "$build/tests/integration/loader/loader_integration_tests" '[vm]' >"$log" 2>&1; then
  cat "$log" >&2
  exit 1
fi
cat "$build/loader-vm-bench.txt"
ratio=$(sed -n 's|^ *warm / insmod (kmod): *\([0-9.]*\)x.*|\1|p' "$build/loader-vm-bench.txt")
if ! awk -v r="$ratio" 'BEGIN { exit !(r != "" && r <= 1.2) }'; then
  echo "load_vs_insmod: warm / insmod is ${ratio:-unknown}x, over the goal of 1.2x" >&2
  exit 1
fi

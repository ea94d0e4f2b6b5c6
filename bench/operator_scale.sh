#!/usr/bin/env bash
# The operator at scale: ckms-operator against the in-suite API server with 500 nodes on
# 20 kernels and 10 KernelModules (tests/integration/operator/scale_bench.cpp), the Job and
# DaemonSet controllers played by the test, artifacts in Debian's docker-registry. Prints
# the time to converge, the API requests made, the operator's peak RSS, and that RSS as a
# ratio of the JSON the operator watches (what an informer keeping whole objects starts
# from). Fails when the peak RSS misses the goal of 64 MiB.
#
# Usage: bench/operator_scale.sh [BUILD_DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../build}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! "$build/tests/integration/operator/operator_integration_tests" '[operator-scale]' >"$log" 2>&1; then
  cat "$log" >&2
  exit 1
fi
line=$(grep '^operator-scale:' "$log")
echo "$line"
rss=$(sed -n 's|.* peak_rss_mib=\([0-9.]*\).*|\1|p' <<<"$line")
if ! awk -v r="$rss" 'BEGIN { exit !(r != "" && r < 64) }'; then
  echo "operator_scale: peak RSS ${rss:-unknown} MiB, over the goal of 64 MiB" >&2
  exit 1
fi

#!/bin/sh
# Unpack speed of ckms's layer extractor against GNU tar -xzf on the installed kernel headers
# (several rounds in one run, medians, ratio printed). Usage: bench/layer_unpack.sh [BUILD_DIR]
# CKMS_BENCH_ROUNDS sets the number of rounds (default 5).
set -eu
build=${1:-$(dirname "$0")/../build}
exec "$build/tests/integration/images/layer_integration_tests" "[.bench]"

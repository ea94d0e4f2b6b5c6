#!/usr/bin/env bash
# The test command: installs what the tests drive (as root), builds ckms twice (optimised,
# and with ASan+UBSan), and runs the whole suite on the first and the unit tests on the
# second. Works on a fresh Debian bookworm machine as root.
set -euo pipefail
cd "$(dirname "$0")/.."

jobs=$(nproc)
if [ "$(id -u)" -eq 0 ]; then
  scripts/install-deps.sh
fi

echo "== build (RelWithDebInfo)"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C build -j"$jobs"

echo "== build (ASan+UBSan)"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCKMS_SANITIZE=ON >/dev/null
# Only the unit test executables (named *_unit_tests) run under the sanitizers; building the
# rest twice would double the build time on a two-core machine for nothing.
mapfile -t unit_targets < <(ninja -C build-asan -t targets | sed -n 's/^\([a-z0-9_]*_unit_tests\): .*/\1/p' | sort -u)
ninja -C build-asan -j"$jobs" "${unit_targets[@]}"

status=0
echo "== format and function size (.clang-format, .clang-tidy; scripts/check-format.sh --tidy)"
scripts/check-format.sh --tidy build || status=1

echo "== unit tests under ASan+UBSan"
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-asan -L unit --output-on-failure -j"$jobs" || status=1

echo "== all tests (unit and integration, real components)"
ctest --test-dir build --output-on-failure -j"$jobs" || status=1

echo "== fuzz targets, 20 s each (docs/fuzzing.md)"
scripts/fuzz.sh 20 || status=1
exit $status

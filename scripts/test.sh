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
ninja -C build-asan -j"$jobs"

status=0
echo "== unit tests under ASan+UBSan"
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-asan -L unit --output-on-failure -j"$jobs" || status=1

echo "== all tests (unit and integration, real components)"
ctest --test-dir build --output-on-failure -j"$jobs" || status=1
exit $status

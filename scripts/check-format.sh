#!/usr/bin/env bash
# The written style rules, checked by machine (.clang-format, .clang-tidy).
#   scripts/check-format.sh            clang-format on every tracked C++ file; fails when one differs
#   scripts/check-format.sh --tidy DIR also clang-tidy's function-size check on the libraries'
#                                      sources, with DIR's compile_commands.json (reports only)
set -euo pipefail
cd "$(dirname "$0")/.."

mapfile -t files < <(git ls-files '*.cpp' '*.hpp' '*.h' ':!:*/corpus/*')
status=0
if ! clang-format --dry-run --Werror "${files[@]}" 2>/tmp/ckms-format.$$; then
  grep -o '^[^:]*\.[ch]pp' /tmp/ckms-format.$$ | sort -u | sed 's/^/not formatted: /'
  echo "check-format: run clang-format -i on the files above" >&2
  status=1
fi
rm -f /tmp/ckms-format.$$

if [ "${1:-}" = "--tidy" ]; then
  build_dir=${2:?"--tidy needs a build directory with compile_commands.json"}
  mapfile -t sources < <(git ls-files 'base/src/*.cpp' 'oci/src/*.cpp' 'kmod/src/*.cpp' 'artifact/src/*.cpp' \
                         'images/src/*.cpp' 'builder/src/*.cpp' 'loader/src/*.cpp' 'operator/src/*.cpp')
  # Advisory: long functions are listed, not failed on, until the ones left are split.
  clang-tidy -p "$build_dir" --quiet "${sources[@]}" 2>/dev/null | grep -A1 'readability-function-size' || true
fi
exit $status

#!/usr/bin/env bash
# The written style rules, checked by machine (.clang-format, .clang-tidy).
#   scripts/check-format.sh            clang-format on every tracked C++ file; fails when one differs
#   scripts/check-format.sh --tidy DIR also clang-tidy's function-size check on the libraries'
#                                      sources, with DIR's compile_commands.json; fails when a
#                                      function is longer than .clang-tidy allows
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
  if [ ! -f "$build_dir/compile_commands.json" ]; then
    echo "check-format: $build_dir has no compile_commands.json; configure it with -DCMAKE_EXPORT_COMPILE_COMMANDS=ON" >&2
    exit 2
  fi
  # One clang-tidy per core (the sources parse independently), each file's findings in a
  # file of their own so that parallel runs do not interleave their lines.
  reports=$(mktemp -d)
  printf '%s\0' "${sources[@]}" |
    xargs -0 -n 1 -P "$(nproc)" sh -c \
      'clang-tidy -p "$1" --quiet "$3" >"$2/$(printf %s "$3" | tr / _)" 2>/dev/null; exit 0' tidy "$build_dir" "$reports"
  long=$(cat "$reports"/* | grep -A1 'readability-function-size' || true)
  rm -rf "$reports"
  if [ -n "$long" ]; then
    printf '%s\n' "$long"
    echo "check-format: split the functions above into named parts (.clang-tidy's line limit)" >&2
    status=1
  fi
fi
exit $status

#!/usr/bin/env bash
# scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]: builds the libFuzzer targets with clang in
# build-fuzz (docs/fuzzing.md), runs each target's regression inputs once, then fuzzes it for
# SECONDS_PER_TARGET (default 20) from a temporary copy of its seed corpus, so the repository
# is never written to. Prints executions, coverage and crashes per target; exits non-zero
# when any target crashed. Crash inputs are kept in build-fuzz/crashes/.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-20}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(reference manifest www_authenticate dkms_conf modinfo signature certificate layer)
fi
build=build-fuzz

echo "== fuzz build (clang, libFuzzer, ASan+UBSan)"
start=$(date +%s)
# -O1 and line tables only: fast to build, still fast to run, and sanitizer reports keep
# file:line; asserts stay on.
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O1 -gline-tables-only" \
  "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -gline-tables-only" \
  -DCKMS_FUZZ=ON -DCKMS_TESTS=OFF >/dev/null
ninja -C "$build" -j"$(nproc)" fuzz
echo "fuzz build: $(($(date +%s) - start)) s"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
crashes_dir="$build/crashes"
mkdir -p "$crashes_dir"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}

status=0
for target in "${targets[@]}"; do
  bin="$build/fuzz/fuzz_$target"
  log="$work/$target.log"

  mapfile -t regressions < <(find "fuzz/regressions/$target" -type f 2>/dev/null | sort)
  if [ ${#regressions[@]} -gt 0 ]; then
    if ! "$bin" "${regressions[@]}" >"$log" 2>&1; then
      tail -n 40 "$log"
      echo "fuzz_$target: a regression input fails again"
      status=1
      continue
    fi
  fi

  corpus="$work/corpus-$target"
  mkdir -p "$corpus"
  cp fuzz/corpus/"$target"/* "$corpus"/
  seeds=$(find "$corpus" -type f | wc -l)
  rc=0
  "$bin" -max_total_time="$seconds" -timeout=25 -print_final_stats=1 \
    -artifact_prefix="$crashes_dir/$target-" "$corpus" >"$log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$log" | tail -n 1 || true)
  crashes=0
  if [ "$rc" -ne 0 ]; then
    crashes=1  # libFuzzer stops at the first crash
    tail -n 60 "$log"
    status=1
  fi
  echo "fuzz_$target: ${execs:-0} executions in ${seconds} s, ${cov:-no coverage}," \
    "corpus $seeds -> $(find "$corpus" -type f | wc -l), ${#regressions[@]} regression inputs," \
    "crashes: $crashes"
done
exit $status

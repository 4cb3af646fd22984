#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan, build-fuzz/) and runs
# each one for FUZZ_SECONDS (default 20) on a scratch copy of its seed corpus.
# Fails when any target crashes, leaks, trips a sanitizer or breaks one of
# its invariants; the failing input is kept in build-fuzz/artifacts/.
#
#   FUZZ_SECONDS=60 scripts/fuzz.sh                  # every target
#   scripts/fuzz.sh manifest_fuzzer                  # only the named ones
#   FUZZ_JOBS=2 scripts/fuzz.sh                      # libFuzzer workers per target
#
# Inputs found to add coverage stay in the scratch copy (printed at the end);
# copy the interesting ones into test/fuzz/corpus/<target>/ to keep them.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${FUZZ_SECONDS:-20}"
jobs="${PROPSY_JOBS:-2}"
workers="${FUZZ_JOBS:-1}"
build="${FUZZ_BUILD_DIR:-build-fuzz}"

echo "== configure $build (clang, PROPSY_FUZZ=ON)"
CC=clang CXX=clang++ cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DPROPSY_FUZZ=ON >/dev/null

# Each target leaves "$build/fuzzers/<name>": its binary path, then its corpus.
mapfile -t all < <(ls "$build/fuzzers")
if [[ $# -gt 0 ]]; then targets=("$@"); else targets=("${all[@]}"); fi
if [[ ${#targets[@]} -eq 0 ]]; then
  echo "no fuzz targets found" >&2
  exit 1
fi
for target in "${targets[@]}"; do
  if [[ ! -f "$build/fuzzers/$target" ]]; then
    echo "unknown fuzz target: $target (known: ${all[*]})" >&2
    exit 1
  fi
done

echo "== build ${targets[*]}"
cmake --build "$build" --target "${targets[@]}" -j "$jobs"

scratch="$build/fuzz-corpus"
artifacts="$build/artifacts"
mkdir -p "$artifacts"
failed=()
for target in "${targets[@]}"; do
  { read -r binary; read -r corpus; } <"$build/fuzzers/$target"
  work="$scratch/$target"
  rm -rf "$work"
  mkdir -p "$work"
  cp "$corpus"/* "$work"/
  echo "== $target: ${seconds}s from $(ls "$work" | wc -l) seed inputs"
  parallel=()
  # libFuzzer's -jobs runs workers in subprocesses that log to fuzz-N.log.
  if [[ "$workers" -gt 1 ]]; then parallel=(-jobs="$workers" -workers="$workers"); fi
  # -timeout: one input taking over 10 s is a hang. The scratch corpus comes
  # first, so libFuzzer writes new inputs there and not into the checkout.
  if ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}" \
     UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}" \
     "$binary" "$work" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
       "${parallel[@]}" -print_final_stats=1 \
       -artifact_prefix="$artifacts/$target-" >"$build/$target.log" 2>&1; then
    echo "   ok: $(grep -E '^stat::number_of_executed_units' "$build/$target.log" | tail -1 |
      awk '{print $2}') runs, corpus now $(ls "$work" | wc -l) inputs"
  else
    echo "   FAILED: see $build/$target.log and $artifacts/" >&2
    grep -E 'ERROR|check failed|SUMMARY|Test unit written' "$build/$target.log" | head -20 >&2 || true
    failed+=("$target")
  fi
done

echo "== grown corpora in $scratch"
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "fuzzing failed: ${failed[*]}" >&2
  exit 1
fi
echo "fuzzing passed: ${targets[*]}"

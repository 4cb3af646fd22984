#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs what is missing, checks
# formatting, builds (gcc), builds the OCI image, runs every CTest label but
# `fresh` (unit, integration, e2e, image, fuzz corpora), runs unit +
# integration again under AddressSanitizer + UBSan in a clang build that also
# checks the lock annotations of all code (-Wthread-safety -Werror) and under
# ThreadSanitizer (clang; the tiers where threads meet, with a stress test),
# runs the benchmark
# tools at smoke scale, then fuzzes every parser briefly with libFuzzer. The
# `soak` label (minutes of mostly idle real time) runs in the background
# while the sanitizer build keeps the CPUs busy.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs="${PROPSY_JOBS:-2}"

scripts/install-deps.sh
# Envoy, pytest, grpcurl (and Go when the system's is too old) live there.
export PATH="${PROPSY_CACHE:-$HOME/.cache/propsy}/bin:$PATH"

echo "== Kubernetes test environment (kube-apiserver + etcd from Go modules, cached by version)"
start=$(date +%s)
test/kube-env/build.sh >/dev/null
echo "kube-env: $(( $(date +%s) - start ))s"

echo "== clang-format check"
git ls-files '*.h' '*.cc' | xargs clang-format --dry-run --Werror

echo "== build (RelWithDebInfo)"
start=$(date +%s)
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C build -j "$jobs"
echo "build: $(( $(date +%s) - start ))s"

echo "== soak tests (label soak), in the background until the e2e tests"
soak_log="$PWD/build/soak.log"
# Its own session, so a failing step below stops it and its API servers too.
setsid bash -c 'cd build && exec ctest -L soak --output-on-failure' >"$soak_log" 2>&1 &
soak_pid=$!
trap 'kill -- "-$soak_pid" 2>/dev/null || true' EXIT
soak_start=$(date +%s)

echo "== build (clang, ASan + UBSan, -Wthread-safety -Werror on every library and the binary)"
start=$(date +%s)
CC=clang CXX=clang++ cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DPROPSY_SANITIZE=ON -DPROPSY_BUILD_E2E=OFF \
  -DPROPSY_BUILD_BENCH=OFF >/dev/null
ninja -C build-asan -j "$jobs"
echo "asan build: $(( $(date +%s) - start ))s"

echo "== tests under ASan + UBSan (unit, integration, fuzz corpora)"
start=$(date +%s)
lsan_suppressions="$PWD/test/lsan.supp"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  LSAN_OPTIONS="suppressions=$lsan_suppressions" \
  ctest -L 'unit|integration|fuzz' --output-on-failure -j "$jobs")
echo "asan tests: $(( $(date +%s) - start ))s"

# Unit and integration tests under TSan where threads meet: the controller,
# the translation/notifier hand-off, xDS streams, write budget and drain,
# sources, reflectors and watches, status writer and elector, admin, and the
# stress test (hundreds of streams against a changing World). The
# single-threaded tiers (model, translation, flags) are not built here.
echo "== build (clang, ThreadSanitizer)"
start=$(date +%s)
CC=clang CXX=clang++ cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DPROPSY_TSAN=ON -DPROPSY_BUILD_E2E=OFF -DPROPSY_BUILD_BENCH=OFF >/dev/null
ninja -C build-tsan -j "$jobs"
echo "tsan build: $(( $(date +%s) - start ))s"

echo "== tests under ThreadSanitizer (unit, integration)"
start=$(date +%s)
tsan_suppressions="$PWD/test/tsan.supp"
(cd build-tsan && TSAN_OPTIONS="suppressions=$tsan_suppressions halt_on_error=1 second_deadlock_stack=1" \
  ctest -L 'unit|integration' --output-on-failure -j "$jobs")
echo "tsan tests: $(( $(date +%s) - start ))s"

echo "== OCI image (scripts/build-image.sh; ctest's image_build checks it again)"
start=$(date +%s)
scripts/build-image.sh
echo "image: $(( $(date +%s) - start ))s"

echo "== soak tests (started $(( $(date +%s) - soak_start ))s ago)"
soak_rc=0
wait "$soak_pid" || soak_rc=$?
cat "$soak_log"
echo "soak: done $(( $(date +%s) - soak_start ))s after its start"
[ "$soak_rc" -eq 0 ] || { echo "soak tests failed" >&2; exit "$soak_rc"; }

echo "== all tests (unit, integration, e2e with the image, fuzz corpora; not 'fresh', which installs a whole Debian, nor 'soak', done above)"
start=$(date +%s)
(cd build && ctest --output-on-failure -LE 'fresh|soak')
echo "ctest: $(( $(date +%s) - start ))s"

echo "== benchmark tools at smoke scale (tools kept working; figures at this size mean little)"
start=$(date +%s)
(cd bench && go vet ./... && go test ./...)
pytest -q bench/test_workload.py bench/test_kube_world.py
PROPSY_BINARY="$PWD/build/src/main/propsy" bench/compare.sh --smoke
# The same through three real API servers (about 40 s).
PROPSY_BINARY="$PWD/build/src/main/propsy" bench/compare.sh --smoke --source kube
echo "bench smoke: $(( $(date +%s) - start ))s"

echo "== libFuzzer on every parser (clang, ${PROPSY_FUZZ_SECONDS:-5} s each)"
FUZZ_SECONDS="${PROPSY_FUZZ_SECONDS:-5}" scripts/fuzz.sh

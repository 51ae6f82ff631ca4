#!/usr/bin/env bash
# The whole test suite, as README.md documents it and .ci/run runs it:
#   1. clang-format and shellcheck are clean;
#   2. `asan` preset (GCC, Debug, warnings are errors, AddressSanitizer + UndefinedBehaviorSanitizer):
#      every CTest label (unit, integration, system, soak, container, manifests), the system and
#      soak tests in sandboxes (a network namespace with its own dockerd, test/sandbox/sandbox.sh;
#      the soak in its own, beside the others: `ctest -j2`), so the daemon runs under the
#      sanitizers through every scenario and the fault soak;
#   3. clang-tidy with .clang-tidy over daemon/ (test/lint/tidy.sh), at low priority (nice 15)
#      while step 2's tests run (they mostly wait on containers), so it takes only idle CPU;
#   4. `fuzz` preset: built at low priority while step 2's tests run, then every
#      libFuzzer target for K8SINPOD_FUZZ_SECONDS (default 15) from its seed corpus
#      (docs/fuzzing.md); any crash fails.
# Needs root (network namespace, dockerd). K8SINPOD_TEST_PRESET=dev runs step 2 without the
# sanitizers; K8SINPOD_SKIP_TIDY=1 / K8SINPOD_SKIP_FUZZ=1 skip 3 / 4.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $(id -u) -eq 0 ]] || { echo "test/run.sh: needs root (netns, dockerd)" >&2; exit 1; }
bash test/deps.sh
PRESET=${K8SINPOD_TEST_PRESET:-asan}

echo "== format and lint"
mapfile -t sources < <(git ls-files '*.cpp' '*.hpp')
clang-format --dry-run -Werror "${sources[@]}"
mapfile -t scripts < <(git ls-files '*.sh' test/fakes/kind .ci/run)
shellcheck -x "${scripts[@]}"

# Leave no sandbox and no background job behind, whatever happens.
TIDY_PID=""
FUZZ_PID=""
cleanup() {
  if [[ -n "$TIDY_PID" ]]; then kill "$TIDY_PID" 2>/dev/null || true; fi
  if [[ -n "$FUZZ_PID" ]]; then kill "$FUZZ_PID" 2>/dev/null || true; fi
  test/sandbox/sandbox.sh down >/dev/null 2>&1 || true
  test/soak/sandbox-env.sh test/sandbox/sandbox.sh down >/dev/null 2>&1 || true
}
trap cleanup EXIT

echo "== build: $PRESET"
cmake --preset "$PRESET" >/dev/null
cmake --build --preset "$PRESET"

if [[ "${K8SINPOD_SKIP_TIDY:-0}" != 1 ]]; then
  echo "== clang-tidy (in the background, reported after the tests)"
  tidy_log=$(mktemp)
  nice -n 15 test/lint/tidy.sh "build/$PRESET" 2 >"$tidy_log" 2>&1 &
  TIDY_PID=$!
fi

if [[ "${K8SINPOD_SKIP_FUZZ:-0}" != 1 ]]; then
  echo "== fuzz build (in the background, at low priority)"
  fuzz_log=$(mktemp)
  { cmake --preset fuzz >/dev/null && nice -n 15 cmake --build --preset fuzz -j2; } >"$fuzz_log" 2>&1 &
  FUZZ_PID=$!
fi

echo "== test: $PRESET"
# Two jobs: the soak (its own sandbox, started first) beside everything else, one at a time.
ctest --preset "$PRESET" --timeout 900 -j2

if [[ -n "$TIDY_PID" ]]; then
  echo "== clang-tidy"
  tidy_rc=0
  wait "$TIDY_PID" || tidy_rc=$?
  TIDY_PID=""
  cat "$tidy_log"
  rm -f "$tidy_log"
  [[ $tidy_rc -eq 0 ]] || { echo "clang-tidy failed (exit $tidy_rc)" >&2; exit 1; }
fi

if [[ -n "$FUZZ_PID" ]]; then
  echo "== fuzz: ${K8SINPOD_FUZZ_SECONDS:-15} s per target"
  fuzz_rc=0
  wait "$FUZZ_PID" || fuzz_rc=$?
  FUZZ_PID=""
  tail -n 3 "$fuzz_log"
  [[ $fuzz_rc -eq 0 ]] || { cat "$fuzz_log"; echo "fuzz build failed (exit $fuzz_rc)" >&2; exit 1; }
  rm -f "$fuzz_log"
  test/fuzz/run.sh build/fuzz "${K8SINPOD_FUZZ_SECONDS:-15}"
fi

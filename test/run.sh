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
#      (docs/fuzzing.md); any crash fails;
#   5. `release` preset, the link that ships (static C++ libraries and OpenSSL, prometheus-cpp
#      core from Debian's source package): k8sinpodd and fake_apiserver built at low priority
#      while step 2's tests run, then test/system/release.sh (glibc is its only shared library;
#      lifecycle.sh against it in a sandbox of its own).
# Needs root (network namespace, dockerd). K8SINPOD_TEST_PRESET=dev runs step 2 without the
# sanitizers; K8SINPOD_SKIP_TIDY=1 / K8SINPOD_SKIP_FUZZ=1 / K8SINPOD_SKIP_RELEASE=1 skip 3 / 4 / 5.
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
RELEASE_PID=""
cleanup() {
  if [[ -n "$TIDY_PID" ]]; then kill "$TIDY_PID" 2>/dev/null || true; fi
  if [[ -n "$FUZZ_PID" ]]; then kill "$FUZZ_PID" 2>/dev/null || true; fi
  if [[ -n "$RELEASE_PID" ]]; then kill "$RELEASE_PID" 2>/dev/null || true; fi
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

if [[ "${K8SINPOD_SKIP_RELEASE:-0}" != 1 ]]; then
  echo "== release build (in the background, at low priority)"
  release_log=$(mktemp)
  { cmake --preset release >/dev/null &&
    nice -n 15 cmake --build --preset release -j2 --target k8sinpodd fake_apiserver; } \
    >"$release_log" 2>&1 &
  RELEASE_PID=$!
fi

echo "== test: $PRESET"
# Two jobs: the soak (its own sandbox, started first) beside everything else, one at a time.
ctest --preset "$PRESET" --timeout 900 -j2

# Waits for a background step (NAME PID LOG SHOW): on failure prints its whole log and exits;
# otherwise prints its log (SHOW=all) or the last SHOW lines of it.
await_step() {
  local rc=0
  wait "$2" || rc=$?
  if [[ $rc -ne 0 ]]; then
    cat "$3"
    echo "$1 failed (exit $rc)" >&2
    exit 1
  fi
  if [[ "$4" == all ]]; then cat "$3"; else tail -n "$4" "$3"; fi
  rm -f "$3"
}

if [[ -n "$TIDY_PID" ]]; then
  echo "== clang-tidy"
  await_step clang-tidy "$TIDY_PID" "$tidy_log" all
  TIDY_PID=""
fi

if [[ -n "$FUZZ_PID" ]]; then
  echo "== fuzz: ${K8SINPOD_FUZZ_SECONDS:-15} s per target"
  await_step "fuzz build" "$FUZZ_PID" "$fuzz_log" 3
  FUZZ_PID=""
  test/fuzz/run.sh build/fuzz "${K8SINPOD_FUZZ_SECONDS:-15}"
fi

if [[ -n "$RELEASE_PID" ]]; then
  echo "== release: the shipped link"
  await_step "release build" "$RELEASE_PID" "$release_log" 1
  RELEASE_PID=""
  test/system/release.sh build/release
fi

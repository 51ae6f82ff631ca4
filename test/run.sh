#!/usr/bin/env bash
# The whole test suite, as README.md documents it and .ci/run runs it:
#   1. clang-format and shellcheck are clean;
#   2. `dev` preset (warnings are errors): unit, integration and system tests, the system tests
#      in the sandbox (a network namespace with its own dockerd, test/sandbox/sandbox.sh);
#   3. `asan` preset (AddressSanitizer + UndefinedBehaviorSanitizer): the same tests again;
#   4. `fuzz` preset: every libFuzzer target for K8SINPOD_FUZZ_SECONDS (default 20) from its seed
#      corpus (docs/fuzzing.md); any crash fails.
# Needs root (network namespace, dockerd). K8SINPOD_SKIP_ASAN=1 / K8SINPOD_SKIP_FUZZ=1 skip 3 / 4.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $(id -u) -eq 0 ]] || { echo "test/run.sh: needs root (netns, dockerd)" >&2; exit 1; }
bash test/deps.sh

echo "== format and lint"
mapfile -t sources < <(git ls-files '*.cpp' '*.hpp')
clang-format --dry-run -Werror "${sources[@]}"
mapfile -t scripts < <(git ls-files '*.sh' test/fakes/kind .ci/run)
shellcheck -x "${scripts[@]}"

run_preset() {
  echo "== build and test: $1"
  cmake --preset "$1" >/dev/null
  cmake --build --preset "$1"
  ctest --preset "$1" --timeout 900
}

# Leave no sandbox behind, whatever happens.
trap 'test/sandbox/sandbox.sh down >/dev/null 2>&1 || true' EXIT
run_preset dev
if [[ "${K8SINPOD_SKIP_ASAN:-0}" != 1 ]]; then run_preset asan; fi
if [[ "${K8SINPOD_SKIP_FUZZ:-0}" != 1 ]]; then
  echo "== fuzz: ${K8SINPOD_FUZZ_SECONDS:-20} s per target"
  cmake --preset fuzz >/dev/null
  cmake --build --preset fuzz
  test/fuzz/run.sh build/fuzz "${K8SINPOD_FUZZ_SECONDS:-20}"
fi

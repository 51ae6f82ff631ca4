#!/usr/bin/env bash
# clang-tidy with the project's .clang-tidy over every daemon/ translation unit of a build's
# compile_commands.json (docs/testing.md, "Static analysis"). Fails on any diagnostic located in
# the project's own files (daemon/, test/); prints and counts, but does not fail on, diagnostics
# located in system headers. Those come from the static analyzer following a path into Boost.Asio's
# coroutine machinery, which it does not model: e.g. clang-analyzer-core.NullDereference at
# boost/asio/impl/awaitable.hpp ("resume_context_" is set by the awaitable thread before any
# resume), reported for every co_await of an Asio operation.
#
#   test/lint/tidy.sh BUILD_DIR [JOBS]
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:?usage: tidy.sh BUILD_DIR [JOBS]}
JOBS=${2:-2}
[[ -f "$BUILD/compile_commands.json" ]] || { echo "tidy.sh: no $BUILD/compile_commands.json" >&2; exit 2; }
command -v run-clang-tidy >/dev/null || { echo "tidy.sh: run-clang-tidy not installed (clang-tidy)" >&2; exit 2; }

out=$(mktemp)
trap 'rm -f "$out"' EXIT
rc=0
# run-clang-tidy 14 colours its output whatever the terminal: strip the escapes.
run-clang-tidy -p "$BUILD" -j "$JOBS" -quiet "$PWD/daemon/" 2>&1 |
  sed 's/\x1b\[[0-9;]*m//g' >"$out" || rc=$?

root=$PWD
ours=$(grep -E "^$root/(daemon|test)/[^:]+:[0-9]+:[0-9]+: (warning|error):" "$out" | sort -u || true)
theirs=$(grep -E '^/[^:]+:[0-9]+:[0-9]+: (warning|error):' "$out" | grep -v "^$root/" | sort -u || true)
if [[ -n "$theirs" ]]; then
  echo "clang-tidy: $(wc -l <<<"$theirs") diagnostic(s) in system headers, not ours (see the header):"
  while IFS= read -r line; do echo "  $line"; done <<<"$theirs"
fi
if [[ -n "$ours" ]]; then
  echo "clang-tidy: $(wc -l <<<"$ours") diagnostic(s) in the project:" >&2
  # The full output carries the notes and fix-its of each.
  cat "$out" >&2
  exit 1
fi
if [[ $rc -ne 0 ]] && ! grep -qE '(warning|error):' "$out"; then
  echo "clang-tidy failed without a diagnostic:" >&2
  cat "$out" >&2
  exit 1
fi
echo "clang-tidy: no diagnostics in the project ($(grep -c "\"file\": \"$root/daemon/" "$BUILD/compile_commands.json") daemon/ files)"

#!/usr/bin/env bash
# Runs the libFuzzer targets (docs/fuzzing.md) for a bounded time each, on a copy of their seed
# corpus in a temporary directory (the repository's corpus never grows), and prints one row per
# target. Exits 1 if any target found a crash, sanitizer report, leak, timeout or property
# violation; the input is kept in BUILD_DIR/fuzz-artifacts/<target>/ and named in the table, the
# full log beside it (<target>.log).
#
#   test/fuzz/run.sh BUILD_DIR SECONDS [TARGET...]
#
# BUILD_DIR is a build of the `fuzz` preset. K8SINPOD_FUZZ_SECONDS, when set, overrides SECONDS
# (CTest passes 30). Without TARGET every target runs. Reproduce a finding with
#   BUILD_DIR/test/fuzz/fuzz_<target> <artifact>
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
all_targets=(config kubeconfig docker_json docker_events http_router http_request kind_output)

if [[ $# -lt 2 ]]; then
  echo "usage: $0 BUILD_DIR SECONDS [TARGET...]   targets: ${all_targets[*]}" >&2
  exit 2
fi
build="$(cd "$1" && pwd)"
seconds="${K8SINPOD_FUZZ_SECONDS:-$2}"
shift 2
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=("${all_targets[@]}")
[[ "$seconds" =~ ^[1-9][0-9]*$ ]] || { echo "$0: SECONDS must be a positive integer" >&2; exit 2; }

# halt_on_error: UBSan reports abort (the build also has -fno-sanitize-recover).
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

status=0
rows=()
for target in "${targets[@]}"; do
  bin="$build/test/fuzz/fuzz_$target"
  out="$build/fuzz-artifacts/$target"
  log="$build/fuzz-artifacts/$target.log"
  if [[ ! -x "$bin" || ! -d "$here/corpus/$target" ]]; then
    rows+=("$target|-|-|-|FAILED: no $bin or no corpus/$target")
    status=1
    continue
  fi
  mkdir -p "$out" "$work/$target"
  cp -R "$here/corpus/$target/." "$work/$target/"
  args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
        -artifact_prefix="$out/")
  [[ -f "$here/dict/$target.dict" ]] && args+=(-dict="$here/dict/$target.dict")

  rc=0
  # libFuzzer stops itself after max_total_time; the outer timeout only catches a wedged run.
  timeout -k 10 $((seconds + 120)) "$bin" "${args[@]}" "$work/$target" >"$log" 2>&1 || rc=$?
  execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)"
  cov="$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)"
  corpus="$(find "$work/$target" -type f | wc -l)"
  if [[ $rc -eq 0 ]]; then
    result="ok"
  else
    artifact="$(sed -n 's/.*Test unit written to //p' "$log" | tail -n 1)"
    result="FAILED (exit $rc): ${artifact:-no artifact} log $log"
    status=1
    echo "== $target: last lines of $log" >&2
    tail -n 80 "$log" >&2
  fi
  rows+=("$target|${execs:-?}|${cov:-?}|$corpus|$result")
done

printf '%-14s %12s %6s %7s  %s\n' target executions cov corpus result
for row in "${rows[@]}"; do
  IFS='|' read -r t e c n r <<<"$row"
  printf '%-14s %12s %6s %7s  %s\n' "$t" "$e" "$c" "$n" "$r"
done
exit "$status"

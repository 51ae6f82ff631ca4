#!/usr/bin/env bash
# `k8sinpodd --check-config` as a black box: exit 0 on a valid file, 1 with exact
# PATH:LINE:COL: message lines on broken ones. Needs no sandbox.
set -euo pipefail
: "${K8SINPODD:?}"
T=$(mktemp -d /tmp/k8sinpod-check.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# expect_error NAME 'yaml' 'LINE:COL' 'text in the message'
expect_error() {
  printf '%s\n' "$2" >"$T/$1.yaml"
  local out rc=0
  out=$("$K8SINPODD" --check-config --config "$T/$1.yaml" 2>&1) || rc=$?
  [[ $rc -eq 1 ]] || fail "$1: exit $rc, expected 1 (output: $out)"
  grep -qF "$T/$1.yaml:$3: " <<<"$out" || fail "$1: no \"$T/$1.yaml:$3: \" in: $out"
  grep -qF "$4" <<<"$out" || fail "$1: no \"$4\" in: $out"
  echo "ok  $1 -> $(head -n 1 <<<"$out")"
}

expect_error unknown-key $'cluster:\n  name: ci\nhelth:\n  interval: 5s' 3:1 'helth'
expect_error bad-name $'cluster:\n  name: Not_Valid' 2:9 'cluster.name'
expect_error bad-duration $'health:\n  interval: 5 seconds' 2:13 'health.interval'
expect_error bad-threshold $'health:\n  failure_threshold: abc' 2:22 'failure_threshold'
expect_error bad-port $'server:\n  listen: 0.0.0.0:99999' 2:11 'server.listen'
expect_error syntax $'cluster:\n  name: [unclosed' 3:1 ''
expect_error nested-unknown $'log:\n  level: info\n  colour: red' 3:3 'colour'

# Several errors are all reported, in file order.
printf 'cluster:\n  name: BAD\nlog:\n  level: loud\n' >"$T/multi.yaml"
out=$("$K8SINPODD" --check-config --config "$T/multi.yaml" 2>&1) && fail "multi: exit 0"
[[ $(wc -l <<<"$out") -eq 2 ]] || fail "multi: expected 2 lines, got: $out"
grep -q "multi.yaml:2:9: " <<<"$out" || fail "multi: $out"
grep -q "multi.yaml:4:10: " <<<"$out" || fail "multi: $out"

# A missing file is an error with the path, exit 1.
out=$("$K8SINPODD" --check-config --config "$T/absent.yaml" 2>&1) && fail "absent: exit 0"
grep -qF "$T/absent.yaml: cannot read" <<<"$out" || fail "absent: $out"

# The shipped example is valid.
example="$(dirname "$0")/../../config/k8sinpod.yaml"
"$K8SINPODD" --check-config --config "$example" >/dev/null || fail "config/k8sinpod.yaml invalid"
echo "PASS check_config"

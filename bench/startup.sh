#!/usr/bin/env bash
# Start-up (issue 6, benchmark 4): process start -> `/livez` 200 and process start -> `/readyz`
# 200 of k8sinpodd for an already existing cluster (the adopt path), over BENCH_RUNS runs. Also
# SIGTERM -> exit. Results and how to read them: docs/benchmarks.md.
#
#   test/sandbox/sandbox.sh exec bench/startup.sh BUILD_DIR [OUT_DIR]
#
# BUILD_DIR holds daemon/k8sinpodd and the stand-in API server (test/fakes/node-image.sh builds
# the node image from it). OUT_DIR (default /tmp/k8sinpod-bench-startup) receives samples.csv (one
# row per run), daemon-N.log and table.txt.
#
# Environment:
#   BENCH_RUNS      runs (default 20)
#   BENCH_PORT      the daemon's fixed listen port on 127.0.0.1 of the sandbox's network
#                   namespace (default 19090; checked to be free first)
#   BENCH_POLL_MS   the poller's sleep between two attempts (default 1)
#
# The cluster is created once with the stand-in kind; each run starts k8sinpodd (with
# cluster.delete_on_shutdown: false, so that the cluster survives), waits for /livez and then
# /readyz, and stops it with SIGTERM. t0 is EPOCHREALTIME read in the forked subshell just before
# it execs k8sinpodd. The poller never forks: it connects with bash's /dev/tcp (refused until the
# daemon listens), sends `GET /livez` (then `/readyz`) and reads the status line, sleeping
# BENCH_POLL_MS between attempts. The port is fixed in the config, so nothing waits for the log.
# shellcheck disable=SC2154  # T, CLUSTER, PORT, DAEMON_PID are lib.sh's globals
set -euo pipefail
export LC_ALL=C  # EPOCHREALTIME with a '.' decimal point

BUILD=${1:?usage: startup.sh BUILD_DIR [OUT_DIR]}
BUILD=$(cd "$BUILD" && pwd)
OUT=${2:-/tmp/k8sinpod-bench-startup}
REPO=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${BENCH_RUNS:-20}
BENCH_PORT=${BENCH_PORT:-19090}
POLL_MS=${BENCH_POLL_MS:-1}

export K8SINPODD="$BUILD/daemon/k8sinpodd" FAKE_KIND="$REPO/test/fakes/kind"
[[ -x "$K8SINPODD" ]] || { echo "no daemon at $K8SINPODD (ninja -C $BUILD k8sinpodd)" >&2; exit 1; }
# shellcheck source=test/system/lib.sh
source "$REPO/test/system/lib.sh"
# shellcheck source=bench/lib.sh
source "$REPO/bench/lib.sh"

SLEEP_FD=""

bench_teardown() {
  local rc=$?
  stop_daemon KILL || true
  "$FAKE_KIND" delete cluster --name "$CLUSTER" --kubeconfig "$T/kind-kc" >/dev/null 2>&1 || true
  if [[ $rc -eq 0 ]]; then rm -rf "$T"; else echo "kept $T for inspection" >&2; fi
  exit "$rc"
}

log() { printf '%s %s\n' "$(date +%T)" "$*" >&2; }

# status_is CODE PATH: GET PATH on the daemon answers CODE, over /dev/tcp (no fork). A refused
# connection (not listening yet) is a plain failure.
status_is() {
  local fd status=""
  { exec {fd}<>"/dev/tcp/127.0.0.1/$PORT"; } 2>/dev/null || return 1
  printf 'GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' "$2" >&"$fd"
  IFS= read -r -t 2 -u "$fd" status || true
  exec {fd}>&-
  [[ "$status" == "HTTP/1.1 $1"* ]]
}

# until_status CODE PATH DEADLINE_US: polls until PATH answers CODE; sets AT (EPOCHREALTIME) and
# adds the attempts to POLLS.
until_status() {
  while :; do
    POLLS=$((POLLS + 1))
    if status_is "$1" "$2"; then
      AT=$EPOCHREALTIME
      return 0
    fi
    (($(us "$EPOCHREALTIME") < $3)) || fail "run $RUN: no $1 on $2 in time"
    kill -0 "$DAEMON_PID" 2>/dev/null || fail "run $RUN: k8sinpodd exited"
    nap
  done
}

# log_phases LOG: where the time to ready went, from the daemon's log (millisecond timestamps):
# "first line -> control plane inspected, -> kubeconfig written, -> ready" in µs, comma-separated.
log_phases() {
  awk '
    function ms(line,  t) {  # 2026-11-25T10:57:40.555Z -> ms since midnight
      t = substr(line, 12, 12)
      return ((substr(t, 1, 2) * 60 + substr(t, 4, 2)) * 60 + substr(t, 7, 2)) * 1000 + substr(t, 10, 3)
    }
    NR == 1 { first = ms($0) }
    /phase discovering -> configuring/ && !a { a = ms($0) }
    /kubeconfig .* written/ && !b { b = ms($0) }
    /phase configuring -> ready/ && !c { c = ms($0) }
    END { printf "%d,%d,%d\n", (a - first) * 1000, (b - a) * 1000, (c - b) * 1000 }' "$1"
}

# one_run N: start, /livez 200, /readyz 200, SIGTERM, exit; appends a row to samples.csv.
one_run() {
  RUN=$1
  local t0 t_live t_ready t_term t_exit deadline
  POLLS=0
  : >"$T/daemon.log"
  (
    printf '%s\n' "$EPOCHREALTIME" >"$T/t0"
    exec "$K8SINPODD" --config "$T/config.yaml" >>"$T/daemon.log" 2>&1
  ) &
  DAEMON_PID=$!
  deadline=$(($(us "$EPOCHREALTIME") + 120000000))
  until_status 200 /livez "$deadline"
  t_live=$AT
  until_status 200 /readyz "$deadline"
  t_ready=$AT
  read -r t0 <"$T/t0"
  t_term=$EPOCHREALTIME
  stop_daemon TERM
  t_exit=$EPOCHREALTIME
  cp "$T/daemon.log" "$OUT/daemon-$RUN.log"
  [[ "$DAEMON_RC" == 0 ]] || fail "run $RUN: k8sinpodd exited $DAEMON_RC on SIGTERM"
  # Adopted: straight from discovering to configuring, never creating.
  if ! grep -q 'phase discovering -> configuring' "$T/daemon.log" ||
    grep -q -- '-> creating' "$T/daemon.log"; then
    fail "run $RUN: the daemon did not adopt the existing cluster"
  fi
  local live=$(($(us "$t_live") - $(us "$t0"))) ready=$(($(us "$t_ready") - $(us "$t0")))
  local stop=$(($(us "$t_exit") - $(us "$t_term"))) phases
  phases=$(log_phases "$T/daemon.log")
  printf '%d,%d,%d,%d,%d,%s\n' "$RUN" "$live" "$ready" "$stop" $((ready / POLLS)) "$phases" \
    >>"$OUT/samples.csv"
  log "run $RUN: /livez 200 after $((live / 1000)) ms, /readyz 200 after $((ready / 1000)) ms," \
    "SIGTERM -> exit $((stop / 1000)) ms"
}

# stats COLUMN: "median p90 min max" in ms (with one decimal) of a column of samples.csv; p90 is
# the nearest rank.
stats() {
  local -a v
  mapfile -t v < <(awk -F, -v c="$1" 'NR > 1 { print $c }' "$OUT/samples.csv" | sort -n)
  local n=${#v[@]} med
  if ((n % 2)); then med=${v[n / 2]}; else med=$(((v[n / 2 - 1] + v[n / 2]) / 2)); fi
  awk -v a="$med" -v b="${v[(90 * n + 99) / 100 - 1]}" -v c="${v[0]}" -v d="${v[n - 1]}" \
    'BEGIN { printf "%.1f %.1f %.1f %.1f\n", a / 1000, b / 1000, c / 1000, d / 1000 }'
}

main() {
  [[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || { echo "BENCH_RUNS must be a positive integer" >&2; exit 1; }
  [[ "$POLL_MS" =~ ^[1-9][0-9]{0,2}$ ]] || { echo "BENCH_POLL_MS: 1..999" >&2; exit 1; }
  T=$(mktemp -d /tmp/k8sinpod-bench-startup.XXXXXX)
  CLUSTER=startup
  PORT=$BENCH_PORT
  export FAKE_KIND_KNOBS="$T/knobs"
  : >"$FAKE_KIND_KNOBS"
  trap bench_teardown EXIT
  mkdir -p "$OUT"
  echo "run,livez_us,readyz_us,sigterm_to_exit_us,mean_poll_period_us,log_inspected_us,log_kubeconfig_us,log_ready_us" \
    >"$OUT/samples.csv"
  mkfifo "$T/nap"
  exec {SLEEP_FD}<>"$T/nap"
  NAP_SECONDS=$(printf '0.%03d' "$POLL_MS")
  ! status_is '' /livez || fail "port $PORT is in use: set BENCH_PORT"

  log "node image, cluster \"$CLUSTER\" (stand-in kind)"
  "$REPO/test/fakes/node-image.sh" "$BUILD" >/dev/null
  "$FAKE_KIND" delete cluster --name "$CLUSTER" >/dev/null 2>&1 || true
  "$FAKE_KIND" create cluster --name "$CLUSTER" --kubeconfig "$T/kind-kc" --wait 60s \
    >"$T/kind-create.log" 2>&1 || fail "kind create cluster failed: $(tail -n 3 "$T/kind-create.log")"

  # lib.sh's config, with a fixed port and the cluster kept when the daemon stops.
  write_config
  sed -i -e "s/^  listen: 127\.0\.0\.1:0\$/  listen: 127.0.0.1:$PORT/" \
    -e 's/^cluster:$/cluster:\n  delete_on_shutdown: false/' "$T/config.yaml"
  grep -q "listen: 127.0.0.1:$PORT\$" "$T/config.yaml" || fail "could not set the port"
  grep -q 'delete_on_shutdown: false' "$T/config.yaml" || fail "could not set delete_on_shutdown"

  local i started=$SECONDS
  for ((i = 1; i <= RUNS; i++)); do one_run "$i"; done
  docker inspect "$CLUSTER-control-plane" >/dev/null 2>&1 || fail "the cluster did not survive"
  # The adopt path's one kind call, alone: how much of "-> kubeconfig written" is the kind in use.
  local t_a kind_ms=()
  for ((i = 1; i <= 5; i++)); do
    t_a=$EPOCHREALTIME
    "$FAKE_KIND" get kubeconfig --name "$CLUSTER" >/dev/null || fail "kind get kubeconfig failed"
    kind_ms+=($((($(us "$EPOCHREALTIME") - $(us "$t_a")) / 1000)))
  done

  local live ready stop
  read -r -a live < <(stats 2)
  read -r -a ready < <(stats 3)
  read -r -a stop < <(stats 4)
  {
    echo "start-up: $RUNS runs, adopting an existing cluster; poller sleeps ${POLL_MS} ms;" \
      "$(nproc) CPUs; $((SECONDS - started)) s in all"
    echo
    printf '| %-24s | %4s | %9s | %6s | %6s | %6s |\n' "from -> to" runs "median ms" "p90 ms" \
      "min" "max"
    printf '|%s|%s|%s|%s|%s|%s|\n' -------------------------- ------ ----------- -------- \
      -------- --------
    printf '| %-24s | %4d | %9s | %6s | %6s | %6s |\n' "exec -> /livez 200" "$RUNS" "${live[@]}"
    printf '| %-24s | %4d | %9s | %6s | %6s | %6s |\n' "exec -> /readyz 200" "$RUNS" "${ready[@]}"
    printf '| %-24s | %4d | %9s | %6s | %6s | %6s |\n' "SIGTERM -> exit" "$RUNS" "${stop[@]}"
    echo
    echo "Where the time to ready goes, from the daemon's log (millisecond timestamps):"
    echo
    printf '| %-24s | %4s | %9s | %6s | %6s | %6s |\n' "from -> to" runs "median ms" "p90 ms" \
      "min" "max"
    printf '|%s|%s|%s|%s|%s|%s|\n' -------------------------- ------ ----------- -------- \
      -------- --------
    local col what row
    for col in 6 7 8; do
      case $col in
        6) what="first line -> inspected" ;;
        7) what="-> kubeconfig written" ;;
        8) what="-> first probe ok" ;;
      esac
      read -r -a row < <(stats "$col")
      printf '| %-24s | %4d | %9s | %6s | %6s | %6s |\n' "$what" "$RUNS" "${row[@]}"
    done
    awk -F, 'NR > 1 { p += $5; n++ } END { printf "\nmean poll period %.2f ms\n", p / n / 1000 }' \
      "$OUT/samples.csv"
    echo "\`kind get kubeconfig\` alone (the kind in use: $FAKE_KIND), 5 calls after the runs:" \
      "median $(printf '%s\n' "${kind_ms[@]}" | sort -n | sed -n 3p) ms" \
      "(min $(printf '%s\n' "${kind_ms[@]}" | sort -n | head -n 1), max $(printf '%s\n' \
        "${kind_ms[@]}" | sort -n | tail -n 1))"
  } | tee "$OUT/table.txt"
}

main

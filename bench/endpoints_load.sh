#!/usr/bin/env bash
# Endpoints under load (issue 6, benchmark 3): wrk against k8sinpodd's /metrics, /readyz and
# /livez, beside prometheus-cpp's civetweb Exposer serving the same registry (bench/
# exposer_baseline.cpp) and prometheus-node-exporter, in one run on one machine; while the load
# runs, the daemon's probe intervals and its repair latency after IP changes are compared with
# idle. Results and how to read them: docs/benchmarks.md, section 3.
#
#   test/sandbox/sandbox.sh exec bench/endpoints_load.sh BUILD_DIR [OUT_DIR]
#
# BUILD_DIR holds daemon/k8sinpodd (a release build for real figures); the script builds the
# exposer_baseline target there (`cmake --build BUILD_DIR --target exposer_baseline`). OUT_DIR
# (default /tmp/k8sinpod-bench-endpoints) receives rows.csv, supervision.csv, the wrk outputs,
# the daemon logs and table.txt.
#
# Environment:
#   BENCH_DURATION        length of each wrk run (default 30s)
#   BENCH_CONNECTIONS     wrk connections (default 64)
#   BENCH_WRK_THREADS     wrk threads (default 2)
#   BENCH_CHANGES         IP changes idle, and again under each of two loads (default 6), for
#                         the daemon with and without the CPU budget
#   BENCH_ROUNDS          rounds the changes are made in, idle and loaded in turn (default 5)
#   BENCH_EXPOSER         build (default): build exposer_baseline, fail if that fails;
#                         prebuilt: use BUILD_DIR/bench/exposer_baseline if it is there, else skip
#                         it with a note; skip: leave it out
#   BENCH_EXPOSER_THREADS civetweb worker threads of the Exposer (default 2, its own default)
#   BENCH_NODE_EXPORTER   path of prometheus-node-exporter (default: on PATH; absent: skipped)
#   BENCH_SUPERVISION_ONLY 1: only the repairs of the daemon with the CPU budget, idle and
#                         under load (no throughput rows, no probe gaps, no other server): a
#                         long run with many changes for tighter intervals
#
# The daemon runs three times against the same stand-in cluster: first with the default server
# limits (one row each for kept-alive and new connections on /readyz); then ("ours") with limits
# that let 64 busy connections through (server.max_connections: 256, room for the measuring
# clients, and server.max_requests_per_connection_per_second: 0, unlimited) and the default CPU
# budget (server.max_cpu_percent: 10); last ("ours-unlimited") the same with max_cpu_percent: 0,
# for the server's raw throughput and for what supervision gets without the budget. health.interval
# is 1s and log.level debug: every probe is a log line with a millisecond timestamp.
# shellcheck disable=SC2154  # T, CLUSTER, PORT, DAEMON_PID are lib.sh's globals
set -euo pipefail
export LC_ALL=C  # EPOCHREALTIME with a '.' decimal point

BUILD=${1:?usage: endpoints_load.sh BUILD_DIR [OUT_DIR]}
BUILD=$(cd "$BUILD" && pwd)
OUT=${2:-/tmp/k8sinpod-bench-endpoints}
REPO=$(cd "$(dirname "$0")/.." && pwd)
DURATION=${BENCH_DURATION:-30s}
CONNECTIONS=${BENCH_CONNECTIONS:-64}
WRK_THREADS=${BENCH_WRK_THREADS:-2}
CHANGES=${BENCH_CHANGES:-6}
ROUNDS=${BENCH_ROUNDS:-5}
EXPOSER_MODE=${BENCH_EXPOSER:-build}
EXPOSER_THREADS=${BENCH_EXPOSER_THREADS:-2}
NODE_EXPORTER=${BENCH_NODE_EXPORTER:-$(command -v prometheus-node-exporter || true)}
SUPERVISION_ONLY=${BENCH_SUPERVISION_ONLY:-0}

export K8SINPODD="$BUILD/daemon/k8sinpodd" FAKE_KIND="$REPO/test/fakes/kind"
[[ -x "$K8SINPODD" ]] || { echo "no daemon at $K8SINPODD (ninja -C $BUILD k8sinpodd)" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }
# shellcheck source=test/system/lib.sh
source "$REPO/test/system/lib.sh"
# shellcheck source=bench/lib.sh
source "$REPO/bench/lib.sh"

EXPOSER_PID=""
NODE_PID=""
LOAD_PID=""
SLEEP_FD=""
NAP_SECONDS=0.001  # lib.sh nap: the repair poll, about every millisecond
NOTES=()

bench_teardown() {
  local rc=$? pid
  for pid in "$LOAD_PID" "$EXPOSER_PID" "$NODE_PID"; do
    if [[ -n "$pid" ]]; then kill "$pid" 2>/dev/null || true; fi
  done
  stop_daemon TERM || true
  docker rm -f "$CLUSTER-ip-holder" >/dev/null 2>&1 || true
  "$FAKE_KIND" delete cluster --name "$CLUSTER" --kubeconfig "$T/kind-kc" >/dev/null 2>&1 || true
  if [[ $rc -eq 0 ]]; then rm -rf "$T"; else echo "kept $T for inspection" >&2; fi
  exit "$rc"
}

log() { printf '%s %s\n' "$(date +%T)" "$*" >&2; }
note() { NOTES+=("$*"); log "note: $*"; }

# now_log: the current time in the daemon's log format (UTC, milliseconds): windows of the log
# are compared as strings.
now_log() { date -u +%Y-%m-%dT%H:%M:%S.%3NZ; }

# cpu_ticks PID: user + system clock ticks of PID so far (0 when it is gone).
cpu_ticks() {
  local stat rest
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
  local -a f
  rest=${stat##*) }  # fields from 3 on; the command name (2) may hold spaces
  read -r -a f <<<"$rest"
  echo $((f[11] + f[12]))
}

# response_bytes URL: the body length of one GET.
response_bytes() { curl -s -o /dev/null -w '%{size_download}' --max-time 10 "$1"; }

# The wrk script: one machine-readable line at the end (latencies in µs).
write_wrk_lua() {
  cat >"$T/report.lua" <<'LUA'
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d %d %d %d %d %d %d %d\n", summary.requests,
    summary.duration, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    e.status, e.connect, e.read, e.write, e.timeout))
end
LUA
}

# load TARGET PATH MODE URL PID [DURATION]: one wrk run; appends a row to $OUT/rows.csv.
# MODE keep-alive or close (a new connection per request, as the kubelet probes). PID is the
# server's, for its CPU time. The daemon's probe gaps during the run go to supervision.csv.
load() {
  local target=$1 path=$2 mode=$3 url=$4 pid=$5 duration=${6:-$DURATION}
  local -a headers=()
  [[ "$mode" == close ]] && headers=(-H 'Connection: close')
  local name="${target}-${path//\//}-${mode}" from to cpu0 cpu1 line bytes
  bytes=$(response_bytes "$url")
  cpu0=$(cpu_ticks "$pid")
  from=$(now_log)
  wrk -t "$WRK_THREADS" -c "$CONNECTIONS" -d "$duration" --latency -s "$T/report.lua" \
    "${headers[@]}" "$url" >"$OUT/wrk-$name.txt" 2>&1 || true
  to=$(now_log)
  cpu1=$(cpu_ticks "$pid")
  line=$(sed -n 's/^RESULT //p' "$OUT/wrk-$name.txt")
  [[ -n "$line" ]] || fail "wrk $target $path $mode: no result (see $OUT/wrk-$name.txt)"
  local req dur p50 p90 p99 status conn rd wr to_err
  read -r req dur p50 p90 p99 status conn rd wr to_err <<<"$line"
  # requests/s, CPU % of one core, from integer µs and ticks (USER_HZ 100).
  printf '%s,%s,%s,%d,%d,%d,%d,%d,%d,%d,%d,%d,%d,%d\n' "$target" "$path" "$mode" "$req" "$dur" \
    "$p50" "$p90" "$p99" "$status" "$((conn + rd + wr + to_err))" "$((cpu1 - cpu0))" "$bytes" \
    "$conn" "$to_err" >>"$OUT/rows.csv"
  log "$target $path $mode: $((req * 1000000 / (dur > 0 ? dur : 1))) req/s," \
    "p99 $((p99 / 1000)) ms, non-2xx $status"
  if [[ "$target" == ours* ]]; then probe_gaps "$target $path $mode" "$from" "$to"; fi
}

# probe_gaps LABEL FROM TO: the gaps between consecutive probes the daemon logged within
# [FROM, TO], one line each in supervision.csv ("probe,LABEL,ms").
probe_gaps() {
  awk -v from="$2" -v to="$3" -v label="$1" '
    / \[k8sinpodd\] probe [0-9.]+: / && $1 >= from && $1 <= to {
      split(substr($1, 12, 12), t, ":")
      ms = (t[1] * 3600 + t[2] * 60 + t[3]) * 1000
      if (seen) { gap = ms - last; if (gap < 0) gap += 86400000; printf "probe,%s,%d\n", label, gap }
      last = ms; seen = 1
    }' "$T/daemon.log" >>"$OUT/supervision.csv"
}

# kubeconfig_names IP: the written kubeconfig's server is https://IP:6443 (read without forking).
kubeconfig_names() {
  local line
  while IFS= read -r line; do
    if [[ "$line" == *"server: https://$1:6443"* ]]; then return 0; fi
  done <"$T/out/kubeconfig"
  return 1
}

# log_ms LINE: the daemon log line's timestamp in ms since the epoch.
log_ms() {
  local ts=${1%% *}
  echo $(($(date -u -d "${ts:0:19}" +%s) * 1000 + 10#${ts:20:3}))
}

# repairs LABEL COUNT: COUNT IP changes, each made and watched as in repair_latency.sh
# (lib.sh's poll_repair: the change runs in the background while a poller checks the kubeconfig
# and our /readyz about every millisecond). For each, three figures go to supervision.csv:
#   repair  from `docker restart` returned (t1) until the poller sees the kubeconfig name the new
#           address and /readyz 200 (under load the poller's own request waits its turn among
#           wrk's connections; can be below 0: the daemon may be done before the `docker` CLI
#           returns);
#   logged  from t1 until the daemon logs "repaired ..." (its timestamp: no client involved);
#   detect  from the moment the restarted node's API server listens (the stand-in logs its wall
#           clock then) until the daemon logs "repaired ...": the supervisor's own share, without
#           the node's start, which the load slows down too;
#   self    the daemon's own "repaired ... in N ms" (first Docker event -> probe ok), which
#           includes most of Docker's share of the change.
repairs() {
  local label=$1 count=$2 i from t0 since line up
  from=$(now_log)
  for ((i = 1; i <= count; i++)); do
    prepare_change
    rm -f "$T/moved"
    t0=$(now_log)
    since=$EPOCHREALTIME
    poll_repair "$T/out/kubeconfig" our_readyz_ok $(($(us "$EPOCHREALTIME") + 30000000)) \
      "$label change $i"
    printf 'repair,%s,%d\n' "$label" $((($(us "$T_READY") - $(us "$T1")) / 1000)) \
      >>"$OUT/supervision.csv"
    line=$(awk -v from="$t0" '$1 >= from && / repaired \(control-plane address / { print; exit }' \
      "$T/daemon.log")
    [[ -n "$line" ]] || fail "$label change $i: no \"repaired\" line in the daemon log"
    printf 'logged,%s,%d\n' "$label" $(($(log_ms "$line") - $(us "$T1") / 1000)) \
      >>"$OUT/supervision.csv"
    up=$(docker logs --since "$since" "$CLUSTER-control-plane" 2>&1 |
      sed -n 's/.*fake-apiserver: listening on .* at unix_us \([0-9]*\).*/\1/p' | tail -n 1)
    [[ -n "$up" ]] || fail "$label change $i: the node's API server logged no start"
    printf 'detect,%s,%d\n' "$label" $(($(log_ms "$line") - up / 1000)) >>"$OUT/supervision.csv"
    if ((HOLDER_AFTER)); then
      docker run -d --name "$CLUSTER-ip-holder" --net kind k8sinpod/fake-node:latest idle \
        >/dev/null
    fi
    log "$label repair $i: $OLD -> $NEW"
    sleep 1  # the re-check series after the events settles
  done
  awk -v from="$from" -v label="$label" '$1 >= from {
      if (match($0, /repaired \(control-plane address [^)]*\) in [0-9]+ ms/)) {
        s = substr($0, RSTART, RLENGTH); sub(/.* in /, "", s); sub(/ ms/, "", s)
        printf "self,%s,%d\n", label, s
      }
    }' "$T/daemon.log" >>"$OUT/supervision.csv"
}

# ours_config MAX_CONNECTIONS RATE [CPU_PERCENT]: the test config with health.interval 1s, debug
# log and the given server limits ("" keeps the defaults; no CPU_PERCENT keeps its default).
ours_config() {
  HEALTH_INTERVAL=1s HEALTH_TIMEOUT=1s LOG_LEVEL=debug write_config
  if [[ -n "$1" ]]; then
    sed -i "s|^  listen: 127.0.0.1:0\$|&\n  max_connections: $1\n  max_requests_per_connection_per_second: $2|" \
      "$T/config.yaml"
    grep -q "max_connections: $1" "$T/config.yaml" || fail "could not set the server limits"
  fi
  if [[ -n "${3:-}" ]]; then
    sed -i "s|^  listen: 127.0.0.1:0\$|&\n  max_cpu_percent: $3|" "$T/config.yaml"
    grep -q "max_cpu_percent: $3" "$T/config.yaml" || fail "could not set the CPU budget"
  fi
}

start_ours() {
  start_daemon
  wait_for "/readyz 200" 120 http_is 200 /readyz
  log "k8sinpodd (pid $DAEMON_PID, :$PORT) ready"
}

# rejected REASON: k8sinpod_http_rejected_total{reason="REASON"} now.
rejected() { metric "k8sinpod_http_rejected_total{reason=\"$1\"}"; }

run_ours_defaults() {
  local r0 c0
  ours_config "" ""
  start_ours
  r0=$(rejected rate_limited)
  c0=$(rejected too_many_connections)
  load ours-defaults /readyz keep-alive "http://127.0.0.1:$PORT/readyz" "$DAEMON_PID"
  load ours-defaults /readyz close "http://127.0.0.1:$PORT/readyz" "$DAEMON_PID"
  note "default limits: k8sinpod_http_rejected_total rose by $(($(rejected rate_limited) - r0))" \
    "rate_limited (429) and $(($(rejected too_many_connections) - c0)) too_many_connections (503)"
  stop_daemon TERM
  cp "$T/daemon.log" "$OUT/daemon-defaults.log"
}

# repair_rounds PREFIX: BENCH_CHANGES IP changes idle, as many while wrk keeps the connections
# busy on /readyz, and as many on /metrics, in BENCH_ROUNDS rounds of the three, so that a drift
# of the machine over the run (another process, dockerd's own state) touches idle and loaded
# alike. Labelled "PREFIXidle", "PREFIXload /readyz" and "PREFIXload /metrics".
# The CPU that wrk itself and the daemon used while the changes were made under load goes to a
# note: on this machine the load generator competes with the node for the same CPUs.
repair_rounds() {
  local base="http://127.0.0.1:$PORT" path round rounds=$ROUNDS done_changes=0 count
  local t0 w0 d0
  local -A wrk_ticks=() daemon_ticks=() ms=()
  ((rounds <= CHANGES)) || rounds=$CHANGES
  for ((round = 1; round <= rounds; round++)); do
    # CHANGES spread over the rounds: the first ones take the remainder.
    count=$(((CHANGES - done_changes) / (rounds - round + 1)))
    done_changes=$((done_changes + count))
    repairs "${1}idle" "$count"
    for path in /readyz /metrics; do
      wrk -t "$WRK_THREADS" -c "$CONNECTIONS" -d 1h --latency -s "$T/report.lua" "$base$path" \
        >"$OUT/wrk-$1${path#/}-repairs-$round.txt" 2>&1 &
      LOAD_PID=$!
      sleep 2
      t0=$(date +%s%3N) w0=$(cpu_ticks "$LOAD_PID") d0=$(cpu_ticks "$DAEMON_PID")
      repairs "${1}load $path" "$count"
      wrk_ticks[$path]=$((${wrk_ticks[$path]:-0} + $(cpu_ticks "$LOAD_PID") - w0))
      daemon_ticks[$path]=$((${daemon_ticks[$path]:-0} + $(cpu_ticks "$DAEMON_PID") - d0))
      ms[$path]=$((${ms[$path]:-0} + $(date +%s%3N) - t0))
      kill -INT "$LOAD_PID"
      wait "$LOAD_PID" || true
      LOAD_PID=""
    done
  done
  for path in /readyz /metrics; do
    ((${ms[$path]:-0} > 0)) || continue
    # ticks are 10 ms (USER_HZ 100): % of one CPU = ticks * 10 * 100 / ms.
    note "${1}load $path: during the changes wrk used $((wrk_ticks[$path] * 1000 / ms[$path]))%" \
      "and k8sinpodd $((daemon_ticks[$path] * 1000 / ms[$path]))% of one CPU" \
      "($((ms[$path] / 1000)) s)"
  done
}

# run_ours: the daemon with the default CPU budget: idle probe gaps, every row, then the IP
# changes idle and under load.
run_ours() {
  local base="http://127.0.0.1:$PORT" from path
  # Idle: probe gaps over one run's length.
  from=$(now_log)
  sleep "$DURATION"
  probe_gaps idle "$from" "$(now_log)"
  for path in /metrics /readyz /livez; do
    load ours "$path" keep-alive "$base$path" "$DAEMON_PID"
  done
  for path in /metrics /readyz /livez; do load ours "$path" close "$base$path" "$DAEMON_PID"; done
  repair_rounds ""
}

# run_ours_unlimited: the daemon without a CPU budget: the kept-alive rows, then the IP changes
# idle and under load.
run_ours_unlimited() {
  local base="http://127.0.0.1:$PORT" path
  for path in /metrics /readyz /livez; do
    load ours-unlimited "$path" keep-alive "$base$path" "$DAEMON_PID"
  done
  repair_rounds "unlimited "
}

start_exposer() {
  local bin="$BUILD/bench/exposer_baseline" port
  case "$EXPOSER_MODE" in
    skip) note "exposer baseline skipped (BENCH_EXPOSER=skip)"; return 1 ;;
    build)
      log "building exposer_baseline in $BUILD"
      cmake --build "$BUILD" --target exposer_baseline >"$OUT/exposer-build.log" 2>&1 ||
        fail "cmake --build $BUILD --target exposer_baseline failed (see $OUT/exposer-build.log)"
      ;;
    prebuilt) ;;
    *) fail "BENCH_EXPOSER: build, prebuilt or skip, got \"$EXPOSER_MODE\"" ;;
  esac
  if [[ ! -x "$bin" ]]; then
    note "exposer baseline skipped: $bin is not built (EXCLUDE_FROM_ALL; build it with" \
      "cmake --build $BUILD --target exposer_baseline, or run with BENCH_EXPOSER=build)"
    return 1
  fi
  port=$(free_port)
  "$bin" "$port" "$EXPOSER_THREADS" >"$OUT/exposer.log" 2>&1 &
  EXPOSER_PID=$!
  wait_for "the exposer baseline to listen" 20 grep -q "listening on" "$OUT/exposer.log"
  EXPOSER_URL="http://127.0.0.1:$port/metrics"
}

start_node_exporter() {
  local port
  if [[ -z "$NODE_EXPORTER" || ! -x "$NODE_EXPORTER" ]]; then
    note "prometheus-node-exporter skipped: not installed (apt-get install prometheus-node-exporter)"
    return 1
  fi
  port=$(free_port)
  "$NODE_EXPORTER" --web.listen-address="127.0.0.1:$port" "$@" >"$OUT/node-exporter.log" 2>&1 &
  NODE_PID=$!
  NODE_URL="http://127.0.0.1:$port/metrics"
  wait_for "node exporter to answer" 20 curl -sf -o /dev/null "$NODE_URL"
}

stop_pid() {
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

# stats KIND LABEL: "N median p95 max" of supervision.csv's values whose label starts with
# LABEL; p95 is the nearest rank.
stats() {
  local -a v
  mapfile -t v < <(awk -F, -v k="$1" -v l="$2" '$1 == k && index($2, l) == 1 { print $3 }' \
    "$OUT/supervision.csv" | sort -n)
  local n=${#v[@]} med
  ((n > 0)) || { echo "0 - - -"; return; }
  if ((n % 2)); then med=${v[n / 2]}; else med=$(((v[n / 2 - 1] + v[n / 2]) / 2)); fi
  echo "$n $med ${v[(95 * n + 99) / 100 - 1]} ${v[n - 1]}"
}

# mean_change KIND BASE LABEL: the mean of KIND's values under LABEL against BASE's, as
# "MEAN_IDLE MEAN_LOADED PCT LO HI": PCT the change of the mean in % of idle's, LO and HI the 2.5th
# and 97.5th percentiles of that change over 2000 bootstrap resamples of both series (seeded:
# the same data gives the same interval).
mean_change() {
  local idle loaded
  idle=$(awk -F, -v k="$1" -v l="$2" '$1 == k && $2 == l { print $3 }' "$OUT/supervision.csv")
  loaded=$(awk -F, -v k="$1" -v l="$3" '$1 == k && $2 == l { print $3 }' "$OUT/supervision.csv")
  awk -v a="${idle//$'\n'/ }" -v b="${loaded//$'\n'/ }" 'BEGIN {
      na = split(a, x, " "); nb = split(b, y, " ")
      if (na == 0 || nb == 0) { print "- - - - -"; exit }
      for (i = 1; i <= na; i++) ma += x[i]; ma /= na
      for (i = 1; i <= nb; i++) mb += y[i]; mb /= nb
      srand(1)
      for (r = 1; r <= 2000; r++) {
        sa = 0; for (i = 1; i <= na; i++) sa += x[int(rand() * na) + 1]
        sb = 0; for (i = 1; i <= nb; i++) sb += y[int(rand() * nb) + 1]
        d[r] = (sa > 0) ? (sb / nb) / (sa / na) * 100 - 100 : 0
      }
      # Insertion sort of the 2000 changes (no asort in mawk).
      for (i = 2; i <= 2000; i++) { v = d[i]; for (j = i - 1; j >= 1 && d[j] > v; j--) d[j + 1] = d[j]; d[j + 1] = v }
      printf "%.1f %.1f %+.1f %+.1f %+.1f\n", ma, mb, ((ma > 0) ? mb / ma * 100 - 100 : 0), d[50], d[1950]
    }'
}

# verdict A B: B - A in ms and in % of A, and whether B is at most 10% above A.
verdict() {
  awk -v a="$1" -v b="$2" 'BEGIN {
      if (a !~ /^-?[0-9]+$/ || b !~ /^-?[0-9]+$/) { print "n/a"; exit }
      if (a <= 0) { printf "%+d ms\n", b - a; exit }
      d = (b - a) * 100 / a
      printf "%+d ms, %+.1f%% (%s)\n", b - a, d, (d <= 10 ? "within 10%" : "NOT within 10%") }'
}

print_tables() {
  echo "endpoints under load: wrk $WRK_THREADS threads, $CONNECTIONS connections, $DURATION per" \
    "row; $(nproc) CPUs; $((SECONDS - STARTED)) s in all"
  echo
  if [[ -s "$OUT/rows.csv" ]]; then
    printf '| %-14s | %-8s | %-10s | %10s | %8s | %7s | %7s | %7s | %8s | %7s | %7s | %6s |\n' \
      target path connection "requests/s" "2xx/s" "p50 ms" "p90 ms" "p99 ms" "non-2xx" "sock er" \
      "srv CPU" bytes
    printf '|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|\n' ---------------- ---------- ------------ \
      ------------ ---------- --------- --------- --------- ---------- --------- --------- --------
    awk -F, '{
        rps = $5 > 0 ? $4 * 1000000 / $5 : 0
        ok = $5 > 0 ? ($4 - $9) * 1000000 / $5 : 0
        cpu = $5 > 0 ? $11 * 10000 / $5 * 100 : 0
        printf "| %-14s | %-8s | %-10s | %10.0f | %8.0f | %7.2f | %7.2f | %7.2f | %8d | %7d | %6.0f%% | %6d |\n",
          $1, $2, $3, rps, ok, $6 / 1000, $7 / 1000, $8 / 1000, $9, $10, cpu, $12
      }' "$OUT/rows.csv"
    echo
    echo "2xx/s: requests/s minus the non-2xx answers (wrk counts statuses >= 400). Latencies are"
    echo "over all answers, 429 and 503 included. srv CPU: the server process's CPU time over the"
    echo "run, in % of one core. bytes: body of one 200 response, fetched before the run. sock er:"
    echo "wrk's connect + read + write + timeout errors."
    echo
  fi
  echo "Supervision (health.interval 1s; ms):"
  printf '| %-58s | %4s | %6s | %6s | %6s |\n' measure N median p95 max
  printf '|%s|%s|%s|%s|%s|\n' \
    ------------------------------------------------------------ ------ -------- -------- --------
  local kind label n med p95 max
  while IFS=, read -r kind label; do
    read -r n med p95 max < <(stats "$kind" "$label")
    case "$kind" in
      probe) kind="probe gap" ;;
      repair) kind="repair, client (t1 -> ready)" ;;
      logged) kind="repair, daemon (t1 -> logged)" ;;
      detect) kind="repair, API server up -> logged" ;;
      self) kind="repair, daemon's own" ;;
    esac
    printf '| %-58s | %4s | %6s | %6s | %6s |\n' "$kind, $label" "$n" "$med" "$p95" "$max"
  done < <(awk -F, '!seen[$1 FS $2]++ { print $1 "," $2 }' "$OUT/supervision.csv")
  echo
  local idle loaded measure what n
  read -r n idle _ _ < <(stats probe idle)
  if ((n > 0)); then
    echo "Median probe gap under each load vs idle ($idle ms):"
    while IFS= read -r label; do
      read -r _ loaded _ _ < <(stats probe "$label")
      printf '  %-30s %5s ms: %s\n' "$label" "$loaded" "$(verdict "$idle" "$loaded")"
    done < <(awk -F, '$1 == "probe" && $2 != "idle" && !seen[$2]++ { print $2 }' \
      "$OUT/supervision.csv")
  fi
  # Each daemon's loaded repairs against its own idle ones, made in the same rounds. By the
  # median, and by the mean: the repair figures mix fast repairs with a mode one re-check later,
  # and a median of a few dozen can land on either side of that gap; the mean uses every sample,
  # and the bootstrap interval says how far chance alone moves the comparison.
  local prefix base label mi ml pct lo hi
  for measure in repair logged detect self; do
    case "$measure" in
      repair) what="client, t1 -> ready" ;;
      logged) what="daemon, t1 -> logged" ;;
      detect) what="API server up -> logged" ;;
      self) what="daemon's own" ;;
    esac
    for prefix in "" "unlimited "; do
      base="${prefix}idle"
      read -r n idle _ _ < <(stats "$measure" "$base")
      ((n > 0)) || continue
      echo "Repair ($what) under load vs $base: median; mean [95% bootstrap interval of its change]:"
      for label in "${prefix}load /readyz" "${prefix}load /metrics"; do
        read -r _ loaded _ _ < <(stats "$measure" "$label")
        read -r mi ml pct lo hi < <(mean_change "$measure" "$base" "$label")
        printf '  %-24s median %4s vs %4s: %s\n' "$label" "$loaded" "$idle" \
          "$(verdict "$idle" "$loaded")"
        printf '  %-24s mean %6s vs %6s: %6s%% [%6s%%, %6s%%] %s\n' "" "$ml" "$mi" "$pct" "$lo" \
          "$hi" "$(awk -v p="$pct" 'BEGIN { print (p <= 10 ? "(within 10%)" : "(NOT within 10%)") }')"
      done
    done
  done
  local line
  for line in "${NOTES[@]}"; do echo "note: $line"; done
}

main() {
  [[ "$DURATION" =~ ^[1-9][0-9]*s$ ]] || { echo "BENCH_DURATION: whole seconds, e.g. 30s" >&2; exit 1; }
  ((CHANGES >= 1)) || { echo "BENCH_CHANGES must be >= 1" >&2; exit 1; }
  ((ROUNDS >= 1)) || { echo "BENCH_ROUNDS must be >= 1" >&2; exit 1; }
  T=$(mktemp -d /tmp/k8sinpod-bench.XXXXXX)
  CLUSTER=bench-load
  export FAKE_KIND_KNOBS="$T/knobs"
  : >"$FAKE_KIND_KNOBS"
  trap bench_teardown EXIT
  mkdir -p "$OUT"
  : >"$OUT/rows.csv"
  : >"$OUT/supervision.csv"
  STARTED=$SECONDS
  write_wrk_lua
  mkfifo "$T/nap"
  exec {SLEEP_FD}<>"$T/nap"

  log "node image, cluster \"$CLUSTER\" (stand-in kind)"
  "$REPO/test/fakes/node-image.sh" "$BUILD" >/dev/null
  "$FAKE_KIND" delete cluster --name "$CLUSTER" >/dev/null 2>&1 || true
  docker rm -f "$CLUSTER-ip-holder" >/dev/null 2>&1 || true
  "$FAKE_KIND" create cluster --name "$CLUSTER" --kubeconfig "$T/kind-kc" --wait 60s \
    >"$T/kind-create.log" 2>&1 || fail "kind create cluster failed: $(tail -n 3 "$T/kind-create.log")"

  if [[ "$SUPERVISION_ONLY" == 1 ]]; then
    log "k8sinpodd with max_connections 256, no rate limit, the default CPU budget: repairs only"
    ours_config 256 0
    start_ours
    repair_rounds ""
    stop_daemon TERM
    cp "$T/daemon.log" "$OUT/daemon-ours.log"
    [[ "$DAEMON_RC" == 0 ]] || fail "k8sinpodd exited $DAEMON_RC"
    print_tables | tee "$OUT/table.txt"
    return
  fi
  log "k8sinpodd with the default server limits"
  run_ours_defaults
  log "k8sinpodd with max_connections 256, no rate limit, the default CPU budget"
  ours_config 256 0
  start_ours
  note "ours /metrics: $(response_bytes "http://127.0.0.1:$PORT/metrics") bytes, of which" \
    "$(curl -s "http://127.0.0.1:$PORT/metrics" | grep '^process_\|^# [A-Z]* process_' |
      wc -c) are process_* lines"
  run_ours
  note "ours: k8sinpod_http_cpu_waits_total $(metric k8sinpod_http_cpu_waits_total)" \
    "(max_cpu_percent 10, the default)"
  stop_daemon TERM
  cp "$T/daemon.log" "$OUT/daemon-ours.log"
  log "k8sinpodd as above, with max_cpu_percent: 0 (no CPU budget)"
  ours_config 256 0 0
  start_ours
  run_ours_unlimited
  note "ours-unlimited: k8sinpod_http_cpu_waits_total $(metric k8sinpod_http_cpu_waits_total)"

  if start_exposer; then
    load exposer /metrics keep-alive "$EXPOSER_URL" "$EXPOSER_PID"
    load exposer /metrics close "$EXPOSER_URL" "$EXPOSER_PID"
    note "exposer /metrics: $(curl -s "$EXPOSER_URL" | grep '^exposer_\|^# [A-Z]* exposer_' |
      wc -c) bytes of exposer_* lines, no process_*; $EXPOSER_THREADS civetweb threads"
    stop_pid "$EXPOSER_PID"
    EXPOSER_PID=""
  fi

  if start_node_exporter; then
    load node-exporter /metrics keep-alive "$NODE_URL" "$NODE_PID"
    load node-exporter /metrics close "$NODE_URL" "$NODE_PID"
    stop_pid "$NODE_PID"
    start_node_exporter --web.max-requests=0
    load node-exp-max0 /metrics keep-alive "$NODE_URL" "$NODE_PID"
    stop_pid "$NODE_PID"
    NODE_PID=""
    note "node-exporter $("$NODE_EXPORTER" --version 2>&1 | awk 'NR == 1 { print $3 }'), default" \
      "collectors; node-exp-max0: --web.max-requests=0 (no limit; default 40)"
  fi

  stop_daemon TERM
  cp "$T/daemon.log" "$OUT/daemon.log"
  [[ "$DAEMON_RC" == 0 ]] || fail "k8sinpodd exited $DAEMON_RC"
  print_tables | tee "$OUT/table.txt"
}

main

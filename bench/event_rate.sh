#!/usr/bin/env bash
# Scale with the Docker event rate (issue 6, benchmark 5): how the cost of k8sinpodd grows with
# the rate of Docker container events that do not concern its cluster, and whether it falls
# behind: how fast it still reacts to an event that does concern it (an IP change of the control
# plane) during the flood. Results and how to read them: docs/benchmarks.md, section 5.
#
#   test/sandbox/sandbox.sh exec bench/event_rate.sh BUILD_DIR [OUT_DIR]
#
# BUILD_DIR holds daemon/k8sinpodd and the stand-in API server (a release build for the figures).
# OUT_DIR (default /tmp/k8sinpod-bench-events) receives samples.csv (one row per table row),
# changes.csv (one row per IP change), the daemon's and the generators' logs, and table.txt.
#
# Environment:
#   BENCH_RATES      target event rates per second (default "100 1000 10000")
#   BENCH_SECONDS    measuring window per rate, in seconds (default 20)
#   BENCH_CHANGES    IP changes per row, made during the flood after the window (default 5)
#   BENCH_SOURCES    which generators, in order (default "dockerd filtered proxy"):
#     dockerd   real `kill` events: POST /containers/ID/kill?signal=SIGWINCH on idle containers.
#               They pass the daemon's server-side filter and are dropped by its own `classify`.
#     filtered  real `exec_create` events: POST /containers/ID/exec, never started. dockerd's
#               filter drops them for the daemon's subscription: they never reach it.
#     proxy     the injecting proxy (bench/event_flood.py proxy) in front of the same dockerd,
#               for rates dockerd cannot produce here: copies of a real `kill` event, interleaved
#               into the daemon's /events stream; everything else is forwarded unchanged.
#   A real source stops at the first rate it reaches less than 90% of: the next rates would
#   only repeat its maximum.
#   BENCH_WARMUP     seconds of flood before the window opens (default 2)
#   BENCH_NOISE      idle containers the real generators aim at (default 8)
#   BENCH_POLL_MS    the reaction poller's sleep between checks (default 5)
#
# Every row: the generator starts; after the warm-up, for BENCH_SECONDS, two independent
# subscribers (curl on the daemon's Docker socket) count the events produced (no filter) and the
# events that pass the daemon's own filter; the daemon's CPU comes from /proc/PID/stat (utime +
# stime) and /proc/PID/task/*/schedstat (ns on CPU), its RSS from /proc/PID/status, and the
# unread bytes queued on its sockets from `ss -x` every 0.5 s. Then, with the flood still on,
# BENCH_CHANGES IP changes (as bench/repair_latency.sh makes them): the time from `docker restart`
# returned (t1) to the kubeconfig naming the new address and /readyz 200. Each source's first row
# is the same daemon idle (rate 0), the baseline for the marginal cost per event.
# shellcheck disable=SC2154  # T, CLUSTER, PORT, DAEMON_PID are lib.sh's globals
set -euo pipefail
export LC_ALL=C  # EPOCHREALTIME with a '.' decimal point

BUILD=${1:?usage: event_rate.sh BUILD_DIR [OUT_DIR]}
BUILD=$(cd "$BUILD" && pwd)
OUT=${2:-/tmp/k8sinpod-bench-events}
REPO=$(cd "$(dirname "$0")/.." && pwd)
RATES=${BENCH_RATES-100 1000 10000}
WINDOW=${BENCH_SECONDS:-20}
CHANGES=${BENCH_CHANGES:-5}
SOURCES=${BENCH_SOURCES-dockerd filtered proxy}
WARMUP=${BENCH_WARMUP:-2}
NOISE=${BENCH_NOISE:-8}
POLL_MS=${BENCH_POLL_MS:-5}

export K8SINPODD="$BUILD/daemon/k8sinpodd" FAKE_KIND="$REPO/test/fakes/kind"
[[ -x "$K8SINPODD" ]] || { echo "no daemon at $K8SINPODD (ninja -C $BUILD k8sinpodd)" >&2; exit 1; }
# shellcheck source=test/system/lib.sh
source "$REPO/test/system/lib.sh"
# shellcheck source=bench/lib.sh
source "$REPO/bench/lib.sh"

FLOOD="$REPO/bench/event_flood.py"
NODE_IMAGE=k8sinpod/fake-node:latest
REAL_SOCK=${DOCKER_HOST#unix://}
DAEMON_SOCK=""  # the socket the daemon talks to: REAL_SOCK or the proxy's
# The daemon's subscription, as daemon/docker/events_mapping.cpp builds it (events_query()). The
# proxy logs the filters the daemon really sent; proxy_phase checks that they are these.
DAEMON_FILTERS='{"type":["container","network"],"event":["start","restart","die","stop","kill",'
DAEMON_FILTERS+='"oom","pause","unpause","destroy","connect","disconnect"]}'
SLEEP_FD=""
GEN_PID=""
PROXY_PID=""
COUNTER_PIDS=()
NOISE_IDS=""
CLK_TCK=$(getconf CLK_TCK)

log() { printf '%s %s\n' "$(date +%T)" "$*" >&2; }

bench_teardown() {
  local rc=$? pid
  for pid in "$GEN_PID" "$PROXY_PID" "${COUNTER_PIDS[@]}"; do
    if [[ -n "$pid" ]]; then kill "$pid" 2>/dev/null || true; fi
  done
  stop_daemon TERM || true
  wait 2>/dev/null || true
  docker rm -f "$CLUSTER-ip-holder" >/dev/null 2>&1 || true
  remove_noise
  "$FAKE_KIND" delete cluster --name "$CLUSTER" --kubeconfig "$T/kind-kc" >/dev/null 2>&1 || true
  if [[ $rc -eq 0 ]]; then rm -rf "$T"; else echo "kept $T for inspection" >&2; fi
  exit "$rc"
}

remove_noise() {
  local ids
  ids=$(docker ps -aq --filter "label=io.k8sinpod.bench=event-rate" 2>/dev/null) || return 0
  # shellcheck disable=SC2086  # one id per word
  [[ -z "$ids" ]] || docker rm -f $ids >/dev/null 2>&1 || true
}

# measure_change ROW I: one IP change during the flood; appends "row,i,old,new,us_t0,us_t1" to
# $OUT/changes.csv.
measure_change() {
  local row=$1 i=$2 t0 t1="" new="" mover t_ready="" deadline kc="$T/out/kubeconfig"
  prepare_change
  rm -f "$T/moved"
  t0=$EPOCHREALTIME
  make_change &
  mover=$!
  deadline=$(($(us "$t0") + 60 * 1000000))
  while :; do
    if [[ -z "$new" && -r "$T/moved" ]]; then read -r t1 new <"$T/moved"; fi
    if [[ -n "$new" ]]; then
      read_server "$kc"
      if [[ "$SERVER" == "https://$new:6443" ]] && our_readyz_ok; then
        t_ready=$EPOCHREALTIME
        break
      fi
    fi
    if (($(us "$EPOCHREALTIME") > deadline)); then
      fail "$row change $i: not ready at ${new:-?} within 60 s (kubeconfig: ${SERVER:-none})"
    fi
    if [[ -z "$new" ]] && ! kill -0 "$mover" 2>/dev/null && [[ ! -r "$T/moved" ]]; then
      wait "$mover" || true
      fail "$row change $i: moving the address failed"
    fi
    nap
  done
  wait "$mover"
  [[ "$new" != "$OLD" ]] || fail "the address did not change ($OLD -> $new)"
  if ((HOLDER_AFTER)); then
    docker run -d --name "$CLUSTER-ip-holder" --net kind "$NODE_IMAGE" idle >/dev/null
  fi
  printf '%s,%s,%s,%s,%s,%s\n' "$row" "$i" "$OLD" "$new" $(($(us "$t_ready") - $(us "$t0"))) \
    $(($(us "$t_ready") - $(us "$t1"))) >>"$OUT/changes.csv"
}

# cpu_ticks PID: utime + stime of all its threads, in clock ticks (/proc/PID/stat 14 and 15).
cpu_ticks() {
  local line rest
  local -a f
  read -r line <"/proc/$1/stat"
  rest=${line##*) }  # after the command name, which may hold spaces
  read -ra f <<<"$rest"
  echo $((f[11] + f[12]))
}

# cpu_ns PID: nanoseconds on CPU of its threads (first field of each task's schedstat).
cpu_ns() {
  local sum=0 ns f
  for f in /proc/"$1"/task/*/schedstat; do
    read -r ns _ <"$f" 2>/dev/null || continue
    sum=$((sum + ns))
  done
  echo "$sum"
}

rss_kib() { awk '$1 == "VmRSS:" { print $2 }' "/proc/$1/status"; }
hwm_kib() { awk '$1 == "VmHWM:" { print $2 }' "/proc/$1/status"; }

# recvq_max PID: the most unread bytes on any of its unix sockets right now.
recvq_max() {
  ss -Hxpn 2>/dev/null | awk -v p="pid=$1," 'index($0, p) && $3 > m { m = $3 } END { print m + 0 }'
}

lines() { local n; n=$(wc -l <"$1"); echo "$n"; }

# stat_value FILE KEY: KEY's value in a generator's or the proxy's stats file, 0 if absent. The
# generator writes the file after its first second: a short warm-up on a loaded machine can ask
# before that, so wait up to 10 s for it to appear.
stat_value() {
  local i
  for ((i = 0; i < 100; i++)); do [[ -s "$1" ]] && break; sleep 0.1; done
  [[ -s "$1" ]] || fail "no stats file $1 after 10 s (see $OUT/generator.log)"
  awk -v k="$2" '$1 == k { print $2; found = 1 } END { if (!found) print 0 }' "$1"
}

# start_counters SOCKET: the two independent subscribers, appending to $T/count-all (no filter)
# and $T/count-ours (the daemon's filters).
start_counters() {
  curl -sN --unix-socket "$1" "http://docker/events" >>"$T/count-all" 2>/dev/null &
  COUNTER_PIDS+=("$!")
  curl -sN --unix-socket "$1" -G --data-urlencode "filters=$DAEMON_FILTERS" \
    "http://docker/events" >>"$T/count-ours" 2>/dev/null &
  COUNTER_PIDS+=("$!")
}

stop_counters() {
  local pid
  for pid in "${COUNTER_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${COUNTER_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  COUNTER_PIDS=()
}

# start_daemon_on SOCKET: k8sinpodd with docker.host unix://SOCKET, until /readyz is 200.
start_daemon_on() {
  DAEMON_SOCK=$1
  DOCKER_HOST="unix://$1" HEALTH_INTERVAL=5s HEALTH_TIMEOUT=2s write_config
  start_daemon
  wait_for "/readyz 200" 120 http_is 200 /readyz
}

# run_row SOURCE RATE: one row of the table (RATE 0: the idle baseline); appends to samples.csv.
# Sets REACHED to the events per second produced during the window.
run_row() {
  local source=$1 rate=$2 row="$1@$2" pid=$DAEMON_PID
  local rss0 t_a t_b all_a all_b ours_a ours_b tk_a tk_b ns_a ns_b q qmax=0 i
  local sent_a=0 sent_b=0 drop_a=0 drop_b=0 dropall_a=0 dropall_b=0 backlog=0 downs_a downs_b
  : >"$T/count-all"
  : >"$T/count-ours"
  rss0=$(rss_kib "$pid")
  downs_a=$(grep -c "event stream down" "$T/daemon.log" || true)
  echo "$rate" >"$T/rate"
  if ((rate > 0)) && [[ "$source" != proxy ]]; then
    local action=kill
    [[ "$source" == dockerd ]] || action=exec_create
    python3 "$FLOOD" kill --socket "$REAL_SOCK" --rate-file "$T/rate" --containers "$NOISE_IDS" \
      --action "$action" --stats "$T/gen.stats" 2>>"$OUT/generator.log" &
    GEN_PID=$!
  fi
  if ((rate > 0)); then sleep "$WARMUP"; fi
  if [[ -n "$GEN_PID" ]]; then sent_a=$(stat_value "$T/gen.stats" sent); fi
  if [[ "$source" == proxy ]]; then
    drop_a=$(stat_value "$T/proxy.stats" "dropped.k8sinpodd+filters")
    dropall_a=$(stat_value "$T/proxy.stats" dropped)
  fi
  t_a=$EPOCHREALTIME
  all_a=$(lines "$T/count-all")
  ours_a=$(lines "$T/count-ours")
  tk_a=$(cpu_ticks "$pid")
  ns_a=$(cpu_ns "$pid")
  : >"$T/inspect"
  for ((i = 0; i < WINDOW * 2; i++)); do
    q=$(recvq_max "$pid")
    ((q <= qmax)) || qmax=$q
    # How fast Docker answers the daemon's own kind of request meanwhile (through the same socket).
    curl -s -o /dev/null -w '%{time_total}\n' --max-time 5 --unix-socket "$DAEMON_SOCK" \
      "http://docker/containers/$CLUSTER-control-plane/json" >>"$T/inspect" || true
    sleep 0.5
  done
  t_b=$EPOCHREALTIME
  all_b=$(lines "$T/count-all")
  ours_b=$(lines "$T/count-ours")
  tk_b=$(cpu_ticks "$pid")
  ns_b=$(cpu_ns "$pid")
  if [[ -n "$GEN_PID" ]]; then sent_b=$(stat_value "$T/gen.stats" sent); fi
  if [[ "$source" == proxy ]]; then
    drop_b=$(stat_value "$T/proxy.stats" "dropped.k8sinpodd+filters")
    dropall_b=$(stat_value "$T/proxy.stats" dropped)
    backlog=$(stat_value "$T/proxy.stats" "backlog_max.k8sinpodd+filters")
  fi
  for ((i = 1; i <= CHANGES; i++)); do measure_change "$row" "$i"; done
  local rss1 hwm
  rss1=$(rss_kib "$pid")
  hwm=$(hwm_kib "$pid")
  echo 0 >"$T/rate"
  if [[ -n "$GEN_PID" ]]; then
    kill "$GEN_PID" 2>/dev/null || true
    wait "$GEN_PID" 2>/dev/null || true
    GEN_PID=""
  fi
  downs_b=$(grep -c "event stream down" "$T/daemon.log" || true)
  local span=$(($(us "$t_b") - $(us "$t_a"))) inspect_ms
  inspect_ms=$(sort -n "$T/inspect" |
    awk '{ v[NR] = $1 * 1000 } END { printf "%.1f", v[int((NR + 1) / 2)] }')
  # source,rate,window_us,all,ours,generator_sent,cpu_ticks,cpu_ns,rss0,rss1,hwm,recvq_max,
  # proxy_dropped (for the daemon),proxy_backlog_max (the daemon's),stream_downs,
  # proxy_dropped (all subscribers, the counters included),median docker inspect ms
  printf '%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s\n' "$source" "$rate" "$span" \
    $((all_b - all_a)) $((ours_b - ours_a)) $((sent_b - sent_a)) $((tk_b - tk_a)) \
    $((ns_b - ns_a)) "$rss0" "$rss1" "$hwm" "$qmax" $((drop_b - drop_a)) "$backlog" \
    $((downs_b - downs_a)) $((dropall_b - dropall_a)) "$inspect_ms" >>"$OUT/samples.csv"
  REACHED=$(((all_b - all_a) * 1000000 / span))
  # A generator that produced nothing, or events on the wrong side of the filter, would make the
  # row meaningless: fail rather than print it.
  if ((rate > 0)); then
    ((all_b > all_a)) || fail "$row: no event produced during the window"
    if [[ "$source" == filtered ]]; then
      ((ours_b == ours_a)) || fail "$row: exec_create events passed the daemon's filters"
    else
      ((ours_b > ours_a)) || fail "$row: no event passed the daemon's filters"
    fi
  fi
  # Falling behind, asserted: the daemon must keep its event stream, and the proxy (which drops
  # events for a subscriber whose socket stays full) must drop none of the daemon's.
  ((downs_b == downs_a)) || fail "$row: the daemon lost its event stream $((downs_b - downs_a)) time(s)"
  ((drop_b == drop_a)) || fail "$row: the daemon fell behind: the proxy dropped $((drop_b - drop_a)) of its events"
  log "$row: $REACHED events/s produced, $(((ours_b - ours_a) * 1000000 / span))/s passed the" \
    "daemon's filter; daemon CPU $(((ns_b - ns_a) / span)) ms/s"
}

# rows SOURCE: the source's rates in order; a real source stops once it falls short.
rows() {
  local source=$1 rate
  for rate in $RATES; do
    run_row "$source" "$rate"
    if [[ "$source" != proxy ]] && ((REACHED * 10 < rate * 9)); then
      log "$source: dockerd produced $REACHED/s of $rate/s; skipping the higher rates"
      break
    fi
  done
}

direct_phase() {
  log "direct: k8sinpodd on the real dockerd ($REAL_SOCK)"
  start_daemon_on "$REAL_SOCK"
  start_counters "$REAL_SOCK"
  run_row idle 0
  local source
  for source in $SOURCES; do
    [[ "$source" == proxy ]] || rows "$source"
  done
  stop_counters
  stop_daemon TERM
  cp "$T/daemon.log" "$OUT/daemon-direct.log"
  [[ "$DAEMON_RC" == 0 ]] || fail "k8sinpodd exited $DAEMON_RC"
}

proxy_phase() {
  local sock="$T/proxy.sock" seen
  log "proxy: k8sinpodd on the injecting proxy ($sock) in front of $REAL_SOCK"
  echo 0 >"$T/rate"
  python3 "$FLOOD" proxy --listen "$sock" --upstream "$REAL_SOCK" --rate-file "$T/rate" \
    --template "$T/template" --stats "$T/proxy.stats" 2>>"$OUT/proxy.log" &
  PROXY_PID=$!
  wait_for "the proxy's socket" 20 test -S "$sock"
  start_daemon_on "$sock"
  seen=$(sed -n 's/.*subscriber agent=k8sinpodd filters=\([^ ]*\) .*/\1/p' "$OUT/proxy.log" |
    tail -n 1)
  [[ "$seen" == "$DAEMON_FILTERS" ]] ||
    fail "the daemon subscribed with filters $seen, not $DAEMON_FILTERS (update DAEMON_FILTERS)"
  grep -q "agent=k8sinpodd .* injecting" "$OUT/proxy.log" ||
    fail "the proxy does not inject into the daemon's stream"
  start_counters "$sock"
  run_row proxy-idle 0
  rows proxy
  stop_counters
  stop_daemon TERM
  cp "$T/daemon.log" "$OUT/daemon-proxy.log"
  [[ "$DAEMON_RC" == 0 ]] || fail "k8sinpodd exited $DAEMON_RC"
  kill "$PROXY_PID"
  wait "$PROXY_PID" || true
  PROXY_PID=""
}

# make_noise: BENCH_NOISE idle containers without a network, and a real `kill` event of one of
# them captured as the proxy's template.
make_noise() {
  local i id
  remove_noise
  for ((i = 1; i <= NOISE; i++)); do
    id=$(docker run -d --net none --label io.k8sinpod.bench=event-rate \
      --name "$CLUSTER-noise-$i" "$NODE_IMAGE" idle)
    NOISE_IDS+=${NOISE_IDS:+,}$id
  done
  curl -sN --max-time 5 --unix-socket "$REAL_SOCK" -G --data-urlencode \
    'filters={"event":["kill"]}' "http://docker/events" >"$T/template" 2>/dev/null &
  local capture=$!
  sleep 0.5
  docker kill -s SIGWINCH "$CLUSTER-noise-1" >/dev/null
  wait_for "a kill event" 5 grep -q '"Action":"kill"' "$T/template"
  kill "$capture" 2>/dev/null || true
  wait "$capture" 2>/dev/null || true
}

# The table: marginal CPU per event is over the idle row of the same daemon (direct or proxy).
print_table() {
  awk -F, -v tck="$CLK_TCK" -v changes="$OUT/changes.csv" '
    function median(key,   n, i, j, v, tmp) {
      n = 0
      for (i = 1; i <= nch[key]; i++) v[++n] = ch[key, i]
      for (i = 2; i <= n; i++) for (j = i; j > 1 && v[j - 1] > v[j]; j--) {
        tmp = v[j]; v[j] = v[j - 1]; v[j - 1] = tmp
      }
      if (n == 0) return "-"
      return n % 2 ? v[(n + 1) / 2] : int((v[n / 2] + v[n / 2 + 1]) / 2)
    }
    BEGIN {
      while ((getline line < changes) > 0) {
        split(line, c, ",")
        k = c[1]; nch[k]++; ch[k, nch[k]] = int(c[6] / 1000)
        if (c[6] / 1000 > mx[k]) mx[k] = int(c[6] / 1000)
      }
      printf "| %-10s | %8s | %7s | %7s | %8s | %8s | %8s | %8s | %6s | %7s | %10s | %11s |\n",
        "source", "target/s", "made/s", "to us/s", "CPU ms/s", "us/event", "RSS0 KiB",
        "RSS1 KiB", "Recv-Q", "dropped", "inspect ms", "react ms"
      printf "|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|\n", "------------", "----------",
        "---------", "---------", "----------", "----------", "----------", "----------",
        "--------", "---------", "------------", "-------------"
    }
    {
      s = $3 / 1e6
      base = ($1 == "proxy" || $1 == "proxy-idle") ? "proxy-idle" : "idle"
      if ($2 == 0) idle_ns[base] = $8 / s
      made = $4 / s; ours = $5 / s
      cpu_ms = $7 * 1000 / tck / s
      per = "-"
      if (made > 0 && base in idle_ns) per = sprintf("%.2f", ($8 / s - idle_ns[base]) / made / 1000)
      key = $1 "@" $2
      react = median(key) " (" (key in mx ? mx[key] : "-") ")"
      printf "| %-10s | %8d | %7.0f | %7.0f | %8.1f | %8s | %8d | %8d | %6d | %7d | %10s |" \
        " %11s |\n", $1, $2, made, ours, cpu_ms, per, $9, $10, $12, $13, $17, react
    }' "$OUT/samples.csv"
}

main() {
  ((WINDOW >= 1 && CHANGES >= 1)) || { echo "BENCH_SECONDS and BENCH_CHANGES: >= 1" >&2; exit 1; }
  command -v python3 >/dev/null || { echo "python3 is needed (bench/event_flood.py)" >&2; exit 1; }
  T=$(mktemp -d /tmp/k8sinpod-bench-ev.XXXXXX)
  CLUSTER=bench
  export FAKE_KIND_KNOBS="$T/knobs"
  : >"$FAKE_KIND_KNOBS"
  trap bench_teardown EXIT
  mkdir -p "$OUT"
  : >"$OUT/samples.csv"
  : >"$OUT/changes.csv"
  : >"$OUT/generator.log"
  : >"$OUT/proxy.log"
  mkfifo "$T/nap"
  exec {SLEEP_FD}<>"$T/nap"
  NAP_SECONDS=$(printf '0.%03d' "$POLL_MS")
  local started=$SECONDS

  log "node image, cluster \"$CLUSTER\" (stand-in kind), $NOISE idle containers"
  "$REPO/test/fakes/node-image.sh" "$BUILD" >/dev/null
  "$FAKE_KIND" delete cluster --name "$CLUSTER" >/dev/null 2>&1 || true
  docker rm -f "$CLUSTER-ip-holder" >/dev/null 2>&1 || true
  "$FAKE_KIND" create cluster --name "$CLUSTER" --kubeconfig "$T/kind-kc" --wait 60s \
    >"$T/kind-create.log" 2>&1 || fail "kind create cluster failed: $(tail -n 3 "$T/kind-create.log")"
  make_noise

  if [[ " $SOURCES " == *" dockerd "* || " $SOURCES " == *" filtered "* ]]; then direct_phase; fi
  if [[ " $SOURCES " == *" proxy "* ]]; then proxy_phase; fi

  {
    echo "event rate: ${WINDOW} s window per row after ${WARMUP} s of flood; $CHANGES IP changes" \
      "per row; $(nproc) CPUs; $((SECONDS - started)) s in all"
    echo "made/s: events per second produced (subscriber without filter); to us/s: those that"
    echo "pass the daemon's filter (subscriber with its filters); CPU ms/s: /proc/PID/stat;"
    echo "us/event: schedstat CPU over the idle row, per event made; RSS0/RSS1: before the flood,"
    echo "after the window and the changes; Recv-Q: most bytes unread on"
    echo "the daemon's sockets (sampled every 0.5 s); dropped: events the proxy dropped for a slow"
    echo "subscriber; inspect ms: median time of a docker inspect of the control plane during the"
    echo "window; react ms: t1 (docker restart returned) -> kubeconfig + /readyz 200, median (max)"
    echo
    print_table
    awk -F, '$15 > 0 {
      printf "\n%s@%s: the daemon lost its event stream %d time(s)\n", $1, $2, $15
    }' "$OUT/samples.csv"
  } | tee "$OUT/table.txt"
}

main

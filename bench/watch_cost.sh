#!/usr/bin/env bash
# Cost of watching (issue 6, benchmark 2): CPU time and memory of k8sinpodd watching a ready
# cluster at `health.interval: 1s`, against a shell loop that does the same check with
# `kubectl get --raw /readyz` once a second, on the same stand-in cluster, in one run (both at the
# same time: CPU time is counted per process, so they do not share one budget). Results and how
# to read them: docs/benchmarks.md.
#
#   test/sandbox/sandbox.sh exec bench/watch_cost.sh BUILD_DIR [OUT_DIR]
#
# BUILD_DIR holds daemon/k8sinpodd and the stand-in API server (test/fakes/node-image.sh builds
# the node image from it). OUT_DIR (default /tmp/k8sinpod-bench-watch) receives samples.csv (one
# row per second: k8sinpodd's CPU ticks and RSS, the loop's shell RSS), daemon.log and table.txt.
#
# Environment:
#   BENCH_SECONDS   length of the measured window (default 600, the issue's 10 minutes)
#
# How each figure is taken:
#   ours  CPU: utime+stime (+cutime+cstime: children it waited for) of /proc/PID/stat, the
#         difference between a snapshot once /readyz is 200 and one at the end of the window.
#         Probes: the difference of k8sinpod_probes_total (all results) over the same window.
#         Peak RSS: VmHWM of /proc/PID/status at the end (the whole life, start-up included);
#         idle RSS: the median of VmRSS sampled once a second in the window.
#   loop  run under GNU time (`/usr/bin/time -f '%U %S %M'`): user and system CPU of the loop's
#         shell and of every kubectl and sleep it ran (wait4 counts the descendants it reaped);
#         %M is the largest maximum RSS among them (ru_maxrss), i.e. the biggest kubectl. Probes:
#         the loop's iterations. Idle RSS: the median VmRSS of the loop's shell, sampled once a
#         second (what stays resident between two kubectl runs).
# shellcheck disable=SC2154  # T, CLUSTER, PORT, DAEMON_PID are lib.sh's globals
set -euo pipefail
export LC_ALL=C  # EPOCHREALTIME with a '.' decimal point, %U with a '.'

BUILD=${1:?usage: watch_cost.sh BUILD_DIR [OUT_DIR]}
BUILD=$(cd "$BUILD" && pwd)
OUT=${2:-/tmp/k8sinpod-bench-watch}
REPO=$(cd "$(dirname "$0")/.." && pwd)
WINDOW=${BENCH_SECONDS:-600}

export K8SINPODD="$BUILD/daemon/k8sinpodd" FAKE_KIND="$REPO/test/fakes/kind"
[[ -x "$K8SINPODD" ]] || { echo "no daemon at $K8SINPODD (ninja -C $BUILD k8sinpodd)" >&2; exit 1; }
[[ -x /usr/bin/time ]] || { echo "needs GNU time (/usr/bin/time, Debian package time)" >&2; exit 1; }
# shellcheck source=test/system/lib.sh
source "$REPO/test/system/lib.sh"
# shellcheck source=bench/lib.sh
source "$REPO/bench/lib.sh"

LOOP_PID=""
SLEEP_FD=""
CLK_TCK=$(getconf CLK_TCK)

bench_teardown() {
  local rc=$?
  if [[ -n "$LOOP_PID" ]]; then kill "$LOOP_PID" 2>/dev/null || true; fi
  stop_daemon TERM || true
  "$FAKE_KIND" delete cluster --name "$CLUSTER" --kubeconfig "$T/kind-kc" >/dev/null 2>&1 || true
  if [[ $rc -eq 0 ]]; then rm -rf "$T"; else echo "kept $T for inspection" >&2; fi
  exit "$rc"
}

log() { printf '%s %s\n' "$(date +%T)" "$*" >&2; }

# cpu_ticks PID: utime+stime+cutime+cstime of /proc/PID/stat, in clock ticks (no fork).
cpu_ticks() {
  local line rest
  read -r line <"/proc/$1/stat"
  rest=${line##*) }  # the command name may hold spaces and parentheses: cut after the last ')'
  local -a f
  read -r -a f <<<"$rest"
  # f[0] is field 3 (state): utime, stime, cutime, cstime are fields 14..17.
  echo $((f[11] + f[12] + f[13] + f[14]))
}

# status_kib PID KEY: the value in KiB of KEY (VmRSS, VmHWM, RssAnon, ...) of /proc/PID/status.
status_kib() {
  local key value _
  while read -r key value _; do
    if [[ "$key" == "$2:" ]]; then
      echo "$value"
      return 0
    fi
  done <"/proc/$1/status"
  echo 0
}

# pss_kib PID: the proportional set size (shared pages divided among their users), in KiB.
pss_kib() {
  local key value _
  while read -r key value _; do
    if [[ "$key" == Pss: ]]; then
      echo "$value"
      return 0
    fi
  done <"/proc/$1/smaps_rollup"
  echo 0
}

# probes_total: the sum of k8sinpod_probes_total over its results.
probes_total() {
  curl -s --max-time 5 "http://127.0.0.1:$PORT/metrics" |
    awk '$1 ~ /^k8sinpod_probes_total([{]|$)/ { n += $2 } END { printf "%d\n", n }'
}

# median: the median of the integers on stdin.
median() {
  sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) print 0; else if (NR % 2) print v[(NR + 1) / 2];
    else printf "%d\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# The shell loop a user would write: `kubectl get --raw /readyz` once a second (on a fixed
# schedule, so that it probes as often as k8sinpodd does), for WINDOW seconds. Prints its
# iterations and how many printed "ok". Its own HOME, so that kubectl leaves ~ alone.
write_loop() {
  cat >"$T/loop.sh" <<'LOOP'
#!/usr/bin/env bash
set -u
kc=$1 seconds=$2 start=${EPOCHREALTIME/./} n=0 ok=0
while :; do
  now=${EPOCHREALTIME/./}
  ((now - start < seconds * 1000000)) || break
  n=$((n + 1))
  [[ "$(kubectl --kubeconfig "$kc" --request-timeout=2s get --raw /readyz 2>/dev/null)" == ok ]] &&
    ok=$((ok + 1))
  wait_us=$((start + n * 1000000 - ${EPOCHREALTIME/./}))
  ((wait_us <= 0)) || sleep "$(printf '%d.%06d' $((wait_us / 1000000)) $((wait_us % 1000000)))"
done
echo "$n $ok"
LOOP
  chmod +x "$T/loop.sh"
}

main() {
  [[ "$WINDOW" =~ ^[1-9][0-9]*$ ]] || { echo "BENCH_SECONDS must be a positive integer" >&2; exit 1; }
  T=$(mktemp -d /tmp/k8sinpod-bench-watch.XXXXXX)
  CLUSTER=watch
  export FAKE_KIND_KNOBS="$T/knobs"
  : >"$FAKE_KIND_KNOBS"
  trap bench_teardown EXIT
  mkdir -p "$OUT" "$T/home"
  mkfifo "$T/nap"
  exec {SLEEP_FD}<>"$T/nap"

  log "node image, cluster \"$CLUSTER\" (stand-in kind)"
  "$REPO/test/fakes/node-image.sh" "$BUILD" >/dev/null
  "$FAKE_KIND" delete cluster --name "$CLUSTER" >/dev/null 2>&1 || true
  "$FAKE_KIND" create cluster --name "$CLUSTER" --kubeconfig "$T/kind-kc" --wait 60s \
    >"$T/kind-create.log" 2>&1 || fail "kind create cluster failed: $(tail -n 3 "$T/kind-create.log")"

  # The loop's kubeconfig: kind's, pointed at the control plane's address (the seed's fix).
  local kc="$T/loop-kubeconfig"
  "$FAKE_KIND" get kubeconfig --name "$CLUSTER" >"$kc"
  chmod 600 "$kc"
  kubectl config set-cluster "kind-$CLUSTER" --server="https://$(control_plane_ip):6443" \
    --kubeconfig "$kc" >/dev/null
  [[ "$(HOME="$T/home" kubectl --kubeconfig "$kc" get --raw /readyz)" == ok ]] ||
    fail "kubectl does not reach the cluster through $kc"
  write_loop

  HEALTH_INTERVAL=1s HEALTH_TIMEOUT=1s write_config
  start_daemon
  wait_for "/readyz 200" 120 http_is 200 /readyz
  log "k8sinpodd (pid $DAEMON_PID, :$PORT) ready; measuring ${WINDOW} s, the loop alongside"

  local probes0 ticks0 t0 probes1 ticks1 t1 second=0 next
  probes0=$(probes_total)
  ticks0=$(cpu_ticks "$DAEMON_PID")
  t0=$EPOCHREALTIME
  HOME="$T/home" /usr/bin/time -o "$T/loop.time" -f '%U %S %M %e' \
    "$T/loop.sh" "$kc" "$WINDOW" >"$T/loop.out" &
  LOOP_PID=$!
  echo "second,ours_cpu_ticks,ours_vmrss_kib,loop_shell_vmrss_kib" >"$OUT/samples.csv"
  # One row a second for the window, then wait for the loop (it stops at the window's end).
  # The loop's shell is GNU time's child.
  local loop_shell="" child
  while ((second < WINDOW)) && kill -0 "$LOOP_PID" 2>/dev/null; do
    if [[ -z "$loop_shell" && -r "/proc/$LOOP_PID/task/$LOOP_PID/children" ]]; then
      read -r child _ <"/proc/$LOOP_PID/task/$LOOP_PID/children" || true
      loop_shell=${child:-}
    fi
    kill -0 "$DAEMON_PID" 2>/dev/null || fail "k8sinpodd exited during the window"
    printf '%d,%d,%d,%d\n' "$second" "$(cpu_ticks "$DAEMON_PID")" \
      "$(status_kib "$DAEMON_PID" VmRSS)" \
      "$( ( [[ -n "$loop_shell" ]] && status_kib "$loop_shell" VmRSS 2>/dev/null) || echo 0)" \
      >>"$OUT/samples.csv"
    second=$((second + 1))
    next=$(($(us "$t0") + second * 1000000 - $(us "$EPOCHREALTIME")))
    ((next <= 0)) || read -r -t "$(printf '%d.%06d' $((next / 1000000)) $((next % 1000000)))" \
      -u "$SLEEP_FD" _ || true
  done
  local loop_rc=0
  wait "$LOOP_PID" || loop_rc=$?
  LOOP_PID=""
  ticks1=$(cpu_ticks "$DAEMON_PID")
  t1=$EPOCHREALTIME
  probes1=$(probes_total)
  ((loop_rc == 0)) || fail "the kubectl loop exited $loop_rc"

  local hwm rss_end anon file pss
  hwm=$(status_kib "$DAEMON_PID" VmHWM)
  rss_end=$(status_kib "$DAEMON_PID" VmRSS)
  anon=$(status_kib "$DAEMON_PID" RssAnon)
  file=$(status_kib "$DAEMON_PID" RssFile)
  pss=$(pss_kib "$DAEMON_PID")
  local failures
  failures=$(metric 'k8sinpod_probes_total{result="failure"}')
  stop_daemon TERM
  cp "$T/daemon.log" "$OUT/daemon.log"
  [[ "$DAEMON_RC" == 0 ]] || fail "k8sinpodd exited $DAEMON_RC"

  local loop_n loop_ok l_user l_sys l_maxrss l_elapsed
  read -r loop_n loop_ok <"$T/loop.out"
  read -r l_user l_sys l_maxrss l_elapsed <"$T/loop.time"

  local ours_idle loop_idle
  ours_idle=$(awk -F, 'NR > 1 && $3 > 0 { print $3 }' "$OUT/samples.csv" | median)
  loop_idle=$(awk -F, 'NR > 1 && $4 > 0 { print $4 }' "$OUT/samples.csv" | median)
  local ours_cpu_ms=$((((ticks1 - ticks0) * 1000) / CLK_TCK)) ours_probes=$((probes1 - probes0))
  local window_ms=$((($(us "$t1") - $(us "$t0")) / 1000))
  ((ours_probes > 0)) || fail "k8sinpodd made no probe in the window"
  ((loop_n > 0)) || fail "the loop made no probe"

  awk -v window_ms="$window_ms" -v clk="$CLK_TCK" \
    -v o_cpu="$ours_cpu_ms" -v o_n="$ours_probes" -v o_fail="${failures:-0}" \
    -v o_hwm="$hwm" -v o_idle="$ours_idle" -v o_end="$rss_end" -v o_anon="$anon" -v o_file="$file" \
    -v o_pss="$pss" \
    -v l_user="$l_user" -v l_sys="$l_sys" -v l_n="$loop_n" -v l_ok="$loop_ok" \
    -v l_hwm="$l_maxrss" -v l_idle="$loop_idle" -v l_el="$l_elapsed" -v cpus="$(nproc)" '
    function mib(k) { return sprintf("%.1f", k / 1024) }
    BEGIN {
      l_cpu = (l_user + l_sys) * 1000
      printf "cost of watching: health.interval 1s, %.1f s window (loop: %.1f s); %d CPUs;", \
        window_ms / 1000, l_el, cpus
      printf " CPU clock tick %d ms\n\n", 1000 / clk
      printf "| %-22s | %9s | %6s | %12s | %13s | %13s |\n", "approach", "CPU s", "probes", \
        "CPU ms/probe", "peak RSS MiB", "idle RSS MiB"
      printf "|%s|%s|%s|%s|%s|%s|\n", "------------------------", "-----------", "--------", \
        "--------------", "---------------", "---------------"
      printf "| %-22s | %9.2f | %6d | %12.3f | %13s | %13s |\n", "k8sinpodd", o_cpu / 1000, o_n, \
        o_cpu / o_n, mib(o_hwm), mib(o_idle)
      printf "| %-22s | %9.2f | %6d | %12.3f | %13s | %13s |\n", "kubectl loop", l_cpu / 1000, l_n, \
        l_cpu / l_n, mib(l_hwm), mib(l_idle)
      ratio = (o_cpu > 0) ? sprintf("%.0f", (l_cpu / l_n) / (o_cpu / o_n)) : "inf"
      printf "| %-22s | %9s | %6s | %12s | %13.1f | %13.1f |\n", "ratio loop / k8sinpodd", \
        (o_cpu > 0) ? sprintf("%.0f", l_cpu / o_cpu) : "inf", "", ratio, l_hwm / o_hwm, l_idle / o_idle
      printf "\nk8sinpodd: %d of its probes in the window failed (metric, whole life);", o_fail
      printf " at the end: RSS %s MiB (anon %s, file %s), PSS %s MiB\n", mib(o_end), mib(o_anon), \
        mib(o_file), mib(o_pss)
      printf "loop: %d of %d kubectl checks printed ok; CPU user %.2f s, system %.2f s\n", \
        l_ok, l_n, l_user, l_sys
      printf "targets for k8sinpodd: idle RSS < 10 MiB: %s; CPU per probe < 1 ms: %s\n", \
        (o_idle < 10240) ? "met" : "NOT met", (o_cpu / o_n < 1) ? "met" : "NOT met"
    }' | tee "$OUT/table.txt"
}

main

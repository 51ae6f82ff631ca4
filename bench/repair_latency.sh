#!/usr/bin/env bash
# Repair latency (issue 3, "Measured"; issue 6, benchmark 1): how long after the control plane's
# address changes in Docker the kubeconfig on disk carries the new address and the cluster is
# usable again. Ours (k8sinpodd, event-driven) against the seed's one-shot fix turned into a
# polling loop, on the same stand-in cluster, in one run. Results and how to read them:
# docs/benchmarks.md.
#
#   test/sandbox/sandbox.sh exec bench/repair_latency.sh BUILD_DIR [OUT_DIR]
#
# BUILD_DIR holds daemon/k8sinpodd and the stand-in API server (test/fakes/node-image.sh builds
# the node image from it). OUT_DIR (default /tmp/k8sinpod-bench) receives samples.csv (one row per
# IP change) and table.txt.
#
# Environment:
#   BENCH_CHANGES          IP changes per row of the table (default 30)
#   BENCH_OURS_INTERVALS   health.interval values for k8sinpodd (default "5s 30s"; "" skips)
#   BENCH_SEED_INTERVALS   poll intervals for the seed loop (default "5s 10s"; "" skips)
#   BENCH_POLL_MS          the measuring poller's sleep between checks (default 5)
#   BENCH_SEED             seed of $RANDOM, which draws the seed loop's phase (default 1)
#
# One IP change: the control plane is disconnected from the `kind` network and a holder
# container parks on the old address (setup, not timed); then t0 is taken, and in the background
# the node is reconnected (Docker gives it a new address) and restarted (the node reissues its
# API server certificate at start, as a kind node image >= v0.15 does), t1 is taken when
# `docker restart` returns. Meanwhile a poller checks, every BENCH_POLL_MS, that the kubeconfig
# names the new address and the approach says "ready":
#   ours  /readyz of k8sinpodd is 200 (read over bash's /dev/tcp: the poller never forks)
#   seed  `kubectl --kubeconfig F get --raw /readyz` prints ok (run only once F has changed)
# The latency is t_ready - t0 ("from connect") and t_ready - t1 ("from restart returned").
# shellcheck disable=SC2154  # T, CLUSTER, PORT, DAEMON_PID are lib.sh's globals
set -euo pipefail
export LC_ALL=C  # EPOCHREALTIME with a '.' decimal point

BUILD=${1:?usage: repair_latency.sh BUILD_DIR [OUT_DIR]}
BUILD=$(cd "$BUILD" && pwd)
OUT=${2:-/tmp/k8sinpod-bench}
REPO=$(cd "$(dirname "$0")/.." && pwd)
CHANGES=${BENCH_CHANGES:-30}
OURS_INTERVALS=${BENCH_OURS_INTERVALS-5s 30s}
SEED_INTERVALS=${BENCH_SEED_INTERVALS-5s 10s}
POLL_MS=${BENCH_POLL_MS:-5}
RANDOM_SEED=${BENCH_SEED:-1}

export K8SINPODD="$BUILD/daemon/k8sinpodd" FAKE_KIND="$REPO/test/fakes/kind"
[[ -x "$K8SINPODD" ]] || { echo "no daemon at $K8SINPODD (ninja -C $BUILD k8sinpodd)" >&2; exit 1; }
# shellcheck source=test/system/lib.sh
source "$REPO/test/system/lib.sh"
# shellcheck source=bench/lib.sh
source "$REPO/bench/lib.sh"

NODE_IMAGE=k8sinpod/fake-node:latest
SEED_LOOP_PID=""
SLEEP_FD=""

bench_teardown() {
  local rc=$?
  if [[ -n "$SEED_LOOP_PID" ]]; then kill "$SEED_LOOP_PID" 2>/dev/null || true; fi
  stop_daemon TERM || true
  docker rm -f "$CLUSTER-ip-holder" >/dev/null 2>&1 || true
  "$FAKE_KIND" delete cluster --name "$CLUSTER" --kubeconfig "$T/kind-kc" >/dev/null 2>&1 || true
  if [[ $rc -eq 0 ]]; then rm -rf "$T"; else echo "kept $T for inspection" >&2; fi
  exit "$rc"
}

log() { printf '%s %s\n' "$(date +%T)" "$*" >&2; }

# to_seconds 5s -> 5 (the intervals are whole seconds).
to_seconds() {
  if [[ ! "$1" =~ ^([1-9][0-9]*)s$ ]]; then
    echo "interval \"$1\": use whole seconds, e.g. 5s" >&2
    exit 1
  fi
  echo "${BASH_REMATCH[1]}"
}

seed_readyz_ok() {
  [[ "$(kubectl --kubeconfig "$1" --request-timeout=2s get --raw /readyz 2>/dev/null)" == ok ]]
}

# seed_loop NAME KUBECONFIG INTERVAL PHASE LAST: the seed's fix (docker inspect with its template,
# kubectl config set-cluster) run every INTERVAL seconds, the first time after PHASE seconds.
# Empty addresses (node stopped or disconnected) are skipped, so it never writes https://:6443.
seed_loop() {
  local name=$1 kc=$2 interval=$3 last=$5 ip nap_pid=""
  trap 'if [[ -n "$nap_pid" ]]; then kill "$nap_pid" 2>/dev/null; fi; exit 0' TERM
  sleep "$4" &
  nap_pid=$!
  wait "$nap_pid"
  while :; do
    ip=$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' \
      "$name-control-plane" 2>/dev/null) || ip=""
    if [[ -n "$ip" && "$ip" != "$last" ]]; then
      kubectl config set-cluster "kind-$name" --server="https://$ip:6443" --kubeconfig "$kc" \
        >/dev/null && last=$ip
    fi
    sleep "$interval" &
    nap_pid=$!
    wait "$nap_pid"
  done
}

# measure APPROACH INTERVAL_S KUBECONFIG: one IP change; appends a row to $OUT/samples.csv.
measure() {
  local approach=$1 interval=$2 kc=$3 i=$4
  local t0 t1 new t_ready iters check_us phase_ms kubectl_ok=-
  prepare_change
  rm -f "$T/moved"
  t0=$EPOCHREALTIME
  if [[ "$approach" == seed ]]; then
    # A loop that has run for a while is at a uniformly random point of its period when the
    # change happens: draw that point instead of waiting for it.
    phase_ms=$(((RANDOM * 32768 + RANDOM) % (interval * 1000)))
    seed_loop "$CLUSTER" "$kc" "$interval" "$(printf '%d.%03d' $((phase_ms / 1000)) \
      $((phase_ms % 1000)))" "$OLD" &
    SEED_LOOP_PID=$!
  fi
  local check=our_readyz_ok
  [[ "$approach" == seed ]] && check=seed_readyz_ok
  poll_repair "$kc" "$check" $(($(us "$t0") + (30 + 2 * interval) * 1000000)) \
    "$approach ${interval}s change $i"
  t1=$T1 new=$NEW t_ready=$T_READY iters=$ITERS check_us=$CHECK_US
  if [[ -n "$SEED_LOOP_PID" ]]; then
    kill "$SEED_LOOP_PID" 2>/dev/null || true
    wait "$SEED_LOOP_PID" 2>/dev/null || true
    SEED_LOOP_PID=""
  fi
  # Ours says ready: does kubectl agree at that moment? (after the timestamp; not timed)
  if [[ "$approach" == ours ]]; then
    if seed_readyz_ok "$kc"; then kubectl_ok=1; else kubectl_ok=0; fi
  fi
  if ((HOLDER_AFTER)); then
    docker run -d --name "$CLUSTER-ip-holder" --net kind "$NODE_IMAGE" idle >/dev/null
  fi
  local lat0=$(($(us "$t_ready") - $(us "$t0"))) lat1=$(($(us "$t_ready") - $(us "$t1")))
  local restart=$(($(us "$t1") - $(us "$t0"))) period=$((lat0 / iters))
  printf '%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s\n' "$approach" "${interval}s" "$i" "$OLD" "$new" \
    "$lat0" "$lat1" "$restart" "$period" "$check_us" "$kubectl_ok" >>"$OUT/samples.csv"
  log "$approach ${interval}s #$i $OLD -> $new: $((lat0 / 1000)) ms from connect," \
    "$((lat1 / 1000)) ms from restart returned"
}

run_ours() {
  local interval=$1 i
  HEALTH_INTERVAL="${interval}s" HEALTH_TIMEOUT=2s write_config
  start_daemon
  wait_for "/readyz 200 (interval ${interval}s)" 120 http_is 200 /readyz
  log "ours: k8sinpodd (pid $DAEMON_PID, :$PORT) ready, health.interval ${interval}s"
  for ((i = 1; i <= CHANGES; i++)); do measure ours "$interval" "$T/out/kubeconfig" "$i"; done
  # The daemon's own measure: first event seen -> probe ok at the new address.
  sed -n 's/.*repaired (control-plane address .*) in \([0-9]*\) ms.*/\1/p' "$T/daemon.log" |
    awk -v iv="${interval}s" '{ printf "ours-self,%s,%d,%d\n", iv, NR, $1 * 1000 }' \
      >>"$OUT/self.csv"
  stop_daemon TERM
  cp "$T/daemon.log" "$OUT/daemon-${interval}s.log"
  [[ "$DAEMON_RC" == 0 ]] || fail "k8sinpodd exited $DAEMON_RC"
}

run_seed() {
  local interval=$1 i kc="$T/seed-kubeconfig"
  # The seed's one-shot fix, done once by hand: kind's kubeconfig, pointed at the node.
  "$FAKE_KIND" get kubeconfig --name "$CLUSTER" >"$kc"
  chmod 600 "$kc"
  kubectl config set-cluster "kind-$CLUSTER" --server="https://$(control_plane_ip):6443" \
    --kubeconfig "$kc" >/dev/null
  seed_readyz_ok "$kc" || fail "kubectl does not reach the cluster through $kc"
  log "seed: loop every ${interval}s"
  for ((i = 1; i <= CHANGES; i++)); do measure seed "$interval" "$kc" "$i"; done
}

# stats FILE APPROACH INTERVAL COLUMN: "N median p95 min max" in ms; p95 is the nearest rank.
stats() {
  local -a v
  mapfile -t v < <(awk -F, -v a="$2" -v iv="$3" -v c="$4" '$1 == a && $2 == iv { print $c }' \
    "$1" | sort -n)
  local n=${#v[@]}
  ((n > 0)) || { echo "0 - - - -"; return; }
  local med p95
  if ((n % 2)); then med=${v[n / 2]}; else med=$(((v[n / 2 - 1] + v[n / 2]) / 2)); fi
  p95=${v[(95 * n + 99) / 100 - 1]}
  printf '%d %d %d %d %d\n' "$n" $((med / 1000)) $((p95 / 1000)) $((v[0] / 1000)) \
    $((v[n - 1] / 1000))
}

print_table() {
  local title=$1 column=$2 file=$3 a iv
  printf '\n%s\n' "$title"
  printf '| %-9s | %-8s | %3s | %9s | %6s | %6s | %6s |\n' approach interval N "median ms" \
    "p95 ms" "min" "max"
  printf '|%s|%s|%s|%s|%s|%s|%s|\n' ----------- ---------- ----- ----------- -------- -------- \
    --------
  while IFS=, read -r a iv; do
    read -r n med p95 lo hi < <(stats "$file" "$a" "$iv" "$column")
    printf '| %-9s | %-8s | %3s | %9s | %6s | %6s | %6s |\n' "$a" "$iv" "$n" "$med" "$p95" \
      "$lo" "$hi"
  done < <(awk -F, '!seen[$1 FS $2]++ { print $1 "," $2 }' "$file")
}

main() {
  local iv
  for iv in $OURS_INTERVALS $SEED_INTERVALS; do to_seconds "$iv" >/dev/null; done
  ((CHANGES >= 1)) || { echo "BENCH_CHANGES must be >= 1" >&2; exit 1; }
  T=$(mktemp -d /tmp/k8sinpod-bench.XXXXXX)
  CLUSTER=bench
  export FAKE_KIND_KNOBS="$T/knobs"
  : >"$FAKE_KIND_KNOBS"
  trap bench_teardown EXIT
  mkdir -p "$OUT"
  : >"$OUT/samples.csv"
  : >"$OUT/self.csv"
  mkfifo "$T/nap"
  exec {SLEEP_FD}<>"$T/nap"
  NAP_SECONDS=$(printf '0.%03d' "$POLL_MS")
  RANDOM=$RANDOM_SEED
  local started=$SECONDS

  log "node image, cluster \"$CLUSTER\" (stand-in kind)"
  "$REPO/test/fakes/node-image.sh" "$BUILD" >/dev/null
  "$FAKE_KIND" delete cluster --name "$CLUSTER" >/dev/null 2>&1 || true
  docker rm -f "$CLUSTER-ip-holder" >/dev/null 2>&1 || true
  "$FAKE_KIND" create cluster --name "$CLUSTER" --kubeconfig "$T/kind-kc" --wait 60s \
    >"$T/kind-create.log" 2>&1 || fail "kind create cluster failed: $(tail -n 3 "$T/kind-create.log")"

  for iv in $OURS_INTERVALS; do run_ours "$(to_seconds "$iv")"; done
  for iv in $SEED_INTERVALS; do run_seed "$(to_seconds "$iv")"; done

  {
    echo "repair latency: $CHANGES IP changes per row; poller sleeps ${POLL_MS} ms;" \
      "seed of the loop's phase: $RANDOM_SEED; $(nproc) CPUs; $((SECONDS - started)) s in all"
    print_table "From t0 (just before \`docker network connect\`) to ready, ms:" 6 \
      "$OUT/samples.csv"
    print_table "From t1 (\`docker restart\` returned) to ready, ms:" 7 "$OUT/samples.csv"
    print_table "Docker's own share, t0 -> t1 (connect + restart), ms:" 8 "$OUT/samples.csv"
    if [[ -s "$OUT/self.csv" ]]; then
      print_table "k8sinpodd's own log (\"repaired ... in N ms\": first event -> probe ok), ms:" 4 \
        "$OUT/self.csv"
    fi
    awk -F, '$1 == "ours" { n++; ok += $11; p += $9 } $1 == "seed" { sn++; sp += $9; sc += $10 }
      END {
        printf "\nours: kubectl get --raw /readyz right after ready: %d of %d ok;", ok, n
        printf " mean poll period %.1f ms\n", p / n / 1000
        if (sn) printf "seed: mean poll period %.1f ms; the kubectl check that saw ready" \
          " took %.0f ms on average\n", sp / sn / 1000, sc / sn / 1000
      }' "$OUT/samples.csv"
  } | tee "$OUT/table.txt"
}

main

# shellcheck shell=bash disable=SC2034  # SERVER is read by the sourcing benchmarks
# Helpers shared by the benchmarks (sourced after test/system/lib.sh). The polling helpers (us,
# nap, read_server, our_readyz_ok, ip_number) never fork, so a poller built from them measures
# the daemon, not process creation; the IP-change helpers at the end call docker.

# us EPOCHREALTIME: microseconds since the epoch.
us() { echo "${1/./}"; }

# nap: sleeps NAP_SECONDS without forking (a read with a timeout on the FIFO open on SLEEP_FD,
# which nobody writes to).
nap() { read -r -t "$NAP_SECONDS" -u "$SLEEP_FD" _ || true; }

# free_port: a TCP port on 127.0.0.1 for a server a benchmark starts (the Exposer, node_exporter):
# a random one just below the kernel's ephemeral range, where no client connection's local end
# can sit (wrk's and curl's can anywhere in that range), and with no socket on it in this
# namespace (/proc/net/tcp and tcp6: listeners and connections). As the stand-in kind's.
free_port() {
  local low=32768 used=" " addr candidate f
  read -r low _ </proc/sys/net/ipv4/ip_local_port_range || true
  for f in /proc/net/tcp /proc/net/tcp6; do
    [[ -r "$f" ]] || continue
    while read -r _ addr _; do
      [[ "$addr" == *:* ]] && used+="$((16#${addr##*:})) "
    done <"$f"
  done
  while :; do
    candidate=$((low - 1 - (RANDOM * 32768 + RANDOM) % (low > 11024 ? 10000 : low - 1024)))
    [[ "$used" == *" $candidate "* ]] || { echo "$candidate"; return 0; }
  done
}

# read_server FILE: sets SERVER to the first `server:` of FILE without forking ("" if none).
read_server() {
  SERVER=""
  [[ -r "$1" ]] || return 0
  local line re='^[[:space:]]*server:[[:space:]]*([^[:space:]]+)'
  while IFS= read -r line; do
    # The glob first: the regex alone costs ~0.3 ms on the long certificate lines.
    if [[ "$line" == *server:* && "$line" =~ $re ]]; then
      SERVER=${BASH_REMATCH[1]}
      return 0
    fi
  done <"$1"
}

# our_readyz_ok: GET /readyz on k8sinpodd (127.0.0.1:$PORT) is 200, over /dev/tcp (no fork).
our_readyz_ok() {
  local fd status=""
  exec {fd}<>"/dev/tcp/127.0.0.1/$PORT" || return 1
  printf 'GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' >&"$fd"
  IFS= read -r -t 2 -u "$fd" status || true
  exec {fd}>&-
  [[ "$status" == "HTTP/1.1 200"* ]]
}

# holder_ip: the address of the container that parks on the control plane's old address.
holder_ip() {
  docker inspect -f '{{(index .NetworkSettings.Networks "kind").IPAddress}}' \
    "$CLUSTER-ip-holder" 2>/dev/null || true
}

# ip_number A.B.C.D: the address as one integer, to compare addresses.
ip_number() {
  local a b c d
  IFS=. read -r a b c d <<<"$1"
  echo $(((a << 24) | (b << 16) | (c << 8) | d))
}

# prepare_change: the untimed half of an IP change. Docker's IPAM hands out the lowest free
# address, so a holder container alternates with the node between two addresses: after this,
# reconnecting the node gives it an address other than OLD. Sets OLD and HOLDER_AFTER (1: the
# holder is started again after the change, to park on OLD).
prepare_change() {
  local node="$CLUSTER-control-plane" hold
  OLD=$(control_plane_ip)
  hold=$(holder_ip)
  docker network disconnect kind "$node"
  [[ -z "$hold" ]] || docker rm -f "$CLUSTER-ip-holder" >/dev/null
  if [[ -n "$hold" ]] && (($(ip_number "$hold") < $(ip_number "$OLD"))); then
    HOLDER_AFTER=1  # the node takes the holder's lower address
  else
    docker run -d --name "$CLUSTER-ip-holder" --net kind k8sinpod/fake-node:latest idle >/dev/null
    HOLDER_AFTER=0  # the holder took OLD
  fi
}

# make_change: the timed half (repair_latency.sh and event_rate.sh run it in the background):
# reconnect, restart, then publish "t1 new-address" in $T/moved.
make_change() {
  local node="$CLUSTER-control-plane" t1 new
  docker network connect kind "$node"
  docker restart -t 1 "$node" >/dev/null
  t1=$EPOCHREALTIME
  new=$(control_plane_ip)
  printf '%s %s\n' "$t1" "$new" >"$T/moved.tmp"
  mv "$T/moved.tmp" "$T/moved"
}

# poll_repair KUBECONFIG CHECK DEADLINE_US LABEL: the timed half of an IP change with a poller
# beside it. make_change runs in the background; meanwhile, about every NAP_SECONDS, the poller
# reads KUBECONFIG's server and, once that is neither the old address nor (when known) other than
# the new one, runs `CHECK KUBECONFIG` (our_readyz_ok, or a benchmark's own check). A check can
# succeed before make_change has published the new address: that first success counts once the
# new address confirms it. Sets T1 and NEW (as change_ip), T_READY (EPOCHREALTIME of the counted
# success), ITERS (polls) and CHECK_US (the counted check's duration). The loop itself never
# forks. Fails (lib.sh's fail) past DEADLINE_US (microseconds since the epoch) or when the
# change fails; LABEL names the change in those messages.
poll_repair() {
  local kc=$1 check=$2 deadline=$3 label=$4
  local mover tent_t="" tent_s="" start now
  T1="" NEW="" T_READY="" ITERS=0 CHECK_US=0
  make_change &
  mover=$!
  while :; do
    ((++ITERS))
    if [[ -z "$NEW" && -r "$T/moved" ]]; then read -r T1 NEW <"$T/moved"; fi
    read_server "$kc"
    if [[ -n "$SERVER" && "$SERVER" != "https://$OLD:6443" ]] &&
      [[ -z "$NEW" || "$SERVER" == "https://$NEW:6443" ]]; then
      start=$EPOCHREALTIME
      if "$check" "$kc"; then
        now=$EPOCHREALTIME
        if [[ -z "$tent_t" ]]; then
          tent_t=$now
          tent_s=$SERVER
          CHECK_US=$((${now/./} - ${start/./}))
        fi
        if [[ -n "$NEW" ]]; then
          if [[ "$tent_s" == "https://$NEW:6443" ]]; then T_READY=$tent_t; else T_READY=$now; fi
          break
        fi
      fi
    fi
    now=$EPOCHREALTIME
    if ((${now/./} > deadline)); then
      wait "$mover" || true
      fail "$label: not ready at ${NEW:-?} in time (kubeconfig: ${SERVER:-none})"
    fi
    if [[ -z "$NEW" ]] && ! kill -0 "$mover" 2>/dev/null && [[ ! -r "$T/moved" ]]; then
      wait "$mover" || true
      fail "$label: moving the address failed"
    fi
    nap
  done
  wait "$mover" || fail "$label: moving the address failed"
  [[ "$NEW" != "$OLD" ]] || fail "$label: the address did not change ($OLD -> $NEW)"
}

# change_ip: both halves in the foreground; sets OLD, NEW and T1 (EPOCHREALTIME when the restart
# returned), and fails if the address did not change.
change_ip() {
  prepare_change
  rm -f "$T/moved"
  make_change
  read -r T1 NEW <"$T/moved"
  [[ -n "$NEW" && "$NEW" != "$OLD" ]] || fail "the address did not change ($OLD -> $NEW)"
}

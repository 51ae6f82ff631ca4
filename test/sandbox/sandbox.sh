#!/usr/bin/env bash
# sandbox.sh: a private Docker engine in a network namespace of its own (docs/testing.md,
# "The test world"). Containers get 172.x addresses that must never be reached from the machine's
# own network namespace, so dockerd, every container and every client run inside the namespace.
#
#   sandbox.sh up                 create the netns, start dockerd, wait for `docker info` (idempotent)
#   sandbox.sh down               remove containers, stop dockerd, delete netns, mounts, state dir
#   sandbox.sh exec CMD [ARG...]  run CMD inside the netns with DOCKER_HOST exported
#   sandbox.sh env                print `export ...` lines for this sandbox
#   sandbox.sh status             print state; exit 0 if healthy, 1 if not
#   sandbox.sh restart-docker     stop dockerd (containers stay) and start it again
#
# Environment:
#   K8SINPOD_SANDBOX_DIR    state directory (default /tmp/k8sinpod-sandbox); keep it short:
#                           containerd's socket under it must fit in 108 bytes
#   K8SINPOD_SANDBOX_NETNS  network namespace name (default k8sinpod-sb)
#   K8SINPOD_SANDBOX_START_TIMEOUT  seconds to wait for dockerd (default 60)
# Requires root. Inside `exec`, K8SINPOD_SANDBOX_INSIDE=1 and the two variables above are set.
set -euo pipefail

DIR=${K8SINPOD_SANDBOX_DIR:-/tmp/k8sinpod-sandbox}
NETNS=${K8SINPOD_SANDBOX_NETNS:-k8sinpod-sb}
START_TIMEOUT=${K8SINPOD_SANDBOX_START_TIMEOUT:-60}
SOCK="$DIR/docker.sock"
PIDFILE="$DIR/dockerd.pid"   # written by us ($!), dockerd's own pidfile is $DIR/exec/dockerd.pid
LOG="$DIR/dockerd.log"

die() { echo "sandbox: $*" >&2; exit 1; }
say() { echo "sandbox: $*" >&2; }

case "$DIR" in
  /*) ;;
  *) die "K8SINPOD_SANDBOX_DIR must be absolute, got \"$DIR\"" ;;
esac
DIR=${DIR%/}
[[ -n "$DIR" && "$DIR" != / ]] || die "refusing state dir \"/\""
[[ "$NETNS" =~ ^[A-Za-z0-9_.-]+$ ]] || die "bad netns name \"$NETNS\""

netns_path() { echo "/run/netns/$NETNS"; }
netns_exists() { [[ -e "$(netns_path)" ]]; }
in_netns() { nsenter --net="$(netns_path)" "$@"; }
dockerd_pid() { [[ -s "$PIDFILE" ]] && cat "$PIDFILE"; }
pid_alive() { [[ -n "${1:-}" ]] && kill -0 "$1" 2>/dev/null; }
pid_gone() { ! kill -0 "$1" 2>/dev/null; }
docker_ok() { in_netns docker -H "unix://$SOCK" info >/dev/null 2>&1; }

healthy() {
  netns_exists && pid_alive "$(dockerd_pid || true)" && docker_ok
}

# Waits until "$@" succeeds or the deadline passes.
wait_for() {
  local seconds=$1; shift
  local deadline=$((SECONDS + seconds))
  until "$@"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.1
  done
}

start_dockerd() {
  mkdir -p "$DIR/data" "$DIR/exec"
  [[ -f "$DIR/daemon.json" ]] || echo '{}' >"$DIR/daemon.json"
  # --config-file: ignore the machine's /etc/docker/daemon.json. setsid: dockerd outlives us.
  # nsenter execs dockerd in place, so $! is dockerd's pid.
  setsid nsenter --net="$(netns_path)" dockerd \
    --config-file "$DIR/daemon.json" \
    --data-root "$DIR/data" --exec-root "$DIR/exec" --pidfile "$DIR/exec/dockerd.pid" \
    -H "unix://$SOCK" --bridge none \
    </dev/null >>"$LOG" 2>&1 &
  echo $! >"$PIDFILE"
  local pid
  pid=$(cat "$PIDFILE")
  local deadline=$((SECONDS + START_TIMEOUT))
  until docker_ok; do
    if ! pid_alive "$pid"; then
      tail -n 20 "$LOG" >&2 || true
      die "dockerd exited during start (log: $LOG)"
    fi
    if ((SECONDS >= deadline)); then
      tail -n 20 "$LOG" >&2 || true
      die "dockerd not ready after ${START_TIMEOUT}s (log: $LOG)"
    fi
    sleep 0.1
  done
}

# SIGTERM, wait, then SIGKILL. dockerd stops its containers and its containerd on SIGTERM.
stop_pid() {
  local pid=$1 seconds=$2
  pid_alive "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  if ! wait_for "$seconds" pid_gone "$pid"; then
    say "pid $pid ignored SIGTERM for ${seconds}s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    wait_for 10 pid_gone "$pid" || say "pid $pid survived SIGKILL"
  fi
}

stop_dockerd() {
  local pid
  pid=$(dockerd_pid || true)
  # Only if the recorded pid is still a dockerd: never signal a recycled pid.
  if [[ -n "$pid" && "$(cat "/proc/$pid/comm" 2>/dev/null)" == dockerd ]]; then
    stop_pid "$pid" 30
  fi
  rm -f "$PIDFILE"
}

# Processes still in our netns (containerd, shims, docker-proxy after a SIGKILLed dockerd), and
# processes of containers of this sandbox's engine found through their cgroups.
kill_leftovers() {
  local pids=() pid id f
  if netns_exists; then
    mapfile -t pids < <(ip netns pids "$NETNS" 2>/dev/null || true)
  fi
  if [[ -d "$DIR/data/containers" ]]; then
    for id in "$DIR"/data/containers/*; do
      [[ -d "$id" ]] || continue
      id=${id##*/}
      for f in /sys/fs/cgroup/*/docker/"$id"/cgroup.procs /sys/fs/cgroup/docker/"$id"/cgroup.procs; do
        [[ -r "$f" ]] || continue
        while read -r pid; do pids+=("$pid"); done <"$f"
      done
    done
  fi
  ((${#pids[@]} > 0)) || return 0
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    wait_for 5 pid_gone "$pid" || kill -KILL "$pid" 2>/dev/null || true
  done
}

# Deepest mount points first; lazy unmount as a last resort.
unmount_under_dir() {
  local mnt
  while read -r mnt; do
    umount "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null || say "cannot unmount $mnt"
  done < <(awk -v d="$DIR" '{ m = $5; gsub(/\\040/, " ", m) } m == d || index(m, d "/") == 1 { print length(m) " " m }' \
             /proc/self/mountinfo | sort -rn | cut -d' ' -f2-)
}

cmd_down() {
  if [[ -S "$SOCK" ]] && netns_exists && docker_ok; then
    local ids
    ids=$(in_netns docker -H "unix://$SOCK" ps -aq) || true
    if [[ -n "$ids" ]]; then
      # shellcheck disable=SC2086 # one id per word
      in_netns docker -H "unix://$SOCK" rm -f -v $ids >/dev/null || say "some containers would not go"
    fi
  fi
  stop_dockerd
  kill_leftovers
  unmount_under_dir
  if netns_exists; then
    ip netns del "$NETNS" 2>/dev/null || { umount -l "$(netns_path)" 2>/dev/null; rm -f "$(netns_path)"; }
  fi
  rm -rf "$DIR"
}

cmd_up() {
  if healthy; then
    return 0
  fi
  if netns_exists || [[ -e "$DIR" ]]; then
    say "cleaning a stale sandbox ($DIR, netns $NETNS)"
    cmd_down
  fi
  mkdir -p "$DIR"
  ip netns add "$NETNS"
  ip -n "$NETNS" link set lo up
  start_dockerd
  say "up: DOCKER_HOST=unix://$SOCK in netns $NETNS"
}

cmd_restart_docker() {
  healthy || die "not up (run: sandbox.sh up)"
  stop_dockerd
  start_dockerd
}

cmd_status() {
  if healthy; then
    echo "up: netns $NETNS, dockerd pid $(dockerd_pid), DOCKER_HOST=unix://$SOCK"
    return 0
  fi
  echo "down: netns $(netns_exists && echo present || echo absent), dir $([[ -e "$DIR" ]] && echo present || echo absent)"
  return 1
}

cmd_env() {
  echo "export DOCKER_HOST=unix://$SOCK"
  echo "export K8SINPOD_SANDBOX_DIR=$DIR"
  echo "export K8SINPOD_SANDBOX_NETNS=$NETNS"
}

cmd_exec() {
  (($# > 0)) || die "usage: sandbox.sh exec CMD [ARG...]"
  netns_exists || die "not up (run: sandbox.sh up)"
  export DOCKER_HOST="unix://$SOCK" K8SINPOD_SANDBOX_DIR="$DIR" K8SINPOD_SANDBOX_NETNS="$NETNS"
  export K8SINPOD_SANDBOX_INSIDE=1
  exec nsenter --net="$(netns_path)" "$@"
}

[[ $# -gt 0 ]] || die "usage: sandbox.sh up|down|exec CMD...|env|status|restart-docker"
verb=$1; shift
case "$verb" in
  up) cmd_up ;;
  down) cmd_down ;;
  exec) cmd_exec "$@" ;;
  env) cmd_env ;;
  status) cmd_status ;;
  restart-docker) cmd_restart_docker ;;
  *) die "unknown command \"$verb\" (up|down|exec|env|status|restart-docker)" ;;
esac

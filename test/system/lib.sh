# shellcheck shell=bash disable=SC2034  # DAEMON_RC and PORT are read by the sourcing tests
# Helpers for the system tests: the built k8sinpodd as a black box, inside the sandbox
# (test/sandbox/sandbox.sh exec), against the stand-in kind and real Docker.
#
# Required environment (set by CTest, see test/system/CMakeLists.txt):
#   K8SINPODD   path of the built daemon      FAKE_KIND  path of the stand-in kind
#   DOCKER_HOST the sandbox's engine (sandbox.sh exec sets it)
set -euo pipefail

: "${K8SINPODD:?K8SINPODD must name the built daemon}"
: "${FAKE_KIND:?FAKE_KIND must name the stand-in kind}"
: "${DOCKER_HOST:?run inside the sandbox: test/sandbox/sandbox.sh exec ...}"
[[ "${K8SINPOD_SANDBOX_INSIDE:-}" == 1 ]] || { echo "not inside the sandbox" >&2; exit 1; }

T=""           # per-test temp dir
CLUSTER=""     # per-test cluster name
DAEMON_PID=""
DAEMON_RC=""   # exit status of the last stop_daemon, read by the tests
PORT=""

fail() { echo "FAIL: $*" >&2; dump; exit 1; }
note() { echo "--- $*" >&2; }
dump() {
  [[ -n "$T" && -f "$T/daemon.log" ]] || return 0
  echo "--- last daemon log lines:" >&2
  tail -n 40 "$T/daemon.log" >&2 || true
}

# setup_case NAME: temp dir, cluster name, default config; cleanup on exit.
setup_case() {
  T=$(mktemp -d "/tmp/k8sinpod-sys-$1.XXXXXX")
  CLUSTER="sys-$1"
  export FAKE_KIND_KNOBS="$T/knobs"
  : >"$FAKE_KIND_KNOBS"
  trap teardown EXIT
  write_config
}

teardown() {
  local rc=$?
  stop_daemon KILL || true
  "$FAKE_KIND" delete cluster --name "$CLUSTER" --kubeconfig "$T/kind-kc" >/dev/null 2>&1 || true
  if [[ $rc -eq 0 ]]; then rm -rf "$T"; else echo "kept $T for inspection" >&2; fi
  exit "$rc"
}

# write_config [extra YAML appended to the health section...]: the test's config file.
write_config() {
  cat >"$T/config.yaml" <<YAML
cluster:
  name: $CLUSTER
  create_timeout: ${CREATE_TIMEOUT:-2m}
kubeconfig:
  path: $T/out/kubeconfig
  copies: [$T/shared/kubeconfig]
health:
  interval: ${HEALTH_INTERVAL:-1s}
  timeout: ${HEALTH_TIMEOUT:-1s}
  failure_threshold: ${FAILURE_THRESHOLD:-2}
docker:
  host: $DOCKER_HOST
tools:
  kind: $FAKE_KIND
remediation:
  recreate_after: ${RECREATE_AFTER:-60s}
  restart_grace: ${RESTART_GRACE:-30s}
  backoff_initial: ${BACKOFF_INITIAL:-10s}
  backoff_max: ${BACKOFF_MAX:-5m}
  max_recreates: ${MAX_RECREATES:-5}
server:
  listen: 127.0.0.1:0
log:
  level: ${LOG_LEVEL:-info}
  format: ${LOG_FORMAT:-text}
YAML
}

# start_daemon [CONFIG]: runs k8sinpodd with CONFIG (default $T/config.yaml) in the background;
# sets DAEMON_PID and PORT.
# shellcheck disable=SC2120  # CONFIG is optional: most callers pass none
start_daemon() {
  : >"$T/daemon.log"
  "$K8SINPODD" --config "${1:-$T/config.yaml}" >>"$T/daemon.log" 2>&1 &
  DAEMON_PID=$!
  wait_for "the daemon to listen" 20 grep -q "listening on" "$T/daemon.log"
  PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$T/daemon.log" | tail -n 1)
  [[ -n "$PORT" ]] || fail "no port in the daemon log"
}

# A ConfigMap volume, as kubelet lays it out, in the directory $CM: config.yaml -> ..data/config.yaml,
# ..data -> a timestamped directory. The daemon then runs with --config "$CM/config.yaml".
# cm_init FILE: the volume with FILE as config.yaml.
cm_init() {
  local dir="..2026_11_25_08_00_00.000000000"
  mkdir -p "$CM/$dir"
  cp "$1" "$CM/$dir/config.yaml"
  ln -s "$dir" "$CM/..data"
  ln -s ..data/config.yaml "$CM/config.yaml"
}

# cm_push FILE: kubelet's atomic update of the volume to FILE's content: a new directory (named
# with nanoseconds, as kubelet's, so pushes from concurrent subshells differ), ..data_tmp pointed at
# it and renamed over ..data, the old directory removed. Returns 1, saying why, if config.yaml
# does not then show FILE's content through the unchanged link.
cm_push() {
  local old new
  old=$(readlink "$CM/..data")
  new="..$(date -u +%Y_%m_%d_%H_%M_%S.%N)"
  mkdir "$CM/$new"
  cp "$1" "$CM/$new/config.yaml"
  ln -s "$new" "$CM/..data_tmp"
  mv -T "$CM/..data_tmp" "$CM/..data"
  rm -rf "${CM:?}/$old"
  [[ "$(readlink "$CM/config.yaml")" == "..data/config.yaml" ]] ||
    { echo "cm_push: the config.yaml link changed" >&2; return 1; }
  cmp -s "$1" "$CM/config.yaml" ||
    { echo "cm_push: the volume does not show $1" >&2; return 1; }
}

# stop_daemon [TERM|KILL]: signals the daemon and waits; sets DAEMON_RC.
stop_daemon() {
  [[ -n "$DAEMON_PID" ]] || return 0
  kill -"${1:-TERM}" "$DAEMON_PID" 2>/dev/null || true
  DAEMON_RC=0
  wait "$DAEMON_PID" || DAEMON_RC=$?
  DAEMON_PID=""
}

# wait_for DESC SECONDS CMD...: polls CMD every 0.1 s until it succeeds or the deadline passes.
wait_for() {
  local desc=$1 secs=$2
  shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then fail "timed out after ${secs}s waiting for $desc"; fi
    if [[ -n "$DAEMON_PID" ]] && ! kill -0 "$DAEMON_PID" 2>/dev/null; then
      fail "the daemon exited while waiting for $desc"
    fi
    sleep 0.1
  done
}

# http PATH: prints the status code; the body goes to $T/body.
http() { curl -s -o "$T/body" -w '%{http_code}' --max-time 5 "http://127.0.0.1:$PORT$1"; }
http_is() { [[ "$(http "$2")" == "$1" ]]; }

# metric 'name{labels}': the sample's value from /metrics (empty if absent).
metric() {
  curl -s --max-time 5 "http://127.0.0.1:$PORT/metrics" |
    awk -v k="$1" '$1 == k && !found { print $2; found = 1 }'  # reads it all: no SIGPIPE
}

control_plane_ip() {
  docker inspect -f '{{(index .NetworkSettings.Networks "kind").IPAddress}}' \
    "$CLUSTER-control-plane"
}

apiserver_mode() {
  docker exec "$CLUSTER-control-plane" /usr/local/bin/fake-apiserver set-mode "$1" >/dev/null
}

kubeconfig_server() { kubectl --kubeconfig "$1" config view -o jsonpath='{.clusters[0].cluster.server}'; }

# metric_is 'name{labels}' VALUE: for wait_for.
metric_is() { [[ "$(metric "$1")" == "$2" ]]; }

# kubeconfig_points_at IP: the written kubeconfig's server is https://IP:6443.
kubeconfig_points_at() { [[ "$(kubeconfig_server "$T/out/kubeconfig")" == "https://$1:6443" ]]; }

kubectl_ok() { [[ "$(kubectl --kubeconfig "$T/out/kubeconfig" --request-timeout=3s get --raw /readyz)" == ok ]]; }

# move_ip: gives the control plane a new address on the kind network, the way a dockerd restart
# does: disconnect, let a holder container take the old address, reconnect, restart (the node
# reissues its certificate at start). Prints "OLD NEW".
move_ip() {
  local node="$CLUSTER-control-plane" holder="$CLUSTER-ip-holder" old new
  old=$(control_plane_ip)
  docker network disconnect kind "$node"
  docker run -d --name "$holder" --net kind k8sinpod/fake-node:latest idle >/dev/null
  docker network connect kind "$node"
  docker restart -t 1 "$node" >/dev/null
  new=$(control_plane_ip)
  docker rm -f "$holder" >/dev/null
  [[ -n "$new" && "$new" != "$old" ]] || fail "the address did not change ($old -> $new)"
  echo "$old $new"
}

assert_eq() { [[ "$1" == "$2" ]] || fail "$3: expected \"$2\", got \"$1\""; }

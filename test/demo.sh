#!/usr/bin/env bash
# Builds k8sinpodd and starts it supervising a cluster, in the foreground, until Ctrl-C.
#
# No real `kind` or node image can run on a machine without a registry, so this runs in the
# test sandbox (a network namespace with its own dockerd) with the stand-in kind and its
# stand-in API server (docs/testing.md). With a real kind and Docker, run the daemon directly:
#   k8sinpodd --config config/k8sinpod.yaml
# Needs root. K8SINPOD_DEMO_EXIT_WHEN_READY=1 exits 0 as soon as /readyz is 200 (used by CI).
# K8SINPOD_DEMO_BUILD_DIR=DIR uses an existing build of the project (its daemon/k8sinpodd and
# fake_apiserver) instead of building the `release` preset; K8SINPOD_DEMO_DIR moves the config
# and kubeconfig from /tmp/k8sinpod-demo. CTest `system.demo` uses both, with the build under test.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $(id -u) -eq 0 ]] || { echo "test/demo.sh: needs root (netns, dockerd)" >&2; exit 1; }
bash test/deps.sh

export K8SINPOD_SANDBOX_DIR=${K8SINPOD_SANDBOX_DIR:-/tmp/k8sinpod-demo-sb}
export K8SINPOD_SANDBOX_NETNS=${K8SINPOD_SANDBOX_NETNS:-k8sinpod-demo}
demo=${K8SINPOD_DEMO_DIR:-/tmp/k8sinpod-demo}
sandbox=test/sandbox/sandbox.sh

build=${K8SINPOD_DEMO_BUILD_DIR:-}
if [[ -z "$build" ]]; then
  cmake --preset release >/dev/null
  cmake --build --preset release
  build=$PWD/build/release
fi
"$sandbox" up
"$sandbox" exec test/fakes/node-image.sh "$build"

mkdir -p "$demo"
cat >"$demo/config.yaml" <<YAML
cluster:
  name: demo
kubeconfig:
  path: $demo/kubeconfig
docker:
  host: unix://$K8SINPOD_SANDBOX_DIR/docker.sock
tools:
  kind: $PWD/test/fakes/kind
server:
  listen: 127.0.0.1:9090
YAML

cleanup() {
  "$sandbox" exec test/fakes/kind delete cluster --name demo --kubeconfig "$demo/.kind-kubeconfig" \
    >/dev/null 2>&1 || true
  "$sandbox" down >/dev/null 2>&1 || true
}
trap cleanup EXIT

cat <<EOF2
== k8sinpodd is starting in the sandbox (netns $K8SINPOD_SANDBOX_NETNS) with the STAND-IN kind.
   From another shell, as root:
     $sandbox exec curl -s 'localhost:9090/readyz?verbose'
     $sandbox exec curl -s localhost:9090/status
     $sandbox exec kubectl --kubeconfig $demo/kubeconfig get --raw /readyz
   Ctrl-C stops the daemon; the cluster and the sandbox are then removed.
EOF2

if [[ "${K8SINPOD_DEMO_EXIT_WHEN_READY:-0}" == 1 ]]; then
  "$sandbox" exec "$build/daemon/k8sinpodd" --config "$demo/config.yaml" &
  daemon=$!
  for _ in $(seq 1 600); do
    if "$sandbox" exec curl -sf localhost:9090/readyz >/dev/null 2>&1 &&
      [[ $("$sandbox" exec kubectl --kubeconfig "$demo/kubeconfig" get --raw /readyz) == ok ]]; then
      echo "== ready: kubectl get --raw /readyz says ok"
      kill -TERM "$daemon"
      wait "$daemon"
      exit 0
    fi
    sleep 0.5
  done
  echo "== not ready within 5 minutes" >&2
  exit 1
fi
"$sandbox" exec "$build/daemon/k8sinpodd" --config "$demo/config.yaml"

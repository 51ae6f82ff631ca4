#!/usr/bin/env bash
# The container image, offline, end to end (CTest label `container`; docs/deployment.md):
#   1. builds a local base image from this machine's files (base-image.sh);
#   2. builds container/Dockerfile's `prebuilt` target from it with the k8sinpodd of this build,
#      the stand-in kind and the local kubectl as KIND_SOURCE / KUBECTL_SOURCE, digests checked;
#      a wrong digest must fail the build;
#   3. runs the image with the sandbox's Docker socket mounted, in the sandbox's network
#      namespace (as the dind pod shares dockerd's), as an unprivileged user with the socket's
#      group added: k8sinpodd must be PID 1, bring the stand-in cluster to /readyz 200 and write
#      the kubeconfig copy that a sidecar reads (checked here with the real kubectl);
#   4. `docker stop`: exit code 0 within the grace period.
# Run inside the sandbox: test/sandbox/sandbox.sh exec test/container/image.sh
# Environment: K8SINPODD (the built daemon), FAKE_KIND (test/fakes/kind), DOCKER_HOST.
set -euo pipefail

: "${K8SINPODD:?K8SINPODD must name the built daemon}"
: "${FAKE_KIND:?FAKE_KIND must name the stand-in kind}"
: "${DOCKER_HOST:?run inside the sandbox: test/sandbox/sandbox.sh exec $0}"
[[ "${K8SINPOD_SANDBOX_INSIDE:-}" == 1 ]] || { echo "not inside the sandbox" >&2; exit 1; }
[[ "$DOCKER_HOST" == unix://* ]] || { echo "DOCKER_HOST must be a unix socket" >&2; exit 1; }

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
IMAGE=k8sinpod/k8sinpodd:container-test
BASE=k8sinpod/test-runtime-base:latest
NAME=k8sinpod-container-test
CLUSTER=ctr-test
GRACE=30
SOCK=${DOCKER_HOST#unix://}
T=$(mktemp -d /tmp/k8sinpod-container.XXXXXX)

fail() {
  echo "FAIL: $*" >&2
  docker logs --tail 40 "$NAME" >&2 2>&1 || true
  exit 1
}
note() { echo "--- $*" >&2; }
cleanup() {
  local rc=$?
  docker rm -f "$NAME" >/dev/null 2>&1 || true
  "$FAKE_KIND" -q delete cluster --name "$CLUSTER" --kubeconfig "$T/kind-kc" || true
  if ((rc == 0)); then rm -rf "$T"; else echo "kept $T for inspection" >&2; fi
  exit "$rc"
}
trap cleanup EXIT

# wait_for DESC SECONDS CMD...: polls CMD until it succeeds; fails after the deadline or when the
# container is no longer running.
wait_for() {
  local desc=$1 secs=$2
  shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || fail "timed out after ${secs}s waiting for $desc"
    [[ "$(docker inspect -f '{{.State.Running}}' "$NAME" 2>/dev/null)" == true ]] ||
      fail "the container stopped while waiting for $desc"
    sleep 0.2
  done
}

note "local base image from this machine's files"
"$HERE/base-image.sh" "$K8SINPODD"

note "build context: k8sinpodd of this build, stand-in kind, local kubectl, example config"
ctx="$T/context"
mkdir -p "$ctx/config"
cp "$K8SINPODD" "$ctx/k8sinpodd"
cp "$FAKE_KIND" "$ctx/kind"
cp -L "$(command -v kubectl)" "$ctx/kubectl"
cp "$REPO/config/k8sinpod.yaml" "$ctx/config/k8sinpod.yaml"
kind_sum=$(sha256sum <"$ctx/kind" | cut -d' ' -f1)
kubectl_sum=$(sha256sum <"$ctx/kubectl" | cut -d' ' -f1)
build() {
  docker build --network none --force-rm --target prebuilt -f "$REPO/container/Dockerfile" \
    --build-arg "RUNTIME_IMAGE=$BASE" --build-arg TOOLS_APT_PACKAGES= \
    --build-arg RUNTIME_APT_PACKAGES= --build-arg K8SINPODD_BINARY=k8sinpodd \
    --build-arg KIND_SOURCE=kind --build-arg KUBECTL_SOURCE=kubectl \
    --build-arg "KUBECTL_SHA256=$kubectl_sum" "$@" "$ctx"
}

note "a wrong kind digest fails the build"
if build --build-arg "KIND_SHA256=$(printf '0%.0s' {1..64})" -t "$IMAGE-bad" >"$T/bad.log" 2>&1; then
  fail "the build passed with a wrong KIND_SHA256"
fi
grep -q 'FAILED' "$T/bad.log" || fail "no sha256sum FAILED line: $(tail -n 5 "$T/bad.log")"

note "docker build --target prebuilt"
build --build-arg "KIND_SHA256=$kind_sum" -t "$IMAGE" >"$T/build.log" 2>&1 ||
  { tail -n 30 "$T/build.log" >&2; fail "docker build failed"; }
[[ "$(docker image inspect -f '{{json .Config.Entrypoint}}' "$IMAGE")" == '["/usr/local/bin/k8sinpodd"]' ]] ||
  fail "entrypoint: $(docker image inspect -f '{{json .Config.Entrypoint}}' "$IMAGE")"
[[ "$(docker image inspect -f '{{.Config.StopSignal}}' "$IMAGE")" == SIGTERM ]] || fail "stop signal"
[[ "$(docker image inspect -f '{{.Config.User}}' "$IMAGE")" == 65532:65532 ]] || fail "user"
docker run --rm --network none "$IMAGE" --check-config >/dev/null ||
  fail "the image's /etc/k8sinpod/config.yaml does not pass --check-config"

note "run: socket mounted, sandbox network, config directory mounted, as uid 65532"
mkdir -p "$T/etc" "$T/shared"
chown 65532:65532 "$T/shared"
cat >"$T/etc/config.yaml" <<YAML
cluster:
  name: $CLUSTER
  create_timeout: 2m
kubeconfig:
  path: /var/lib/k8sinpod/kubeconfig
  copies: [/shared/kubeconfig]
health:
  interval: 1s
  timeout: 1s
server:
  listen: 127.0.0.1:0
YAML
docker run -d --name "$NAME" --network host \
  --group-add "$(stat -c %g "$SOCK")" -v "$SOCK:/var/run/docker.sock" \
  -v "$T/etc:/etc/k8sinpod:ro" -v "$T/shared:/shared" "$IMAGE" >/dev/null
wait_for "the daemon to listen" 30 sh -c "docker logs $NAME 2>&1 | grep -q 'listening on'"
port=$(docker logs "$NAME" 2>&1 | sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' | tail -n 1)
[[ -n "$port" ]] || fail "no port in the log"

pid=$(docker inspect -f '{{.State.Pid}}' "$NAME")
nspid=$(awk '$1 == "NSpid:" { print $NF }' "/proc/$pid/status")
[[ "$nspid" == 1 ]] || fail "k8sinpodd is pid $nspid in the container, not 1"
[[ "$(cat "/proc/$pid/comm")" == k8sinpodd ]] || fail "pid 1 is $(cat "/proc/$pid/comm")"
[[ "$(awk '$1 == "Uid:" { print $2 }' "/proc/$pid/status")" == 65532 ]] || fail "not uid 65532"

readyz_ok() { [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 "http://127.0.0.1:$port/readyz")" == 200 ]]; }
wait_for "/readyz 200" 120 readyz_ok
note "ready: the kubeconfig copy works with kubectl, 0600, server on the control-plane IP"
ip=$(docker inspect -f '{{(index .NetworkSettings.Networks "kind").IPAddress}}' "$CLUSTER-control-plane")
server=$(kubectl --kubeconfig "$T/shared/kubeconfig" config view -o jsonpath='{.clusters[0].cluster.server}')
[[ "$server" == "https://$ip:6443" ]] || fail "copy's server is $server, not https://$ip:6443"
[[ "$(stat -c %a "$T/shared/kubeconfig")" == 600 ]] || fail "copy mode $(stat -c %a "$T/shared/kubeconfig")"
[[ "$(kubectl --kubeconfig "$T/shared/kubeconfig" get --raw /readyz)" == ok ]] || fail "kubectl /readyz"

note "docker stop: exit 0 within ${GRACE}s"
start=$SECONDS
docker stop -t "$GRACE" "$NAME" >/dev/null
took=$((SECONDS - start))
code=$(docker inspect -f '{{.State.ExitCode}}' "$NAME")
[[ "$code" == 0 ]] || fail "exit code $code after docker stop"
((took < GRACE)) || fail "docker stop took ${took}s: SIGTERM was not honoured"
echo "PASS container image (ready, stopped in ${took}s, exit 0)"

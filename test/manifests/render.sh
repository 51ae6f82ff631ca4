#!/usr/bin/env bash
# render.sh DIR: the kustomization k8s/DIR (CTest label `manifests`; docs/deployment.md):
#   - renders with `kubectl kustomize`;
#   - its structure passes manifests.py (probes on server.listen's port and the right paths,
#     ConfigMap mounted as a directory, Service and ServiceMonitor ports, no service-account
#     token, requests and limits);
#   - the ConfigMap's config.yaml is the file in k8s/base and passes `k8sinpodd --check-config`
#     with the overlay's DOCKER_HOST;
#   - the probe paths are real: the built daemon, started with that config on 127.0.0.1:0 (no
#     Docker reachable, so it stays unready), answers them with 200 or 503, never 404;
#   - `promtool check rules` passes on the PrometheusRule's spec.
# Environment: K8SINPODD (the built daemon), FAKE_KIND (test/fakes/kind). Needs no sandbox: the
# daemon's Docker endpoint is a socket path that does not exist.
set -euo pipefail
: "${K8SINPODD:?K8SINPODD must name the built daemon}"
: "${FAKE_KIND:?FAKE_KIND must name the stand-in kind}"
(($# == 1)) || { echo "usage: render.sh DIR (under k8s/)" >&2; exit 2; }
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
T=$(mktemp -d /tmp/k8sinpod-manifests.XXXXXX)
DAEMON_PID=""
cleanup() {
  if [[ -n "$DAEMON_PID" ]]; then kill "$DAEMON_PID" 2>/dev/null || true; wait "$DAEMON_PID" || true; fi
  rm -rf "$T"
}
trap cleanup EXIT
fail() { echo "FAIL: k8s/$1: $2" >&2; [[ -f "$T/daemon.log" ]] && tail -n 20 "$T/daemon.log" >&2; exit 1; }

kubectl kustomize "$REPO/k8s/$1" >"$T/rendered.yaml" || fail "$1" "kubectl kustomize failed"
python3=/usr/bin/python3
[[ -x "$python3" ]] || python3=python3
"$python3" "$HERE/manifests.py" "$T/rendered.yaml" "$T" || fail "$1" "structure (see above)"
echo "ok  k8s/$1 renders; probes, ports, mounts, token, resources"

cmp -s "$T/config.yaml" "$REPO/k8s/base/config.yaml" || fail "$1" "the ConfigMap's config.yaml differs from k8s/base/config.yaml"
cmp -s "$T/kind.yaml" "$REPO/k8s/base/kind.yaml" || fail "$1" "the ConfigMap's kind.yaml differs from k8s/base/kind.yaml"
DOCKER_HOST=$(cat "$T/docker_host") "$K8SINPODD" --check-config --config "$T/config.yaml" ||
  fail "$1" "the ConfigMap's config.yaml fails --check-config"
echo "ok  config.yaml passes --check-config (DOCKER_HOST=$(cat "$T/docker_host"))"

# The daemon with the rendered config, moved to a free port, a temp dir and no Docker.
mkdir -p "$T/bin"
ln -s "$FAKE_KIND" "$T/bin/kind"
sed -e "s|listen: .*|listen: 127.0.0.1:0|" -e "s|/var/lib/k8sinpod/|$T/state/|" \
    -e "s|/var/run/k8sinpod/|$T/shared/|" "$T/config.yaml" >"$T/local.yaml"
PATH="$T/bin:$PATH" DOCKER_HOST="unix://$T/no-docker.sock" "$K8SINPODD" --config "$T/local.yaml" \
  >"$T/daemon.log" 2>&1 &
DAEMON_PID=$!
for _ in $(seq 1 100); do
  grep -q "listening on" "$T/daemon.log" && break
  kill -0 "$DAEMON_PID" 2>/dev/null || fail "$1" "the daemon exited"
  sleep 0.1
done
port=$(grep -o 'listening on 127\.0\.0\.1:[0-9]*' "$T/daemon.log" | head -n 1 | cut -d: -f2)
[[ -n "$port" ]] || fail "$1" "no port in the daemon log"
while read -r kind path _; do
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$port$path")
  case "$kind:$code" in
    livenessProbe:200 | startupProbe:503 | readinessProbe:503) ;;
    *) fail "$1" "$kind $path answered $code" ;;
  esac
done <"$T/probes"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$port/metrics")
[[ "$code" == 200 ]] || fail "$1" "/metrics answered $code"
echo "ok  the daemon serves the probe paths (/livez 200, /readyz 503 without Docker) and /metrics"

promtool check rules "$T/rules.yaml" || fail "$1" "promtool check rules"
echo "PASS k8s/$1"

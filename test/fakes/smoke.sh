#!/usr/bin/env bash
# smoke.sh: end-to-end proof of the test world (docs/testing.md, "The test world"): sandbox,
# fake node image, fake kind and fake apiserver, checked with the real kubectl.
#
#   test/fakes/smoke.sh                          brings the sandbox up and re-enters it
#   test/sandbox/sandbox.sh exec test/fakes/smoke.sh
#
# K8SINPOD_FAKES_BUILD_DIR: where fake_apiserver is (or gets) built (default <repo>/build-world).
# Leaves the sandbox up (sandbox.sh down removes it); removes its clusters and temp dir.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
SANDBOX="$REPO/test/sandbox/sandbox.sh"

if [[ "${K8SINPOD_SANDBOX_INSIDE:-}" != 1 ]]; then
  "$SANDBOX" up
  exec "$SANDBOX" exec "$HERE/smoke.sh" "$@"
fi

BUILD_DIR=${K8SINPOD_FAKES_BUILD_DIR:-$REPO/build-world}
KIND="$HERE/kind"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/smoke.XXXXXX")
export HOME="$TMP/home"
mkdir -p "$HOME"
unset KUBECONFIG FAKE_KIND_KNOBS
KC="$TMP/kc"
CLUSTERS=(smoke smoke-legacy smoke-fail smoke-retain smoke-kcfail smoke-wait)

cleanup() {
  local c
  for c in "${CLUSTERS[@]}"; do "$KIND" -q delete cluster --name "$c" --kubeconfig "$KC" || true; done
  docker rm -f smoke-ip-holder smoke-legacy-ip-holder >/dev/null 2>&1 || true
  rm -rf "$TMP"
}
trap cleanup EXIT

say() { echo "smoke: $*" >&2; }
die() { echo "smoke: FAIL: $*" >&2; exit 1; }
ok() { echo "smoke: ok: $*" >&2; }

# poll SECONDS CMD...: until CMD succeeds, or fail after the deadline.
poll() {
  local seconds=$1 deadline
  shift
  deadline=$((SECONDS + seconds))
  until "$@"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
}

raw() { kubectl --kubeconfig "$1" --request-timeout=3s get --raw "$2" 2>&1; }
readyz_is_ok() { [[ "$(raw "$1" /readyz)" == ok ]]; }
readyz_fails_with() { local out; out=$(raw "$1" /readyz) && return 1; [[ "$out" == *"$2"* ]]; }
kind_ip() { docker inspect -f '{{ (index .NetworkSettings.Networks "kind").IPAddress }}' "$1"; }
set_mode() { docker exec "$1" /usr/local/bin/fake-apiserver set-mode "$2"; }

# run_kind OUT ERR ARGS...: runs the fake kind, stdout/stderr into files, returns its status.
run_kind() {
  local out=$1 err=$2
  shift 2
  "$KIND" "$@" >"$out" 2>"$err"
}

# Moves node $1 to a new IP on the kind network: disconnect, let holder $2 take the old address,
# reconnect, restart. Prints "OLD NEW".
move_ip() {
  local node=$1 holder=$2 old new held
  old=$(kind_ip "$node")
  docker network disconnect kind "$node"
  docker run -d --name "$holder" --net kind k8sinpod/fake-node:latest idle >/dev/null
  held=$(kind_ip "$holder")
  [[ "$held" == "$old" ]] || die "holder got $held, not the old address $old"
  docker network connect kind "$node"
  docker restart "$node" >/dev/null
  new=$(kind_ip "$node")
  [[ -n "$new" && "$new" != "$old" ]] || die "$node: IP did not change ($old -> $new)"
  echo "$old $new"
}

say "building the node image"
"$HERE/node-image.sh" "$BUILD_DIR"

# ---- create and talk to the cluster --------------------------------------------------------------
run_kind "$TMP/out" "$TMP/err" create cluster --name smoke --kubeconfig "$KC" --wait 30s ||
  { cat "$TMP/err" >&2; die "kind create cluster exited $?"; }
[[ ! -s "$TMP/out" ]] || die "create wrote to stdout: $(cat "$TMP/out")"
grep -qx 'Creating cluster "smoke" ...' "$TMP/err" || die "no 'Creating cluster' line"
grep -qx ' ✓ Starting control-plane 🕹️' "$TMP/err" || die "no stage line"
grep -q '^ • Ready after ' "$TMP/err" || die "no Ready line"
[[ "$(stat -c %a "$KC")" == 600 ]] || die "kubeconfig mode $(stat -c %a "$KC")"
[[ "$(kubectl config current-context --kubeconfig "$KC")" == kind-smoke ]] || die "current-context"
ok "kind create cluster"

server=$(kubectl config view --kubeconfig "$KC" -o jsonpath='{.clusters[?(@.name=="kind-smoke")].cluster.server}')
[[ "$server" =~ ^https://127\.0\.0\.1:[0-9]+$ ]] || die "server is $server"
[[ "$(raw "$KC" /readyz)" == ok ]] || die "readyz via $server: $(raw "$KC" /readyz)"
ok "kubectl via the published port $server"

IP=$(kind_ip smoke-control-plane)
[[ "$IP" =~ ^[0-9.]+$ ]] || die "control-plane IP \"$IP\""
kubectl config set-cluster kind-smoke --server="https://$IP:6443" --kubeconfig "$KC" >/dev/null
[[ "$(raw "$KC" /readyz)" == ok ]] || die "readyz via $IP"
ok "kubectl get --raw /readyz via https://$IP:6443 prints ok"
[[ "$(raw "$KC" '/readyz?verbose' | tail -n1)" == "readyz check passed" ]] || die "readyz?verbose"
[[ "$(raw "$KC" '/livez?verbose' | head -n1)" == "[+]ping ok" ]] || die "livez?verbose"
[[ "$(raw "$KC" /healthz)" == ok ]] || die "healthz"
raw "$KC" /version | grep -q '"gitVersion": "v1.31.0"' || die "version"
raw "$KC" /nope >/dev/null && die "/nope answered"
ok "verbose, /healthz, /version, 404"

# No client certificate, or one from another CA: the TLS handshake fails.
curl -s --max-time 3 --cacert <(kubectl config view --raw --kubeconfig "$KC" \
  -o jsonpath='{.clusters[0].cluster.certificate-authority-data}' | base64 -d) \
  "https://$IP:6443/readyz" >/dev/null && die "answered without a client certificate"
ok "client certificate required"

# ---- failure modes -------------------------------------------------------------------------------
set_mode smoke-control-plane fail
readyz_fails_with "$KC" "etcd failed: reason withheld" || die "fail mode: $(raw "$KC" /readyz)"
set_mode smoke-control-plane healthy
readyz_is_ok "$KC" || die "healthy again"
ok "set-mode fail -> kubectl error; healthy -> ok"

set_mode smoke-control-plane refuse
poll 5 readyz_fails_with "$KC" "refused" || die "refuse: $(raw "$KC" /readyz)"
set_mode smoke-control-plane healthy
poll 5 readyz_is_ok "$KC" || die "listening again after refuse"
ok "set-mode refuse -> connection refused; healthy -> ok"

set_mode smoke-control-plane hang
start=$SECONDS
raw "$KC" /readyz >/dev/null && die "hang mode answered"
((SECONDS - start >= 2)) || die "hang mode failed fast, not by timeout"
set_mode smoke-control-plane healthy
readyz_is_ok "$KC" || die "healthy after hang"
ok "set-mode hang -> timeout; healthy -> ok"

# ---- IP change: the cert is reissued with the new IP -------------------------------------------
port_before=$(docker port smoke-control-plane 6443/tcp)
set_mode smoke-control-plane fail   # the mode lives on /run (tmpfs): a restart resets it
read -r OLD NEW < <(move_ip smoke-control-plane smoke-ip-holder)
kubectl config set-cluster kind-smoke --server="https://$NEW:6443" --kubeconfig "$KC" >/dev/null
poll 20 readyz_is_ok "$KC" || die "readyz via the new IP $NEW: $(raw "$KC" /readyz)"
[[ "$(docker port smoke-control-plane 6443/tcp)" == "$port_before" ]] || die "host port changed"
ok "IP $OLD -> $NEW: cert reissued, kubectl verifies the new IP, mode reset to healthy"

# ---- legacy node (knob file): the old cert is kept, the new IP fails verification ---------------
echo "FAKE_KIND_LEGACY_NODE=1" >"$TMP/knobs"
FAKE_KIND_KNOBS="$TMP/knobs" run_kind "$TMP/out" "$TMP/err" create cluster --name smoke-legacy \
  --kubeconfig "$TMP/kc-legacy" || { cat "$TMP/err" >&2; die "create smoke-legacy"; }
read -r LOLD LNEW < <(move_ip smoke-legacy-control-plane smoke-legacy-ip-holder)
kubectl config set-cluster kind-smoke-legacy --server="https://$LOLD:6443" --kubeconfig "$TMP/kc-legacy" >/dev/null
kubectl config set-cluster kind-smoke-legacy --server="https://$LNEW:6443" --kubeconfig "$TMP/kc-legacy" >/dev/null
poll 20 readyz_fails_with "$TMP/kc-legacy" "x509: certificate is valid for" ||
  die "legacy node verified on its new IP: $(raw "$TMP/kc-legacy" /readyz)"
ok "legacy node: new IP $LNEW fails TLS verification"
"$KIND" -q delete cluster --name smoke-legacy --kubeconfig "$TMP/kc-legacy"
docker rm -f smoke-ip-holder smoke-legacy-ip-holder >/dev/null

# ---- knobs -------------------------------------------------------------------------------------
FAKE_KIND_FAIL_CREATE=1 run_kind "$TMP/out" "$TMP/err" create cluster --name smoke-fail --kubeconfig "$KC" &&
  die "FAKE_KIND_FAIL_CREATE=1: exit 0"
grep -q '^ ✗ Starting control-plane' "$TMP/err" || die "FAIL_CREATE: no ✗ line"
grep -q '^ERROR: failed to create cluster: ' "$TMP/err" || die "FAIL_CREATE: no ERROR line"
[[ -z "$("$KIND" get nodes --name smoke-fail 2>/dev/null)" ]] || die "FAIL_CREATE left nodes"
FAKE_KIND_FAIL_CREATE=1 run_kind "$TMP/out" "$TMP/err" create cluster --name smoke-retain --retain \
  --kubeconfig "$KC" && die "FAIL_CREATE --retain: exit 0"
[[ "$("$KIND" get nodes --name smoke-retain)" == smoke-retain-control-plane ]] || die "--retain removed nodes"
FAKE_KIND_FAIL_KUBECONFIG=1 run_kind "$TMP/out" "$TMP/err" create cluster --name smoke-kcfail \
  --kubeconfig "$KC" && die "FAIL_KUBECONFIG: exit 0"
[[ "$("$KIND" get nodes --name smoke-kcfail)" == smoke-kcfail-control-plane ]] || die "FAIL_KUBECONFIG removed nodes"
FAKE_KIND_APISERVER_MODE=fail run_kind "$TMP/out" "$TMP/err" create cluster --name smoke-wait \
  --wait 2s --kubeconfig "$KC" || die "--wait timeout: exit $?"
grep -qx ' • WARNING: Timed out waiting for Ready ⚠️' "$TMP/err" || die "--wait: no WARNING line"
for c in smoke-retain smoke-kcfail smoke-wait; do "$KIND" -q delete cluster --name "$c" --kubeconfig "$KC"; done
: >"$KC.lock"
run_kind "$TMP/out" "$TMP/err" export kubeconfig --name smoke --kubeconfig "$KC" && die "export with a lock present"
grep -qx "ERROR: failed to lock config file: open $KC.lock: file exists" "$TMP/err" || die "lock message: $(cat "$TMP/err")"
rm -f "$KC.lock"
ok "knobs: FAIL_CREATE (+--retain), FAIL_KUBECONFIG, APISERVER_MODE + --wait, lock file"

# ---- the rest of the CLI contract -----------------------------------------------------------------
run_kind "$TMP/out" "$TMP/err" create cluster --name smoke --kubeconfig "$KC" && die "second create: exit 0"
[[ "$(cat "$TMP/err")" == 'ERROR: failed to create cluster: node(s) already exist for a cluster with the name "smoke"' ]] ||
  die "second create stderr: $(cat "$TMP/err")"
[[ ! -s "$TMP/out" ]] || die "second create wrote stdout"
ok "create again: already-exist error, exit 1"

run_kind "$TMP/out" "$TMP/err" get clusters || die "get clusters"
[[ "$(cat "$TMP/out")" == smoke ]] || die "get clusters: $(cat "$TMP/out")"
internal=$("$KIND" get kubeconfig --name smoke --internal)
grep -qx '    server: https://smoke-control-plane:6443' <<<"$internal" || die "--internal server"
[[ "$("$KIND" version)" =~ ^kind\ v[0-9.]+-fake\ go[0-9.]+\ linux/amd64$ ]] || die "version"
ok "get clusters, get kubeconfig --internal, version"

for i in 1 2; do
  run_kind "$TMP/out" "$TMP/err" delete cluster --name smoke --kubeconfig "$KC" || die "delete #$i exited $?"
done
kubectl config get-contexts -o name --kubeconfig "$KC" | grep -q kind-smoke && die "kubeconfig still has kind-smoke"
run_kind "$TMP/out" "$TMP/err" get clusters || die "get clusters after delete"
[[ ! -s "$TMP/out" && "$(cat "$TMP/err")" == "No kind clusters found." ]] || die "get clusters after delete"
ok "delete twice: exit 0; kubeconfig cleaned; No kind clusters found. on stderr"
[[ -z "$(docker ps -aq)" ]] || die "containers left: $(docker ps -a --format '{{.Names}}')"
say "PASS"

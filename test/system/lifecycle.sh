#!/usr/bin/env bash
# Fresh start creates the cluster and turns ready; the written kubeconfig works with the real
# kubectl; /metrics passes promtool; SIGTERM exits 0; a restart adopts the cluster; a failing
# API server turns /readyz to 503 after failure_threshold probes and back to 200 when healed.
# shellcheck source=test/system/lib.sh
source "$(dirname "$0")/lib.sh"
setup_case lifecycle

note "fresh start: the cluster is created"
start_daemon
wait_for "/livez 200" 10 http_is 200 /livez
assert_eq "$(cat "$T/body")" "ok" "/livez body"
wait_for "/readyz 200" 120 http_is 200 /readyz
assert_eq "$(cat "$T/body")" "ok" "/readyz body"
assert_eq "$(metric 'k8sinpod_cluster_creations_total{result="success"}')" "1" "creations"
assert_eq "$(metric k8sinpod_cluster_ready)" "1" "cluster_ready"
assert_eq "$(metric 'k8sinpod_cluster_phase{phase="ready"}')" "1" "phase ready"

note "the kubeconfig: 0600, the control-plane address, identical copy, works with kubectl"
ip=$(control_plane_ip)
[[ -n "$ip" ]] || fail "no control-plane IP"
assert_eq "$(stat -c %a "$T/out/kubeconfig")" "600" "kubeconfig mode"
assert_eq "$(kubeconfig_server "$T/out/kubeconfig")" "https://$ip:6443" "kubeconfig server"
cmp -s "$T/out/kubeconfig" "$T/shared/kubeconfig" || fail "the copy differs from the kubeconfig"
assert_eq "$(stat -c %a "$T/shared/kubeconfig")" "600" "copy mode"
assert_eq "$(kubectl --kubeconfig "$T/out/kubeconfig" get --raw /readyz)" "ok" "kubectl /readyz"
grep -q "insecure-skip-tls-verify" "$T/out/kubeconfig" && fail "TLS verification was disabled"

note "verbose /readyz in the apiserver's format"
http_is 200 '/readyz?verbose' || fail "verbose readyz not 200"
grep -qx '\[+\]apiserver ok' "$T/body" || fail "no [+]apiserver ok line: $(cat "$T/body")"
assert_eq "$(tail -n 1 "$T/body")" "readyz check passed" "verbose last line"

note "/metrics: content type and promtool"
ctype=$(curl -s -o "$T/metrics.txt" -w '%{content_type}' "http://127.0.0.1:$PORT/metrics")
assert_eq "$ctype" "text/plain; version=0.0.4; charset=utf-8" "metrics content type"
promtool check metrics <"$T/metrics.txt" || fail "promtool check metrics failed"

note "/status: JSON, the address, no key material"
http_is 200 /status || fail "/status not 200"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["phase"]=="ready", d; assert d["control_plane_ip"]==sys.argv[2], d' \
  "$T/body" "$ip" || fail "/status content: $(cat "$T/body")"
grep -q "BEGIN" "$T/body" && fail "/status carries PEM material"
key=$(kubectl --kubeconfig "$T/out/kubeconfig" config view --raw -o jsonpath='{.users[0].user.client-key-data}')
[[ -n "$key" ]] || fail "no client key in the kubeconfig"
grep -qF "${key:0:40}" "$T/daemon.log" "$T/body" "$T/metrics.txt" && fail "client key leaked"

note "SIGTERM: exit 0, kubeconfig intact"
container_id=$(docker inspect -f '{{.Id}}' "$CLUSTER-control-plane")
stop_daemon TERM
assert_eq "$DAEMON_RC" "0" "exit code after SIGTERM"
assert_eq "$(kubectl --kubeconfig "$T/out/kubeconfig" get --raw /readyz)" "ok" "kubeconfig after stop"

note "restart adopts: no creation, same container"
start_daemon
wait_for "/readyz 200 after restart" 60 http_is 200 /readyz
assert_eq "$(metric 'k8sinpod_cluster_creations_total{result="success"}')" "0" "creations after adopt"
assert_eq "$(docker inspect -f '{{.Id}}' "$CLUSTER-control-plane")" "$container_id" "container id"
grep -q "phase discovering -> configuring" "$T/daemon.log" || fail "no adopt transition logged"

note "a failing API server: 503 after the threshold, 200 when healed"
apiserver_mode fail
wait_for "/readyz 503" 20 http_is 503 /readyz
grep -qx '\[-\]apiserver failed: reason withheld' "$T/body" || fail "no [-]apiserver line: $(cat "$T/body")"
assert_eq "$(tail -n 1 "$T/body")" "readyz check failed" "failed verbose last line"
failures=$(metric 'k8sinpod_probes_total{result="failure"}')
((${failures%.*} >= 2)) || fail "probe failures counted: $failures"
http_is 200 /livez || fail "/livez must not fail because the cluster does"
apiserver_mode healthy
wait_for "/readyz 200 after healing" 20 http_is 200 /readyz

stop_daemon TERM
assert_eq "$DAEMON_RC" "0" "exit code"
echo "PASS lifecycle"

#!/usr/bin/env bash
# Self-healing by recreation: an old node image whose certificate cannot follow an IP change;
# a control plane removed with `docker rm -f`; an API server that hangs. Each ends ready again.
# shellcheck source=test/system/lib.sh
source "$(dirname "$0")/lib.sh"
setup_case recreate
HEALTH_INTERVAL=1s HEALTH_TIMEOUT=1s FAILURE_THRESHOLD=2 RECREATE_AFTER=3s RESTART_GRACE=3s \
  write_config
echo "FAKE_KIND_LEGACY_NODE=1" >"$FAKE_KIND_KNOBS"
start_daemon
wait_for "/readyz 200" 120 http_is 200 /readyz
creations='k8sinpod_cluster_creations_total{result="success"}'

note "2. an old node image after an IP change: TLS fails at the new address, recreated"
read -r old new < <(move_ip)
note "   $old -> $new"
wait_for "a recreation for unhealthy" 60 metric_is 'k8sinpod_cluster_recreations_total{reason="unhealthy"}' 1
grep -q "x509\|certificate" "$T/daemon.log" || fail "the TLS failure is not in the log"
wait_for "/readyz 200 after the recreation" 120 http_is 200 /readyz
assert_eq "$(metric "$creations")" "2" "creations"
kubectl_ok || fail "kubectl after the recreation"
: >"$FAKE_KIND_KNOBS"

note "3. docker rm -f of the control plane: recreated after restart_grace"
docker rm -f "$CLUSTER-control-plane" >/dev/null
wait_for "/readyz 503" 20 http_is 503 /readyz
wait_for "a recreation for control_plane_gone" 60 \
  metric_is 'k8sinpod_cluster_recreations_total{reason="control_plane_gone"}' 1
wait_for "/readyz 200 after the recreation" 120 http_is 200 /readyz
assert_eq "$(metric "$creations")" "3" "creations"
kubectl_ok || fail "kubectl after the recreation"

note "5. the API server hangs: not ready after the threshold, recreated after recreate_after"
apiserver_mode hang
wait_for "/readyz 503" 20 http_is 503 /readyz
assert_eq "$(metric 'k8sinpod_cluster_recreations_total{reason="unhealthy"}')" "1" \
  "no recreation before recreate_after"
wait_for "a recreation for unhealthy" 60 \
  metric_is 'k8sinpod_cluster_recreations_total{reason="unhealthy"}' 2
wait_for "/readyz 200 after the recreation" 120 http_is 200 /readyz
assert_eq "$(metric "$creations")" "4" "creations"
http_is 200 /livez || fail "/livez"
stop_daemon TERM
assert_eq "$DAEMON_RC" "0" "exit code"
echo "PASS heal_recreate"

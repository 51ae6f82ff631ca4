#!/usr/bin/env bash
# Self-healing without recreation: an IP change is re-patched from a Docker event; a stop/start
# within restart_grace is kept; a deleted or edited kubeconfig is restored. The creation counter
# never moves.
# shellcheck source=test/system/lib.sh
source "$(dirname "$0")/lib.sh"
setup_case repatch
HEALTH_INTERVAL=30s HEALTH_TIMEOUT=2s write_config  # a slow tick: repairs must come from events
start_daemon
wait_for "/readyz 200" 120 http_is 200 /readyz
creations='k8sinpod_cluster_creations_total{result="success"}'
assert_eq "$(metric "$creations")" "1" "creations"

note "1. disconnect + reconnect with a new address: re-patched, no recreation"
read -r old new < <(move_ip)
note "   $old -> $new"
wait_for "the kubeconfig at $new" 20 kubeconfig_points_at "$new"
wait_for "/readyz 200 at the new address" 20 http_is 200 /readyz
kubectl_ok || fail "kubectl at the new address"
cmp -s "$T/out/kubeconfig" "$T/shared/kubeconfig" || fail "the copy was not updated"
assert_eq "$(metric "$creations")" "1" "creations after the IP change"
assert_eq "$(metric k8sinpod_control_plane_ip_changes_total)" "1" "ip changes"
[[ -n "$(metric 'k8sinpod_docker_events_total{action="restart",type="container"}')" ]] ||
  [[ -n "$(metric 'k8sinpod_docker_events_total{action="start",type="container"}')" ]] ||
  fail "no container event counted"
grep -q "repaired (control-plane address $old -> $new) in [0-9]* ms" "$T/daemon.log" ||
  fail "no repair line in the log"

note "4. docker stop, then start within restart_grace: kept, re-patched if moved"
docker stop -t 1 "$CLUSTER-control-plane" >/dev/null
wait_for "/readyz 503 while stopped" 20 http_is 503 /readyz
docker start "$CLUSTER-control-plane" >/dev/null
ip=$(control_plane_ip)
wait_for "the kubeconfig at $ip" 20 kubeconfig_points_at "$ip"
wait_for "/readyz 200 after start" 30 http_is 200 /readyz
assert_eq "$(metric "$creations")" "1" "creations after stop/start"
assert_eq "$(metric 'k8sinpod_cluster_recreations_total{reason="control_plane_gone"}')" "0" \
  "recreations after stop/start"

note "8. kubeconfig deleted, then its server edited: restored"
rm -f "$T/out/kubeconfig"
wait_for "the kubeconfig restored" 45 test -s "$T/out/kubeconfig"
kubectl_ok || fail "kubectl after restore"
kubectl --kubeconfig "$T/shared/kubeconfig" config set-cluster "kind-$CLUSTER" \
  --server=https://127.0.0.1:1 >/dev/null
wait_for "the copy restored" 45 cmp -s "$T/out/kubeconfig" "$T/shared/kubeconfig"
assert_eq "$(stat -c %a "$T/shared/kubeconfig")" "600" "restored copy mode"
assert_eq "$(metric 'k8sinpod_kubeconfig_repairs_total{reason="missing"}')" "1" "missing repairs"
assert_eq "$(metric 'k8sinpod_kubeconfig_repairs_total{reason="modified"}')" "1" "modified repairs"
assert_eq "$(metric "$creations")" "1" "creations at the end"
stop_daemon TERM
assert_eq "$DAEMON_RC" "0" "exit code"
echo "PASS heal_repatch"

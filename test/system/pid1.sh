#!/usr/bin/env bash
# k8sinpodd as PID 1 of its own PID namespace (`unshare --pid --fork --mount-proc`), as in a
# container: while it supervises the cluster, a helper in the same namespace makes 1000
# short-lived orphans, which the kernel reparents to PID 1. Checks: k8sinpodd is PID 1; every
# orphan is reaped (no `Z` in `ps` inside the namespace, k8sinpod_orphans_reaped_total >= 1000);
# the exit codes of the kind children that run during the burst reach the daemon correctly (a
# `kind create cluster` held open during the burst fails with exit 1 and is counted as a
# failure, the retry succeeds and the cluster turns ready); SIGTERM sent to PID 1 from inside
# the namespace (the kernel drops signals to a namespace init that has no handler) exits 0.
# shellcheck source=test/system/lib.sh
source "$(dirname "$0")/lib.sh"
BACKOFF_INITIAL=1s
setup_case pid1

readonly ORPHANS=1000
INNER_PID=""   # the daemon's PID as seen from here (it is 1 inside its namespace)

# Runs CMD inside the daemon's PID and mount namespaces (the mount one holds its /proc).
in_ns() { nsenter --target "$INNER_PID" --pid --mount -- "$@"; }

pid1_teardown() {
  local rc=$?
  set +e
  # unshare(1) blocks SIGTERM and SIGINT while it waits, so lib.sh's teardown cannot stop the
  # namespace through it: kill PID 1 itself (the kernel then kills the rest of the namespace).
  [[ -n "$INNER_PID" ]] && kill -KILL "$INNER_PID" 2>/dev/null
  (exit "$rc")
  teardown
}
trap pid1_teardown EXIT

# tools.kind is a wrapper around the stand-in: the first `kind create cluster` waits until half
# of the orphans are made and then fails (exit 1, nodes removed); the second waits until the
# burst is over and then creates the cluster. Both therefore run while orphans are reaped.
cat >"$T/kind" <<EOF
#!/usr/bin/env bash
if [[ " \$* " == *" create cluster "* ]]; then
  n=\$(cat "$T/creates" 2>/dev/null || echo 0)
  echo \$((n + 1)) >"$T/creates"
  flag="$T/burst-done"
  if ((n == 0)); then flag="$T/burst-half"; export FAKE_KIND_FAIL_CREATE=1; fi
  for ((i = 0; i < 1200; i++)); do [[ -e "\$flag" ]] && break; sleep 0.05; done
fi
exec "$FAKE_KIND" "\$@"
EOF
chmod +x "$T/kind"
sed -i "s|kind: $FAKE_KIND\$|kind: $T/kind|" "$T/config.yaml"
grep -q "kind: $T/kind" "$T/config.yaml" || fail "tools.kind not replaced in the config"

note "start k8sinpodd as PID 1 of a new PID namespace"
: >"$T/daemon.log"
unshare --pid --fork --mount-proc "$K8SINPODD" --config "$T/config.yaml" >>"$T/daemon.log" 2>&1 &
DAEMON_PID=$!   # unshare: it exits with the daemon's status; wait_for watches it
inner_is_daemon() {
  INNER_PID=$(pgrep -P "$DAEMON_PID" | head -n 1)
  [[ -n "$INNER_PID" && "$(cat "/proc/$INNER_PID/comm" 2>/dev/null)" == k8sinpodd ]]
}
wait_for "k8sinpodd under unshare" 10 inner_is_daemon
wait_for "the daemon to listen" 20 grep -q "listening on" "$T/daemon.log"
PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$T/daemon.log" | tail -n 1)
[[ -n "$PORT" ]] || fail "no port in the daemon log"

nspid=$(awk '$1 == "NSpid:" { print $NF }' "/proc/$INNER_PID/status")
assert_eq "$nspid" "1" "the daemon's PID inside its namespace"
assert_eq "$(in_ns cat /proc/1/comm)" "k8sinpodd" "/proc/1/comm inside the namespace"
cmdline=$(in_ns cat /proc/1/cmdline | tr '\0' ' ')
[[ "$cmdline" == *"--config $T/config.yaml"* ]] || fail "/proc/1/cmdline inside: $cmdline"

note "wait for the first kind create to be in flight"
wait_for "kind create cluster to start" 30 test -s "$T/creates"

note "make $ORPHANS orphans inside the namespace"
# Each `( sleep & )` subshell exits at once, so its sleep is reparented to PID 1 (the helper is
# not a subreaper). The helper itself is nsenter's child and reaps its subshells.
# shellcheck disable=SC2016  # expanded by the inner bash
in_ns bash -c '
  for ((i = 1; i <= $1; i++)); do
    ( sleep 0.05 & )
    if ((i == $1 / 2)); then touch "$2/burst-half"; fi
  done
  touch "$2/burst-done"
' orphan-maker "$ORPHANS" "$T" || fail "the orphan maker failed"
[[ -e "$T/burst-done" ]] || fail "the orphan maker did not finish"

note "every orphan is reaped"
orphans_reaped() {
  local v
  v=$(metric k8sinpod_orphans_reaped_total)
  [[ -n "$v" ]] && ((${v%.*} >= ORPHANS))
}
wait_for "k8sinpod_orphans_reaped_total >= $ORPHANS" 30 orphans_reaped
no_zombies() {
  local states
  states=$(in_ns ps -e -o stat=) || return 1
  ! grep -q '^Z' <<<"$states"
}
wait_for "no zombie in the namespace" 10 no_zombies

note "kind's exit codes reached the daemon during the burst: one failure, then ready"
wait_for "/readyz 200" 120 http_is 200 /readyz
assert_eq "$(cat "$T/creates")" "2" "kind create invocations"
assert_eq "$(metric 'k8sinpod_cluster_creations_total{result="failure"}')" "1" "failed creations"
assert_eq "$(metric 'k8sinpod_cluster_creations_total{result="success"}')" "1" "successful creations"
grep -q 'phase creating -> backoff' "$T/daemon.log" || fail "the failed create was not seen as a failure"
kubectl_ok || fail "the kubeconfig does not work"
wait_for "no zombie in the namespace after the creation" 10 no_zombies
reaped=$(metric k8sinpod_orphans_reaped_total)
note "orphans reaped: $reaped"

note "SIGTERM to PID 1 from inside the namespace: exit 0"
in_ns kill -TERM 1
DAEMON_RC=0
wait "$DAEMON_PID" || DAEMON_RC=$?
DAEMON_PID=""
INNER_PID=""
assert_eq "$DAEMON_RC" "0" "exit code of PID 1 after SIGTERM"
kubectl_ok || fail "the kubeconfig does not work after the shutdown"
echo "PASS pid1"

#!/usr/bin/env bash
# Signals and exit codes of k8sinpodd, as tini's test/signals does for tini.
#
#   SIGTERM, SIGINT  graceful shutdown: exit 0, the written kubeconfig complete and working
#   SIGTERM twice    the second one, during a slow shutdown, exits at once with 143 (128+15)
#   SIGHUP           reloads the config (a log line about the reload); the daemon keeps running
#   SIGUSR1          one log line whose message starts with `status:`
#   SIGPIPE          ignored: the daemon keeps running
#   startup error    exit 1 (tools.kind that does not exist)
#
# The slow shutdown: tools.kind is a wrapper that, while $T/hang-create exists, runs
# `kind create cluster` with SIGTERM ignored and FAKE_KIND_HANG_CREATE=1. The daemon's SIGTERM to
# kind's process group is then ignored and it waits up to 10 s before SIGKILL; the second SIGTERM
# falls into that window.
# shellcheck source=test/system/lib.sh
source "$(dirname "$0")/lib.sh"
setup_case signals

kind_pid=""   # the `kind create cluster` that ignores SIGTERM, once started
signals_teardown() {
  local rc=$?
  set +e
  # It ignores SIGTERM: if the daemon left it behind, do not leave it running.
  [[ -n "$kind_pid" ]] && kill -KILL -- "-$kind_pid" "$kind_pid" 2>/dev/null
  (exit "$rc")
  teardown
}
trap signals_teardown EXIT

cat >"$T/kind" <<EOF
#!/usr/bin/env bash
if [[ -e "$T/hang-create" && " \$* " == *" create cluster "* ]]; then
  echo \$\$ >"$T/hanging-kind.pid"
  trap '' TERM   # inherited as ignored by the stand-in and its sleep
  export FAKE_KIND_HANG_CREATE=1
fi
exec "$FAKE_KIND" "\$@"
EOF
chmod +x "$T/kind"
sed -i "s|kind: $FAKE_KIND\$|kind: $T/kind|" "$T/config.yaml"
grep -q "kind: $T/kind" "$T/config.yaml" || fail "tools.kind not replaced in the config"

# count_lines REGEX: lines of the daemon log matching REGEX (grep -E).
count_lines() { grep -cE "$1" "$T/daemon.log" || true; }
count_is() { [[ "$(count_lines "$1")" == "$2" ]]; }
alive() { kill -0 "$DAEMON_PID" 2>/dev/null; }

note "startup error: exit 1"
sed "s|kind: $T/kind|kind: $T/no-such-kind|" "$T/config.yaml" >"$T/bad.yaml"
rc=0
"$K8SINPODD" --config "$T/bad.yaml" >"$T/bad.txt" 2>&1 || rc=$?
assert_eq "$rc" "1" "exit code of a startup error"

note "start, wait until ready"
start_daemon
wait_for "/readyz 200" 120 http_is 200 /readyz

note "SIGUSR1: one line whose message starts with status:"
status_re='(\] |"message":")status: '
before=$(count_lines "$status_re")
kill -USR1 "$DAEMON_PID"
wait_for "a status line" 10 count_is "$status_re" $((before + 1))
line=$(grep -E "$status_re" "$T/daemon.log" | tail -n 1)
[[ "$line" == *ready* ]] || fail "the status line does not give the phase: $line"
# Exactly one line per signal: after a second signal there are exactly two more, not three.
kill -USR1 "$DAEMON_PID"
wait_for "a second status line" 10 count_is "$status_re" $((before + 2))
alive || fail "SIGUSR1 ended the daemon"

note "SIGPIPE: ignored"
kill -PIPE "$DAEMON_PID"
wait_for "/livez after SIGPIPE" 10 http_is 200 /livez
alive || fail "SIGPIPE killed the daemon"

note "SIGHUP: reload, keep running"
reload_re='[Rr]eload'
before=$(count_lines "$reload_re")
kill -HUP "$DAEMON_PID"
reloaded() { (($(count_lines "$reload_re") > before)); }
wait_for "a reload log line" 10 reloaded
grep -E "$reload_re" "$T/daemon.log" | tail -n 3 >&2
wait_for "the reload metric" 10 metric_is k8sinpod_config_last_reload_successful 1
http_is 200 /readyz || fail "not ready after SIGHUP: $(cat "$T/body")"
alive || fail "SIGHUP ended the daemon"

note "SIGTERM: exit 0, the kubeconfig complete"
stop_daemon TERM
assert_eq "$DAEMON_RC" "0" "exit code after SIGTERM"
kubectl_ok || fail "the kubeconfig does not work after SIGTERM"
cmp -s "$T/out/kubeconfig" "$T/shared/kubeconfig" || fail "the copy differs after SIGTERM"
# write_atomic's temp files (.NAME.tmp.*): none may be left behind.
leftovers=$(find "$T/out" "$T/shared" -name '.*.tmp.*')
[[ -z "$leftovers" ]] || fail "temp files left next to the kubeconfig: $leftovers"

note "SIGINT: exit 0 (the daemon adopts the cluster first)"
start_daemon
wait_for "/readyz 200 after restart" 60 http_is 200 /readyz
stop_daemon INT
assert_eq "$DAEMON_RC" "0" "exit code after SIGINT"
kubectl_ok || fail "the kubeconfig does not work after SIGINT"

note "a second SIGTERM during a slow shutdown: exit 143 at once"
"$FAKE_KIND" delete cluster --name "$CLUSTER" --kubeconfig "$T/kind-kc" >/dev/null 2>&1
touch "$T/hang-create"
start_daemon
wait_for "kind create to hang" 60 grep -q "Starting control-plane" "$T/daemon.log"
[[ -s "$T/hanging-kind.pid" ]] || fail "the hanging kind did not start"
kind_pid=$(cat "$T/hanging-kind.pid")
kill -TERM "$DAEMON_PID"
# Shutting down: the HTTP server is closed first, kind ignores its SIGTERM, the daemon waits.
livez_down() { ! curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$PORT/livez"; }
wait_for "the HTTP server to close" 10 livez_down
alive || fail "the shutdown was not slow: the daemon is gone already (see kind's TERM handling)"
kill -0 "$kind_pid" 2>/dev/null || fail "the hanging kind ended on SIGTERM"
start=$EPOCHREALTIME
kill -TERM "$DAEMON_PID"
DAEMON_RC=0
wait "$DAEMON_PID" || DAEMON_RC=$?
DAEMON_PID=""
took_ms=$(((${EPOCHREALTIME/./} - ${start/./}) / 1000))
note "exited ${took_ms} ms after the second SIGTERM"
assert_eq "$DAEMON_RC" "143" "exit code after a second SIGTERM"
((took_ms < 3000)) || fail "the second SIGTERM took ${took_ms} ms (the shutdown deadline is 10 s)"
# Exiting at once must not leave kind running on its own against Docker.
kind_gone() { ! kill -0 "$kind_pid" 2>/dev/null; }
wait_for "the hanging kind to be killed" 5 kind_gone

echo "PASS signals"

#!/usr/bin/env bash
# Bad input and a hostile environment: clear errors, nothing lost, the daemon stays up.
# shellcheck source=test/system/lib.sh
source "$(dirname "$0")/lib.sh"
setup_case failures

note "kind missing from PATH: startup error, exit 1"
sed -i "s|kind: $FAKE_KIND|kind: k8sinpod-no-such-kind|" "$T/config.yaml"
rc=0
"$K8SINPODD" --config "$T/config.yaml" >"$T/out.txt" 2>&1 || rc=$?
assert_eq "$rc" "1" "exit code with kind missing"
grep -q 'tools.kind: "k8sinpod-no-such-kind" not found on PATH' "$T/out.txt" ||
  fail "message: $(cat "$T/out.txt")"

note "kind exits 1 on every create: backoff, error visible, daemon up"
write_config
echo "FAKE_KIND_FAIL_CREATE=1" >"$FAKE_KIND_KNOBS"
start_daemon
wait_for "a failed creation" 60 grep -q 'phase creating -> backoff' "$T/daemon.log"
http_is 200 /livez || fail "/livez while kind fails"
http_is 503 /readyz || fail "/readyz while kind fails: $(cat "$T/body")"
assert_eq "$(metric 'k8sinpod_cluster_creations_total{result="failure"}')" "1" "failed creations"
http /status >/dev/null
grep -q 'ERROR: ' "$T/body" || fail "/status lacks kind's ERROR line: $(cat "$T/body")"
grep -q '\[kind\] ERROR: ' "$T/daemon.log" || fail "kind's stderr not in our log"
stop_daemon TERM
assert_eq "$DAEMON_RC" "0" "exit code"
: >"$FAKE_KIND_KNOBS"

note "Docker socket absent: daemon up, [-]docker failed"
sed -i "s|host: $DOCKER_HOST|host: unix://$T/no-such.sock|" "$T/config.yaml"
start_daemon
wait_for "docker reported down" 20 grep -q 'phase discovering -> backoff' "$T/daemon.log"
http_is 503 '/readyz?verbose' || fail "/readyz with docker absent"
grep -qx '\[-\]docker failed: reason withheld' "$T/body" || fail "verbose: $(cat "$T/body")"
assert_eq "$(metric k8sinpod_docker_up)" "0" "docker_up"
http_is 200 /livez || fail "/livez with docker absent"
stop_daemon TERM
assert_eq "$DAEMON_RC" "0" "exit code"

note "Docker socket answering garbage: daemon up, [-]docker failed"
python3 - "$T/garbage.sock" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(16)
while True:
    c, _ = s.accept(); c.recv(4096); c.sendall(b"\x00garbage\r\n\r\nnot http at all"); c.close()
PY
garbage_pid=$!
wait_for "the garbage socket" 10 test -S "$T/garbage.sock"
sed -i "s|host: unix://$T/no-such.sock|host: unix://$T/garbage.sock|" "$T/config.yaml"
start_daemon
wait_for "docker reported down" 20 grep -q 'phase discovering -> backoff' "$T/daemon.log"
http_is 503 '/readyz?verbose' || fail "/readyz with a garbage docker"
grep -qx '\[-\]docker failed: reason withheld' "$T/body" || fail "verbose: $(cat "$T/body")"
grep -q 'docker: ' "$T/daemon.log" || fail "no docker error logged"
stop_daemon TERM
kill "$garbage_pid" 2>/dev/null || true
assert_eq "$DAEMON_RC" "0" "exit code"
echo "PASS failures"

#!/usr/bin/env bash
# The systemd notify protocol of k8sinpodd against a real listening datagram socket, a path and
# an @abstract one, served by a small receiver that records every datagram with its arrival time
# (CLOCK_MONOTONIC) and its sender's PID (SCM_CREDENTIALS, as systemd checks NotifyAccess=main).
# Checks: READY=1 once serving; STATUS=phase X for every phase change the log shows, in order;
# SIGHUP gives RELOADING=1 with a current MONOTONIC_USEC, then READY=1; SIGTERM gives STOPPING=1
# and nothing after it but the exit; WATCHDOG=1 about every second with WATCHDOG_USEC=2000000
# and no WATCHDOG_PID; no ping when WATCHDOG_PID names another process; every datagram comes
# from the daemon itself; kind never sees NOTIFY_SOCKET or WATCHDOG_* in its environment.
# shellcheck source=test/system/lib.sh
source "$(dirname "$0")/lib.sh"
setup_case notify

RECEIVER_PID=""
notify_teardown() {
  local rc=$?
  set +e
  [[ -n "$RECEIVER_PID" ]] && kill "$RECEIVER_PID" 2>/dev/null && wait "$RECEIVER_PID"
  (exit "$rc")
  teardown
}
trap notify_teardown EXIT

# tools.kind: dumps its environment, one file per invocation, then runs the stand-in.
mkdir -p "$T/kind-env"
cat >"$T/kind" <<EOF
#!/usr/bin/env bash
env >"$T/kind-env/\$\$"
exec "$FAKE_KIND" "\$@"
EOF
chmod +x "$T/kind"
sed -i "s|kind: $FAKE_KIND\$|kind: $T/kind|" "$T/config.yaml"
grep -q "kind: $T/kind" "$T/config.yaml" || fail "tools.kind not replaced in the config"

# The receiver: one line per datagram, "<monotonic seconds> <sender pid> <payload>", with the
# payload's newlines written as tabs.
cat >"$T/receiver.py" <<'PY'
import os, socket, struct, sys, time
address, out = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
s.bind("\0" + address[1:] if address.startswith("@") else address)
with open(out, "a", buffering=1) as f:
    f.write("bound\n")
    while True:
        data, anc, _, _ = s.recvmsg(65536, socket.CMSG_SPACE(12))
        now = time.monotonic()
        pid = -1
        for level, kind, payload in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid = struct.unpack("iII", payload[:12])[0]
        text = data.decode("utf-8", "replace").replace("\n", "\t")
        f.write(f"{now:.6f} {pid} {text}\n")
PY

# start_receiver ADDRESS FILE
start_receiver() {
  : >"$2"
  python3 "$T/receiver.py" "$1" "$2" &
  RECEIVER_PID=$!
  wait_for "the notify receiver" 10 grep -qx bound "$2"
}
stop_receiver() {
  kill "$RECEIVER_PID" 2>/dev/null || true
  wait "$RECEIVER_PID" 2>/dev/null || true
  RECEIVER_PID=""
}

# from_daemon FILE PID: every datagram in FILE was sent by PID (not by a child).
from_daemon() {
  local others
  others=$(awk -v pid="$2" 'NF >= 3 && $2 != pid' "$1")
  [[ -z "$others" ]] || fail "datagrams not sent by the daemon ($2): $others"
}

# payloads FILE: the datagrams only, one per line.
payloads() { awk 'NF >= 3 { sub(/^[^ ]+ [^ ]+ /, ""); print }' "$1"; }
# count FILE REGEX: datagrams matching REGEX.
count() { payloads "$1" | grep -cE "$2" || true; }
has() { (($(count "$1" "$2") >= ${3:-1})); }

# ---------------------------------------------------------------------------------------------
note "path socket, WATCHDOG_USEC=2000000 without WATCHDOG_PID"
RX="$T/notify.txt"
start_receiver "$T/notify.sock" "$RX"
export NOTIFY_SOCKET="$T/notify.sock" WATCHDOG_USEC=2000000
unset WATCHDOG_PID
start_daemon
daemon_pid=$DAEMON_PID
unset NOTIFY_SOCKET WATCHDOG_USEC

wait_for "READY=1" 10 has "$RX" '^READY=1'
first_ready=$(awk 'NF >= 3 && $3 ~ /^READY=1/ { print; exit }' "$RX")
[[ "$first_ready" == *$'\tSTATUS='* ]] || fail "the first READY=1 carries no STATUS: $first_ready"
wait_for "/readyz 200" 120 http_is 200 /readyz
wait_for "STATUS=phase ready" 10 has "$RX" '^STATUS=phase ready'

note "STATUS= for every phase change, in order"
# The log line comes first, the datagram right after it: allow the receiver a moment.
phases_logged() { sed -n 's/.* phase [a-z]* -> \([a-z]*\) on .*/\1/p' "$T/daemon.log" | tr '\n' ' '; }
phases_sent() { payloads "$RX" | sed -n 's/^STATUS=phase \([a-z]*\).*/\1/p' | tr '\n' ' '; }
phases_match() { [[ "$(phases_sent)" == "$(phases_logged)" ]]; }
for ((i = 0; i < 50; i++)); do phases_match && break; sleep 0.1; done
[[ -n "$(phases_logged)" ]] || fail "no phase change in the log"
assert_eq "$(phases_sent)" "$(phases_logged)" "STATUS=phase ... datagrams vs. logged phase changes"

note "WATCHDOG=1 about every second"
wait_for "5 watchdog pings" 15 has "$RX" '^WATCHDOG=1$' 5
awk '$3 == "WATCHDOG=1" { print $1 }' "$RX" | python3 -c '
import sys
t = [float(x) for x in sys.stdin]
gaps = [b - a for a, b in zip(t, t[1:])]
mean = sum(gaps) / len(gaps)
print("watchdog gaps:", " ".join(f"{g:.3f}" for g in gaps), f"mean {mean:.3f}", file=sys.stderr)
# Half of WATCHDOG_USEC; every gap well below the 2 s systemd allows.
assert all(0.5 <= g <= 1.6 for g in gaps), gaps
assert 0.85 <= mean <= 1.25, mean
' || fail "watchdog pings are not about 1 s apart"

note "SIGHUP: RELOADING=1 with MONOTONIC_USEC, then READY=1"
mark=$(wc -l <"$RX")
kill -HUP "$DAEMON_PID"
reloaded() { awk -v m="$mark" 'NR > m && NF >= 3 && $3 ~ /^READY=1/ { f = 1 } END { exit !f }' "$RX"; }
wait_for "READY=1 after RELOADING=1" 10 reloaded
tail -n +$((mark + 1)) "$RX" | python3 -c '
import sys
rows = [l.rstrip("\n").split(" ", 2) for l in sys.stdin if l.count(" ") >= 2]
kinds = [r[2].split("\t")[0] for r in rows if not r[2].startswith(("WATCHDOG=", "STATUS="))]
assert kinds[:2] == ["RELOADING=1", "READY=1"], kinds
at, _, payload = next(r for r in rows if r[2].startswith("RELOADING=1"))
fields = dict(kv.split("=", 1) for kv in payload.split("\t"))
assert set(fields) == {"RELOADING", "MONOTONIC_USEC"}, fields
usec = int(fields["MONOTONIC_USEC"])
received = float(at) * 1e6
# Same clock (CLOCK_MONOTONIC): sent before it arrived, and not long before.
assert received - 5e6 <= usec <= received + 1e3, (usec, received)
' || fail "reload datagrams: $(tail -n +$((mark + 1)) "$RX")"
http_is 200 /livez || fail "/livez after SIGHUP"

note "kind children never see NOTIFY_SOCKET or WATCHDOG_*"
dumps=("$T"/kind-env/*)
[[ -e "${dumps[0]}" ]] || fail "the kind wrapper never ran"
note "${#dumps[@]} kind invocations recorded"
grep -q '^DOCKER_HOST=' "${dumps[0]}" || fail "the environment dump is empty: ${dumps[0]}"
if grep -lE '^(NOTIFY_SOCKET|WATCHDOG_USEC|WATCHDOG_PID)=' "${dumps[@]}"; then
  fail "a kind child inherited the notify/watchdog environment"
fi

note "SIGTERM: STOPPING=1, then nothing but the exit"
stop_daemon TERM
assert_eq "$DAEMON_RC" "0" "exit code"
has "$RX" '^STOPPING=1$' || fail "no STOPPING=1: $(payloads "$RX" | tail -n 5)"
after=$(payloads "$RX" | sed -n '/^STOPPING=1$/,$p' | tail -n +2 | grep -E '^(READY|WATCHDOG)=' || true)
[[ -z "$after" ]] || fail "sent after STOPPING=1: $after"
assert_eq "$(count "$RX" '^STOPPING=1$')" "1" "STOPPING=1 datagrams"
assert_eq "$(count "$RX" '^READY=1')" "2" "READY=1 datagrams (start, after the reload)"
assert_eq "$(count "$RX" '^RELOADING=1')" "1" "RELOADING=1 datagrams"
from_daemon "$RX" "$daemon_pid"
stop_receiver

# ---------------------------------------------------------------------------------------------
note "abstract socket; WATCHDOG_PID names another process: no pings"
RX="$T/notify-abstract.txt"
name="@k8sinpod-notify-$$-$RANDOM"
start_receiver "$name" "$RX"
export NOTIFY_SOCKET="$name" WATCHDOG_USEC=200000 WATCHDOG_PID=$$
start_daemon
daemon_pid=$DAEMON_PID
unset NOTIFY_SOCKET WATCHDOG_USEC WATCHDOG_PID
wait_for "READY=1 on the abstract socket" 10 has "$RX" '^READY=1'
wait_for "/readyz 200 (adopted)" 60 http_is 200 /readyz
# An observation window, not synchronisation: pings every 100 ms would show ten here.
sleep 1
assert_eq "$(count "$RX" '^WATCHDOG=')" "0" "WATCHDOG=1 datagrams for another WATCHDOG_PID"
stop_daemon TERM
assert_eq "$DAEMON_RC" "0" "exit code"
has "$RX" '^STOPPING=1$' || fail "no STOPPING=1 on the abstract socket: $(payloads "$RX")"
from_daemon "$RX" "$daemon_pid"
stop_receiver

echo "PASS notify"

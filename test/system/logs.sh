#!/usr/bin/env bash
# Logs (issue 4, "Logs"; docs/configuration.md, log.*):
#
#   a. log.format json from the start: every stdout line is a JSON object with time, level,
#      logger and message; kind's output lines carry logger "kind"; nothing on stderr
#   b. log.format text -> json by a live reload: every line from the "applied" line on is JSON
#   c. log.level debug through a creation, an IP change (repatch) and a status dump: the client
#      key and the cluster CA key appear nowhere in any output of this test
#   d. log.file with log.max_size 4KiB, log.max_files 2: rotated to k8sinpodd.1.log and
#      k8sinpodd.2.log, never a third, no file over max_size; the files' mode is reported
#
# Each run's stdout goes to its own $T/run-N.out (stderr to $T/run-N.err); $T/daemon.log is a
# symlink to the current one, for lib.sh's dump.
# shellcheck source=test/system/lib.sh
source "$(dirname "$0")/lib.sh"
setup_case logs

# lib.sh's metric stops awk at the first match: curl may then fail writing (exit 23) and, under
# pipefail, so does `x=$(metric ...)`. This one reads the whole page.
metric() {
  curl -s --max-time 5 "http://127.0.0.1:$PORT/metrics" |
    awk -v k="$1" '$1 == k && !found { print $2; found = 1 }'
}

run=0
OUT=""
ERR=""
# start_run: starts k8sinpodd with $T/config.yaml, stdout and stderr apart.
start_run() {
  run=$((run + 1))
  OUT="$T/run-$run.out"
  ERR="$T/run-$run.err"
  : >"$OUT"
  : >"$ERR"
  ln -sfn "$OUT" "$T/daemon.log"
  "$K8SINPODD" --config "$T/config.yaml" >"$OUT" 2>"$ERR" &
  DAEMON_PID=$!
  wait_for "the daemon to listen" 20 grep -q "listening on" "$OUT"
  PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$OUT" | head -n 1)
  [[ -n "$PORT" ]] || fail "no port in the daemon log"
}
stop_run() {
  stop_daemon TERM
  assert_eq "$DAEMON_RC" "0" "exit code of run $run"
  [[ ! -s "$ERR" ]] || fail "run $run wrote to stderr: $(head -c 500 "$ERR")"
}
delete_cluster() {
  "$FAKE_KIND" delete cluster --name "$CLUSTER" --kubeconfig "$T/kind-kc" >/dev/null 2>&1
}
mark() { wc -l <"$OUT"; }
since() { tail -n "+$(($1 + 1))" "$OUT"; }
logged() { since "$1" | grep -qE "$2"; }

# check_json FILE [FIRST]: every line of FILE from line FIRST (1) on is a JSON object with
# exactly the keys time, level, logger, message (strings), a UTC RFC 3339 time with
# milliseconds and a known level. Read as bytes and decoded strictly as UTF-8.
check_json() {
  python3 - "$1" "${2:-1}" <<'PY' || fail "not JSON lines: $1 from line ${2:-1}"
import json, re, sys
path, first = sys.argv[1], int(sys.argv[2])
levels = {"trace", "debug", "info", "warning", "warn", "error", "critical"}
bad = 0
with open(path, "rb") as f:
    lines = f.read().split(b"\n")
if lines and lines[-1] == b"":
    lines.pop()
for n, raw in enumerate(lines, 1):
    if n < first:
        continue
    try:
        d = json.loads(raw.decode("utf-8"))
        assert isinstance(d, dict), "not an object"
        assert list(d) == ["time", "level", "logger", "message"], f"keys {list(d)}"
        assert all(isinstance(v, str) for v in d.values()), "a value is not a string"
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", d["time"]), d["time"]
        assert d["level"] in levels, d["level"]
        assert d["logger"], "empty logger"
    except Exception as e:  # noqa: BLE001
        bad += 1
        print(f"{path}:{n}: {e}: {raw[:200]!r}", file=sys.stderr)
if n_checked := max(0, len(lines) - first + 1):
    print(f"{n_checked} JSON lines ok" if not bad else f"{bad} of {n_checked} lines bad", file=sys.stderr)
sys.exit(1 if bad or not n_checked else 0)
PY
}

# json_where FILE PYEXPR [ARG]: prints the lines (as JSON) for which PYEXPR holds over d (the
# parsed line) and arg (ARG).
json_where() {
  python3 - "$1" "$2" "${3:-}" <<'PY'
import json, sys
for raw in open(sys.argv[1], "rb").read().splitlines():
    try:
        d = json.loads(raw)
    except ValueError:
        continue
    if eval(sys.argv[2], {"d": d, "arg": sys.argv[3]}):
        print(json.dumps(d))
PY
}

# collect_keys: the private keys of the running cluster, as fixed strings for grep -F: the
# kubeconfig's client-key-data (48-character slices of the base64), the body lines of the
# decoded PEM, and the same of the CA key in the control plane.
PATTERNS="$T/secret-patterns"
: >"$PATTERNS"
collect_keys() {
  local b64 pem ca
  b64=$(kubectl --kubeconfig "$T/out/kubeconfig" config view --raw \
    -o jsonpath='{.users[0].user.client-key-data}')
  [[ ${#b64} -gt 100 ]] || fail "no client key in the kubeconfig"
  pem=$(base64 -d <<<"$b64")
  # The node image has no cat: docker cp gives a tar stream.
  ca=$(docker cp "$CLUSTER-control-plane:/etc/kubernetes/pki/ca.key" - | tar -xO)
  [[ "$ca" == *"PRIVATE KEY"* ]] || fail "no CA key in the control plane"
  local s
  for s in "$b64" "$(base64 -w0 <<<"$ca")"; do
    while ((${#s} >= 48)); do
      echo "${s:0:48}" >>"$PATTERNS"
      s=${s:48}
    done
  done
  { grep -v -e '^-----' -e '^$' <<<"$pem"; grep -v -e '^-----' -e '^$' <<<"$ca"; } |
    awk 'length($0) >= 16' >>"$PATTERNS"
  sort -u -o "$PATTERNS" "$PATTERNS"
  # The patterns find what they are meant to find.
  grep -qF -f "$PATTERNS" "$T/out/kubeconfig" || fail "the key patterns miss the kubeconfig"
  grep -qF -f "$PATTERNS" <<<"$ca" || fail "the key patterns miss the CA key"
  grep -qF -f "$PATTERNS" <<<"$(base64 -w0 <<<"$ca")" || fail "the patterns miss the CA key's base64"
}

note "a. log.format json from the start (a fresh creation)"
LOG_FORMAT=json write_config
start_run
wait_for "/readyz 200" 120 http_is 200 /readyz
collect_keys
kill -USR1 "$DAEMON_PID"
wait_for "a JSON status line" 10 grep -q '"message":"status: ' "$OUT"
stop_run
check_json "$OUT"
kind_lines=$(json_where "$OUT" 'd["logger"] == "kind"')
[[ -n "$kind_lines" ]] || fail "no line with logger kind"
echo "$kind_lines" | head -n 3 >&2
# kind's own output (its stage lines, "Creating cluster") comes with logger kind, not another.
misattributed=$(json_where "$OUT" \
  'd["logger"] != "kind" and any(s in d["message"] for s in ("Ensuring node image", "Creating cluster \"", "Have a nice day"))')
[[ -z "$misattributed" ]] || fail "kind output without logger kind: $misattributed"
for s in 'Creating cluster "' 'Ensuring node image' 'Have a nice day'; do
  [[ -n "$(json_where "$OUT" 'd["logger"] == "kind" and arg in d["message"]' "$s")" ]] ||
    fail "no line with logger kind and \"$s\""
done

note "c. log.level debug: no key material in any output"
delete_cluster
LOG_LEVEL=debug write_config
start_run
wait_for "/readyz 200" 120 http_is 200 /readyz
collect_keys
grep -qE ' debug +\[k8sinpodd\] probe ' "$OUT" || wait_for "a debug probe line" 10 grep -qE ' debug +\[k8sinpodd\] probe ' "$OUT"
read -r old_ip new_ip < <(move_ip)
note "moved the control plane $old_ip -> $new_ip"
wait_for "the kubeconfig repatched" 60 kubeconfig_points_at "$new_ip"
wait_for "/readyz 200 after the move" 60 http_is 200 /readyz
kubectl_ok || fail "the repatched kubeconfig does not work"
kill -USR1 "$DAEMON_PID"
wait_for "a status line" 10 grep -q '\] status: ' "$OUT"
stop_run
debug_lines=$(grep -cE ' debug +\[' "$OUT" || true)
((debug_lines > 0)) || fail "no debug lines at log.level debug"
note "$debug_lines debug lines, $(wc -l <"$PATTERNS") key patterns"
outputs=("$T"/run-*.out "$T"/run-*.err)
leaks=$(grep -F -f "$PATTERNS" "${outputs[@]}" | head -c 2000 || true)
[[ -z "$leaks" ]] || fail "key material in the log: $leaks"
pem=$(grep -n -e 'PRIVATE KEY' -e 'client-key-data' "${outputs[@]}" | head -c 2000 || true)
[[ -z "$pem" ]] || fail "private key markers in the log: $pem"

note "b. log.format text -> json by a live reload"
write_config   # text, info
start_run
wait_for "/readyz 200" 60 http_is 200 /readyz
kill -USR1 "$DAEMON_PID"
wait_for "a text status line" 10 grep -q '\] status: ' "$OUT"
m=$(mark)
sed -i 's/^  format: text$/  format: json/' "$T/config.yaml"
grep -qx '  format: json' "$T/config.yaml" || fail "log.format not replaced"
applied='"message":"config reload (file change): applied log.format"'
wait_for "the applied line in JSON" 10 grep -qF "$applied" "$OUT"
first=$(grep -nF "$applied" "$OUT" | head -n 1 | cut -d: -f1)
kill -USR1 "$DAEMON_PID"
wait_for "a JSON status line" 10 grep -q '"message":"status: ' "$OUT"
stop_run
# Before the switch: text (one line of the reload itself may precede "applied"); from it: JSON.
head -n "$m" "$OUT" | grep -q '^{' && fail "JSON before the switch: $(head -n "$m" "$OUT" | grep '^{' | head -n 3)"
grep -qE '^[0-9T:.-]+Z info  \[k8sinpodd\] status: ' "$OUT" || fail "no text status line"
check_json "$OUT" "$first"
note "$((first - m - 1)) line(s) between the edit and the applied line"

note "d. log.file, max_size 4KiB, max_files 2: rotation"
mkdir -p "$T/logs"
write_config
cat >>"$T/config.yaml" <<YAML
  file: $T/logs/k8sinpodd.log
  max_size: 4KiB
  max_files: 2
YAML
start_run
wait_for "/readyz 200" 60 http_is 200 /readyz
[[ -f "$T/logs/k8sinpodd.log" ]] || fail "no log file"
# The file carries what stdout carries.
grep -qF "$(grep -m1 'supervising cluster' "$OUT")" "$T/logs/k8sinpodd.log" ||
  fail "the startup line is not in the file"
most=0
rotations_seen() { [[ -f "$T/logs/k8sinpodd.2.log" ]]; }
status_count() { grep -c '\] status: ' "$OUT" || true; }
status_at_least() { (($(status_count) >= $1)); }
# About 300 bytes a status line: 60 of them are over 4 rotations of 4 KiB.
for i in $(seq 1 60); do
  kill -USR1 "$DAEMON_PID"
  wait_for "status line $i" 10 status_at_least "$i"
  n=$(find "$T/logs" -name 'k8sinpodd.*.log' | wc -l)
  ((n > most)) && most=$n
  ((n <= 2)) || fail "$n rotated files: $(ls "$T/logs")"
done
rotations_seen || fail "never rotated to k8sinpodd.2.log: $(ls -l "$T/logs")"
stop_run
ls -l "$T/logs" >&2
listing=$(find "$T/logs" -mindepth 1 -printf '%f\n' | sort | tr '\n' ' ')
assert_eq "$listing" "k8sinpodd.1.log k8sinpodd.2.log k8sinpodd.log " "log files"
for f in "$T"/logs/*; do
  size=$(stat -c %s "$f")
  ((size <= 4096)) || fail "$f is $size bytes, over max_size 4096"
done
# The last status line on stdout is the last one in the file as well.
assert_eq "$(grep '\] status: ' "$T/logs/k8sinpodd.log" | tail -n 1)" \
  "$(grep '\] status: ' "$OUT" | tail -n 1)" "last status line in the file"
note "log file modes: $(stat -c '%n %a' "$T"/logs/* | sed "s|$T/logs/||" | tr '\n' ' ')(umask $(umask))"

echo "PASS logs"

#!/usr/bin/env bash
# Live configuration reload (issue 4, "Live configuration"; docs/configuration.md "Reload").
#
# The config is laid out exactly like a Kubernetes ConfigMap volume:
#
#   $T/cm/..2026_11_25_08_00_00.000000001/config.yaml
#   $T/cm/..data -> ..2026_11_25_08_00_00.000000001
#   $T/cm/config.yaml -> ..data/config.yaml
#
# and k8sinpodd runs with `--config $T/cm/config.yaml`. cm_push updates it the way kubelet's
# atomic writer does: a new timestamped directory with the new file, a `..data_tmp` symlink to it
# renamed over `..data` (`mv -T`, one rename(2)), the old directory removed. `config.yaml` itself
# never changes.
#
#   1. health.interval 30s -> 1s: probes come at ~1/s, the reload metrics, the "applied" line
#   2. broken YAML: the running config stays (probes keep coming), metric 0, file:line:col, ready
#   3. a valid file again: metric 1
#   4. SIGHUP: a change the watcher cannot see (the file inside the timestamped directory edited
#      in place, like a subPath mount) is applied on SIGHUP; SIGHUP with unchanged content
#      reloads anyway (reloads_total{result="success"} + 1)
#   5. server.listen: the listener moves, the old port refuses, same process
#   6. cluster.name: warn "after a restart", restart_pending 1, the cluster untouched
#   7. log.level info -> debug: debug lines appear
#   8. the same bytes pushed again: no reload (no metric, no info line)
#   9. broken YAML, then the running content pushed back: metric 1 again
#  10. a restart-only change reverted: restart_pending 0 again
#
# Synchronisation is by conditions with deadlines (wait_for). The one `sleep` is a measured
# observation window for a rate (step 1), not a wait for an event.
# shellcheck source=test/system/lib.sh
source "$(dirname "$0")/lib.sh"
setup_case reload

# lib.sh's metric stops awk at the first match: curl may then fail writing (exit 23) and, under
# pipefail, so does `x=$(metric ...)`. This one reads the whole page.
metric() {
  curl -s --max-time 5 "http://127.0.0.1:$PORT/metrics" |
    awk -v k="$1" '$1 == k && !found { print $2; found = 1 }'
}

CM="$T/cm"
CUR="$T/cur.yaml"   # the config as the test wants it; pushed with cm_push "$CUR"

# edit SED-EXPR: applies SED-EXPR to $CUR and checks that it changed something.
edit() {
  cp "$CUR" "$T/prev.yaml"
  sed -i "$1" "$CUR"
  ! cmp -s "$CUR" "$T/prev.yaml" || fail "edit '$1' changed nothing"
}


# mark: the number of log lines so far; since MARK: the lines after it.
mark() { wc -l <"$T/daemon.log"; }
since() { tail -n "+$(($1 + 1))" "$T/daemon.log"; }
# logged MARK REGEX: a line after MARK matches REGEX (grep -E).
logged() { since "$1" | grep -qE "$2"; }
count_since() { since "$1" | grep -cE "$2" || true; }
# int VALUE: a metric value as an integer ("3", "3.0", "3e+00" -> 3; "" -> fail).
int() {
  [[ -n "$1" ]] || fail "a metric is missing"
  awk -v v="$1" 'BEGIN { printf "%d\n", v }'
}
probes() { int "$(metric 'k8sinpod_probes_total{result="success"}')"; }
probes_at_least() { (($(probes) >= $1)); }
reloads() { int "$(metric "k8sinpod_config_reloads_total{result=\"$1\"}")"; }
success_time() { metric k8sinpod_config_last_reload_success_timestamp_seconds; }
later() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 > b + 0) }'; }
now_ms() { echo $((${EPOCHREALTIME/./} / 1000)); }

HEALTH_INTERVAL=30s write_config
cp "$T/config.yaml" "$CUR"
grep -qx '  interval: 30s' "$CUR" || fail "health.interval is not 30s in the config"
cm_init "$CUR"

note "start from a ConfigMap-style volume, health.interval 30s"
start_daemon "$CM/config.yaml"
wait_for "/readyz 200" 120 http_is 200 /readyz
assert_eq "$(metric k8sinpod_config_last_reload_successful)" "1" "reload metric at start"
container_id=$(docker inspect -f '{{.Id}}' "$CLUSTER-control-plane")
creations=$(metric 'k8sinpod_cluster_creations_total{result="success"}')

note "1. health.interval 30s -> 1s by a ConfigMap swap"
# Observation window (measured, not synchronisation): at 30 s, at most one probe in 3 s.
p0=$(probes)
sleep 3
p1=$(probes)
((p1 - p0 <= 1)) || fail "at health.interval 30s, $((p1 - p0)) probes in 3 s"
t0=$(success_time)
m=$(mark)
edit 's/^  interval: 30s$/  interval: 1s/'
cm_push "$CUR"
wait_for "the applied line" 10 logged "$m" 'config reload \(file change\): applied health\.interval$'
p2=$(probes)
start=$(now_ms)
wait_for "5 more probes (1 s interval)" 10 probes_at_least $((p2 + 5))
took=$(($(now_ms) - start))
note "5 probes in $took ms after the reload"
((took >= 3000)) || fail "5 probes in $took ms: faster than health.interval 1s"
assert_eq "$(metric k8sinpod_config_last_reload_successful)" "1" "last_reload_successful"
t1=$(success_time)
later "$t1" "$t0" || fail "success timestamp did not advance: $t0 -> $t1"
assert_eq "$(count_since "$m" 'config reload')" "1" "reload lines for one swap (debounced)"

note "2. a broken YAML pushed the same way: the running config stays"
sed 's/^  interval: 1s$/  interval: [1s/' "$CUR" >"$T/broken.yaml"
! cmp -s "$CUR" "$T/broken.yaml" || fail "broken.yaml is not broken"
failed0=$(reloads failure)
m=$(mark)
cm_push "$T/broken.yaml"
wait_for "last_reload_successful 0" 10 metric_is k8sinpod_config_last_reload_successful 0
assert_eq "$(reloads failure)" "$((failed0 + 1))" "reloads_total{result=failure}"
re="error.*config reload \(file change\) failed, keeping the running config: $CM/config\.yaml:[0-9]+:[0-9]+: "
logged "$m" "$re" || fail "no error line with file:line:col: $(since "$m")"
since "$m" | grep -E "$re" >&2
p3=$(probes)
wait_for "probes at 1 s to go on" 8 probes_at_least $((p3 + 3))
http_is 200 /readyz || fail "/readyz after a broken config: $(cat "$T/body")"
later "$(success_time)" "$t1" && fail "the success timestamp moved on a failed reload"

note "3. a valid file again: metric 1"
m=$(mark)
edit 's/^  failure_threshold: 2$/  failure_threshold: 3/'
cm_push "$CUR"
wait_for "last_reload_successful 1" 10 metric_is k8sinpod_config_last_reload_successful 1
wait_for "the applied line" 10 logged "$m" 'config reload \(file change\): applied health\.failure_threshold$'
http_is 200 /readyz || fail "/readyz after a good config: $(cat "$T/body")"

note "4. SIGHUP: applies a change the watcher does not see, and reloads unchanged content"
# Written in place inside the timestamped directory: no event in the watched directory (the
# subPath case of docs/configuration.md), so only SIGHUP can pick it up.
edit 's/^  failure_threshold: 3$/  failure_threshold: 4/'
cp "$CUR" "$CM/$(readlink "$CM/..data")/config.yaml"
ok0=$(reloads success)
m=$(mark)
kill -HUP "$DAEMON_PID"
wait_for "the SIGHUP applied line" 10 logged "$m" 'config reload \(SIGHUP\): applied health\.failure_threshold$'
assert_eq "$(reloads success)" "$((ok0 + 1))" "reloads_total{result=success} after SIGHUP"
assert_eq "$(count_since "$m" 'config reload \(file change\)')" "0" "file-change reloads"
m=$(mark)
kill -HUP "$DAEMON_PID"
wait_for "the forced reload line" 10 logged "$m" 'config reload \(SIGHUP\): no change$'
assert_eq "$(reloads success)" "$((ok0 + 2))" "reloads_total{result=success} after a forced SIGHUP"
assert_eq "$(metric k8sinpod_config_last_reload_successful)" "1" "last_reload_successful"

note "5. server.listen to another port: rebind, same process"
old_port=$PORT
new_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
m=$(mark)
edit "s/^  listen: 127\.0\.0\.1:0\$/  listen: 127.0.0.1:$new_port/"
cm_push "$CUR"
PORT=$new_port
wait_for "/livez on the new port $new_port" 10 http_is 200 /livez
old_refuses() {
  local rc=0
  curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$old_port/livez" || rc=$?
  ((rc == 7))
}
wait_for "the old port $old_port to refuse" 5 old_refuses
logged "$m" "config reload \(file change\): listening on 127\.0\.0\.1:$new_port\$" ||
  fail "no rebind line: $(since "$m")"
kill -0 "$DAEMON_PID" 2>/dev/null || fail "the daemon is gone"
ss -ltnpH "sport = :$new_port" | grep -q "pid=$DAEMON_PID," ||
  fail "port $new_port is not held by $DAEMON_PID: $(ss -ltnpH "sport = :$new_port")"
assert_eq "$(grep -c 'supervising cluster' "$T/daemon.log")" "1" "startup lines (no restart)"
http_is 200 /readyz || fail "/readyz on the new port: $(cat "$T/body")"

note "6. cluster.name: needs a restart; the cluster is untouched"
m=$(mark)
edit "s/^  name: $CLUSTER\$/  name: $CLUSTER-renamed/"
cm_push "$CUR"
wait_for "restart_pending 1" 10 metric_is k8sinpod_config_restart_pending 1
warn_re="warn(ing)? +\[k8sinpodd\] config reload \(file change\): cluster\.name changed; these apply after a restart of k8sinpodd"
wait_for "the warn line" 5 logged "$m" "$warn_re"
since "$m" | grep 'config reload' >&2
assert_eq "$(metric k8sinpod_config_last_reload_successful)" "1" "last_reload_successful"
assert_eq "$(docker inspect -f '{{.Id}}' "$CLUSTER-control-plane")" "$container_id" "container id"
[[ -z "$(docker ps -aq --filter "name=^$CLUSTER-renamed-")" ]] || fail "a renamed cluster appeared"
assert_eq "$(metric 'k8sinpod_cluster_creations_total{result="success"}')" "$creations" "creations"
http_is 200 /status || fail "/status"
grep -q "\"$CLUSTER\"" "$T/body" || fail "/status does not name the running cluster: $(cat "$T/body")"
http_is 200 /readyz || fail "/readyz after a cluster.name change: $(cat "$T/body")"
# Back, together with a live change (a reload with changes recomputes restart_pending).
edit "s/^  name: $CLUSTER-renamed\$/  name: $CLUSTER/"
edit 's/^  failure_threshold: 4$/  failure_threshold: 3/'
cm_push "$CUR"
wait_for "restart_pending 0" 10 metric_is k8sinpod_config_restart_pending 0

note "7. log.level info -> debug, live"
debug_re='debug +\[k8sinpodd\] probe [0-9.]+: ok in [0-9]+ ms'
assert_eq "$(grep -cE ' debug +\[' "$T/daemon.log" || true)" "0" "debug lines at level info"
m=$(mark)
edit 's/^  level: info$/  level: debug/'
cm_push "$CUR"
wait_for "the applied line" 10 logged "$m" 'config reload \(file change\): applied log\.level$'
wait_for "debug probe lines" 10 logged "$m" "$debug_re"
since "$m" | grep -E "$debug_re" | head -n 2 >&2

note "8. the same bytes pushed again (new timestamped directory): no reload"
ok0=$(reloads success)
failed0=$(reloads failure)
t0=$(success_time)
m=$(mark)
cm_push "$CUR"
# At debug level the skip is logged: the condition to wait on.
wait_for "the unchanged-content line" 10 logged "$m" 'config reload \(file change\): content unchanged, nothing to do$'
assert_eq "$(reloads success)" "$ok0" "reloads_total{result=success} after the same bytes"
assert_eq "$(reloads failure)" "$failed0" "reloads_total{result=failure} after the same bytes"
assert_eq "$(success_time)" "$t0" "success timestamp after the same bytes"
assert_eq "$(count_since "$m" 'info +\[k8sinpodd\] config reload')" "0" "info reload lines"

note "9. broken, then the running content pushed back: metric 1 again"
sed 's/^  interval: 1s$/  interval: [1s/' "$CUR" >"$T/broken.yaml"
cm_push "$T/broken.yaml"
wait_for "last_reload_successful 0" 10 metric_is k8sinpod_config_last_reload_successful 0
m=$(mark)
cm_push "$CUR"
reverted() {
  metric_is k8sinpod_config_last_reload_successful 1 ||
    logged "$m" 'config reload \(file change\): content unchanged'
}
wait_for "the revert to be handled" 10 reverted
since "$m" | grep 'config reload' >&2 || true
assert_eq "$(metric k8sinpod_config_last_reload_successful)" "1" \
  "last_reload_successful after the file is back to the running config"

note "10. a restart-only change reverted: restart_pending 0"
edit "s/^  name: $CLUSTER\$/  name: $CLUSTER-renamed/"
cm_push "$CUR"
wait_for "restart_pending 1" 10 metric_is k8sinpod_config_restart_pending 1
m=$(mark)
edit "s/^  name: $CLUSTER-renamed\$/  name: $CLUSTER/"
cm_push "$CUR"
wait_for "the revert reload" 10 logged "$m" 'config reload \(file change\)'
since "$m" | grep 'config reload' >&2
assert_eq "$(metric k8sinpod_config_restart_pending)" "0" \
  "restart_pending after the restart-only change is reverted"

stop_daemon TERM
assert_eq "$DAEMON_RC" "0" "exit code"
echo "PASS reload"

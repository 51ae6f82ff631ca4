#!/usr/bin/env bash
# The fault soak (issue 6, "Soak"; docs/testing.md, "Soak"): k8sinpodd against a seeded random
# sequence of overlapping faults in the sandbox, with invariants sampled all along.
#
#   test/sandbox/sandbox.sh exec test/soak/soak.sh     (K8SINPODD, FAKE_KIND set; CTest soak.faults)
#
# Environment:
#   SOAK_SEED         the seed (default: random); printed at the start and the end, with the
#                     command that replays it
#   SOAK_FAULTS       faults to inject (default 200); a fault that could not be applied (kill of
#                     a container an earlier fault removed, ...) does not count
#   SOAK_GAP_MAX_MS   random gap between two faults, 0..this (default 1000)
#   SOAK_SAMPLE_MS    period of the invariant sampler (default 250)
#
# Fault kinds (KINDS and WEIGHTS below): control-plane IP change (as lib.sh move_ip), docker kill,
# docker stop (2 in 3 started again after a while), docker rm -f, dockerd restart, stand-in
# API server hang / 500 / refuse for a while, stand-in kind failing or hanging on create for a
# while (FAKE_KIND_KNOBS), kubeconfig (or its copy) deleted or edited, broken and valid config
# pushed by a ConfigMap-style ..data swap, SIGHUP storms. Each fault runs as a background actor,
# so faults overlap; one actor per slot (the API server mode, the kind knobs, the config ... are
# one slot each) at a time.
#
# Invariants, sampled every SOAK_SAMPLE_MS by a background sampler and reported at the end:
#   - the daemon never exits (/proc/PID/stat present and not Z);
#   - GET /livez answers 200 (curl --max-time 3);
#   - the kubeconfig and its copy, whenever they exist: mode 0600 and parse (a structural check
#     of every line on each sample; a full `kubectl config view` parse every 8th sample);
#   - no child of the daemon stays a zombie longer than ZOMBIE_MAX_S;
#   - open FDs and RSS: first (idle, ready, before the faults) vs last (idle, ready, after);
#     fail when FDs grew by more than FD_TOLERANCE or RSS by more than RSS_TOLERANCE_PCT % +
#     RSS_TOLERANCE_KIB. An ASan build runs with a 16 MiB quarantine, and its RSS baseline is
#     taken after the warm-up (the first 2 x the number of kinds faults, every kind once among
#     them), when that quarantine has filled;
#   - no "k8sinpodd: bug:" line (an exception escaping a coroutine), no sanitizer report.
# Every fault visible in metrics: config pushes and SIGHUP storms are checked each time (they
# stay attributable under overlap); every other kind is injected alone ("solo": the daemon
# ready, no other actor running) at its first occurrence and at random 1 % of the later ones,
# and its own metric must move (MAPPING below). The first faults are every kind once, in a
# seeded order; the rest are drawn by weight. After the last fault the daemon must be ready
# within BOUND_S (computed from the soak config below, printed), and so before each solo fault.
# shellcheck source=test/system/lib.sh
source "$(dirname "$0")/../system/lib.sh"
SANDBOX_SH=$(cd "$(dirname "$0")/../sandbox" && pwd)/sandbox.sh

SOAK_FAULTS=${SOAK_FAULTS:-200}
SOAK_GAP_MAX_MS=${SOAK_GAP_MAX_MS:-1000}
SOAK_SAMPLE_MS=${SOAK_SAMPLE_MS:-250}
if [[ -z "${SOAK_SEED:-}" ]]; then
  SOAK_SEED=$(($(od -An -N4 -tu4 /dev/urandom) % 2147483647 + 1))
fi
[[ "$SOAK_SEED" =~ ^[0-9]+$ ]] || { echo "SOAK_SEED must be a number" >&2; exit 1; }
REPLAY="SOAK_SEED=$SOAK_SEED ctest --preset dev -L soak --output-on-failure   (or: SOAK_SEED=$SOAK_SEED test/sandbox/sandbox.sh exec test/soak/soak.sh, with K8SINPODD and FAKE_KIND set)"
echo "soak: seed $SOAK_SEED, $SOAK_FAULTS faults; replay: $REPLAY"

# ---- the soak config: short timings, so that the bound below is short ---------------------------
HEALTH_INTERVAL=1s HEALTH_TIMEOUT=1s FAILURE_THRESHOLD=2
RECREATE_AFTER=3s RESTART_GRACE=3s BACKOFF_INITIAL=1s BACKOFF_MAX=4s
CREATE_TIMEOUT=60s MAX_RECREATES=5
WINDOW_S=30
# Valid pushes vary these; the bound uses the largest.
INTERVAL_MAX_S=2 THRESHOLD_MAX=3
ZOMBIE_MAX_S=2
FD_TOLERANCE=8
RSS_TOLERANCE_PCT=25 RSS_TOLERANCE_KIB=4096

setup_case soak
S="$T/soak"
mkdir -p "$S"
SAMPLER_PID=""
# On any exit: stop the sampler, let the running actors finish (each is bounded; killing one
# could leave the sandbox's dockerd stopped), then lib.sh's teardown with the exit status.
soak_exit() {
  local rc=$?
  set +e
  touch "$S/sampler.stop"
  [[ -z "$SAMPLER_PID" ]] || wait "$SAMPLER_PID"
  join_all
  docker rm -f "$CLUSTER-ip-holder1" "$CLUSTER-ip-holder2" "$CLUSTER-ip-holder3" \
    "$CLUSTER-ip-holder4" >/dev/null 2>&1
  (exit "$rc")
  teardown
}
trap soak_exit EXIT
CM="$T/cm"
NODE="$CLUSTER-control-plane"
export HEALTH_INTERVAL HEALTH_TIMEOUT FAILURE_THRESHOLD RECREATE_AFTER RESTART_GRACE BACKOFF_INITIAL \
  BACKOFF_MAX CREATE_TIMEOUT MAX_RECREATES

# base_config [INTERVAL THRESHOLD LEVEL CREATE_TIMEOUT]: the soak config, to stdout.
base_config() {
  HEALTH_INTERVAL=${1:-1s} FAILURE_THRESHOLD=${2:-2} LOG_LEVEL=${3:-info} \
    CREATE_TIMEOUT=${4:-$CREATE_TIMEOUT} write_config
  sed "s/^  max_recreates: .*/&\n  window: ${WINDOW_S}s/" "$T/config.yaml"
}

# ---- the seeded generator: a 64-bit LCG, drawn in the main shell only ---------------------------
RNG=$SOAK_SEED
R=0
# rnd N: R = a number in [0, N).
rnd() {
  RNG=$((RNG * 6364136223846793005 + 1442695040888963407))
  R=$((((RNG >> 33) & 0x7fffffff) % $1))
}

# ---- metrics ---------------------------------------------------------------------------------------
# int VALUE: a metric value as an integer ("" -> 0).
int() { awk -v v="${1:-0}" 'BEGIN { printf "%d\n", v }'; }
# m 'name{labels}': the sample as an integer; 0 if absent (a labelled counter appears at its
# first increment). /metrics must always answer: if it does not (3 tries), that is recorded as a
# violation, which fails the soak.
m() {
  local page _
  for _ in 1 2 3; do
    if page=$(curl -sf --max-time 5 "http://127.0.0.1:$PORT/metrics"); then
      int "$(awk -v k="$1" '$1 == k { print $2; exit }' <<<"$page")"
      return 0
    fi
    sleep 0.2
  done
  echo "$(date -u +%T.%3N) /metrics did not answer (3 tries, for $1)" >>"$S/violations"
  echo 0
}
reloads_sum() { echo $(($(m 'k8sinpod_config_reloads_total{result="success"}') + $(m 'k8sinpod_config_reloads_total{result="failure"}'))); }
now_ms() { echo $((${EPOCHREALTIME/./} / 1000)); }
ms_sleep() { sleep "$(($1 / 1000)).$(printf '%03d' $(($1 % 1000)))"; }

# until_deadline SECONDS CMD...: like lib.sh wait_for, but returns 1 on timeout (for actors).
until_deadline() {
  local deadline=$(($(now_ms) + $1 * 1000))
  shift
  until "$@" >/dev/null 2>&1; do
    (($(now_ms) < deadline)) || return 1
    sleep 0.1
  done
}
m_at_least() { (($(m "$1") >= $2)); }

# ---- the ConfigMap-style config volume: lib.sh cm_init and cm_push, in $CM ---------------------
# cm_push_checked TEXT: pushes TEXT (made unique) and waits for its successful reload.
cm_push_checked() {
  local before f
  f="$S/pushed.$(now_ms).yaml"
  printf '%s\n# %s\n' "$1" "$f" >"$f"
  before=$(m 'k8sinpod_config_reloads_total{result="success"}')
  cm_push "$f"
  wait_for "the reload of $(basename "$f")" 10 m_at_least 'k8sinpod_config_reloads_total{result="success"}' $((before + 1))
}

# ---- kubeconfig helpers ---------------------------------------------------------------------------
KC_FILES=("$T/out/kubeconfig" "$T/shared/kubeconfig")
# kc_edit FILE VARIANT: an edit that still parses, done by rename like any sane tool would, so
# that the sampler never sees a half-written file of ours. Fails if FILE is absent.
kc_edit() {
  local f=$1 tmp="$1.soak-edit"
  cp "$f" "$tmp" 2>/dev/null || return 1
  chmod 600 "$tmp"
  case "$2" in
    0) kubectl --kubeconfig "$tmp" config set-cluster "kind-$CLUSTER" --server=https://127.0.0.1:1 ;;
    1) kubectl --kubeconfig "$tmp" config set-context soak-extra --cluster="kind-$CLUSTER" ;;
  esac >/dev/null 2>&1 || { rm -f "$tmp"; return 1; }
  mv -f "$tmp" "$f"
}

# api_mode KIND: the stand-in API server's mode (test/fakes/apiserver) for a fault kind.
api_mode() {
  case "$1" in
    api_hang) echo hang ;;
    api_500) echo fail ;;
    api_refuse) echo refuse ;;
  esac
}

set_knobs() {
  printf '%s\n' "$@" >"$FAKE_KIND_KNOBS.tmp"
  mv -f "$FAKE_KIND_KNOBS.tmp" "$FAKE_KIND_KNOBS"
}

# ---- fault kinds -----------------------------------------------------------------------------------
KINDS=(ip_change docker_kill docker_stop docker_rm dockerd_restart api_hang api_500 api_refuse
  kind_fail kind_hang kubeconfig_delete kubeconfig_edit config_broken config_valid sighup_storm)
WEIGHTS=(10 6 5 2 2 3 3 3 2 1 8 8 6 6 6)
declare -A SLOT=([ip_change]=ip [docker_kill]=kill [docker_stop]=stop [docker_rm]=rm
  [dockerd_restart]=dockerd [api_hang]=api [api_500]=api [api_refuse]=api [kind_fail]=knobs
  [kind_hang]=knobs [kubeconfig_delete]=kcdel [kubeconfig_edit]=kcedit [config_broken]=config
  [config_valid]=config [sighup_storm]=hup)
# What each kind must move, checked as the docstring above says.
declare -A MAPPING=(
  [ip_change]='k8sinpod_control_plane_ip_changes_total +1, then the kubeconfig at the new address'
  [docker_kill]='k8sinpod_docker_events_total{action="kill"} and {action="die"} +1'
  [docker_stop]='k8sinpod_cluster_recreations_total{reason="control_plane_gone"} +1 (not started again)'
  [docker_rm]='k8sinpod_cluster_recreations_total{reason="control_plane_gone"} +1'
  [dockerd_restart]='k8sinpod_docker_up dips to 0'
  [api_hang]='k8sinpod_probes_total{result="failure"} +failure_threshold, /readyz 503'
  [api_500]='k8sinpod_probes_total{result="failure"} +failure_threshold, /readyz 503'
  [api_refuse]='k8sinpod_probes_total{result="failure"} +failure_threshold, /readyz 503'
  [kind_fail]='k8sinpod_cluster_creations_total{result="failure"} +1 (with a docker rm -f)'
  [kind_hang]='k8sinpod_cluster_creations_total{result="failure"} +1 at create_timeout (with a docker rm -f), no kind left'
  [kubeconfig_delete]='k8sinpod_kubeconfig_repairs_total{reason="missing"} +1, file back'
  [kubeconfig_edit]='k8sinpod_kubeconfig_repairs_total{reason="modified"} +1, file back'
  [config_broken]='k8sinpod_config_reloads_total{result="failure"} +1 and last_reload_successful 0 (every time)'
  [config_valid]='k8sinpod_config_reloads_total{result="success"} +1 and last_reload_successful 1 (every time)'
  [sighup_storm]='k8sinpod_config_reloads_total (both results) +1 at least (every time)')
total_weight=0
for w in "${WEIGHTS[@]}"; do total_weight=$((total_weight + w)); done

# result IDX KIND OUTCOME DETAIL...: one line of $S/results (appends of one short line are
# atomic), with the time since the start.
result() { echo "$* @$(($(now_ms) - t_start))ms" >>"$S/results"; }

# The plan of one fault, drawn in the main shell: P_* variables read by the actor.
plan() {
  local kind=$1
  P_A=0 P_B=0 P_C=0
  case "$kind" in
    docker_stop) rnd 3; P_A=$((R > 0 ? 1 : 0)); rnd 6000; P_B=$((500 + R)) ;;  # start again?, after ms
    api_*) rnd 6000; P_A=$((500 + R)) ;;                        # held for ms
    kind_fail | kind_hang) rnd 4000; P_A=$((1000 + R)) ;;       # knob set for ms
    kubeconfig_*) rnd 2; P_A=$R; rnd 2; P_B=$R ;;               # which file, edit variant
    config_broken) rnd 3; P_A=$R ;;                             # which breakage
    config_valid) rnd 2; P_A=$R; rnd 2; P_B=$R; rnd 2; P_C=$R ;;
    sighup_storm) rnd 38; P_A=$((3 + R)); rnd 20; P_B=$R ;;     # count, spacing ms
  esac
}

# config_file IDX KIND: the file a config fault pushes, unique (a comment) so that it always
# differs from the running config.
config_file() {
  local f="$S/cfg.$1.yaml"
  if [[ "$2" == config_valid ]]; then
    base_config "$([[ $P_A == 1 ]] && echo 2s || echo 1s)" "$((2 + P_B))" \
      "$([[ $P_C == 1 ]] && echo debug || echo info)" >"$f"
  else
    base_config >"$f"
    case "$P_A" in
      0) sed -i 's/^  interval: .*/  interval: [1s/' "$f" ;;        # YAML syntax error
      1) echo "bogus_section: {}" >>"$f" ;;                         # unknown key
      2) sed -i 's/^  failure_threshold: .*/  failure_threshold: 0/' "$f" ;;  # invalid value
    esac
  fi
  echo "# soak fault $1" >>"$f"
  echo "$f"
}

# soak_move_ip: lib.sh's move_ip (disconnect, a holder takes the old address, reconnect,
# restart), except that holders are started until one really holds the old address: Docker hands
# out the lowest free one, which after a recreation is often below the node's. Prints "OLD NEW".
soak_move_ip() {
  local old new ip n holders=() rc=0
  # Holders an interrupted run left (a dockerd restart during `docker rm`) would block the names.
  docker rm -f "$CLUSTER-ip-holder1" "$CLUSTER-ip-holder2" "$CLUSTER-ip-holder3" \
    "$CLUSTER-ip-holder4" >/dev/null 2>&1
  old=$(control_plane_ip 2>/dev/null) || old=""
  [[ -n "$old" ]] || { echo "no address"; return 1; }
  docker network disconnect kind "$NODE" || return 1
  for n in 1 2 3 4; do
    docker run -d --name "$CLUSTER-ip-holder$n" --net kind k8sinpod/fake-node:latest idle >/dev/null || break
    holders+=("$CLUSTER-ip-holder$n")
    ip=$(docker inspect -f '{{(index .NetworkSettings.Networks "kind").IPAddress}}' "$CLUSTER-ip-holder$n")
    [[ "$ip" != "$old" ]] || break
  done
  docker network connect kind "$NODE" && docker restart -t 1 "$NODE" >/dev/null || rc=1
  new=$(control_plane_ip 2>/dev/null) || rc=1
  ((${#holders[@]} == 0)) || docker rm -f "${holders[@]}" >/dev/null 2>&1
  if ((rc != 0)) || [[ -z "$new" || "$new" == "$old" ]]; then
    echo "the address did not change ($old -> $new)"
    return 1
  fi
  echo "$old $new"
}

node_running() { [[ "$(docker inspect -f '{{.State.Running}}' "$NODE" 2>/dev/null)" == true ]]; }
kc_exists() { [[ -e "${KC_FILES[0]}" || -e "${KC_FILES[1]}" ]]; }

# act IDX KIND: injects one fault (in an actor subshell). Outcome lines: applied, n/a, FAIL.
# A fault on the control plane or the kubeconfig waits up to TARGET_WAIT_S for its target to
# exist (an earlier fault may have removed it); if it does not, the fault is n/a (not counted).
TARGET_WAIT_S=15
act() {
  local i=$1 kind=$2 out before f
  case "$kind" in
    ip_change | docker_* | api_*)
      if [[ "$kind" != dockerd_restart ]] && ! until_deadline "$TARGET_WAIT_S" node_running; then
        result "$i" "$kind" n/a "no running control plane for ${TARGET_WAIT_S}s"
        return 0
      fi ;;
    kubeconfig_*)
      if ! until_deadline "$TARGET_WAIT_S" kc_exists; then
        result "$i" "$kind" n/a "no kubeconfig for ${TARGET_WAIT_S}s"
        return 0
      fi ;;
  esac
  case "$kind" in
    ip_change)
      if out=$(soak_move_ip 2>&1); then
        result "$i" "$kind" applied "$out"
      else
        result "$i" "$kind" n/a "${out//$'\n'/ }"
      fi ;;
    docker_kill | docker_rm)
      local verb=(kill)
      [[ "$kind" == docker_kill ]] || verb=(rm -f)
      if out=$(docker "${verb[@]}" "$NODE" 2>&1); then result "$i" "$kind" applied
      else result "$i" "$kind" n/a "${out//$'\n'/ }"; fi ;;
    docker_stop)
      if out=$(docker stop -t 1 "$NODE" 2>&1); then
        result "$i" "$kind" applied "restart=$P_A after ${P_B}ms"
        if ((P_A)); then ms_sleep "$P_B"; docker start "$NODE" >/dev/null 2>&1 || true; fi
      else
        result "$i" "$kind" n/a "${out//$'\n'/ }"
      fi ;;
    dockerd_restart)
      if out=$("$SANDBOX_SH" restart-docker 2>&1); then result "$i" "$kind" applied
      else result "$i" "$kind" n/a "${out//$'\n'/ }"; fi ;;
    api_*)
      if out=$(apiserver_mode "$(api_mode "$kind")" 2>&1); then
        result "$i" "$kind" applied "${P_A}ms"
        ms_sleep "$P_A"
        apiserver_mode healthy >/dev/null 2>&1 || true
      else
        result "$i" "$kind" n/a "${out//$'\n'/ }"
      fi ;;
    kind_fail | kind_hang)
      set_knobs "FAKE_KIND_$([[ $kind == kind_fail ]] && echo FAIL || echo HANG)_CREATE=1"
      result "$i" "$kind" applied "${P_A}ms"
      ms_sleep "$P_A"
      set_knobs ;;
    kubeconfig_delete)  # the chosen file, else the other one
      for f in "${KC_FILES[$P_A]}" "${KC_FILES[1 - P_A]}" ""; do
        [[ -n "$f" ]] || { result "$i" "$kind" n/a "both absent"; break; }
        if rm "$f" 2>/dev/null; then result "$i" "$kind" applied "$f"; break; fi
      done ;;
    kubeconfig_edit)
      for f in "${KC_FILES[$P_A]}" "${KC_FILES[1 - P_A]}" ""; do
        [[ -n "$f" ]] || { result "$i" "$kind" n/a "both absent"; break; }
        if kc_edit "$f" "$P_B"; then result "$i" "$kind" applied "$f variant $P_B"; break; fi
      done ;;
    config_broken | config_valid)
      local want=failure gauge=0
      [[ "$kind" == config_valid ]] && want=success gauge=1
      before=$(m "k8sinpod_config_reloads_total{result=\"$want\"}")
      if ! out=$(cm_push "$CFG_FILE" 2>&1); then
        result "$i" "$kind" FAIL "$out"
        return 0
      fi
      result "$i" "$kind" applied "$(basename "$CFG_FILE")"
      if until_deadline 10 m_at_least "k8sinpod_config_reloads_total{result=\"$want\"}" $((before + 1)) &&
        until_deadline 5 metric_is k8sinpod_config_last_reload_successful "$gauge"; then
        result "$i" "$kind" verified "reloads{$want} $before -> $(m "k8sinpod_config_reloads_total{result=\"$want\"}")"
      else
        result "$i" "$kind" FAIL "no $want reload seen within 10 s (reloads{$want} $before -> $(m "k8sinpod_config_reloads_total{result=\"$want\"}"), last_reload_successful $(metric k8sinpod_config_last_reload_successful))"
      fi ;;
    sighup_storm)
      before=$(reloads_sum)
      local n
      for ((n = 0; n < P_A; n++)); do
        kill -HUP "$DAEMON_PID" 2>/dev/null || break
        ((P_B == 0)) || sleep "0.0$(printf '%02d' "$P_B")"
      done
      result "$i" "$kind" applied "$P_A signals, ${P_B}ms apart"
      if until_deadline 10 m_at_least_sum $((before + 1)); then
        result "$i" "$kind" verified "reloads $before -> $(reloads_sum)"
      else
        result "$i" "$kind" FAIL "no reload after $P_A SIGHUPs within 10 s (reloads $before -> $(reloads_sum))"
      fi ;;
  esac
}
m_at_least_sum() { (($(reloads_sum) >= $1)); }

# ---- actors ------------------------------------------------------------------------------------------
declare -A ACTOR=()   # slot -> pid of the running actor
join_slot() {
  local pid=${ACTOR[$1]:-}
  [[ -n "$pid" ]] || return 0
  wait "$pid" || true
  unset "ACTOR[$1]"
}
join_all() {
  local slot
  for slot in "${!ACTOR[@]}"; do join_slot "$slot"; done
}

# ---- quiesce: no actor, no injected failure left, the guard lifted; then ready within BOUND_S -------
heal() {
  join_all
  set_knobs
  apiserver_mode healthy >/dev/null 2>&1 || true
  guard_reload
}
HEAL_RELOADS=0
# guard_reload: lifts the crash-loop guard, when it is active, as an operator would once the
# cause is fixed: SIGHUP, whatever the file holds (docs/configuration.md, max_recreates).
guard_reload() {
  [[ "$(metric k8sinpod_crashloop_guard_active)" == 1 ]] || return 0
  kill -HUP "$DAEMON_PID"
  HEAL_RELOADS=$((HEAL_RELOADS + 1))
  wait_for "SIGHUP to lift the crash-loop guard" 10 metric_is k8sinpod_crashloop_guard_active 0
}
# ready_within WHAT: /readyz 200 within BOUND_S (READY_MS: how long it took). The crash-loop
# guard may engage on the way (creations in the window): it is lifted by SIGHUP.
ready_within() {
  local t0
  t0=$(now_ms)
  until http_is 200 /readyz; do
    guard_reload
    if (($(now_ms) - t0 > BOUND_S * 1000)); then
      http '/readyz?verbose' >/dev/null || true
      fail "not ready within ${BOUND_S}s $1: $(tr '\n' ' ' <"$T/body") phase $(curl -s "http://127.0.0.1:$PORT/metrics" | awk '/^k8sinpod_cluster_phase/ && $2 == 1 { print $1 }')"
    fi
    kill -0 "$DAEMON_PID" 2>/dev/null || fail "the daemon exited"
    sleep 0.1
  done
  READY_MS=$(($(now_ms) - t0))
}

# ---- the sampler ---------------------------------------------------------------------------------------
# Counts go to $S/sampler.out as KEY VALUE lines when it stops; violations to $S/violations.
NL=$'\n'
KC_LINE_RE='^ *(- )?[A-Za-z][A-Za-z-]*:( .*)?$'
KC_SERVER_RE="${NL} +server: https://[^[:space:]]+${NL}"
KC_DATA_RE=": [A-Za-z0-9+/=]{100,}(${NL}|\$)"
# kc_parses CONTENT: a structural check of a kubeconfig as kind, kubectl and we write it: the
# keys kubectl needs, base64 data, and every line a `key:` or `- key:` line.
kc_parses() {
  local c=$1 line key
  [[ "$c" == "apiVersion: v1${NL}"* && "$c" == *"${NL}kind: Config${NL}"* ]] || return 1
  [[ "$c" == *"${NL}current-context: "* && "$c" =~ $KC_SERVER_RE ]] || return 1
  for key in certificate-authority-data client-certificate-data client-key-data; do
    [[ "$c" =~ $key$KC_DATA_RE ]] || return 1
  done
  while IFS= read -r line; do
    [[ "$line" =~ $KC_LINE_RE ]] || return 1
  done <<<"${c%"$NL"}"
}
sampler() {
  local stop="$S/sampler.stop" n=0 livez_bad=0 kc_present=0 kc_absent=0 kc_full=0 zombie_checks=0
  local code f fd content mode pid stat fds rss line now key
  local -A zsince=() seen=()
  local -a ents
  set +e
  local period
  period=$(awk -v ms="$SOAK_SAMPLE_MS" 'BEGIN { print ms / 1000 }')
  violation() { echo "$(date -u +%T.%3N) $*" >>"$S/violations"; }
  while [[ ! -e "$stop" ]]; do
    n=$((n + 1))
    if ! read -r stat <"/proc/$DAEMON_PID/stat" 2>/dev/null || [[ "${stat##*) }" == Z* ]]; then
      violation "the daemon exited"
      break
    fi
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 "http://127.0.0.1:$PORT/livez") || true
    if [[ "$code" != 200 ]]; then livez_bad=$((livez_bad + 1)); violation "/livez answered '$code'"; fi
    for f in "${KC_FILES[@]}"; do
      # One open: the mode and the content are those of the same inode, even across a rename.
      if ! exec {fd}<"$f" 2>/dev/null; then kc_absent=$((kc_absent + 1)); continue; fi
      kc_present=$((kc_present + 1))
      mode=$(stat -L -c %a "/proc/$BASHPID/fd/$fd")
      content=""
      IFS= read -r -d '' -u "$fd" content || true
      exec {fd}<&-
      [[ "$mode" == 600 ]] || violation "$f: mode $mode"
      kc_parses "$content" || { violation "$f: does not parse"; printf '%s' "$content" >"$S/unparsable.$n"; }
      if ((n % 8 == 0)); then
        printf '%s' "$content" >"$S/kc.sample"
        if kubectl --kubeconfig "$S/kc.sample" config view -o jsonpath='{.clusters[0].cluster.server}' 2>/dev/null | grep -q '^https://'; then
          kc_full=$((kc_full + 1))
        else
          violation "$f: kubectl cannot parse it"
          cp "$S/kc.sample" "$S/unparsable-kubectl.$n"
        fi
      fi
    done
    zombie_checks=$((zombie_checks + 1))
    now=$(now_ms)
    seen=()
    while read -r pid stat; do
      [[ "$stat" == Z* ]] || continue
      key="$pid"
      seen[$key]=1
      [[ -n "${zsince[$key]:-}" ]] || zsince[$key]=$now
      if ((now - zsince[$key] > ZOMBIE_MAX_S * 1000)); then
        violation "zombie child $pid ($(cat "/proc/$pid/comm" 2>/dev/null)) for $(((now - zsince[$key]) / 1000)) s"
        zsince[$key]=$now
      fi
    done < <(ps --ppid "$DAEMON_PID" -o pid=,stat= 2>/dev/null || true)
    for key in "${!zsince[@]}"; do [[ -n "${seen[$key]:-}" ]] || unset "zsince[$key]"; done
    ents=("/proc/$DAEMON_PID/fd/"*)
    fds=${#ents[@]}
    rss=0
    while read -r line; do [[ "$line" == VmRSS:* ]] && { rss=$(tr -dc 0-9 <<<"$line"); break; }; done <"/proc/$DAEMON_PID/status"
    echo "$now $fds $rss" >>"$S/series"
    sleep "$period"
  done
  printf '%s\n' "samples $n" "livez_bad $livez_bad" "kc_present $kc_present" "kc_absent $kc_absent" \
    "kc_full $kc_full" "zombie_checks $zombie_checks" >"$S/sampler.out"
}

# fd_rss: "FDS RSS_KIB", the minimum of 5 looks 0.2 s apart (a probe or a curl in flight holds a
# socket for a moment; the minimum is the idle figure).
fd_rss() {
  local i ents fmin=999999 rmin=999999999 fds rss
  for i in 1 2 3 4 5; do
    ents=("/proc/$DAEMON_PID/fd/"*)
    fds=${#ents[@]}
    rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$DAEMON_PID/status")
    ((fds < fmin)) && fmin=$fds
    ((rss < rmin)) && rmin=$rss
    sleep 0.2
  done
  echo "$fmin $rmin"
}

# ---- start ------------------------------------------------------------------------------------------------
base_config >"$S/base.yaml"
cm_init "$S/base.yaml"
: >"$S/results"
: >"$S/violations"
t_start=$(now_ms)
: >"$T/daemon.log"
# An ASan build keeps freed memory in a quarantine (256 MiB by default) before reuse, so its RSS
# climbs for as long as that fills (151 -> 478 MiB over one soak). A 16 MiB quarantine still
# catches a use after free of anything freed within the last 16 MiB, and it fills during the
# warm-up (below): from then on RSS measures the daemon again.
# (No `ldd | grep -q` under pipefail: grep quits at the match, ldd dies of SIGPIPE on its next
# line, and the pipeline fails. That made an earlier version check an ASan build's RSS.)
ASAN_BUILD=0
if [[ "$(ldd "$K8SINPODD" 2>/dev/null)" == *libasan* ]]; then
  ASAN_BUILD=1
  export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=16"
fi
"$K8SINPODD" --config "$CM/config.yaml" >>"$T/daemon.log" 2>&1 &
DAEMON_PID=$!
wait_for "the daemon to listen" 30 grep -q "listening on" "$T/daemon.log"
PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$T/daemon.log" | tail -n 1)
wait_for "/readyz 200 (first creation)" 180 http_is 200 /readyz
create_ms=$(($(now_ms) - t_start))
# The bound after the last fault, from the soak config: a create hung by the kind_hang knob runs
# to create_timeout (60 s); then a backoff (at most backoff_max 4 s + 10 % jitter: 5 s); kind
# delete (5 s); a create, which may take up to create_timeout (60 s) and still succeed (the
# stand-in kind takes 3 s on an idle machine, 25 s on a loaded one: create_timeout is large so
# that creates do not time out under load); restart_grace or recreate_after (3 s) before a
# recreation is decided; failure_threshold probes at the largest interval (3 x 2 s); 10 s for
# Docker (a dockerd restart alone takes ~5 s here).
BOUND_S=$((60 + 5 + 5 + 60 + 3 + THRESHOLD_MAX * INTERVAL_MAX_S + 10))
echo "soak: first ready after ${create_ms} ms; ready bound after faults: ${BOUND_S} s" \
  "(2 x create_timeout 60 + backoff 5 + delete 5 + grace 3 + ${THRESHOLD_MAX} x ${INTERVAL_MAX_S} s + 10)"
read -r fd_first rss_first < <(fd_rss)
declare -A M0=()
METRICS=('k8sinpod_control_plane_ip_changes_total' 'k8sinpod_cluster_recreations_total{reason="control_plane_gone"}'
  'k8sinpod_cluster_recreations_total{reason="unhealthy"}' 'k8sinpod_cluster_creations_total{result="success"}'
  'k8sinpod_cluster_creations_total{result="failure"}' 'k8sinpod_kubeconfig_repairs_total{reason="missing"}'
  'k8sinpod_kubeconfig_repairs_total{reason="modified"}' 'k8sinpod_kubeconfig_writes_total'
  'k8sinpod_config_reloads_total{result="success"}' 'k8sinpod_config_reloads_total{result="failure"}'
  'k8sinpod_probes_total{result="failure"}' 'k8sinpod_probes_total{result="success"}'
  'k8sinpod_docker_events_total{action="kill",type="container"}' 'k8sinpod_docker_events_total{action="die",type="container"}'
  'k8sinpod_orphans_reaped_total')
for k in "${METRICS[@]}"; do M0[$k]=$(m "$k"); done
sampler &
SAMPLER_PID=$!

# ---- solo faults: injected alone, their own metric must move -------------------------------------------
# solo_act IDX KIND: act, and it must have applied (the daemon is ready: the target exists).
solo_act() {
  act "$1" "$2"
  grep -qE "^$1 $2 applied" "$S/results" || fail "solo fault $1 ($2) could not be applied: $(grep "^$1 " "$S/results")"
}
# solo IDX KIND: heal, ready within the bound, inject, check.
SOLO_READY_MAX_MS=0
solo() {
  local i=$1 kind=$2 key before before2 ip
  heal
  ready_within "before solo fault $i ($kind)"
  ((READY_MS > SOLO_READY_MAX_MS)) && SOLO_READY_MAX_MS=$READY_MS
  case "$kind" in
    ip_change)
      before=$(m k8sinpod_control_plane_ip_changes_total)
      solo_act "$i" "$kind"
      ip=$(control_plane_ip)
      wait_for "ip_changes_total +1" 20 m_at_least k8sinpod_control_plane_ip_changes_total $((before + 1))
      wait_for "the kubeconfig at $ip" 20 kubeconfig_points_at "$ip" ;;
    docker_kill)
      key='k8sinpod_docker_events_total{action="kill",type="container"}'
      before=$(m "$key")
      before2=$(m 'k8sinpod_docker_events_total{action="die",type="container"}')
      solo_act "$i" "$kind"
      wait_for "docker_events{kill} +1" 10 m_at_least "$key" $((before + 1))
      wait_for "docker_events{die} +1" 10 m_at_least 'k8sinpod_docker_events_total{action="die",type="container"}' $((before2 + 1)) ;;
    docker_stop | docker_rm)
      key='k8sinpod_cluster_recreations_total{reason="control_plane_gone"}'
      before=$(m "$key")
      P_A=0  # a solo stop is not started again: the daemon must recreate
      solo_act "$i" "$kind"
      wait_for "recreations{control_plane_gone} +1" 30 m_at_least "$key" $((before + 1)) ;;
    dockerd_restart)
      act "$i" "$kind" &
      local restarter=$!
      wait_for "docker_up 0 during the dockerd restart" 30 metric_is k8sinpod_docker_up 0
      wait "$restarter"
      grep -qE "^$i $kind applied" "$S/results" || fail "solo fault $i ($kind) could not be applied: $(grep "^$i " "$S/results")"
      wait_for "docker_up 1 after the dockerd restart" 60 metric_is k8sinpod_docker_up 1 ;;
    api_*)
      key='k8sinpod_probes_total{result="failure"}'
      before=$(m "$key")
      apiserver_mode "$(api_mode "$kind")" || fail "apiserver_mode $(api_mode "$kind")"
      result "$i" "$kind" applied solo
      wait_for "probes{failure} +$FAILURE_THRESHOLD" 20 m_at_least "$key" $((before + FAILURE_THRESHOLD))
      wait_for "/readyz 503" 10 http_is 503 /readyz
      apiserver_mode healthy || fail "apiserver_mode healthy" ;;
    kind_fail | kind_hang)
      key='k8sinpod_cluster_creations_total{result="failure"}'
      before=$(m "$key")
      if [[ "$kind" == kind_hang ]]; then
        # cluster.create_timeout applies live, to the next create: 5 s for this one.
        cm_push_checked "$(base_config 1s 2 info 5s)"
        set_knobs FAKE_KIND_HANG_CREATE=1
      else
        set_knobs FAKE_KIND_FAIL_CREATE=1
      fi
      docker rm -f "$NODE" >/dev/null
      result "$i" "$kind" applied "solo, with docker rm -f"
      local pgid=""
      if [[ "$kind" == kind_hang ]]; then
        # The hanging create's process group (the daemon starts each child in its own group).
        wait_for "the hanging kind create" 30 pgrep -P "$DAEMON_PID" -f "kind create cluster"
        pgid=$(ps -o pgid= -p "$(pgrep -P "$DAEMON_PID" -f "kind create cluster" | head -n 1)" | tr -d ' ')
      fi
      wait_for "creations{failure} +1" 45 m_at_least "$key" $((before + 1))
      set_knobs
      if [[ "$kind" == kind_hang ]]; then
        grep -q "timed out after 5s" "$T/daemon.log" || fail "no create timeout in the log"
        # Killed with its whole group, the `sleep` it waits on included (the retry that follows
        # is a new group).
        wait_for "the hung create's process group $pgid to be gone" 10 bash -c "! pgrep -g '$pgid'"
        cm_push_checked "$(base_config)"
      fi ;;
    kubeconfig_delete | kubeconfig_edit)
      key="k8sinpod_kubeconfig_repairs_total{reason=\"$([[ $kind == kubeconfig_delete ]] && echo missing || echo modified)\"}"
      before=$(m "$key")
      solo_act "$i" "$kind"
      wait_for "$key +1" 15 m_at_least "$key" $((before + 1))
      wait_for "the copies equal again" 15 cmp -s "${KC_FILES[0]}" "${KC_FILES[1]}" ;;
  esac
  result "$i" "$kind" solo-verified
}
SOLO_KINDS=" ip_change docker_kill docker_stop docker_rm dockerd_restart api_hang api_500 api_refuse kind_fail kind_hang kubeconfig_delete kubeconfig_edit "

# ---- the sequence ---------------------------------------------------------------------------------------
# The first faults are every kind once, shuffled (Fisher-Yates with the seeded generator).
FIRST=("${KINDS[@]}")
for ((j = ${#FIRST[@]} - 1; j > 0; j--)); do
  rnd $((j + 1))
  tmp=${FIRST[$j]}
  FIRST[j]=${FIRST[R]}
  FIRST[R]=$tmp
done
declare -A LAUNCHED=() SEEN=()
launched=0 i=0
WARM_FAULTS=$((${#KINDS[@]} * 2))
fd_warm=0 rss_warm=0
t_faults=$(now_ms)
na_count() { grep -cE '^[0-9]+ [a-z0-9_]+ n/a' "$S/results" || true; }
while true; do
  # Faults that turned out not applicable do not count: go on until SOAK_FAULTS were applied.
  if ((launched - $(na_count) >= SOAK_FAULTS)); then
    join_all
    ((launched - $(na_count) >= SOAK_FAULTS)) && break
  fi
  i=$((i + 1))
  if ((i <= ${#KINDS[@]})); then
    kind=${FIRST[$((i - 1))]}  # every kind once, in a seeded order
  else
    rnd "$total_weight"
    k=0
    for ((j = 0; j < ${#KINDS[@]}; j++)); do
      k=$((k + WEIGHTS[j]))
      if ((R < k)); then kind=${KINDS[$j]}; break; fi
    done
  fi
  plan "$kind"
  rnd 100
  solo_roll=$R
  rnd "$((SOAK_GAP_MAX_MS + 1))"
  gap=$R
  launched=$((launched + 1))
  LAUNCHED[$kind]=$((${LAUNCHED[$kind]:-0} + 1))
  if [[ "$SOLO_KINDS" == *" $kind "* ]] && { [[ -z "${SEEN[$kind]:-}" ]] || ((solo_roll < 1)); }; then
    SEEN[$kind]=1
    t_solo=$(now_ms)
    solo "$i" "$kind"
    echo "soak: fault $i $kind (solo): ready after ${READY_MS} ms, checked in $(($(now_ms) - t_solo)) ms"
  else
    slot=${SLOT[$kind]}
    join_slot "$slot"
    [[ "$kind" == config_* ]] && CFG_FILE=$(config_file "$i" "$kind")
    (
      set +e
      act "$i" "$kind"
    ) &
    ACTOR[$slot]=$!
  fi
  if ((i == WARM_FAULTS)); then
    # The warm-up: every kind has run once. The RSS baseline of an ASan build is taken here, once
    # the actors are done and the daemon is ready again (a quiet moment, as the last sample is).
    join_all
    heal
    ready_within "after the warm-up"
    read -r fd_warm rss_warm < <(fd_rss)
    echo "soak: warm-up done after fault $i: FDs $fd_warm, RSS $rss_warm KiB"
  fi
  ((i % 25)) || echo "soak: $i faults launched, $((launched - $(na_count))) applied or running, $((($(now_ms) - t_faults) / 1000)) s"
  ms_sleep "$gap"
done
t_faults_end=$(now_ms)

# ---- after the faults: ready within the bound --------------------------------------------------------------
heal
cm_push_checked "$(base_config)"
ready_within "after the last fault"
ttr_ms=$READY_MS
ip=$(control_plane_ip)
# Ready does not wait for the next check cycle: a kubeconfig edited just before the last fault
# ended is restored by the next one, within health.interval.
wait_for "the kubeconfig at $ip" $((2 * INTERVAL_MAX_S + 5)) kubeconfig_points_at "$ip"
wait_for "the kubeconfig copy restored" $((2 * INTERVAL_MAX_S + 5)) cmp -s "${KC_FILES[0]}" "${KC_FILES[1]}"
assert_eq "$(stat -c %a "${KC_FILES[0]}")" 600 "kubeconfig mode"
kubectl_ok || fail "kubectl get --raw /readyz at the end"
read -r fd_last rss_last < <(fd_rss)
nodes=$(docker ps -a --filter "label=io.x-k8s.kind.cluster=$CLUSTER" --format '{{.Names}}' | tr '\n' ' ')
[[ "$nodes" == "$NODE " ]] || fail "cluster containers at the end: '$nodes' (expected $NODE only)"
kinds_left=$(pgrep -P "$DAEMON_PID" -af "kind (create|delete) cluster" || true)
[[ -z "$kinds_left" ]] || fail "kind processes left: $kinds_left"
touch "$S/sampler.stop"
wait "$SAMPLER_PID" || true
t_end=$(now_ms)

# ---- report ---------------------------------------------------------------------------------------------------
declare -A SAMPLE=()
while read -r key value; do SAMPLE[$key]=$value; done <"$S/sampler.out"
read -r fd_max rss_max < <(awk '$2 > f { f = $2 } $3 > r { r = $3 } END { print f + 0, r + 0 }' "$S/series")
problems=()
while read -r line; do problems+=("invariant: $line"); done <"$S/violations"
while read -r line; do problems+=("fault: $line"); done < <(grep -E '^[0-9]+ [a-z0-9_]+ FAIL' "$S/results" || true)
if grep -qE 'k8sinpodd: bug:|ERROR: AddressSanitizer|runtime error:|LeakSanitizer' "$T/daemon.log"; then
  problems+=("daemon log: $(grep -m 3 -E 'k8sinpodd: bug:|ERROR: AddressSanitizer|runtime error:|LeakSanitizer' "$T/daemon.log" | tr '\n' ' ')")
fi
((fd_last <= fd_first + FD_TOLERANCE)) || problems+=("open FDs grew: $fd_first -> $fd_last (tolerance +$FD_TOLERANCE)")
# The RSS baseline: before the faults; for an ASan build, after the warm-up (its quarantine full).
rss_base=$rss_first rss_base_name=first
if ((ASAN_BUILD)); then
  rss_base=$rss_warm rss_base_name="warm (ASan, quarantine_size_mb=16)"
  ((rss_warm > 0)) || problems+=("no RSS sample after the warm-up (SOAK_FAULTS below $WARM_FAULTS?)")
fi
rss_limit=$((rss_base + rss_base * RSS_TOLERANCE_PCT / 100 + RSS_TOLERANCE_KIB))
((rss_last <= rss_limit)) || problems+=("RSS grew: $rss_base_name $rss_base -> last $rss_last KiB (limit $rss_limit KiB)")
((SAMPLE[samples] >= 100)) || problems+=("only ${SAMPLE[samples]} invariant samples")
((SAMPLE[kc_present] >= 100)) || problems+=("only ${SAMPLE[kc_present]} kubeconfig samples")
for kind in "${KINDS[@]}"; do
  if [[ "$SOLO_KINDS" == *" $kind "* ]]; then
    grep -qE "^[0-9]+ $kind solo-verified" "$S/results" || problems+=("fault kind $kind: no solo check")
  fi
done

count() { grep -cE "^[0-9]+ $1 $2( |\$)" "$S/results" || true; }
echo
echo "==== soak report (seed $SOAK_SEED) ===="
printf '%-18s %8s %8s %6s %9s %6s  %s\n' kind launched applied n/a verified solo "metric it must move"
for kind in "${KINDS[@]}"; do
  printf '%-18s %8d %8d %6d %9d %6d  %s\n' "$kind" "${LAUNCHED[$kind]:-0}" \
    "$(count "$kind" applied)" "$(count "$kind" n/a)" "$(count "$kind" verified)" "$(count "$kind" solo-verified)" \
    "${MAPPING[$kind]}"
done
echo "faults applied: $(grep -cE '^[0-9]+ [a-z0-9_]+ applied' "$S/results" || true) of $launched launched (n/a: $(na_count)); crash-loop guard lifted by SIGHUP before a readiness wait: $HEAL_RELOADS times"
echo "wall: faults $(((t_faults_end - t_faults) / 1000)) s, total $(((t_end - t_start) / 1000)) s"
echo "invariant samples: ${SAMPLE[samples]} (period ${SOAK_SAMPLE_MS} ms); /livez non-200: ${SAMPLE[livez_bad]}"
echo "kubeconfig samples: ${SAMPLE[kc_present]} present (mode + structural parse), ${SAMPLE[kc_full]} also parsed by kubectl, ${SAMPLE[kc_absent]} absent"
echo "zombie checks: ${SAMPLE[zombie_checks]} (a child in state Z for more than ${ZOMBIE_MAX_S} s fails)"
echo "open FDs: first $fd_first, last $fd_last, max sampled $fd_max (tolerance +$FD_TOLERANCE)"
echo "RSS KiB: first $rss_first, warm $rss_warm, last $rss_last, max sampled $rss_max (limit $rss_limit: $rss_base_name +$RSS_TOLERANCE_PCT % + $RSS_TOLERANCE_KIB KiB)"
echo "ready after the last fault: $ttr_ms ms (bound ${BOUND_S} s); slowest ready before a solo fault: $SOLO_READY_MAX_MS ms"
echo "metrics (start -> end):"
for k in "${METRICS[@]}"; do printf '  %-70s %6d -> %d\n' "$k" "${M0[$k]}" "$(m "$k")"; done
echo "not applicable (most frequent reasons; the fault found nothing to act on):"
if ! grep -qE '^[0-9]+ [a-z0-9_]+ n/a' "$S/results"; then
  echo "  (none)"
else
  grep -E '^[0-9]+ [a-z0-9_]+ n/a' "$S/results" | sed -E 's/ @[0-9]+ms$//; s/^[0-9]+ //; s/[0-9a-f]{64}/ID/g; s/([0-9]+\.){3}[0-9]+/IP/g; s#/tmp/[^ ]*/##g' |
  cut -c1-110 | sort | uniq -c | sort -rn | head -n 6
fi
echo "seed $SOAK_SEED; replay: $REPLAY"
if ((${#problems[@]} > 0)); then
  printf 'FAIL: %s\n' "${problems[@]}" >&2
  cp -r "$S" "$T/soak-kept" 2>/dev/null || true
  fail "${#problems[@]} problem(s); seed $SOAK_SEED"
fi
stop_daemon TERM
assert_eq "$DAEMON_RC" "0" "exit code"
if grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$T/daemon.log"; then
  fail "sanitizer report at exit: $(grep -m 3 -E 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$T/daemon.log" | tr '\n' ' ')"
fi
echo "PASS soak (seed $SOAK_SEED)"

#!/usr/bin/env bash
# docs_commands.sh: every command in README.md and docs/*.md is run here, is run by a named test
# or by CI, or needs something the test machines lack and the doc says so next to it (CTest label
# `manifests`; issue 5: "the docs cannot rot").
#
# The commands are the lines of the fenced code blocks marked sh, bash, shell or console (console:
# only the lines that start with "$ "). Blank and comment lines are skipped, "\" continuations
# are joined with one space, and a trailing "  # comment" is dropped. Each command needs an entry
# in TABLE below, keyed by its exact text: a new or changed command fails this test until someone
# decides what covers it. An entry that matches no command fails too. Every fenced block needs a
# language ("text" when it holds no command), and indented code blocks are refused, so that no
# command escapes this test. Inline `code` in the prose is not extracted: it names commands and
# flags, but it is not meant to be copied and run as it stands.
#
# An entry is "$ COMMAND", then one decision and any number of checks, indented:
#   run CMD              runs here and must exit 0. CMD is the doc's command with the
#                        substitutions this machine needs, written out. It runs in bash with the
#                        repository root as cwd; $K8SINPODD is the built daemon, $T a scratch
#                        directory.
#   covered-by TEST      a CTest test of $K8SINPOD_BUILD_DIR runs it (it must exist; CI runs all);
#   covered-by label:L   the tests of CTest label L (there must be some);
#   covered-by ci:TEXT   test/run.sh, which .ci/run runs, contains TEXT.
#   needs WHAT           it cannot run here. The doc must say so within 3 lines of its block:
#                        the text there must match NEEDS[WHAT].
#   check CMD            also runs CMD like `run`: the parts of a command that can be checked here
#                        (names, paths, ports it relies on).
# Environment: K8SINPODD (the built daemon), K8SINPOD_BUILD_DIR (the build whose CTest tests are
# named). Runs in well under a minute: nothing is built, only the `release` preset is configured.
set -euo pipefail
: "${K8SINPODD:?K8SINPODD must name the built daemon}"
: "${K8SINPOD_BUILD_DIR:?K8SINPOD_BUILD_DIR must name the build directory (ctest -N)}"
K8SINPODD=$(readlink -f "$K8SINPODD")
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
T=$(mktemp -d /tmp/k8sinpod-docs.XXXXXX)
trap 'rm -rf "$T"' EXIT
export K8SINPODD T
cd "$REPO"

declare -A NEEDS=(
  [cluster]='needs? a Kubernetes cluster'
  [systemd]='systemd as PID 1'
  [network]='with network access'
  [kind]='with a real kind'
  [node]='as root on each node'
)

TABLE=$(cat <<'EOF'
$ test/demo.sh
  covered-by system.demo
$ test/run.sh
  covered-by ci:
$ cmake --preset release && cmake --build --preset release
  run cmake --preset release -B "$T/release" >/dev/null
  check presets_differ_only_in_link dev release
$ build/release/daemon/k8sinpodd --config config/k8sinpod.yaml
  needs kind
  check "$K8SINPODD" --check-config --config config/k8sinpod.yaml
$ cmake --preset dev && cmake --build --preset dev
  covered-by ci:cmake --build --preset "$PRESET"
  check presets_differ_only_in dev asan K8SINPOD_SANITIZE
$ ctest --preset dev -L unit
  covered-by label:unit
$ ctest --preset dev -L integration
  covered-by label:integration
$ ctest --preset dev -L system
  covered-by label:system
$ ctest --preset dev -L manifests
  covered-by label:manifests
$ ctest --preset dev -L soak --output-on-failure
  covered-by label:soak
$ SOAK_SEED=1234 ctest --preset dev -L soak --output-on-failure
  covered-by label:soak
  check grep -q 'SOAK_SEED' test/soak/soak.sh
$ ctest --preset dev -L container
  covered-by label:container
$ cmake --preset asan && cmake --build --preset asan && ctest --preset asan
  covered-by ci:PRESET=${K8SINPOD_TEST_PRESET:-asan}
$ DOCKER_BUILDKIT=1 docker build -f container/Dockerfile -t k8sinpod/k8sinpodd:0.1.0 .
  needs network
  check grep -q '^FROM .* AS runtime$' container/Dockerfile
  check [[ "$(grep '^FROM ' container/Dockerfile | tail -n 1)" == *" AS runtime" ]]
  check grep -rq 'image: k8sinpod/k8sinpodd:0.1.0$' k8s/base
$ docker build --network none --force-rm --target prebuilt -f container/Dockerfile --build-arg RUNTIME_IMAGE=k8sinpod/test-runtime-base:latest --build-arg TOOLS_APT_PACKAGES= --build-arg RUNTIME_APT_PACKAGES= --build-arg K8SINPODD_BINARY=k8sinpodd --build-arg KIND_SOURCE=kind --build-arg KIND_SHA256="$(sha256sum <CONTEXT/kind | cut -d' ' -f1)" --build-arg KUBECTL_SOURCE=kubectl --build-arg KUBECTL_SHA256="$(sha256sum <CONTEXT/kubectl | cut -d' ' -f1)" -t k8sinpod/k8sinpodd:dev CONTEXT
  covered-by container.image
  check grep -q 'AS prebuilt$' container/Dockerfile
  check build_args_used RUNTIME_IMAGE TOOLS_APT_PACKAGES RUNTIME_APT_PACKAGES K8SINPODD_BINARY KIND_SOURCE KIND_SHA256 KUBECTL_SOURCE KUBECTL_SHA256
$ docker run -d --name k8sinpodd --network host --group-add "$(stat -c %g /var/run/docker.sock)" -v /var/run/docker.sock:/var/run/docker.sock -v "$PWD/k8sinpod-etc:/etc/k8sinpod:ro" -v "$PWD/shared:/var/run/k8sinpod" k8sinpod/k8sinpodd:0.1.0
  covered-by container.image
  check grep -q -- '--group-add' test/container/image.sh
  check grep -q -- '--network host' test/container/image.sh
$ curl -s 'localhost:9090/readyz?verbose'
  covered-by system.lifecycle
  check grep -qF "'/readyz?verbose'" test/system/lifecycle.sh
$ curl -s localhost:9090/status
  covered-by system.lifecycle
  check grep -qF ' /status ' test/system/lifecycle.sh
$ docker stop k8sinpodd
  covered-by container.image
  check grep -q 'docker stop' test/container/image.sh
$ kubectl kustomize k8s/overlays/dind
  run kubectl kustomize k8s/overlays/dind >/dev/null
$ kubectl apply -k k8s/overlays/dind
  needs cluster
  check [[ -f k8s/overlays/dind/kustomization.yaml ]]
$ kubectl logs deploy/k8sinpod -c k8sinpodd -f
  needs cluster
  check deployment_has k8s/overlays/dind k8sinpod k8sinpodd
$ kubectl exec deploy/k8sinpod -c k8sinpodd -- kubectl --kubeconfig /var/lib/k8sinpod/kubeconfig get nodes
  needs cluster
  check deployment_has k8s/overlays/dind k8sinpod k8sinpodd
  check kubeconfig_path_is k8s/base/config.yaml /var/lib/k8sinpod/kubeconfig
  check grep -q '^ADD ${KUBECTL_SOURCE} /tools/kubectl$' container/Dockerfile
  check grep -q '^COPY --from=tools /tools/ /usr/local/bin/$' container/Dockerfile
$ cmake --preset release -DCMAKE_INSTALL_SYSCONFDIR=/etc
  run cmake --preset release -DCMAKE_INSTALL_SYSCONFDIR=/etc -B "$T/release-etc" >/dev/null
  check grep -q 'DESTINATION "/etc/k8sinpod" .*RENAME "config.yaml"' "$T/release-etc/cmake_install.cmake"
  check grep -q 'DESTINATION "${CMAKE_INSTALL_PREFIX}/lib/systemd/system"' "$T/release-etc/cmake_install.cmake"
$ cmake --build --preset release
  covered-by ci:cmake --build --preset release
  check presets_differ_only_in_link dev release
$ cmake --install build/release
  covered-by manifests.install
$ systemctl daemon-reload
  needs systemd
$ systemctl enable --now k8sinpodd
  needs systemd
  check grep -q '^WantedBy=multi-user.target' systemd/k8sinpodd.service
$ systemctl reload k8sinpodd
  needs systemd
  check grep -q '^ExecReload=' systemd/k8sinpodd.service
$ journalctl -u k8sinpodd -f
  needs systemd
$ kubectl logs deploy/k8sinpod -c k8sinpodd --tail 100
  needs cluster
  check deployment_has k8s/overlays/dind k8sinpod k8sinpodd
  check deployment_has k8s/overlays/host-docker k8sinpod k8sinpodd
$ kubectl port-forward deploy/k8sinpod 9090 &
  needs cluster
  check deployment_has k8s/overlays/dind k8sinpod k8sinpodd 9090
  check deployment_has k8s/overlays/host-docker k8sinpod k8sinpodd 9090
$ k8sinpodd --check-config --config config.yaml
  run "$K8SINPODD" --check-config --config k8s/base/config.yaml
$ sysctl fs.inotify.max_user_watches=524288 fs.inotify.max_user_instances=512
  needs node
  check [[ -f /proc/sys/fs/inotify/max_user_watches && -f /proc/sys/fs/inotify/max_user_instances ]]
$ test/fakes/smoke.sh
  covered-by system.smoke
$ test/sandbox/sandbox.sh down
  covered-by system.sandbox.down
$ export K8SINPOD_SANDBOX_DIR=/tmp/k8sp-bench K8SINPOD_SANDBOX_NETNS=k8sp-bench
  run export K8SINPOD_SANDBOX_DIR=/tmp/k8sp-bench K8SINPOD_SANDBOX_NETNS=k8sp-bench
$ test/sandbox/sandbox.sh up
  covered-by system.sandbox.up
$ test/sandbox/sandbox.sh exec bench/repair_latency.sh "$PWD/build/release" /tmp/k8sp-bench-out
  covered-by system.bench_smoke
$ BENCH_CHANGES=5 test/sandbox/sandbox.sh exec bench/repair_latency.sh "$PWD/build/release"
  covered-by system.bench_smoke
$ test/sandbox/sandbox.sh exec bench/watch_cost.sh "$PWD/build/release" /tmp/k8sp-bench-watch
  covered-by system.bench_watch_smoke
$ BENCH_SECONDS=60 test/sandbox/sandbox.sh exec bench/watch_cost.sh "$PWD/build/release"
  covered-by system.bench_watch_smoke
$ test/sandbox/sandbox.sh exec bench/startup.sh "$PWD/build/release" /tmp/k8sp-bench-startup
  covered-by system.bench_startup_smoke
$ test/sandbox/sandbox.sh exec bench/event_rate.sh "$PWD/build/release" /tmp/k8sp-bench-events
  covered-by system.bench_events_smoke
$ BENCH_RATES="100 1000" BENCH_SECONDS=5 BENCH_CHANGES=2 test/sandbox/sandbox.sh exec bench/event_rate.sh "$PWD/build/release"
  covered-by system.bench_events_smoke
$ test/sandbox/sandbox.sh exec bench/endpoints_load.sh "$PWD/build/release" /tmp/k8sp-bench-endpoints
  covered-by system.bench_endpoints_smoke
$ BENCH_DURATION=5s BENCH_CHANGES=3 test/sandbox/sandbox.sh exec bench/endpoints_load.sh "$PWD/build/release"
  covered-by system.bench_endpoints_smoke
$ BENCH_CHANGES=120 BENCH_ROUNDS=8 BENCH_SUPERVISION_ONLY=1 test/sandbox/sandbox.sh exec bench/endpoints_load.sh "$PWD/build/release" /tmp/k8sp-bench-long
  covered-by system.bench_endpoints_repairs_smoke
$ cmake --preset fuzz && cmake --build --preset fuzz
  covered-by ci:cmake --build --preset fuzz
$ test/lint/tidy.sh build/dev
  covered-by ci:test/lint/tidy.sh "build/$PRESET"
$ test/fuzz/run.sh build/fuzz 60
  covered-by ci:test/fuzz/run.sh build/fuzz
$ test/fuzz/run.sh build/fuzz 300 config kubeconfig
  covered-by ci:test/fuzz/run.sh build/fuzz
$ K8SINPOD_FUZZ_SECONDS=60 ctest --preset fuzz
  covered-by ci:cmake --preset fuzz
EOF
)

# --- helpers for `run` and `check` (exported to their bash) ---------------------------------------

# presets_differ_only_in_link A B: configure presets A and B set the same generator and cache
# variables except CMAKE_BUILD_TYPE and the static link (K8SINPOD_STATIC_*), so what CI builds
# with A shows that B's sources compile; CI builds and tests B's k8sinpodd itself (test/run.sh).
presets_differ_only_in_link() {
  presets_differ_only_in "$1" "$2" CMAKE_BUILD_TYPE K8SINPOD_STATIC_DEPS K8SINPOD_STATIC_OPENSSL
}

# presets_differ_only_in A B VAR...: configure presets A and B set the same cache variables apart
# from VAR... and use the same generator (what CI builds of one stands for the other).
presets_differ_only_in() {
  python3 - "$@" <<'PY'
import json, sys
presets = {p["name"]: p for p in json.load(open("CMakePresets.json"))["configurePresets"]}
a, b = (presets[n] for n in sys.argv[1:3])
ignored = set(sys.argv[3:])
va = {k: v for k, v in a.get("cacheVariables", {}).items() if k not in ignored}
vb = {k: v for k, v in b.get("cacheVariables", {}).items() if k not in ignored}
sys.exit(0 if va == vb and a.get("generator") == b.get("generator") else 1)
PY
}

# deployment_has DIR NAME CONTAINER [PORT]: `kubectl kustomize k8s/...DIR` has a Deployment NAME
# with a container CONTAINER (listening on containerPort PORT).
deployment_has() {
  local rendered
  rendered="$T/rendered-${1//\//_}.yaml"
  [[ -f "$rendered" ]] || kubectl kustomize "$1" >"$rendered"
  python3 - "$rendered" "${@:2}" <<'PY'
import sys, yaml
path, name, container = sys.argv[1:4]
port = int(sys.argv[4]) if len(sys.argv) > 4 else None
for doc in yaml.safe_load_all(open(path)):
    if doc and doc.get("kind") == "Deployment" and doc["metadata"]["name"] == name:
        for c in doc["spec"]["template"]["spec"]["containers"]:
            ports = [p.get("containerPort") for p in c.get("ports", [])]
            if c["name"] == container and (port is None or port in ports):
                sys.exit(0)
sys.exit(1)
PY
}

# kubeconfig_path_is CONFIG PATH: the config's kubeconfig.path (or its default) is PATH.
kubeconfig_path_is() {
  python3 - "$@" <<'PY'
import sys, yaml
config = yaml.safe_load(open(sys.argv[1])) or {}
path = (config.get("kubeconfig") or {}).get("path") or "/var/lib/k8sinpod/kubeconfig"
sys.exit(0 if path == sys.argv[2] else 1)
PY
}

# build_args_used NAME...: each build argument is an ARG of container/Dockerfile and is passed by
# test/container/image.sh.
build_args_used() {
  local a
  for a in "$@"; do
    grep -q "^ARG $a\\b" container/Dockerfile || { echo "no ARG $a in container/Dockerfile"; return 1; }
    grep -q "$a=" test/container/image.sh || { echo "test/container/image.sh does not pass $a"; return 1; }
  done
}
export -f presets_differ_only_in_link presets_differ_only_in deployment_has kubeconfig_path_is build_args_used

# --- the commands of the docs ----------------------------------------------------------------------

# Records "FILE<US>LINE<US>OPEN<US>CLOSE<US>KIND<US>TEXT", KIND = CMD or ERROR.
extract() {
  awk 'BEGIN { OFS = "\037" }
    FNR == 1 { infence = 0; prev = "" }
    /^[[:space:]]*```/ {
      if (!infence) {
        infence = 1; open = FNR; n = 0; cont = ""; contline = 0
        lang = $0; sub(/^[[:space:]]*```[[:space:]]*/, "", lang); sub(/[[:space:]].*$/, "", lang)
        if (lang == "")
          print FILENAME, FNR, FNR, FNR, "ERROR", "a fenced block without a language (text if it holds no command)"
        else if (lang !~ /^(sh|bash|shell|console|text|yaml|ini|json|promql|mermaid)$/)
          print FILENAME, FNR, FNR, FNR, "ERROR", "unknown block language \"" lang "\" (add it to docs_commands.sh)"
        shell = lang ~ /^(sh|bash|shell|console)$/
      } else {
        infence = 0
        if (cont != "") print FILENAME, contline, open, FNR, "ERROR", "a \\ continuation runs into the end of the block"
        for (i = 1; i <= n; i++) print FILENAME, where[i], open, FNR, "CMD", cmd[i]
      }
      prev = $0; next
    }
    infence && shell {
      l = $0; sub(/^[[:space:]]+/, "", l)
      if (cont == "") {
        if (lang == "console") { if (l !~ /^\$ /) next; sub(/^\$ /, "", l) }
        if (l == "" || l ~ /^#/) next
        contline = FNR
      }
      if (l ~ /\\$/) { sub(/[[:space:]]*\\$/, "", l); cont = cont (cont == "" ? "" : " ") l; next }
      l = cont (cont == "" ? "" : " ") l; cont = ""
      sub(/[[:space:]]+#([[:space:]].*)?$/, "", l)
      n++; cmd[n] = l; where[n] = contline
      next
    }
    !infence && /^    / && prev ~ /^[[:space:]]*$/ {
      print FILENAME, FNR, FNR, FNR, "ERROR", "an indented code block: use a fenced block with a language"
    }
    { prev = $0 }' README.md docs/*.md
}

declare -A DECISION CHECKS USED RESULT
key=""
while IFS= read -r line; do
  case "$line" in
    '$ '*) key=${line#\$ }; DECISION[$key]=""; CHECKS[$key]="" ;;
    '  check '*) CHECKS[$key]+="${line#  check }"$'\n' ;;
    '  '*) DECISION[$key]=${line#  } ;;
    *) echo "docs_commands.sh: bad TABLE line: $line" >&2; exit 2 ;;
  esac
done <<<"$TABLE"

ctest -N --test-dir "$K8SINPOD_BUILD_DIR" | sed -n 's/^ *Test *#[0-9]*: //p' >"$T/tests"
[[ -s "$T/tests" ]] || { echo "no CTest tests in $K8SINPOD_BUILD_DIR" >&2; exit 2; }

# run_shell CMD: runs CMD as documented above; prints why it failed.
run_shell() {
  if ! timeout 60 bash -c "set -euo pipefail; $1" >"$T/out" 2>&1; then
    echo "\`$1\` failed: $(tail -n 5 "$T/out" | tr '\n' ' ')"
    return 1
  fi
}

# decide KEY: runs the decision and the checks of KEY once; prints the result.
decide() {
  local d=$1 what c
  case "${DECISION[$d]}" in
    run\ *)
      run_shell "${DECISION[$d]#run }" || return 1 ;;
    covered-by\ ci:*)
      what=${DECISION[$d]#covered-by ci:}
      grep -q '^exec bash test/run.sh$' .ci/run || { echo ".ci/run does not run test/run.sh"; return 1; }
      [[ -z "$what" ]] || grep -qF -- "$what" test/run.sh ||
        { echo "test/run.sh does not contain: $what"; return 1; }
      ;;
    covered-by\ label:*)
      what=${DECISION[$d]#covered-by label:}
      ctest -N --test-dir "$K8SINPOD_BUILD_DIR" -L "^$what\$" | grep -q '^Total Tests: [1-9]' ||
        { echo "no CTest test has label $what"; return 1; }
      # shellcheck disable=SC2016 # the literal text of test/run.sh
      grep -qF 'ctest --preset "$PRESET" --timeout' test/run.sh || { echo "test/run.sh does not run every label"; return 1; }
      ;;
    covered-by\ *)
      what=${DECISION[$d]#covered-by }
      grep -qx -- "$what" "$T/tests" || { echo "no CTest test $what in $K8SINPOD_BUILD_DIR"; return 1; }
      ;;
    needs\ *)
      what=${DECISION[$d]#needs }
      [[ -n "${NEEDS[$what]:-}" ]] || { echo "unknown need \"$what\""; return 1; }
      ;;
    *) echo "no decision"; return 1 ;;
  esac
  while IFS= read -r c; do
    [[ -z "$c" ]] || run_shell "$c" || return 1
  done <<<"${CHECKS[$d]}"
  echo ok
}

failures=0
printf '%-26s %-64s %-28s %s\n' "where" "command" "decision" "result"
while IFS=$'\037' read -r file lineno open close kind text; do
  if [[ "$kind" == ERROR ]]; then
    printf '%-26s %-64s %-28s %s\n' "$file:$lineno" "-" "-" "FAIL: $text"
    failures=$((failures + 1))
    continue
  fi
  short=$text
  ((${#short} <= 64)) || short="${short:0:61}..."
  if [[ -z "${DECISION[$text]+set}" ]]; then
    result="FAIL: no entry in TABLE of test/manifests/docs_commands.sh (run, covered-by or needs)"
    decision="-"
  else
    USED[$text]=1
    decision=${DECISION[$text]}
    [[ -n "${RESULT[$text]+set}" ]] || RESULT[$text]=$(decide "$text" 2>&1) || RESULT[$text]="FAIL: ${RESULT[$text]}"
    result=${RESULT[$text]}
    if [[ "$decision" == needs\ * && "$result" == ok ]]; then
      # The doc says what is needed within 3 lines of the block.
      from=$((open > 3 ? open - 3 : 1))
      if ! sed -n "${from},$((close + 3))p" "$file" | tr -s '\n\t ' '   ' |
        grep -Eiq -- "${NEEDS[${decision#needs }]}"; then
        result="FAIL: $file does not say near line $lineno that it needs ${decision#needs } (/${NEEDS[${decision#needs }]}/)"
      fi
    fi
  fi
  ((${#decision} <= 28)) || decision="${decision:0:25}..."
  printf '%-26s %-64s %-28s %s\n' "$file:$lineno" "$short" "$decision" "$result"
  [[ "$result" == ok ]] || failures=$((failures + 1))
done < <(extract)

for k in "${!DECISION[@]}"; do
  if [[ -z "${USED[$k]:-}" ]]; then
    echo "FAIL: TABLE entry matches no command in README.md or docs/: $k"
    failures=$((failures + 1))
  fi
done

if ((failures)); then
  echo "FAIL: $failures problem(s) with the commands of README.md and docs/" >&2
  exit 1
fi
echo "PASS every command in README.md and docs/ is run, covered by a test, or marked with what it needs"

#!/usr/bin/env bash
# install.sh BUILD_DIR: `cmake --install BUILD_DIR --prefix DIR` places the daemon, the systemd
# unit, the example config and the docs (CTest label `manifests`), and the installed config is
# valid.
set -euo pipefail
(($# == 1)) || { echo "usage: install.sh BUILD_DIR" >&2; exit 2; }
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
T=$(mktemp -d /tmp/k8sinpod-install.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

cmake --install "$1" --prefix "$T" >"$T.log" 2>&1 || { cat "$T.log" >&2; rm -f "$T.log"; fail "cmake --install"; }
rm -f "$T.log"
[[ -x "$T/bin/k8sinpodd" ]] || fail "no bin/k8sinpodd"
cmp -s "$T/lib/systemd/system/k8sinpodd.service" "$REPO/systemd/k8sinpodd.service" || fail "unit not installed"
cmp -s "$T/etc/k8sinpod/config.yaml" "$REPO/config/k8sinpod.yaml" || fail "config not installed"
[[ -f "$T/share/doc/k8sinpod/deployment.md" ]] || fail "docs not installed"
"$T/bin/k8sinpodd" --check-config --config "$T/etc/k8sinpod/config.yaml" >/dev/null ||
  fail "the installed config fails --check-config"
"$T/bin/k8sinpodd" --version || fail "the installed k8sinpodd does not run"
echo "PASS install: bin/k8sinpodd lib/systemd/system/k8sinpodd.service etc/k8sinpod/config.yaml share/doc/k8sinpod/"

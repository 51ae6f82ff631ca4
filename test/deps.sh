#!/usr/bin/env bash
# Installs what building and testing k8sinpod needs on Debian 12 (apt only; run as root).
# Idempotent: packages already present are skipped by apt. Used by .ci/run, test/run.sh and
# test/demo.sh, so a fresh machine needs nothing else.
set -euo pipefail

packages=(
  # build
  cmake ninja-build g++ clang clang-format clang-tidy pkgconf
  libboost1.81-dev libboost-json1.81-dev libssl-dev libspdlog-dev libyaml-cpp-dev
  prometheus-cpp-dev doctest-dev
  # the test world: a real Docker engine in a network namespace, real clients
  docker.io iproute2 iptables procps psmisc openssl curl ca-certificates prometheus yamllint
  shellcheck python3 python3-yaml
  # bench/endpoints_load.sh (prometheus-node-exporter is optional there: its package starts a
  # service on install)
  wrk
  # bench/watch_cost.sh: GNU time for the kubectl loop's CPU and peak RSS
  time
  # test/manifests: systemd-analyze verify/security
  systemd
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "test/deps.sh: missing packages (run as root to install): ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The machines this project runs on carry a current kubectl; where there is none, Debian's
# kubernetes-client (kubectl 1.20) does what the tests need (get --raw, config set-cluster).
if ! command -v kubectl >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    kubernetes-client >/dev/null
fi

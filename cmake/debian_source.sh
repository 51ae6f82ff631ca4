#!/usr/bin/env bash
# Downloads one Debian source package with apt, by name and version, into a directory:
#
#   cmake/debian_source.sh PACKAGE VERSION DEST_DIR
#
# The release link (CMakeLists.txt, K8SINPOD_STATIC_DEPS) uses it for prometheus-cpp, which
# Debian 12 ships only as a shared library. apt reads the source index from the same Debian
# mirrors the machine's own apt uses (their `deb` entries, as `deb-src`), in a private state
# directory, so the machine's apt configuration and lists stay untouched and no root is needed.
# apt checks every file it downloads against the signed index. Every network step has a timeout.
set -euo pipefail
pkg=${1:?usage: debian_source.sh PACKAGE VERSION DEST_DIR}
version=${2:?usage: debian_source.sh PACKAGE VERSION DEST_DIR}
dest=${3:?usage: debian_source.sh PACKAGE VERSION DEST_DIR}
fail() {
  echo "debian_source.sh: $*" >&2
  exit 1
}
command -v apt-get >/dev/null || fail "no apt-get: pass a local copy of the $pkg source instead"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/etc/sources.list.d" "$work/etc/preferences.d" "$work/lists/partial" \
  "$work/cache/archives/partial"
# Debian's own entries only (a third-party repository may have no source index at all): the
# deb822 file Debian 12 installs, and one-line `deb` entries of the classic file.
if [[ -f /etc/apt/sources.list.d/debian.sources ]]; then
  sed -E 's/^Types:.*/Types: deb-src/' /etc/apt/sources.list.d/debian.sources \
    >"$work/etc/sources.list.d/debian.sources"
fi
if [[ -f /etc/apt/sources.list ]]; then
  sed -nE 's/^[[:space:]]*deb[[:space:]]+/deb-src /p' /etc/apt/sources.list >"$work/etc/sources.list"
else
  : >"$work/etc/sources.list"
fi
[[ -s "$work/etc/sources.list" || -s "$work/etc/sources.list.d/debian.sources" ]] ||
  fail "no Debian entry in /etc/apt/sources.list or /etc/apt/sources.list.d/debian.sources"

apt=(apt-get -q -o "Dir::Etc::SourceList=$work/etc/sources.list"
  -o "Dir::Etc::SourceParts=$work/etc/sources.list.d"
  -o "Dir::Etc::PreferencesParts=$work/etc/preferences.d"
  -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache"
  -o "APT::Sandbox::User=$(id -un)" -o Acquire::http::Timeout=30 -o Acquire::Retries=2)
timeout 300 "${apt[@]}" update >"$work/update.log" 2>&1 ||
  { cat "$work/update.log" >&2; fail "apt-get update of the source index failed"; }
mkdir -p "$dest"
cd "$dest"
timeout 300 "${apt[@]}" source --download-only "$pkg=$version" ||
  fail "apt-get source $pkg=$version failed"

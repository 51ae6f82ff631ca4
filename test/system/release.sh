#!/usr/bin/env bash
# The shipped link (the `release` preset; docs/benchmarks.md section 2): k8sinpodd maps no shared
# library but glibc's, names the OpenSSL it carries, and passes lifecycle.sh (TLS probes, kubectl,
# promtool, adopt, SIGTERM) in a sandbox of its own. test/run.sh runs it after the other tests.
#
#   test/system/release.sh BUILD_DIR    a `release` build holding k8sinpodd and fake_apiserver
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:?usage: release.sh BUILD_DIR}" && pwd)
daemon=$build/daemon/k8sinpodd
fail() {
  echo "release: FAIL: $*" >&2
  exit 1
}
[[ -x "$daemon" ]] || fail "no daemon at $daemon"

others=$(ldd "$daemon" | awk '{ print $1 }' |
  grep -Ev '^(linux-vdso\.so\.1|libc\.so\.6|/lib(64)?/ld-linux[-a-z0-9_.]*\.so\.[0-9]+)$' || true)
[[ -z "$others" ]] || fail "shared libraries besides glibc: $(echo "$others" | tr '\n' ' ')"
version=$("$daemon" --version)
[[ "$version" == *"OpenSSL 3."* ]] || fail "--version names no OpenSSL: $version"
echo "release: $version; shared libraries: glibc only"

export K8SINPOD_SANDBOX_DIR=${K8SINPOD_SANDBOX_DIR:-/tmp/k8sinpod-release-sb}
export K8SINPOD_SANDBOX_NETNS=${K8SINPOD_SANDBOX_NETNS:-k8sinpod-release}
trap '"$repo/test/sandbox/sandbox.sh" down >/dev/null 2>&1 || true' EXIT
"$repo/test/system/sandbox-up.sh" "$build"
K8SINPODD=$daemon FAKE_KIND=$repo/test/fakes/kind \
  "$repo/test/sandbox/sandbox.sh" exec "$repo/test/system/lifecycle.sh"
echo "release: ok"

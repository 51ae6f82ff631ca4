#!/usr/bin/env bash
# node-image.sh BUILD_DIR: build the stand-in kind node image k8sinpod/fake-node:latest in the
# Docker engine named by DOCKER_HOST (run it inside the sandbox: sandbox.sh exec node-image.sh DIR).
#
# The rootfs holds /usr/local/bin/fake-apiserver (test/fakes/apiserver), exactly the shared
# libraries `ldd` lists for it, and the empty directories the node needs. BUILD_DIR is searched for
# an already built fake_apiserver (the project's build dir or a standalone one); without one, the
# apiserver is built standalone into BUILD_DIR/fake-apiserver.
#
# Idempotent: the image carries the label io.k8sinpod.fake-node.hash, a hash of the rootfs tar and
# the image config; when the existing image has the same hash nothing is imported.
# Environment: FAKE_NODE_IMAGE overrides the image name.
set -euo pipefail

IMAGE=${FAKE_NODE_IMAGE:-k8sinpod/fake-node:latest}
HASH_LABEL=io.k8sinpod.fake-node.hash
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

die() { echo "node-image: $*" >&2; exit 1; }

(($# == 1)) || die "usage: node-image.sh BUILD_DIR"
BUILD_DIR=$1
mkdir -p "$BUILD_DIR"
BUILD_DIR=$(cd "$BUILD_DIR" && pwd)
[[ -n "${DOCKER_HOST:-}" ]] || die "DOCKER_HOST is not set (run inside: sandbox.sh exec $0 $BUILD_DIR)"

find_binary() {
  local candidate
  for candidate in "$BUILD_DIR/test/fakes/apiserver/fake_apiserver" \
                   "$BUILD_DIR/fake-apiserver/fake_apiserver" "$BUILD_DIR/fake_apiserver"; do
    if [[ -x "$candidate" ]]; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}

# A standalone build made by an earlier run is brought up to date (a no-op when it is): an old
# binary would otherwise outlive changes to the stand-in's source.
if [[ ! -x "$BUILD_DIR/test/fakes/apiserver/fake_apiserver" &&
  -f "$BUILD_DIR/fake-apiserver/build.ninja" ]]; then
  cmake --build "$BUILD_DIR/fake-apiserver" >&2
fi
if ! BIN=$(find_binary); then
  echo "node-image: building fake_apiserver in $BUILD_DIR/fake-apiserver" >&2
  cmake -S "$HERE/apiserver" -B "$BUILD_DIR/fake-apiserver" -G Ninja \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$BUILD_DIR/fake-apiserver" >&2
  BIN=$(find_binary) || die "no fake_apiserver after the build"
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/fake-node.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
ROOT="$WORK/rootfs"

mkdir -p "$ROOT/usr/local/bin" "$ROOT/etc/kubernetes/pki" "$ROOT/run" "$ROOT/tmp" "$ROOT/var" \
  "$ROOT/proc" "$ROOT/sys" "$ROOT/dev" "$ROOT/lib/modules"
cp "$BIN" "$ROOT/usr/local/bin/fake-apiserver"
strip "$ROOT/usr/local/bin/fake-apiserver" 2>/dev/null || true
# Every absolute path ldd prints (libs after "=>", the loader alone on its line), copied with
# symlinks resolved to the same path inside the rootfs.
while read -r lib; do
  mkdir -p "$ROOT$(dirname "$lib")"
  cp -L "$lib" "$ROOT$lib"
done < <(ldd "$BIN" | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^\//) print $i }' | sort -u)
chmod 1777 "$ROOT/tmp"

# Image config. kind's node image also has STOPSIGNAL SIGRTMIN+3, which `docker import --change`
# cannot set: the fake kind passes --stop-signal=SIGRTMIN+3 at create time instead.
CHANGES=(
  'ENTRYPOINT ["/usr/local/bin/fake-apiserver"]'
  'ENV PATH=/usr/local/bin:/usr/bin:/bin'
)

tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$ROOT" -cf "$WORK/rootfs.tar" .
HASH=$({ sha256sum <"$WORK/rootfs.tar"; printf '%s\n' "${CHANGES[@]}"; } | sha256sum | cut -c1-64)

current=$(docker image inspect -f "{{ index .Config.Labels \"$HASH_LABEL\" }}" "$IMAGE" 2>/dev/null || true)
if [[ "$current" == "$HASH" ]]; then
  echo "node-image: $IMAGE is up to date ($HASH_LABEL=${HASH:0:12})" >&2
  exit 0
fi

args=()
for change in "${CHANGES[@]}" "LABEL $HASH_LABEL=$HASH"; do
  args+=(--change "$change")
done
docker import "${args[@]}" "$WORK/rootfs.tar" "$IMAGE" >/dev/null
echo "node-image: built $IMAGE ($HASH_LABEL=${HASH:0:12})" >&2

#!/usr/bin/env bash
# base-image.sh K8SINPODD: build the local base image k8sinpod/test-runtime-base:latest in the
# Docker engine named by DOCKER_HOST, offline, from files of this machine (run it inside the
# sandbox: sandbox.sh exec base-image.sh PATH). It stands in for debian:bookworm-slim plus the
# Debian packages container/Dockerfile would install (RUNTIME_APT_PACKAGES, TOOLS_APT_PACKAGES),
# so the Dockerfile builds with those arguments empty and no registry or mirror.
#
# The rootfs (merged /usr, like Debian 12) holds:
#   - every executable of the Debian packages the stand-in kind and the Dockerfile's RUN steps
#     use (dash, bash, coreutils, grep, sed, gawk/mawk, tar, openssl, curl, iproute2), with
#     OpenSSL's config;
#   - the Docker CLI and kubectl found on PATH;
#   - exactly the shared libraries `ldd` lists for all of these and for K8SINPODD (not K8SINPODD
#     itself: the Dockerfile copies that in);
#   - /etc/passwd and /etc/group with root, /tmp (1777), empty /proc /sys /dev /run.
# Idempotent: the label io.k8sinpod.test-base.hash (hash of the rootfs tar and the image config)
# makes a rebuild with the same content a no-op. TEST_BASE_IMAGE overrides the image name.
set -euo pipefail

IMAGE=${TEST_BASE_IMAGE:-k8sinpod/test-runtime-base:latest}
HASH_LABEL=io.k8sinpod.test-base.hash
PACKAGES=(dash bash coreutils grep sed tar openssl curl iproute2)

die() { echo "base-image: $*" >&2; exit 1; }

(($# == 1)) || die "usage: base-image.sh K8SINPODD"
[[ -x "$1" ]] || die "\"$1\" is not an executable"
[[ -n "${DOCKER_HOST:-}" ]] || die "DOCKER_HOST is not set (run inside: sandbox.sh exec $0 $1)"
K8SINPODD=$(readlink -f "$1")

WORK=$(mktemp -d "${TMPDIR:-/tmp}/test-base.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
ROOT="$WORK/rootfs"

mkdir -p "$ROOT"/usr/{bin,sbin,lib,lib64} "$ROOT"/{etc,proc,sys,dev,run,tmp,var/tmp}
for d in bin sbin lib lib64; do ln -s "usr/$d" "$ROOT/$d"; done
chmod 1777 "$ROOT/tmp" "$ROOT/var/tmp"

# Executables: every file under a bin/ or sbin/ directory of the packages, plus awk, docker and
# kubectl as PATH resolves them here.
executables=()
while read -r f; do
  [[ -f "$f" && -x "$f" ]] && executables+=("$f")
done < <(dpkg -L "${PACKAGES[@]}" | grep -E '^/(usr/)?s?bin/' | sort -u)
for tool in awk docker kubectl; do
  path=$(command -v "$tool") || die "$tool not found on PATH"
  executables+=("$path")
done

# copy SRC: into the rootfs at the same path, symlinks in the path resolved to their target.
copy() {
  local dest="$ROOT$1"
  mkdir -p "$(dirname "$dest")"
  cp -L "$1" "$dest"
}
for f in "${executables[@]}"; do copy "$f"; done
# awk is an alternatives symlink: make /usr/bin/awk the real program.
cp -L "$(command -v awk)" "$ROOT/usr/bin/awk"
# Shared libraries: every absolute path ldd prints (static programs print none).
while read -r lib; do
  copy "$lib"
done < <(for f in "${executables[@]}" "$K8SINPODD"; do ldd "$f" 2>/dev/null || true; done |
           awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^\//) print $i }' | sort -u)
ln -sf dash "$ROOT/usr/bin/sh"
# OpenSSL reads its config from OPENSSLDIR (/usr/lib/ssl on Debian).
if [[ -d /usr/lib/ssl ]]; then
  mkdir -p "$ROOT/usr/lib/ssl" "$ROOT/etc/ssl"
  cp -L /etc/ssl/openssl.cnf "$ROOT/etc/ssl/openssl.cnf"
  ln -s /etc/ssl/openssl.cnf "$ROOT/usr/lib/ssl/openssl.cnf"
fi
printf 'root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' \
  >"$ROOT/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$ROOT/etc/group"
printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$ROOT/etc/nsswitch.conf"
mkdir -p "$ROOT/root"

CHANGES=('ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/bin:/usr/sbin:/bin:/sbin' 'CMD ["/bin/sh"]')
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$ROOT" -cf "$WORK/rootfs.tar" .
HASH=$({ sha256sum <"$WORK/rootfs.tar"; printf '%s\n' "${CHANGES[@]}"; } | sha256sum | cut -c1-64)

current=$(docker image inspect -f "{{ index .Config.Labels \"$HASH_LABEL\" }}" "$IMAGE" 2>/dev/null || true)
if [[ "$current" == "$HASH" ]]; then
  echo "base-image: $IMAGE is up to date ($HASH_LABEL=${HASH:0:12})" >&2
  exit 0
fi
args=()
for change in "${CHANGES[@]}" "LABEL $HASH_LABEL=$HASH"; do args+=(--change "$change"); done
docker import "${args[@]}" "$WORK/rootfs.tar" "$IMAGE" >/dev/null
echo "base-image: built $IMAGE ($(du -sh "$WORK/rootfs.tar" | cut -f1), $HASH_LABEL=${HASH:0:12})" >&2

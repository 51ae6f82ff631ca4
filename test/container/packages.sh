#!/usr/bin/env bash
# packages.sh K8SINPODD: every Debian package that provides a shared library of K8SINPODD (per
# `ldd` and `dpkg -S`) is in container/Dockerfile's RUNTIME_APT_PACKAGES default, so the image
# built from source has what the binary loads. libc6 is in every Debian base image.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
DOCKERFILE="$HERE/../../container/Dockerfile"
(($# == 1)) || { echo "usage: packages.sh K8SINPODD" >&2; exit 2; }

listed=$(sed -n 's/^ARG RUNTIME_APT_PACKAGES="\(.*\)"$/\1/p' "$DOCKERFILE")
[[ -n "$listed" ]] || { echo "FAIL: no RUNTIME_APT_PACKAGES default in $DOCKERFILE" >&2; exit 1; }
mapfile -t needed < <(ldd "$1" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }' | while read -r lib; do
                        dpkg -S "$(readlink -f "$lib")" 2>/dev/null || dpkg -S "$lib"
                      done | cut -d: -f1 | sort -u)
((${#needed[@]} > 1)) || { echo "FAIL: no packages found for the libraries of $1" >&2; exit 1; }
echo "libraries of $1 come from: ${needed[*]}"
missing=()
for pkg in "${needed[@]}"; do
  # libc6 is in every base; sanitizer runtimes come only with the asan preset, never in an image.
  [[ "$pkg" == libc6 || "$pkg" == libasan* || "$pkg" == libubsan* ]] && continue
  grep -qw -- "$pkg" <<<"$listed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "FAIL: RUNTIME_APT_PACKAGES lacks: ${missing[*]}" >&2
  exit 1
fi
echo "PASS: RUNTIME_APT_PACKAGES covers the libraries of $1"

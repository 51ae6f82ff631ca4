#!/usr/bin/env bash
# CTest fixture setup for the system tests: the sandbox (a netns with its own dockerd) and the
# stand-in node image built from this build tree's fake_apiserver.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
"$here/sandbox/sandbox.sh" up
"$here/sandbox/sandbox.sh" exec "$here/fakes/node-image.sh" "$1"

#!/usr/bin/env bash
# Runs its arguments with the soak's own sandbox selected: the names of test/sandbox/sandbox.sh
# (K8SINPOD_SANDBOX_DIR, K8SINPOD_SANDBOX_NETNS, or their defaults) with "-soak" appended. With
# its own netns and dockerd the soak can run while the system tests use theirs (test/run.sh runs
# CTest with two jobs).
#   test/soak/sandbox-env.sh test/sandbox/sandbox.sh down
set -euo pipefail
export K8SINPOD_SANDBOX_DIR="${K8SINPOD_SANDBOX_DIR:-/tmp/k8sinpod-sandbox}-soak"
export K8SINPOD_SANDBOX_NETNS="${K8SINPOD_SANDBOX_NETNS:-k8sinpod-sb}-soak"
exec "$@"

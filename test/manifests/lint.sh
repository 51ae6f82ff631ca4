#!/usr/bin/env bash
# lint.sh: every YAML file of the repository passes yamllint (.yamllint at the root; CTest label
# `manifests`).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
yamllint --strict .
echo "PASS yamllint"

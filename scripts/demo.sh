#!/usr/bin/env bash
# Installs keras-viz, then runs the main job: the demo that trains on embedded data and
# logs explanations into TensorBoard. Extra arguments go to `keras-viz demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-3}"
exec .venv/bin/keras-viz demo "$@"

#!/usr/bin/env bash
# The main job, offline on a CPU: set up the environment if needed, then run the whole recipe on tiny models
# (recipes/tiny.yaml: quantize -> translate -> judge -> mix -> train translator -> translate more -> train chat model
# -> merge -> eval -> demo Space folder). Reruns skip what is already built.
#   scripts/run-tiny.sh [OUTPUT_DIR] [pipeline run options, e.g. --push-to-hub ORG]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-env.sh
bin="${HALA_VENV:-.venv}/bin"
out="runs/tiny"
if [[ $# -gt 0 && "$1" != -* ]]; then out="$1"; shift; fi
# Offline: nothing comes from the Hub. With --push-to-hub later stages read the pushed artifacts back, so the Hub is used.
if [[ " $* " != *" --push-to-hub"* ]]; then export HF_HUB_OFFLINE=1; fi
"$bin/hala-release" pipeline run recipes/tiny.yaml --output-dir "$out" "$@"

#!/usr/bin/env bash
# The main job, offline on a CPU: set up the environment if needed, then build tiny artifacts with cards.
# (Until `pipeline run` lands this builds the tiny model and sample datasets every later stage starts from.)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-env.sh
bin="${HALA_VENV:-.venv}/bin"
out="${1:-runs/tiny}"
export HF_HUB_OFFLINE=1
"$bin/hala-release" tiny-model "$out/tiny-lfm2" --arch lfm2 --overwrite
"$bin/hala-release" tiny-model "$out/tiny-llama" --arch llama --overwrite
"$bin/hala-release" sample-data openorca "$out/openorca-sample" --overwrite
"$bin/hala-release" sample-data opus100-ar-en "$out/opus100-ar-en-sample" --overwrite
echo
echo "artifacts (each with README.md card and hala_provenance.json):"
for artifact in "$out"/*/; do echo "  $artifact"; done
echo "publish one with: $bin/hala-release push-model $out/tiny-lfm2 --repo-id YOUR-ORG/tiny-lfm2 --tag v1"

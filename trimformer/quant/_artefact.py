"""Size helpers shared by the quantizers' tests and benchmarks."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn


def dir_size_bytes(path: str | Path) -> int:
    """Bytes of every file in a saved artefact folder (weights dominate; config/tokenizer files are small)."""
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


def linear_weight_bytes(model: nn.Module) -> int:
    """Bytes held by the weights of Linear-like layers (what 8/4-bit quantizers shrink)."""
    total = 0
    for module in model.modules():
        w = getattr(module, "weight", None)
        if not isinstance(w, torch.Tensor) or isinstance(module, (nn.Embedding, nn.LayerNorm)) or w.dim() != 2:
            continue
        total += w.numel() * w.element_size()
    return total

"""Save and reload pruned models: the general artefact format (`trimformer.artefact`) does the work.

    save_pruned(model, "out/", tokenizer)      # = trimformer.artefact.io.save_artefact
    model = load_pruned("out/")                # = trimformer.load_model

Per-layer shapes (head counts, FFN widths) are in the transform log; plain transformers refuses such a
checkpoint at once with a sentence naming trimformer's loader (see `trimformer.artefact.io.GUARD`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from trimformer.artefact.io import GUARD as HOW_TO_LOAD
from trimformer.artefact.io import save_artefact


def save_pruned(model: nn.Module, out_dir: str | Path, tokenizer: Any = None) -> Path:
    return save_artefact(model, tokenizer, out_dir)


def load_pruned(path: str | Path, **kwargs: Any) -> nn.Module:
    from trimformer.loading import load_model

    return load_model(str(path), **kwargs)


__all__ = ["HOW_TO_LOAD", "load_pruned", "save_pruned"]

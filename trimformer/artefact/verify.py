"""Check that a saved artefact reloads to the model that was saved: the same logits on real inputs.

The runner calls this after every save, so report.json states, per stage, the largest logit difference
between the in-memory model and `trimformer.load_model` of its folder (the path users take).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

# Largest acceptable |logit| difference after save -> reload, per runtime: every path is exact here; the
# margin only absorbs a different summation order (e.g. bitsandbytes' CPU kernels on a reloaded layout).
TOLERANCE = 1e-4


@torch.no_grad()
def reload_difference(model: Any, folder: str | Path, batch: dict[str, torch.Tensor], model_cls: Any = None) -> float:
    """Max |logits(model) - logits(load_model(folder))| on `batch` (input_ids, attention_mask[, token_type_ids])."""
    from trimformer.loading import load_model

    reloaded = load_model(str(folder), model_cls)
    return max_logit_difference(model, reloaded, batch)


@torch.no_grad()
def max_logit_difference(a: Any, b: Any, batch: dict[str, torch.Tensor]) -> float:
    outs = []
    for model in (a, b):
        was_training = getattr(model, "training", False)
        if hasattr(model, "eval"):
            model.eval()
        device = _device(model)
        feed = {k: v.to(device) for k, v in batch.items()}
        outs.append(model(**feed).logits.float().cpu())
        if was_training:
            model.train()
    return float((outs[0] - outs[1]).abs().max())


def _device(model: Any) -> torch.device:
    try:
        return next(model.parameters()).device
    except (StopIteration, AttributeError):
        return torch.device("cpu")

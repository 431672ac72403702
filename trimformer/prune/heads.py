"""Attention-head pruning: score heads, pick the weakest, cut them out, update the config."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from trimformer.compress import Calibration, register_technique
from trimformer.prune.guards import check_prunable
from trimformer.prune.importance import HEAD_METHODS, head_importance
from trimformer.prune.selection import select_prune
from trimformer.prune.shapes import record_shapes
from trimformer.prune.surgery import remove_heads


@dataclass
class HeadPruneConfig:
    """Remove attention heads.

    amount: fraction (< 1) or count of heads to remove; scope "global" ranks all heads together,
    "per_layer" removes `amount` from every layer. importance: "taylor" (gradient of a head gate on
    the calibration batches, Michel et al. 2019) or "magnitude" (no data). `heads` names heads to
    remove explicitly ({layer: [head, ...]}) and then overrides amount/importance."""

    amount: float | int = 0.5
    scope: str = "global"
    importance: str = "taylor"
    min_heads_per_layer: int = 1
    normalize: bool = True  # per-layer L2 normalisation of taylor scores (as in the paper)
    heads: dict[int, list[int]] | None = None

    def __post_init__(self) -> None:
        if self.importance not in HEAD_METHODS:
            raise ValueError(f"importance={self.importance!r}: use one of {', '.join(HEAD_METHODS)}")
        if self.scope not in ("global", "per_layer"):
            raise ValueError(f"scope={self.scope!r}: use 'global' or 'per_layer'")
        if self.min_heads_per_layer < 1:
            raise ValueError(f"min_heads_per_layer={self.min_heads_per_layer}: must be at least 1")


def heads_to_prune(
    model: nn.Module, config: HeadPruneConfig, calib: Calibration | None = None
) -> dict[int, list[int]]:
    """{layer: [heads]} that `config` would remove, without changing the model."""
    adapter = check_prunable(model, "head pruning")
    counts = adapter.heads_per_layer(model)
    if config.heads is not None:
        plan = {int(k): sorted(set(int(h) for h in v)) for k, v in config.heads.items()}
        for layer, heads in plan.items():
            if not 0 <= layer < len(counts):
                raise ValueError(f"heads: layer {layer} does not exist (the model has {len(counts)} layers)")
            if any(not 0 <= h < counts[layer] for h in heads):
                raise ValueError(f"heads: layer {layer} has heads 0..{counts[layer] - 1}, got {heads}")
            if counts[layer] - len(heads) < config.min_heads_per_layer:
                raise ValueError(
                    f"heads: layer {layer} would keep {counts[layer] - len(heads)} heads, fewer than "
                    f"min_heads_per_layer={config.min_heads_per_layer}; remove fewer heads there"
                )
        return plan
    scores = head_importance(model, calib, config.importance, normalize=config.normalize)
    chosen = select_prune(scores, config.amount, config.scope, config.min_heads_per_layer, "heads")
    return {i: heads for i, heads in enumerate(chosen) if heads}


def prune_heads_(model: nn.Module, config: HeadPruneConfig, calib: Calibration | None = None) -> nn.Module:
    """Remove heads in place (Q/K/V rows, output-projection columns) and record the new shapes."""
    plan = heads_to_prune(model, config, calib)
    adapter = check_prunable(model, "head pruning")
    layers = adapter.layer_list(model)
    for layer, heads in plan.items():
        remove_heads(layers[layer], adapter, heads)
    record_shapes(model, adapter)
    return model


register_technique(HeadPruneConfig)(prune_heads_)

"""Attention-head pruning: score heads, pick the weakest, cut them out, record the per-layer counts."""

from __future__ import annotations

from typing import Any

from torch import nn

from trimformer.artefact.registry import TransformSpec, register_transform
from trimformer.compress import Calibration, compress_
from trimformer.errors import UserInputError
from trimformer.prune.config import HeadPruneConfig
from trimformer.prune.guards import check_prunable
from trimformer.prune.importance import head_importance
from trimformer.prune.selection import select_prune
from trimformer.prune.shapes import config_changes
from trimformer.prune.surgery import remove_heads


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
                raise UserInputError(f"heads: layer {layer} does not exist (the model has {len(counts)} layers)")
            if any(not 0 <= h < counts[layer] for h in heads):
                raise UserInputError(f"heads: layer {layer} has heads 0..{counts[layer] - 1}, got {heads}")
            if counts[layer] - len(heads) < config.min_heads_per_layer:
                raise UserInputError(
                    f"heads: layer {layer} would keep {counts[layer] - len(heads)} heads, fewer than "
                    f"min_heads_per_layer={config.min_heads_per_layer}; remove fewer heads there"
                )
        return plan
    scores = head_importance(model, calib, config.importance, normalize=config.normalize)
    chosen = select_prune(scores, config.amount, config.scope, config.min_heads_per_layer, "heads")
    return {i: heads for i, heads in enumerate(chosen) if heads}


def _apply(model: nn.Module, config: HeadPruneConfig, calib: Calibration | None):
    plan = heads_to_prune(model, config, calib)
    adapter = check_prunable(model, "head pruning")
    layers = adapter.layer_list(model)
    for layer, heads in plan.items():
        remove_heads(layers[layer], adapter, heads)
    entry = {"heads_per_layer": adapter.heads_per_layer(model), "removed": {str(k): v for k, v in plan.items()}}
    return model, entry, config_changes(model, adapter)


def rebuild_heads(model: nn.Module, entry: dict[str, Any]) -> nn.Module:
    """Cut each layer to its recorded head count (which heads go does not matter: the weights load next)."""
    from trimformer.prune.families import adapter_for

    adapter = adapter_for(model)
    layers = adapter.layer_list(model)
    counts = entry["heads_per_layer"]
    if len(counts) != len(layers):
        raise UserInputError(f"prune_heads record has {len(counts)} layers, the model {len(layers)}")
    for layer, keep in zip(layers, counts):
        remove_heads(layer, adapter, range(keep, adapter.attention(layer).num_attention_heads))
    return model


def prune_heads_(model: nn.Module, config: HeadPruneConfig, calib: Calibration | None = None) -> nn.Module:
    """Remove heads in place (Q/K/V rows, output-projection columns) and record the new shapes."""
    return compress_(model, config, calib)


register_transform(TransformSpec("prune_heads", HeadPruneConfig, _apply, rebuild_heads))

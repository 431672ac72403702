"""FFN neuron pruning: narrow each layer's intermediate projection by neuron importance."""

from __future__ import annotations

from typing import Any

from torch import nn

from trimformer.artefact.registry import TransformSpec, register_transform
from trimformer.compress import Calibration, compress_
from trimformer.errors import UserInputError
from trimformer.prune.config import FFNPruneConfig
from trimformer.prune.guards import check_prunable
from trimformer.prune.importance import ffn_importance
from trimformer.prune.selection import select_prune
from trimformer.prune.shapes import config_changes
from trimformer.prune.surgery import keep_neurons


def neurons_to_prune(model: nn.Module, config: FFNPruneConfig, calib: Calibration | None = None) -> list[list[int]]:
    check_prunable(model, "FFN pruning")
    scores = ffn_importance(model, calib, config.importance)
    chosen = select_prune(scores, config.amount, config.scope, config.min_neurons_per_layer, "neurons")
    if config.round_to > 1:
        chosen = [_round(c, s, config.round_to) for c, s in zip(chosen, scores)]
    return chosen


def _round(chosen: list[int], scores, multiple: int) -> list[int]:
    # Remove fewer neurons (the least important of the chosen stay chosen) so the width is a multiple.
    width = len(scores) - len(chosen)
    extra = (-width) % multiple
    if extra == 0 or extra > len(chosen):
        return chosen
    by_score = sorted(chosen, key=lambda j: float(scores[j]))
    return sorted(by_score[: len(chosen) - extra])


def _apply(model: nn.Module, config: FFNPruneConfig, calib: Calibration | None):
    chosen = neurons_to_prune(model, config, calib)
    adapter = check_prunable(model, "FFN pruning")
    for layer, drop in zip(adapter.layer_list(model), chosen):
        if drop:
            width = adapter.ffn(layer)[0].out_features
            gone = set(drop)
            keep_neurons(layer, adapter, [j for j in range(width) if j not in gone])
    return model, {"widths": adapter.ffn_widths(model)}, config_changes(model, adapter)


def rebuild_ffn(model: nn.Module, entry: dict[str, Any]) -> nn.Module:
    from trimformer.prune.families import adapter_for

    adapter = adapter_for(model)
    layers = adapter.layer_list(model)
    if len(entry["widths"]) != len(layers):
        raise UserInputError(f"prune_ffn record has {len(entry['widths'])} layers, the model {len(layers)}")
    for layer, width in zip(layers, entry["widths"]):
        keep_neurons(layer, adapter, range(width))
    return model


def prune_ffn_(model: nn.Module, config: FFNPruneConfig, calib: Calibration | None = None) -> nn.Module:
    return compress_(model, config, calib)


register_transform(
    TransformSpec(
        "prune_ffn", FFNPruneConfig, _apply, rebuild_ffn, plain_compatible=lambda e: len(set(e["widths"])) == 1
    )
)

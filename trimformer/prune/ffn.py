"""FFN neuron pruning: narrow each layer's intermediate projection by neuron importance."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from trimformer.compress import Calibration, register_technique
from trimformer.prune.guards import check_prunable
from trimformer.prune.importance import FFN_METHODS, ffn_importance
from trimformer.prune.selection import select_prune
from trimformer.prune.shapes import record_shapes
from trimformer.prune.surgery import keep_neurons


@dataclass
class FFNPruneConfig:
    """Remove FFN (intermediate) neurons.

    amount: fraction (< 1) or count of neurons to remove; scope "per_layer" (default) keeps every
    layer the same width, so plain transformers reloads the result; "global" ranks all neurons
    together (per-layer widths, reload with trimformer.loading.load_model). importance: "activation"
    (mean |activation| x output norm on calibration batches), "taylor" (gate gradient) or
    "magnitude" (no data). round_to: keep widths a multiple of this (fast matmuls)."""

    amount: float | int = 0.5
    scope: str = "per_layer"
    importance: str = "activation"
    min_neurons_per_layer: int = 1
    round_to: int = 1

    def __post_init__(self) -> None:
        if self.importance not in FFN_METHODS:
            raise ValueError(f"importance={self.importance!r}: use one of {', '.join(FFN_METHODS)}")
        if self.scope not in ("global", "per_layer"):
            raise ValueError(f"scope={self.scope!r}: use 'global' or 'per_layer'")
        if self.round_to < 1:
            raise ValueError(f"round_to={self.round_to}: must be >= 1")


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


def prune_ffn_(model: nn.Module, config: FFNPruneConfig, calib: Calibration | None = None) -> nn.Module:
    chosen = neurons_to_prune(model, config, calib)
    adapter = check_prunable(model, "FFN pruning")
    for layer, drop in zip(adapter.layer_list(model), chosen):
        if drop:
            width = adapter.ffn(layer)[0].out_features
            keep_neurons(layer, adapter, [j for j in range(width) if j not in set(drop)])
    record_shapes(model, adapter)
    return model


register_technique(FFNPruneConfig)(prune_ffn_)

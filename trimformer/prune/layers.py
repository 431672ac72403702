"""Layer dropping: an explicit list, the top k layers, or greedily by calibration loss."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from trimformer.compress import Calibration, register_technique
from trimformer.prune.families import FamilyAdapter
from trimformer.prune.gates import masked
from trimformer.prune.guards import check_prunable
from trimformer.prune.importance import calibration_loss
from trimformer.prune.shapes import record_shapes
from trimformer.prune.surgery import remove_layers

STRATEGIES = ("explicit", "top", "importance")


@dataclass
class LayerDropConfig:
    """Drop whole encoder layers.

    strategy "explicit": drop `layers` (0-based); "top": drop the last `count` layers; "importance":
    drop `count` layers one at a time, each time the one whose removal raises the calibration loss
    least (needs labelled calibration batches)."""

    strategy: str = "explicit"
    layers: list[int] | None = None
    count: int | None = None

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy={self.strategy!r}: use one of {', '.join(STRATEGIES)}")
        if self.strategy == "explicit" and not self.layers:
            raise ValueError("strategy='explicit' needs layers=[...] (0-based indices to drop)")
        if self.strategy != "explicit" and (self.count is None or self.count < 1):
            raise ValueError(f"strategy='{self.strategy}' needs count >= 1 (how many layers to drop)")


def layers_to_drop(model: nn.Module, config: LayerDropConfig, calib: Calibration | None = None) -> list[int]:
    adapter = check_prunable(model, "layer dropping")
    n = len(adapter.layer_list(model))
    if config.strategy == "explicit":
        bad = [i for i in config.layers if not 0 <= i < n]
        if bad:
            raise ValueError(f"layers={config.layers}: {bad} out of range, the model has layers 0..{n - 1}")
        drop = sorted(set(config.layers))
        if len(drop) >= n:
            raise ValueError(f"layers={config.layers}: would drop all {n} layers; keep at least one")
        return drop
    if config.count >= n:
        raise ValueError(f"count={config.count}: the model has {n} layers and must keep at least one; lower count")
    if config.strategy == "top":
        return list(range(n - config.count, n))
    return _greedy_by_loss(model, adapter, calib, config.count)


def _greedy_by_loss(model: nn.Module, adapter: FamilyAdapter, calib: Calibration | None, count: int) -> list[int]:
    n = len(adapter.layer_list(model))
    dropped: list[int] = []
    for _ in range(count):
        best, best_loss = None, float("inf")
        for candidate in (i for i in range(n) if i not in dropped):
            with masked(model, layers=[*dropped, candidate]):
                loss = calibration_loss(model, calib)
            if loss < best_loss:
                best, best_loss = candidate, loss
        dropped.append(best)
    return sorted(dropped)


def drop_layers_(model: nn.Module, config: LayerDropConfig, calib: Calibration | None = None) -> nn.Module:
    drop = layers_to_drop(model, config, calib)
    adapter = check_prunable(model, "layer dropping")
    remove_layers(model, adapter, drop)
    record_shapes(model, adapter)
    return model


register_technique(LayerDropConfig)(drop_layers_)

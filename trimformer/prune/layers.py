"""Layer dropping: an explicit list, the top k layers, or greedily by calibration loss."""

from __future__ import annotations

from typing import Any

from torch import nn

from trimformer.artefact.registry import TransformSpec, register_transform
from trimformer.compress import Calibration, compress_
from trimformer.errors import UserInputError
from trimformer.prune.config import LayerDropConfig
from trimformer.prune.families import FamilyAdapter, adapter_for
from trimformer.prune.gates import masked
from trimformer.prune.importance import calibration_loss
from trimformer.prune.surgery import remove_layers


def layers_to_drop(model: nn.Module, config: LayerDropConfig, calib: Calibration | None = None) -> list[int]:
    adapter = adapter_for(model)
    n = len(adapter.layer_list(model))
    if config.strategy == "explicit":
        bad = [i for i in config.layers if not 0 <= i < n]
        if bad:
            raise UserInputError(f"layers={config.layers}: {bad} out of range, the model has layers 0..{n - 1}")
        drop = sorted(set(config.layers))
        if len(drop) >= n:
            raise UserInputError(f"layers={config.layers}: would drop all {n} layers; keep at least one")
        return drop
    if config.count >= n:
        raise UserInputError(f"count={config.count}: the model has {n} layers and must keep at least one; lower count")
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


def _apply(model: nn.Module, config: LayerDropConfig, calib: Calibration | None):
    drop = layers_to_drop(model, config, calib)
    adapter = adapter_for(model)
    remove_layers(model, adapter, drop)
    return model, {"dropped": drop}, {"num_hidden_layers": len(adapter.layer_list(model))}


def rebuild_layers(model: nn.Module, entry: dict[str, Any]) -> nn.Module:
    adapter = adapter_for(model)
    remove_layers(model, adapter, entry["dropped"])
    return model


def drop_layers_(model: nn.Module, config: LayerDropConfig, calib: Calibration | None = None) -> nn.Module:
    return compress_(model, config, calib)


register_transform(
    TransformSpec("prune_layers", LayerDropConfig, _apply, rebuild_layers, plain_compatible=lambda e: True)
)

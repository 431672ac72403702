"""The technique registry: config object -> in-place function (torchao's `quantize_` pattern).

Each technique (head pruning, FFN pruning, quantization, ...) is a small dataclass config plus a
function registered here with `@register_technique(ConfigCls)`. `compress_(model, config, calib)`
looks the handler up. The recipe stages and `DistillationTrainer(compression=[...])` both go
through this one door, so Python users and YAML users get the same techniques.

This module sits at the bottom of the dependency graph: it imports nothing from trimformer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn


@dataclass
class Calibration:
    """A few tokenized batches (with labels when the task has them) that importance scores and
    calibrated quantizers may run the model on. Kept as plain tensors so techniques need no data
    machinery."""

    batches: list[dict[str, torch.Tensor]] = field(default_factory=list)
    # Tokenized training text, for vocabulary pruning (token ids seen in the corpus).
    corpus_input_ids: Iterable[list[int]] | None = None
    tokenizer: Any = None

    def __iter__(self):
        return iter(self.batches)


TechniqueFn = Callable[[nn.Module, Any, "Calibration | None"], nn.Module]
_TECHNIQUES: dict[type, TechniqueFn] = {}


def register_technique(config_cls: type) -> Callable[[TechniqueFn], TechniqueFn]:
    """Decorator: `@register_technique(HeadPruneConfig) def _(model, config, calib) -> model`."""

    def wrap(fn: TechniqueFn) -> TechniqueFn:
        if config_cls in _TECHNIQUES:
            raise ValueError(f"technique for {config_cls.__name__} is already registered")
        _TECHNIQUES[config_cls] = fn
        return fn

    return wrap


def compress_(model: nn.Module, config: Any, calibration: Calibration | None = None) -> nn.Module:
    """Apply the technique named by `config` to `model` (in place where possible) and return the
    model to use from now on (some techniques, e.g. LoRA, wrap it)."""
    handler = _TECHNIQUES.get(type(config))
    if handler is None:
        known = ", ".join(sorted(c.__name__ for c in _TECHNIQUES)) or "none registered"
        raise TypeError(f"no technique registered for {type(config).__name__}; known configs: {known}")
    return handler(model, config, calibration)


def registered_techniques() -> dict[type, TechniqueFn]:
    return dict(_TECHNIQUES)

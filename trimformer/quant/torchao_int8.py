"""torchao int8 (dynamic-activation/int8-weight or int8 weight-only), applied in place with `quantize_`.

On CPU this is only fast compiled (measured: eager int8-dynamic 0.74x fp32, weight-only 0.37x; compiled
~2.2x after ~40 s of torch.compile), so the record says `compile` and the loader compiles when asked.
Weights are torchao `Int8Tensor`s, stored with torchao's own safetensors flattening (no pickle).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from trimformer.artefact.registry import TransformSpec, register_transform
from trimformer.compress import Calibration, compress_
from trimformer.quant.config import HEAD_NAMES, TorchAoInt8Config, in_modules


def _names(model: nn.Module) -> list[str]:
    # The head is tiny and sits on the decision; int8 there buys nothing.
    return [n for n, m in model.named_modules() if type(m) is nn.Linear and not in_modules(n, HEAD_NAMES)]


def _quantize(model: nn.Module, cfg: TorchAoInt8Config, names: list[str]) -> nn.Module:
    from torchao.quantization import quantize_

    wanted = set(names)
    quantize_(model, cfg.torchao_config(), filter_fn=lambda module, fqn: fqn in wanted)
    return model


def _apply(model: nn.Module, cfg: TorchAoInt8Config, calib: Calibration | None):
    names = _names(model)
    _quantize(model.eval(), cfg, names)
    return model, {"modules": names, "runtime": "torchao", "compiled": cfg.compile}, {}


def _rebuild(model: nn.Module, entry: dict[str, Any]) -> nn.Module:
    return _quantize(model, TorchAoInt8Config.model_validate(entry["config"]), entry["modules"])


def _finish(model: nn.Module, entry: dict[str, Any], compile: bool | None = None, **_: Any) -> nn.Module:
    if entry["config"].get("compile", True) if compile is None else compile:
        # Compiles lazily on the first call (tens of seconds on CPU); later calls are the fast ones.
        return torch.compile(model)
    return model


def quantize_torchao(model: nn.Module, cfg: TorchAoInt8Config | None = None) -> nn.Module:
    """torchao int8 in place, uncompiled (compiling happens when the saved artefact is loaded)."""
    return compress_(model, cfg or TorchAoInt8Config())


register_transform(TransformSpec("torchao-int8", TorchAoInt8Config, _apply, _rebuild, finish=_finish))

"""torchao int8 (dynamic-activation/int8-weight or int8 weight-only) through transformers' TorchAoConfig.

On CPU this is only fast compiled (measured: eager int8-dynamic 0.74x fp32, weight-only 0.37x; compiled
~2.2x after ~40 s of torch.compile), so the record says `compiled` and the loader compiles when asked.
The artefact is a plain transformers checkpoint (safetensors + quantization_config), so users without
trimformer can still `from_pretrained` it; they then run it eagerly, which is slower.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from trimformer.compress import Calibration, register_technique
from trimformer.loading import register_loader
from trimformer.quant._artefact import saved_float_copy, set_record

# The head is tiny and sits on the decision; int8 there buys nothing.
DEFAULT_SKIP = ["classifier", "pre_classifier", "qa_outputs"]


@dataclass
class TorchAoInt8Config:
    mode: Literal["dynamic", "weight"] = "dynamic"  # int8 activations+weights, or int8 weights only
    compile: bool = True  # load with torch.compile (what makes torchao fast on CPU)

    def __post_init__(self) -> None:
        if self.mode not in ("dynamic", "weight"):
            raise ValueError(f"TorchAoInt8Config.mode={self.mode!r}: use 'dynamic' or 'weight'")

    @property
    def method(self) -> str:
        return f"torchao-int8-{self.mode}" if self.mode == "dynamic" else "torchao-int8-weight"

    def to_transformers(self) -> Any:
        from torchao.quantization import Int8DynamicActivationInt8WeightConfig, Int8WeightOnlyConfig
        from transformers import TorchAoConfig

        quant = Int8DynamicActivationInt8WeightConfig() if self.mode == "dynamic" else Int8WeightOnlyConfig()
        return TorchAoConfig(quant, modules_to_not_convert=DEFAULT_SKIP)


def quantize_torchao(model: nn.Module, cfg: TorchAoInt8Config | None = None) -> nn.Module:
    """Return a torchao-int8 copy of a float model (save float -> reload with TorchAoConfig), uncompiled:
    compiling happens when the saved artefact is loaded, the way a user runs it."""
    cfg = cfg or TorchAoInt8Config()
    with saved_float_copy(model) as tmp:
        quantized = type(model).from_pretrained(tmp, quantization_config=cfg.to_transformers(), device_map="cpu")
    set_record(quantized.config, "torchao", method=cfg.method, runtime="torchao", compiled=cfg.compile)
    return quantized.eval()


@register_technique(TorchAoInt8Config)
def _torchao_technique(model: nn.Module, cfg: TorchAoInt8Config, calibration: Calibration | None = None):
    return quantize_torchao(model, cfg)


@register_loader("torchao")
def _load_torchao(path: str, config: Any, model_cls: Any, compile: bool | None = None, **kwargs: Any) -> nn.Module:
    model = model_cls.from_pretrained(path, **kwargs).eval()
    if config.trimformer.get("compiled", False) if compile is None else compile:
        # Compiles lazily on the first call (tens of seconds on CPU); later calls are the fast ones.
        model = torch.compile(model)
    return model

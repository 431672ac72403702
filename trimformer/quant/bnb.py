"""bitsandbytes 8-bit (LLM.int8 with its outlier threshold) and 4-bit (NF4 / FP4) quantization.

bitsandbytes quantizes at load time, so `quantize_bnb` saves a float model and reloads it with a
`BitsAndBytesConfig`. The result saves with plain `save_pretrained` and reloads with plain
`from_pretrained` (the quantization config travels in config.json), so no trimformer loader is needed.
Use it for GPU memory; on CPU it runs (bitsandbytes >= 0.45 has CPU kernels) but is slower than fp32.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import nn

from trimformer.compress import Calibration, register_technique
from trimformer.quant._artefact import saved_float_copy

# Heads stay in full precision: they are tiny, freshly trained and most sensitive (and LoRA trains them).
DEFAULT_SKIP = ["classifier", "pre_classifier", "qa_outputs"]


@dataclass
class BnbConfig:
    bits: Literal[8, 4] = 4
    quant_type: Literal["nf4", "fp4"] = "nf4"  # 4-bit only
    double_quant: bool = True  # 4-bit only: quantize the per-block scales too (~0.4 bit/param saved)
    compute_dtype: str = "auto"  # 4-bit only: "auto" = bfloat16 on CUDA, float32 on CPU
    llm_int8_threshold: float = 6.0  # 8-bit only: activations above it take the fp16 outlier path
    skip_modules: list[str] = field(default_factory=lambda: list(DEFAULT_SKIP))

    def __post_init__(self) -> None:
        if self.bits not in (8, 4):
            raise ValueError(f"BnbConfig.bits={self.bits!r}: use 8 or 4")
        if self.quant_type not in ("nf4", "fp4"):
            raise ValueError(f"BnbConfig.quant_type={self.quant_type!r}: use 'nf4' or 'fp4'")
        if self.compute_dtype not in ("auto", "float32", "bfloat16", "float16"):
            raise ValueError(f"BnbConfig.compute_dtype={self.compute_dtype!r}: use auto, float32, bfloat16 or float16")

    @property
    def method(self) -> str:
        return "bnb-8bit" if self.bits == 8 else f"bnb-{self.quant_type}"

    def resolved_compute_dtype(self) -> torch.dtype:
        if self.compute_dtype == "auto":
            return torch.bfloat16 if torch.cuda.is_available() else torch.float32
        return getattr(torch, self.compute_dtype)

    def to_transformers(self) -> Any:
        from transformers import BitsAndBytesConfig

        if self.bits == 8:
            return BitsAndBytesConfig(
                load_in_8bit=True, llm_int8_threshold=self.llm_int8_threshold, llm_int8_skip_modules=self.skip_modules
            )
        return BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type=self.quant_type,
            bnb_4bit_use_double_quant=self.double_quant,
            bnb_4bit_compute_dtype=self.resolved_compute_dtype(),
            llm_int8_skip_modules=self.skip_modules,
        )

    def describe(self) -> dict[str, Any]:
        info: dict[str, Any] = {"method": self.method, "runtime": "bitsandbytes", "compiled": False}
        if self.bits == 8:
            info["llm_int8_threshold"] = self.llm_int8_threshold
        else:
            info.update(double_quant=self.double_quant, compute_dtype=str(self.resolved_compute_dtype()))
        return info


def load_bnb(path: str, cfg: BnbConfig, model_cls: Any = None, **kwargs: Any) -> nn.Module:
    """Load a float checkpoint (directory or Hub id) straight into bitsandbytes layers."""
    if model_cls is None:
        from transformers import AutoConfig

        from trimformer.loading import _auto_class_for

        model_cls = _auto_class_for(AutoConfig.from_pretrained(path))
    device_map = kwargs.pop("device_map", "auto" if torch.cuda.is_available() else "cpu")
    return model_cls.from_pretrained(path, quantization_config=cfg.to_transformers(), device_map=device_map, **kwargs)


def quantize_bnb(model: nn.Module, cfg: BnbConfig) -> nn.Module:
    """Return a bitsandbytes-quantized copy of a float transformers model (save float -> reload quantized)."""
    if getattr(model, "is_quantized", False) or getattr(model, "hf_quantizer", None) is not None:
        raise ValueError("quantize_bnb: the model is already quantized; quantize the float model instead")
    with saved_float_copy(model) as tmp:
        quantized = load_bnb(tmp, cfg, type(model))
    quantized.eval()
    return quantized


@register_technique(BnbConfig)
def _bnb_technique(model: nn.Module, cfg: BnbConfig, calibration: Calibration | None = None) -> nn.Module:
    return quantize_bnb(model, cfg)

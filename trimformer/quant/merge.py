"""Merge LoRA adapters into the base weights, so the result runs without peft.

On a float base the merge is exact (W + B A * alpha/r). On a bitsandbytes base it is not: the quantized
weights are dequantized, the delta added, and then either kept float (`requantize=False`: exact to the
adapted model; every bitsandbytes layer becomes float) or quantized again (`requantize=True`: small
rounding error, quantized size). Which one happened is printed, because a silent dequantize-and-requantize
surprises people. The transform log drops the adapters (and the bitsandbytes step when dequantized); its
`history` keeps them for the card.
"""

from __future__ import annotations

import logging

import torch
from torch import nn

from trimformer.artefact import log as log_mod
from trimformer.artefact.registry import TransformSpec, register_transform
from trimformer.compress import Calibration, compress_
from trimformer.errors import UserInputError
from trimformer.quant.config import MergeConfig

logger = logging.getLogger("trimformer.quant")


def _quantized(model: nn.Module) -> bool:
    return bool(getattr(model, "is_loaded_in_4bit", False) or getattr(model, "is_loaded_in_8bit", False))


def _apply(peft_model: nn.Module, cfg: MergeConfig, calib: Calibration | None):
    if not hasattr(peft_model, "merge_and_unload"):
        raise UserInputError("merge: the model has no LoRA adapters; put a lora stage before merge")
    log = log_mod.get_log(peft_model)
    quantized = _quantized(peft_model.get_base_model())
    if quantized and not cfg.requantize:
        merged = _merge_to_float(peft_model)
        message = "merge: dequantized the quantized base to float, then merged the LoRA deltas (exact; float size)"
    else:
        message = (
            "merge: dequantized each quantized weight, added the LoRA delta and re-quantized it (lossy)"
            if quantized
            else "merge: added the LoRA deltas to the float weights (exact)"
        )
        merged = peft_model.merge_and_unload()
    logger.info(message)
    print(message)  # the line a CLI user needs to see even without logging configured
    dequantized = quantized and not cfg.requantize
    kept = [t for t in log.transforms if t["kind"] != "lora" and not (dequantized and t["kind"] == "bnb")]
    history = log.history + [{"kind": "merge", "requantized": quantized and cfg.requantize}]
    log_mod.set_log(merged, log_mod.TransformLog(kept, log.base, history))
    return merged, None, {}


@torch.no_grad()
def _merge_to_float(peft_model: nn.Module) -> nn.Module:
    """peft's bnb wrappers always re-quantize on merge, so build float Linears ourselves: W = deq(W) + delta;
    bitsandbytes layers without adapters are dequantized too, so the result holds no quantized layer."""
    from peft.tuners.lora import LoraLayer
    from peft.utils.integrations import dequantize_bnb_weight

    def float_linear(layer: nn.Module, weight: torch.Tensor) -> nn.Linear:
        linear = nn.Linear(weight.shape[1], weight.shape[0], bias=layer.bias is not None, device=weight.device)
        linear.weight.copy_(weight)
        if layer.bias is not None:
            linear.bias.copy_(layer.bias.float())
        return linear

    for name, module in list(peft_model.named_modules()):
        if not isinstance(module, LoraLayer):
            continue
        layer = module.get_base_layer()
        weight = dequantize_bnb_weight(layer.weight, state=getattr(layer, "state", None)).float()
        for adapter in module.active_adapters:
            weight = weight + module.get_delta_weight(adapter).float()
        parent, _, child = name.rpartition(".")
        setattr(peft_model.get_submodule(parent), child, float_linear(layer, weight))
    merged = peft_model.merge_and_unload()  # no LoRA layers left: this only unwraps the trained head copies
    import bitsandbytes as bnb

    for name, module in list(merged.named_modules()):
        if isinstance(module, (bnb.nn.Linear4bit, bnb.nn.Linear8bitLt)):
            weight = dequantize_bnb_weight(module.weight, state=getattr(module, "state", None)).float()
            parent, _, child = name.rpartition(".")
            setattr(merged.get_submodule(parent) if parent else merged, child, float_linear(module, weight))
    for flag in ("is_loaded_in_4bit", "is_loaded_in_8bit"):
        if hasattr(merged, flag):
            setattr(merged, flag, False)
    return merged


def merge_lora(peft_model: nn.Module, requantize: bool = False) -> nn.Module:
    """Return the merged plain transformers model (the peft wrapper is gone)."""
    return compress_(peft_model, MergeConfig(requantize=requantize))


register_transform(TransformSpec("merge", MergeConfig, _apply))

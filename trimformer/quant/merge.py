"""Merge LoRA adapters into the base weights, so the result runs without peft.

On a float base the merge is exact (W + B A * alpha/r). On a 4-bit base it is not: the 4-bit weights
are dequantized, the delta added, and then either kept float (`requantize=False`, exact to the adapted
model) or quantized again to 4-bit (`requantize=True`, small rounding error, 4-bit size). Which one
happened is logged, because a silent dequantize-and-requantize surprises people.
"""

from __future__ import annotations

import logging

from torch import nn

logger = logging.getLogger("trimformer.quant")


def merge_lora(peft_model: nn.Module, requantize: bool = False) -> nn.Module:
    """Return the merged plain transformers model (the peft wrapper is gone)."""
    base = peft_model.get_base_model()
    record = dict(getattr(base.config, "trimformer", None) or {})
    four_bit = getattr(base, "is_loaded_in_4bit", False) or getattr(base, "is_loaded_in_8bit", False)
    if four_bit and not requantize:
        merged = _merge_to_float(peft_model)
        message = "merge: dequantized the 4-bit base to float, then merged the LoRA deltas (exact; float size)"
    else:
        message = (
            "merge: dequantized each 4-bit weight, added the LoRA delta and re-quantized it to 4-bit (lossy)"
            if four_bit
            else "merge: added the LoRA deltas to the float weights (exact)"
        )
        merged = peft_model.merge_and_unload()
    logger.warning(message)
    print(message)  # the line a CLI user needs to see even without logging configured
    # The merged model is a plain transformers checkpoint again (maybe bitsandbytes 4-bit): no trimformer loader.
    if getattr(merged.config, "trimformer", None) is not None:
        del merged.config.trimformer
    merged.config.trimformer_merge = {
        "from": record.get("method", "lora"),
        "requantized": bool(four_bit and requantize),
    }
    return merged


def _merge_to_float(peft_model: nn.Module) -> nn.Module:
    """peft's bnb wrappers always re-quantize on merge, so build float Linears ourselves: W = deq(W4) + delta."""
    import torch
    from peft.tuners.lora import LoraLayer
    from peft.utils.integrations import dequantize_bnb_weight

    for name, module in list(peft_model.named_modules()):
        if not isinstance(module, LoraLayer):
            continue
        layer = module.get_base_layer()
        weight = dequantize_bnb_weight(layer.weight, state=getattr(layer, "state", None)).float()
        for adapter in module.active_adapters:
            weight = weight + module.get_delta_weight(adapter).float()
        linear = nn.Linear(weight.shape[1], weight.shape[0], bias=layer.bias is not None, device=weight.device)
        with torch.no_grad():
            linear.weight.copy_(weight)
            if layer.bias is not None:
                linear.bias.copy_(layer.bias.float())
        parent, _, child = name.rpartition(".")
        setattr(peft_model.get_submodule(parent), child, linear)
    merged = peft_model.merge_and_unload()  # no LoRA layers left: this only unwraps the trained head copies
    # No 4-bit layer is left: drop the bitsandbytes flags and quantization_config so it saves as float.
    # (transformers' own dequantize() fails when nothing remains to replace.)
    merged.hf_quantizer.remove_quantization_config(merged)
    for flag in ("is_loaded_in_4bit", "is_loaded_in_8bit"):
        if hasattr(merged, flag):
            setattr(merged, flag, False)
    return merged

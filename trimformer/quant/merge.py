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
        # Dequantize the whole base first: peft then merges into plain Linears, exactly.
        base.dequantize()
        message = "merge: dequantized the 4-bit base to float, then merged the LoRA deltas (exact; float size)"
    elif four_bit:
        message = "merge: dequantized each 4-bit weight, added the LoRA delta and re-quantized it to 4-bit (lossy)"
    else:
        message = "merge: added the LoRA deltas to the float weights (exact)"
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

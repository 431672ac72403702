"""Refuse to cut what we cannot cut safely: unsupported families and non-float (quantized) weights."""

from __future__ import annotations

import torch
from torch import nn

from trimformer.errors import UserInputError
from trimformer.prune.families import FamilyAdapter, adapter_for


def _is_plain_float(t: torch.Tensor | None) -> bool:
    # torchao/bitsandbytes store weights as Tensor subclasses (sometimes reporting a float dtype).
    return t is None or (type(t) in (torch.Tensor, nn.Parameter) and t.is_floating_point())


def check_float_weights(model: nn.Module, adapter: FamilyAdapter, what: str, linears: bool = True) -> None:
    """Check the weights the technique cuts: the encoder Linears (heads, FFN), or with `linears=False` only
    the word embeddings (vocabulary pruning); the rest may be quantized."""
    quantized = getattr(model, "is_quantized", False) or getattr(model, "hf_quantizer", None) is not None
    if linears and quantized:
        raise UserInputError(f"{what}: the model is quantized; run pruning stages before quantization")
    touched: list[tuple[str, nn.Module]] = [] if linears else [("embeddings", adapter.embeddings(model))]
    for i, layer in enumerate(adapter.layer_list(model) if linears else []):
        touched += [(f"layer {i} q/k/v", m) for m in adapter.qkv(layer)]
        touched += [(f"layer {i} attention output", adapter.out_proj(layer))]
        touched += [(f"layer {i} ffn", m) for m in adapter.ffn(layer)]
    for where, module in touched:
        ok = isinstance(module, (nn.Linear, nn.Embedding)) and _is_plain_float(module.weight)
        ok = ok and _is_plain_float(getattr(module, "bias", None))
        if not ok:
            weight = getattr(module, "weight", None)
            kind = f"{type(module).__name__} with {type(weight).__name__} {getattr(weight, 'dtype', '?')} weights"
            raise UserInputError(
                f"{what}: {where} is {kind}, not float; pruning needs float weights: prune before quantizing"
            )


def check_prunable(model: nn.Module, what: str, linears: bool = True) -> FamilyAdapter:
    """The model's adapter, after checking the family is supported and the weights it cuts are float."""
    adapter = adapter_for(model)
    check_float_weights(model, adapter, what, linears)
    return adapter

"""Physical removal: cut heads, FFN neurons and whole layers out of the weight matrices.

Each function changes modules in place; the technique that calls it records the new shapes and config
fields in the transform log (`trimformer.artefact`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from trimformer.errors import UserInputError
from trimformer.prune.families import FamilyAdapter


def slice_linear(linear: nn.Linear, index: torch.Tensor, dim: int) -> nn.Linear:
    """A new Linear keeping `index` along `dim` (0: output rows, 1: input columns); keeps dtype,
    device and requires_grad (transformers' prune_linear_layer does not keep the dtype)."""
    index = index.to(linear.weight.device)
    weight = linear.weight.detach().index_select(dim, index).clone()
    has_bias = linear.bias is not None
    out_f, in_f = weight.shape
    new = nn.Linear(in_f, out_f, bias=has_bias, device=weight.device, dtype=weight.dtype)
    with torch.no_grad():
        new.weight.copy_(weight)
        if has_bias:
            bias = linear.bias.detach()
            new.bias.copy_(bias.index_select(0, index) if dim == 0 else bias)
    new.weight.requires_grad_(linear.weight.requires_grad)
    if has_bias:
        new.bias.requires_grad_(linear.bias.requires_grad)
    return new


def remove_heads(layer: nn.Module, adapter: FamilyAdapter, heads: Sequence[int]) -> None:
    """Drop `heads` of one layer: their Q/K/V rows and the matching output-projection columns."""
    heads = sorted(set(int(h) for h in heads))
    if not heads:
        return
    att = adapter.attention(layer)
    n, d = att.num_attention_heads, att.attention_head_size
    keep = [h for h in range(n) if h not in heads]
    if not keep or heads[-1] >= n or heads[0] < 0:
        raise UserInputError(f"heads {heads}: a layer with {n} heads must keep at least one; prune fewer heads")
    index = torch.cat([torch.arange(h * d, (h + 1) * d) for h in keep])
    att.query = slice_linear(att.query, index, 0)
    att.key = slice_linear(att.key, index, 0)
    att.value = slice_linear(att.value, index, 0)
    layer.set_submodule(adapter.attention_out, slice_linear(adapter.out_proj(layer), index, 1))
    # The attention forward reshapes with view(..., -1, head_size); these keep the module consistent.
    att.num_attention_heads = len(keep)
    att.all_head_size = len(keep) * d


def keep_neurons(layer: nn.Module, adapter: FamilyAdapter, keep: Sequence[int]) -> None:
    """Keep only FFN neurons `keep`: rows of the intermediate projection, columns of the output one."""
    ffn_in, ffn_out = adapter.ffn(layer)
    index = torch.as_tensor(sorted(set(int(i) for i in keep)), dtype=torch.long)
    if len(index) == 0:
        raise UserInputError("FFN pruning must keep at least one neuron per layer; prune a smaller amount")
    layer.set_submodule(adapter.ffn_in, slice_linear(ffn_in, index, 0))
    layer.set_submodule(adapter.ffn_out, slice_linear(ffn_out, index, 1))


def remove_layers(model: nn.Module, adapter: FamilyAdapter, drop: Sequence[int]) -> None:
    layers = adapter.layer_list(model)
    drop_set = set(int(i) for i in drop)
    kept = [layer for i, layer in enumerate(layers) if i not in drop_set]
    if not kept:
        raise UserInputError(f"cannot drop all {len(layers)} layers; keep at least one")
    for new_idx, layer in enumerate(kept):
        # layer_idx only indexes a KV cache, but keep it truthful.
        for module in layer.modules():
            if hasattr(module, "layer_idx"):
                module.layer_idx = new_idx
    model.base_model.set_submodule(adapter.layers, nn.ModuleList(kept))

"""Keep `model.config` truthful about the pruned shapes, and rebuild those shapes from it.

Uniform changes (fewer layers, one FFN width, a smaller vocabulary) are plain config fields, so plain
`from_pretrained` reloads them. Per-layer head counts or per-layer FFN widths cannot be expressed
in a BERT config, so they go into `config.trimformer = {"kind": "pruned", ...}` and
`trimformer.loading.load_model` rebuilds them (see checkpoint.py).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from trimformer.prune.families import FamilyAdapter, adapter_for
from trimformer.prune.surgery import keep_neurons, remove_heads

KIND = "pruned"


def current_shapes(model: nn.Module, adapter: FamilyAdapter | None = None) -> dict[str, Any]:
    adapter = adapter or adapter_for(model)
    return {
        "heads_per_layer": adapter.heads_per_layer(model),
        "intermediate_per_layer": adapter.ffn_widths(model),
        "attention_head_size": adapter.head_size(model),
    }


def record_shapes(model: nn.Module, adapter: FamilyAdapter | None = None) -> None:
    """Write the module shapes into `model.config` (call after any surgery)."""
    adapter = adapter or adapter_for(model)
    config = model.config
    existing = getattr(config, "trimformer", None)
    if isinstance(existing, dict) and existing.get("kind") not in (None, KIND):
        raise ValueError(f"model is a '{existing['kind']}' artefact; prune before applying that technique")
    shapes = current_shapes(model, adapter)
    heads, widths = shapes["heads_per_layer"], shapes["intermediate_per_layer"]
    config.num_hidden_layers = len(heads)
    config.intermediate_size = max(widths)
    config.vocab_size = adapter.embeddings(model).num_embeddings
    full_heads = all(h == config.num_attention_heads for h in heads)
    if full_heads and len(set(widths)) == 1:
        config.trimformer = None  # plain config fields describe the model
    else:
        config.trimformer = {"kind": KIND, **shapes}


def is_per_layer(config: Any) -> bool:
    meta = getattr(config, "trimformer", None)
    return isinstance(meta, dict) and meta.get("kind") == KIND


@torch.no_grad()
def apply_shapes(model: nn.Module, meta: dict[str, Any], adapter: FamilyAdapter | None = None) -> None:
    """Cut a freshly built model (config-sized) down to the recorded per-layer shapes; which heads or
    neurons go does not matter because the saved weights overwrite them next."""
    adapter = adapter or adapter_for(model)
    layers = adapter.layer_list(model)
    heads, widths = meta.get("heads_per_layer"), meta.get("intermediate_per_layer")
    for name, values in (("heads_per_layer", heads), ("intermediate_per_layer", widths)):
        if values is not None and len(values) != len(layers):
            raise ValueError(f"config.trimformer.{name} has {len(values)} entries for {len(layers)} layers")
    for i, layer in enumerate(layers):
        if heads is not None:
            n = adapter.attention(layer).num_attention_heads
            remove_heads(layer, adapter, range(heads[i], n))
        if widths is not None:
            keep_neurons(layer, adapter, range(widths[i]))
    record_shapes(model, adapter)

"""Per-layer shapes of a (pruned) encoder, and the config fields that follow from them.

Uniform changes (fewer layers, one FFN width, a smaller vocabulary) are plain config fields, so plain
`from_pretrained` can rebuild them. Per-layer head counts and per-layer FFN widths cannot be expressed in a
BERT config; the transform log (`trimformer.artefact`) records them and the loader rebuilds them.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from trimformer.prune.families import FamilyAdapter, adapter_for


def current_shapes(model: nn.Module, adapter: FamilyAdapter | None = None) -> dict[str, Any]:
    adapter = adapter or adapter_for(model)
    return {
        "heads_per_layer": adapter.heads_per_layer(model),
        "intermediate_per_layer": adapter.ffn_widths(model),
        "attention_head_size": adapter.head_size(model),
    }


def config_changes(model: nn.Module, adapter: FamilyAdapter | None = None) -> dict[str, Any]:
    """The config fields that describe the model's current shapes (as far as a config can)."""
    adapter = adapter or adapter_for(model)
    widths = adapter.ffn_widths(model)
    return {
        "num_hidden_layers": len(adapter.layer_list(model)),
        "intermediate_size": max(widths),
        "vocab_size": adapter.embeddings(model).num_embeddings,
    }

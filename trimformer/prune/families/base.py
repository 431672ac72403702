"""What pruning needs to know about a model family: where its layers, attention and FFN live.

BERT-like encoders share one layout (`encoder.layer[i].attention.self.query` ...), so an adapter is
just a handful of attribute paths; a new family is one small file that calls `register_family`.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from trimformer.errors import UserInputError


@dataclass(frozen=True)
class FamilyAdapter:
    name: str
    model_types: tuple[str, ...]
    layers: str = "encoder.layer"  # relative to model.base_model
    self_attention: str = "attention.self"  # relative to a layer; has query/key/value
    attention_out: str = "attention.output.dense"  # consumes the concatenated head contexts
    ffn_in: str = "intermediate.dense"
    ffn_out: str = "output.dense"
    word_embeddings: str = "embeddings.word_embeddings"  # relative to model.base_model
    mlm_head: str | None = None  # relative to the full model; has `.decoder` (Linear) and `.bias`

    # -- accessors ---------------------------------------------------------------------------
    def layer_list(self, model: nn.Module) -> nn.ModuleList:
        return model.base_model.get_submodule(self.layers)

    def attention(self, layer: nn.Module) -> nn.Module:
        return layer.get_submodule(self.self_attention)

    def qkv(self, layer: nn.Module) -> tuple[nn.Linear, nn.Linear, nn.Linear]:
        att = self.attention(layer)
        return att.query, att.key, att.value

    def out_proj(self, layer: nn.Module) -> nn.Linear:
        return layer.get_submodule(self.attention_out)

    def ffn(self, layer: nn.Module) -> tuple[nn.Linear, nn.Linear]:
        return layer.get_submodule(self.ffn_in), layer.get_submodule(self.ffn_out)

    def embeddings(self, model: nn.Module) -> nn.Embedding:
        return model.base_model.get_submodule(self.word_embeddings)

    def mlm(self, model: nn.Module) -> nn.Module | None:
        if self.mlm_head is None:
            return None
        try:
            return model.get_submodule(self.mlm_head)
        except AttributeError:
            return None  # a classifier of this family has no MLM head

    def heads_per_layer(self, model: nn.Module) -> list[int]:
        return [self.attention(layer).num_attention_heads for layer in self.layer_list(model)]

    def ffn_widths(self, model: nn.Module) -> list[int]:
        return [self.ffn(layer)[0].out_features for layer in self.layer_list(model)]

    def head_size(self, model: nn.Module) -> int:
        return self.attention(self.layer_list(model)[0]).attention_head_size


_FAMILIES: dict[str, FamilyAdapter] = {}


def register_family(adapter: FamilyAdapter) -> FamilyAdapter:
    for model_type in adapter.model_types:
        if model_type in _FAMILIES:
            raise ValueError(f"a pruning adapter for model_type '{model_type}' is already registered")
        _FAMILIES[model_type] = adapter
    return adapter


def supported_model_types() -> list[str]:
    return sorted(_FAMILIES)


def adapter_for(model: nn.Module) -> FamilyAdapter:
    """The adapter for `model`, or a one-line ValueError naming the supported families."""
    config = getattr(model, "config", None)
    model_type = getattr(config, "model_type", None)
    adapter = _FAMILIES.get(model_type)
    if adapter is None:
        raise UserInputError(
            f"pruning does not support model_type '{model_type}' ({type(model).__name__}); "
            f"supported: {', '.join(supported_model_types())}"
        )
    if getattr(config, "add_cross_attention", False):
        raise UserInputError(f"pruning supports encoder-only {model_type} models; set add_cross_attention=False")
    return adapter

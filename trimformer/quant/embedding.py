"""int8 word embeddings: per-row symmetric int8 with one float scale per token.

Small encoders are half embeddings (MiniLM: 11.7M of 22.7M params), and Linear-only int8 leaves them in
fp32, so the file barely shrinks. `Int8Embedding` stores int8 rows + fp32 scales as real buffers, so
the saved file holds ~1/4 of the bytes; loading swaps the module back in before the weights load.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from trimformer.artefact.registry import TransformSpec, register_transform
from trimformer.compress import Calibration, compress_
from trimformer.errors import UserInputError
from trimformer.quant.config import EmbeddingInt8Config


class Int8Embedding(nn.Module):
    """Drop-in for nn.Embedding at inference: looks int8 rows up, then rescales only the rows used."""

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None) -> None:
        super().__init__()
        self.num_embeddings, self.embedding_dim, self.padding_idx = num_embeddings, embedding_dim, padding_idx
        self.register_buffer("qweight", torch.zeros(num_embeddings, embedding_dim, dtype=torch.int8))
        self.register_buffer("scale", torch.ones(num_embeddings, 1, dtype=torch.float32))

    @classmethod
    def from_float(cls, emb: nn.Embedding) -> Int8Embedding:
        w = emb.weight.detach().float()
        # Per-row scale: rows differ a lot in norm (frequent vs rare tokens), one global scale would crush rare ones.
        scale = w.abs().amax(dim=1, keepdim=True).clamp_min(1e-8) / 127.0
        out = cls(emb.num_embeddings, emb.embedding_dim, emb.padding_idx)
        out.qweight.copy_(torch.round(w / scale).clamp(-127, 127).to(torch.int8))
        out.scale.copy_(scale)
        return out.to(emb.weight.device)

    @property
    def weight(self) -> torch.Tensor:
        # Dequantized view for code that reads `.weight` (e.g. resize/tie helpers); forward never builds it.
        return self.qweight.float() * self.scale

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return F.embedding(input_ids, self.qweight).float() * F.embedding(input_ids, self.scale)

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}, int8 per-row"


def _embedding_names(model: nn.Module, which: str) -> list[str]:
    word = model.get_input_embeddings()
    names = []
    for name, module in model.named_modules():
        if isinstance(module, nn.Embedding) and (which == "all" or module is word):
            names.append(name)
    return names


def _set_module(model: nn.Module, name: str, new: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent_name) if parent_name else model, child, new)


def check_untied(model: nn.Module) -> None:
    out_emb = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if out_emb is not None and out_emb.weight is model.get_input_embeddings().weight:
        raise UserInputError(
            "embedding-int8: the output layer shares the word embeddings (masked-lm); untie them "
            "(config.tie_word_embeddings=False) or use vocabulary pruning instead"
        )


def swap_in_int8_embeddings_(model: nn.Module, names: list[str]) -> None:
    """Replace the named float tables by Int8Embedding (used by this technique and by torch-ao-int8)."""
    for name in names:
        _set_module(model, name, Int8Embedding.from_float(model.get_submodule(name)))


def _apply(model: nn.Module, cfg: EmbeddingInt8Config, calib: Calibration | None):
    check_untied(model)
    names = _embedding_names(model, cfg.which)
    swap_in_int8_embeddings_(model, names)
    return model, {"modules": names, "runtime": "pytorch"}, {}


def swap_in_empty_int8_embeddings(model: nn.Module, names: list[str]) -> nn.Module:
    """Shape-only swap used when rebuilding before the weights load."""
    for name in names:
        emb = model.get_submodule(name)
        _set_module(model, name, Int8Embedding(emb.num_embeddings, emb.embedding_dim, emb.padding_idx))
    return model


def quantize_embeddings_(model: nn.Module, cfg: EmbeddingInt8Config | None = None) -> nn.Module:
    """Replace embedding tables by Int8Embedding in place and record it in the transform log."""
    return compress_(model, cfg or EmbeddingInt8Config())


register_transform(
    TransformSpec(
        "embedding-int8",
        EmbeddingInt8Config,
        _apply,
        lambda model, entry: swap_in_empty_int8_embeddings(model, entry["modules"]),
    )
)

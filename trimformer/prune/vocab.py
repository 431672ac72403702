"""Vocabulary pruning: keep only the tokens a corpus uses (plus special tokens), shrink the
embedding matrix (and a tied MLM decoder), and remap the tokenizer to the new ids."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import nn

from trimformer.artefact.registry import TransformSpec, register_transform
from trimformer.compress import Calibration, compress_
from trimformer.errors import UserInputError
from trimformer.prune.config import VocabPruneConfig
from trimformer.prune.families import adapter_for
from trimformer.prune.guards import check_prunable
from trimformer.prune.tokenizer_remap import complete_keep_set, remap_tokenizer

_ID_FIELDS = ("pad_token_id", "bos_token_id", "eos_token_id", "sep_token_id", "cls_token_id", "unk_token_id")


def tokens_to_keep(tokenizer: Any, corpus_input_ids: Iterable[Sequence[int]], config: VocabPruneConfig) -> list[int]:
    counts: Counter[int] = Counter()
    for ids in corpus_input_ids:
        counts.update(int(i) for i in ids)
    keep = {i for i, c in counts.items() if c >= config.min_count}
    keep |= set(tokenizer.all_special_ids) | set(config.keep_token_ids or [])
    return sorted(complete_keep_set(tokenizer, keep))


@torch.no_grad()
def _shrink_embeddings(model: nn.Module, keep: torch.Tensor, old_to_new: dict[int, int]) -> None:
    adapter = check_prunable(model, "vocabulary pruning", linears=False)
    old = adapter.embeddings(model)
    pad = old.padding_idx
    new_pad = old_to_new.get(pad) if pad is not None else None
    new = nn.Embedding(
        len(keep), old.embedding_dim, padding_idx=new_pad, device=old.weight.device, dtype=old.weight.dtype
    )
    new.weight.copy_(old.weight.index_select(0, keep.to(old.weight.device)))
    new.weight.requires_grad_(old.weight.requires_grad)
    model.set_input_embeddings(new)
    embeddings_module = model.base_model.embeddings
    if hasattr(embeddings_module, "padding_idx") and new_pad is not None:
        embeddings_module.padding_idx = new_pad  # RoBERTa derives position ids from it
    head = adapter.mlm(model)
    if head is not None:
        decoder = head.decoder
        tied = decoder.weight is old.weight
        bias_shared = decoder.bias is not None and decoder.bias is getattr(head, "bias", None)
        if tied:
            decoder.weight = new.weight
        else:
            decoder.weight = nn.Parameter(decoder.weight.index_select(0, keep.to(decoder.weight.device)))
        decoder.out_features = len(keep)
        if decoder.bias is not None:
            bias = nn.Parameter(decoder.bias.index_select(0, keep.to(decoder.bias.device)))
            decoder.bias = bias
            if bias_shared:
                head.bias = bias


def prune_vocab(
    model: nn.Module, tokenizer: Any, corpus_input_ids: Iterable[Sequence[int]], config: VocabPruneConfig | None = None
) -> tuple[nn.Module, Any, torch.Tensor]:
    """Shrink model and tokenizer to the corpus vocabulary. Returns (model, new tokenizer, old_to_new)
    where old_to_new[old_id] is the new id (the new [UNK] id for dropped tokens, -1 if there is none)."""
    calib = Calibration(corpus_input_ids=corpus_input_ids, tokenizer=tokenizer)
    model = compress_(model, config or VocabPruneConfig(), calib)
    return model, calib.tokenizer, torch.tensor(calib.old_to_new)  # both set by _apply


def _apply(model: nn.Module, config: VocabPruneConfig, calib: Calibration | None):
    if calib is None or calib.corpus_input_ids is None or calib.tokenizer is None:
        raise UserInputError("vocabulary pruning needs Calibration(corpus_input_ids=..., tokenizer=...)")
    tokenizer = calib.tokenizer
    check_prunable(model, "vocabulary pruning", linears=False)
    keep = tokens_to_keep(tokenizer, calib.corpus_input_ids, config)
    vocab_size = model.get_input_embeddings().num_embeddings
    if keep and keep[-1] >= vocab_size:
        raise UserInputError(
            f"tokenizer ids go up to {keep[-1]} but the model has {vocab_size} embeddings: they must match"
        )
    new_tokenizer = remap_tokenizer(tokenizer, keep)
    old_to_new = {old: new for new, old in enumerate(keep)}
    _shrink_embeddings(model, torch.tensor(keep, dtype=torch.long), old_to_new)
    unk = old_to_new.get(tokenizer.unk_token_id, -1) if tokenizer.unk_token_id is not None else -1
    table = torch.full((vocab_size,), unk, dtype=torch.long)
    table[torch.tensor(keep)] = torch.arange(len(keep))
    calib.tokenizer, calib.old_to_new = new_tokenizer, table.tolist()
    changes: dict[str, Any] = {"vocab_size": len(keep)}
    for field in _ID_FIELDS:
        value = getattr(model.config, field, None)
        if isinstance(value, int):
            changes[field] = old_to_new.get(value)
    pad = model.get_input_embeddings().padding_idx
    return model, {"vocab_size": len(keep), "padding_idx": pad, "kept_of": vocab_size}, changes


def rebuild_vocab(model: nn.Module, entry: dict[str, Any]) -> nn.Module:
    """A fresh embedding table (and MLM decoder) of the recorded size; the saved rows load next."""
    adapter = adapter_for(model)
    n = entry["vocab_size"]
    keep = torch.arange(n)
    old = adapter.embeddings(model)
    pad = entry.get("padding_idx")
    _shrink_embeddings(model, keep, {old.padding_idx: pad} if old.padding_idx is not None else {})
    return model


def remap_input_ids(input_ids: torch.Tensor, old_to_new: torch.Tensor) -> torch.Tensor:
    """Translate ids from the old tokenizer to the pruned one (dropped tokens become [UNK])."""
    return old_to_new.to(input_ids.device)[input_ids]


def prune_vocab_(model: nn.Module, config: VocabPruneConfig, calib: Calibration | None = None) -> nn.Module:
    """Technique form: needs `calib.corpus_input_ids` and `calib.tokenizer`; the remapped tokenizer
    replaces `calib.tokenizer` (use it from now on)."""
    return compress_(model, config, calib)


register_transform(
    TransformSpec("prune_vocab", VocabPruneConfig, _apply, rebuild_vocab, plain_compatible=lambda e: True)
)

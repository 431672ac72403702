"""Shared helpers for tests/test_quant_*.py (no tests here): a tiny BERT trained for a few seconds on a
learnable synthetic task, so "metric within tolerance of fp32" means something."""

from __future__ import annotations

import copy
import functools
import warnings

import torch
from transformers import BertConfig, BertForSequenceClassification

VOCAB, SEQ, N_TRAIN, N_EVAL = 96, 16, 2048, 512
warnings.filterwarnings("ignore")


def tiny_config(**overrides) -> BertConfig:
    kwargs = dict(
        vocab_size=VOCAB,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=128,
        max_position_embeddings=64,
        num_labels=2,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    kwargs.update(overrides)
    return BertConfig(**kwargs)


def synthetic(n: int, seed: int) -> dict[str, torch.Tensor]:
    """Label 1 when 'positive' tokens (ids 4..49) outnumber 'negative' ones (50..95): a counting task."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(4, VOCAB, (n, SEQ), generator=g)
    ids[:, 0] = 2  # [CLS]-like
    labels = ((ids[:, 1:] < 50).sum(1) > (SEQ - 1) / 2).long()
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels}


@functools.lru_cache(maxsize=1)
def _trained_state() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    model = BertForSequenceClassification(tiny_config())
    data = synthetic(N_TRAIN, seed=1)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    model.train()
    for epoch in range(6):
        perm = torch.randperm(N_TRAIN, generator=torch.Generator().manual_seed(epoch))
        for i in range(0, N_TRAIN, 64):
            idx = perm[i : i + 64]
            loss = model(**{k: v[idx] for k, v in data.items()}).loss
            opt.zero_grad()
            loss.backward()
            opt.step()
    return copy.deepcopy(model.state_dict())


def trained_tiny_bert() -> BertForSequenceClassification:
    """A fresh copy of the (cached) trained tiny classifier, in eval mode."""
    model = BertForSequenceClassification(tiny_config())
    model.load_state_dict(_trained_state())
    return model.eval()


def eval_batch() -> dict[str, torch.Tensor]:
    return synthetic(N_EVAL, seed=2)


@torch.no_grad()
def logits_of(model, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    return model(**inputs).logits.float().cpu()


def accuracy(model, batch: dict[str, torch.Tensor]) -> float:
    # logits_of returns CPU logits; the batch may live on the GPU (tests/test_quant_gpu.py).
    return (logits_of(model, batch).argmax(-1) == batch["labels"].cpu()).float().mean().item()

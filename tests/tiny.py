"""Tiny random models, tokenizer and data built in-process (no downloads)."""

from __future__ import annotations

import random
from pathlib import Path

import datasets
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

POSITIVE = ["good", "great", "fine", "superb", "lovely", "fun", "brilliant", "warm"]
NEGATIVE = ["bad", "awful", "dull", "boring", "poor", "weak", "messy", "cold"]
FILLER = ["the", "movie", "film", "was", "a", "plot", "story", "actors", "and", "it", "very", "quite"]
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def make_tokenizer(directory: Path | None = None, reverse: bool = False) -> BertTokenizerFast:
    """A WordPiece tokenizer over the tiny vocabulary; `reverse` lists the words in the opposite order, so the
    same text gets other ids (a model with "its own tokenizer")."""
    words = POSITIVE + NEGATIVE + FILLER + ["extra", "unused"]
    vocab = {tok: i for i, tok in enumerate(SPECIALS + (words[::-1] if reverse else words))}
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    fast = BertTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=64,
    )
    if directory is not None:
        fast.save_pretrained(directory)
    return fast


def bert_config(layers: int = 2, hidden: int = 32, heads: int = 4, num_labels: int = 2, **kw) -> BertConfig:
    return BertConfig(
        vocab_size=len(SPECIALS + POSITIVE + NEGATIVE + FILLER) + 2,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=hidden * 2,
        max_position_embeddings=64,
        num_labels=num_labels,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        **kw,
    )


def tiny_bert(seed: int = 0, **kw) -> BertForSequenceClassification:
    import torch

    torch.manual_seed(seed)
    return BertForSequenceClassification(bert_config(**kw)).eval()


def sentiment_rows(n: int, seed: int = 0) -> list[dict]:
    """A learnable task: the label is whether the sentence holds a positive or a negative word."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        label = rng.randint(0, 1)
        words = rng.sample(FILLER, 4) + [rng.choice(POSITIVE if label else NEGATIVE)]
        rng.shuffle(words)
        rows.append({"text": " ".join(words), "label": ["neg", "pos"][label]})
    return rows


def sentiment_dataset(n: int, seed: int = 0) -> datasets.Dataset:
    return datasets.Dataset.from_list(sentiment_rows(n, seed))

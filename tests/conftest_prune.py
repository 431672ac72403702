"""Tiny models and tokenizers for the pruning tests (imported by tests/test_prune_*.py)."""

from __future__ import annotations

import torch
from transformers import (
    BertConfig,
    BertForMaskedLM,
    BertForSequenceClassification,
    RobertaConfig,
    RobertaForMaskedLM,
    RobertaForSequenceClassification,
)

CORPUS = [
    "the movie was great and the acting was superb",
    "a dull boring film with a weak plot",
    "great fun , loved every minute",
    "the plot was thin but the music was great",
]
WORDS = sorted({w for line in CORPUS for w in line.split()} | {"unseen", "zebra", "##s", "##ing"})


def tiny_config(family: str, vocab_size: int = 120, **overrides):
    common = dict(
        vocab_size=vocab_size,
        hidden_size=32,
        num_hidden_layers=3,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=64,
        # Larger weights than the default 0.02 so masking a head visibly changes the logits.
        initializer_range=0.3,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        num_labels=2,
    )
    common.update(overrides)
    if family == "bert":
        return BertConfig(**common)
    return RobertaConfig(pad_token_id=1, bos_token_id=0, eos_token_id=2, **common)


def tiny_model(family: str = "bert", mlm: bool = False, seed: int = 0, **overrides):
    torch.manual_seed(seed)
    config = tiny_config(family, **overrides)
    cls = {
        ("bert", False): BertForSequenceClassification,
        ("bert", True): BertForMaskedLM,
        ("roberta", False): RobertaForSequenceClassification,
        ("roberta", True): RobertaForMaskedLM,
    }[(family, mlm)]
    return cls(config).eval()


def batch(vocab_size: int = 120, n: int = 3, length: int = 9, seed: int = 1, family: str = "bert") -> dict:
    g = torch.Generator().manual_seed(seed)
    low = 3 if family == "roberta" else 1  # avoid pad ids (RoBERTa pads with 1)
    ids = torch.randint(low + 1, vocab_size, (n, length), generator=g)
    mask = torch.ones_like(ids)
    mask[0, -3:] = 0  # some padding, so masks are exercised
    labels = torch.randint(0, 2, (n,), generator=g)
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def logits(model, b: dict) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits


def n_params(model) -> int:
    return sum(p.numel() for p in model.parameters())


def wordpiece_tokenizer():
    from transformers import BertTokenizer

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab = {t: i for i, t in enumerate(specials + WORDS)}
    return BertTokenizer(vocab=vocab)


def bpe_tokenizer():
    from tokenizers import ByteLevelBPETokenizer, processors
    from transformers import PreTrainedTokenizerFast

    bpe = ByteLevelBPETokenizer()
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    bpe.train_from_iterator(CORPUS * 3 + ["zebras are unseen animals"], vocab_size=400, special_tokens=specials)
    bpe.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
    return PreTrainedTokenizerFast(
        tokenizer_object=bpe._tokenizer,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        mask_token="<mask>",
        cls_token="<s>",
        sep_token="</s>",
    )

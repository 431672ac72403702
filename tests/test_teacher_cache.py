"""The teacher-logit cache: keyed by content, sized by the task (not by the first batch), refused where it
cannot serve (masked LM), and equal to the live teacher wherever it is looked up."""

import datasets
import pytest
import tiny
import torch
from torch.utils.data import DataLoader
from transformers import BertForTokenClassification

from trimformer import data as D
from trimformer.distill.teacher_cache import (
    TeacherLogitCache,
    check_cacheable,
    content_fingerprint,
    example_shape,
)
from trimformer.errors import UserInputError


def tokenized(rows, tok, task="sequence-classification"):
    raw = D.datasets.DatasetDict(train=datasets.Dataset.from_list(rows), validation=datasets.Dataset.from_list(rows))
    s = D.DataSettings(path="mem", max_length=32)
    spec = D.infer_task(task, raw, s, None)
    return D.prepare(raw, spec, s, tok), spec


def test_fingerprint_follows_content_not_length():
    tok = tiny.make_tokenizer()
    a, _ = tokenized(tiny.sentiment_rows(40, seed=0), tok)
    b, _ = tokenized(tiny.sentiment_rows(40, seed=1), tok)  # same length, other text
    a_again, _ = tokenized(tiny.sentiment_rows(40, seed=0), tok)
    assert content_fingerprint(a.train) != content_fingerprint(b.train)
    assert content_fingerprint(a.train) == content_fingerprint(a_again.train)


def test_token_logits_fit_batches_longer_than_the_first():
    tok = tiny.make_tokenizer()
    lengths = (2, 3, 9, 14, 5, 1)  # the first batch is the short one
    rows = [{"tokens": ["good"] * n, "tags": ["O", "X"] * (n // 2) + ["O"] * (n % 2)} for n in lengths]
    raw = D.datasets.DatasetDict(train=datasets.Dataset.from_list(rows), validation=datasets.Dataset.from_list(rows))
    s = D.DataSettings(path="mem", max_length=32, text_column="tokens", label_column="tags", label_names=["O", "X"])
    spec = D.infer_task("token-classification", raw, s, None)
    data = D.prepare(raw, spec, s, tok)
    torch.manual_seed(0)
    teacher = BertForTokenClassification(tiny.bert_config(num_labels=2)).eval()
    shape = example_shape("token-classification", 2, data.train)
    assert shape == (16, 2)  # the longest example (14 words + CLS + SEP), not the first batch's 4

    def run(batch):
        with torch.no_grad():
            return teacher(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits

    loader = DataLoader(data.train, batch_size=2, collate_fn=data.collator)
    cache = TeacherLogitCache.build(run, loader, len(data.train), shape)
    for batch in DataLoader(data.train, batch_size=3, collate_fn=data.collator, shuffle=False):
        live = run(batch)
        looked_up = cache.lookup(batch["example_id"], live.shape[1])
        mask = batch["attention_mask"].bool()
        assert torch.allclose(looked_up[mask], live[mask], atol=1e-5)


def test_masked_lm_and_left_padded_tokens_are_refused():
    with pytest.raises(UserInputError, match="masked-lm draws a new mask"):
        check_cacheable("masked-lm")
    with pytest.raises(UserInputError, match="right padding"):
        check_cacheable("token-classification", "left")
    check_cacheable("sequence-classification", "left")  # one row per example: padding does not matter
    with pytest.raises(UserInputError, match="cached embeddings are per sentence"):
        check_cacheable("token-classification", embedding=True)
    check_cacheable("sequence-classification", embedding=True)

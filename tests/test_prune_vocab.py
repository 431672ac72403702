"""Vocabulary pruning: same outputs on covered text, unknown tokens -> [UNK], tokenizer round-trips."""

import pytest
import torch
from conftest_prune import CORPUS, bpe_tokenizer, logits, tiny_model, wordpiece_tokenizer
from transformers import AutoTokenizer

from trimformer.compress import Calibration, compress_
from trimformer.loading import load_model
from trimformer.prune import VocabPruneConfig, prune_vocab, remap_input_ids, save_pruned


def _encode(tok, texts):
    return tok(texts, padding=True, return_tensors="pt")


def _out(model, enc):
    return logits(model, {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]})


@pytest.mark.parametrize("mlm", [False, True])
def test_wordpiece_vocab_pruning(tmp_path, mlm):
    tok = wordpiece_tokenizer()
    model = tiny_model("bert", mlm=mlm, vocab_size=len(tok))
    old_enc = _encode(tok, CORPUS)
    old_ids = old_enc["input_ids"].tolist()
    expected = _out(model, old_enc)
    corpus_ids = [tok(t)["input_ids"] for t in CORPUS]
    model, new_tok, table = prune_vocab(model, tok, corpus_ids)

    kept = {i for ids in corpus_ids for i in ids} | set(tok.all_special_ids)
    assert model.get_input_embeddings().num_embeddings == len(kept) == len(new_tok)
    assert model.config.vocab_size == len(kept)
    new_enc = _encode(new_tok, CORPUS)
    assert torch.equal(new_enc["input_ids"], remap_input_ids(torch.tensor(old_ids), table))
    got = _out(model, new_enc)
    if mlm:  # the decoder shrank with the vocabulary: compare the kept columns
        expected = expected[..., torch.tensor(sorted(kept))]
        assert model.cls.predictions.decoder.weight is model.get_input_embeddings().weight
    assert (got - expected).abs().max().item() <= 1e-5

    # Unknown words (not in the corpus) map to [UNK].
    ids = new_tok("zebra unseen")["input_ids"]
    assert ids[1:-1] == [new_tok.unk_token_id, new_tok.unk_token_id]
    assert new_tok.convert_ids_to_tokens(new_tok.unk_token_id) == "[UNK]"

    # Save/reload: tokenizer as a normal HF tokenizer, model with plain-config shapes.
    save_pruned(model, tmp_path, tokenizer=new_tok)
    reloaded_tok = AutoTokenizer.from_pretrained(tmp_path)
    assert reloaded_tok.get_vocab() == new_tok.get_vocab()
    assert reloaded_tok(CORPUS)["input_ids"] == new_tok(CORPUS)["input_ids"]
    reloaded = load_model(str(tmp_path), model_cls=type(model))
    assert torch.equal(_out(reloaded, new_enc), got)


def test_bpe_roberta_vocab_pruning(tmp_path):
    tok = bpe_tokenizer()
    model = tiny_model("roberta", vocab_size=len(tok))
    corpus = CORPUS[:2]
    enc = _encode(tok, corpus)
    expected = _out(model, enc)
    corpus_ids = [tok(t)["input_ids"] for t in corpus]
    model, new_tok, _ = prune_vocab(model, tok, corpus_ids)
    assert len(new_tok) < len(tok)
    assert model.config.pad_token_id == new_tok.pad_token_id == 1  # specials keep their low ids
    got = _out(model, _encode(new_tok, corpus))
    assert (got - expected).abs().max().item() <= 1e-5
    # Unseen words still tokenize (into smaller kept pieces) and decode back.
    text = "zebras graze"
    assert new_tok.decode(new_tok(text)["input_ids"], skip_special_tokens=True) == text
    new_tok.save_pretrained(tmp_path)
    assert AutoTokenizer.from_pretrained(tmp_path)(corpus)["input_ids"] == new_tok(corpus)["input_ids"]


def test_technique_form_replaces_calibration_tokenizer():
    tok = wordpiece_tokenizer()
    model = tiny_model("bert", vocab_size=len(tok))
    calib = Calibration(corpus_input_ids=[tok(t)["input_ids"] for t in CORPUS], tokenizer=tok)
    compress_(model, VocabPruneConfig(), calib)
    assert calib.tokenizer is not tok and len(calib.tokenizer) == model.config.vocab_size


def test_vocab_pruning_needs_corpus():
    with pytest.raises(ValueError, match="corpus_input_ids"):
        compress_(tiny_model("bert"), VocabPruneConfig(), Calibration())

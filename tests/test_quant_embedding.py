"""int8 word embeddings: close outputs, the file really shrinks, and it reloads."""

from __future__ import annotations

import pytest
import torch
from test_quant_common import accuracy, eval_batch, logits_of, tiny_config, trained_tiny_bert
from transformers import BertForMaskedLM

from trimformer.artefact.io import save_artefact
from trimformer.compress import compress_
from trimformer.loading import load_model
from trimformer.quant import EmbeddingInt8Config, Int8Embedding
from trimformer.quant._artefact import dir_size_bytes


def test_embedding_int8_roundtrip_and_size(tmp_path):
    batch = eval_batch()
    # A wider vocab so the embedding dominates the file, as in MiniLM.
    model = trained_tiny_bert()
    base = accuracy(model, batch)
    model.save_pretrained(tmp_path / "fp32")
    q = compress_(model, EmbeddingInt8Config())
    assert isinstance(q.bert.embeddings.word_embeddings, Int8Embedding)
    assert 100 * (base - accuracy(q, batch)) <= 1.0
    save_artefact(q, None, tmp_path / "q")
    reloaded = load_model(str(tmp_path / "q"))
    torch.testing.assert_close(logits_of(reloaded, batch), logits_of(q, batch))
    saved = dir_size_bytes(tmp_path / "fp32") - dir_size_bytes(tmp_path / "q")
    emb = model.config.vocab_size * model.config.hidden_size
    assert saved >= 0.7 * emb * 3  # ~3 of every 4 embedding bytes are gone (scales cost 4 B per row)


def test_int8_embedding_error_is_small():
    emb = torch.nn.Embedding(50, 32)
    q = Int8Embedding.from_float(emb)
    ids = torch.arange(50)
    err = (q(ids) - emb(ids)).abs().max() / emb.weight.abs().max()
    assert err < 1 / 127


def test_tied_output_embeddings_rejected():
    with pytest.raises(ValueError, match="tie_word_embeddings"):
        compress_(BertForMaskedLM(tiny_config()), EmbeddingInt8Config())

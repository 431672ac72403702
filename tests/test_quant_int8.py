"""CPU int8 deployment paths: ONNX Runtime (default), torch.ao fallback, torchao. Each is judged on the
artefact as reloaded by `trimformer.loading.load_model`."""

from __future__ import annotations

import json

import pytest
import torch
from test_quant_common import accuracy, eval_batch, logits_of, trained_tiny_bert

from trimformer.artefact.io import save_artefact
from trimformer.artefact.log import get_log
from trimformer.compress import compress_
from trimformer.loading import load_model
from trimformer.quant import (
    DEFAULT_CPU_INT8,
    OnnxInt8Config,
    OrtModel,
    TorchAoInt8Config,
    TorchDynamicInt8Config,
)
from trimformer.quant._artefact import dir_size_bytes


def _float_size(tmp_path) -> int:
    trained_tiny_bert().save_pretrained(tmp_path / "fp32")
    return dir_size_bytes(tmp_path / "fp32")


@pytest.mark.parametrize("embeddings", [True, False])
def test_onnx_int8_accuracy_reload_size(tmp_path, embeddings):
    assert DEFAULT_CPU_INT8 == "onnx-int8"
    batch = eval_batch()
    fp32 = trained_tiny_bert()
    base = accuracy(fp32, batch)
    ort_model = compress_(fp32, OnnxInt8Config(quantize_embeddings=embeddings))
    assert isinstance(ort_model, OrtModel)
    assert 100 * (base - accuracy(ort_model, batch)) <= 1.0
    ort_model.save_pretrained(tmp_path / "int8")
    reloaded = load_model(str(tmp_path / "int8"))
    torch.testing.assert_close(logits_of(reloaded, batch), logits_of(ort_model, batch))
    record = json.loads((tmp_path / "int8" / "config.json").read_text())["trimformer"]
    assert record["transforms"][-1]["kind"] == "onnx-int8" and record["transforms"][-1]["runtime"] == "onnxruntime"
    # Loss with labels works, so Trainer-style evaluation runs the artefact unchanged.
    assert reloaded(**batch).loss is not None


@pytest.mark.parametrize("embeddings,shrink", [(True, 3.5), (False, 2.0)])
def test_onnx_int8_file_shrinks(tmp_path, embeddings, shrink):
    # Wider than the accuracy model: at 80K params the ONNX graph's fixed overhead would dominate the file.
    from test_quant_common import tiny_config
    from transformers import BertForSequenceClassification

    model = BertForSequenceClassification(tiny_config(vocab_size=2000, hidden_size=256, intermediate_size=1024)).eval()
    model.save_pretrained(tmp_path / "fp32")
    compress_(model, OnnxInt8Config(quantize_embeddings=embeddings)).save_pretrained(tmp_path / "int8")
    assert dir_size_bytes(tmp_path / "fp32") / dir_size_bytes(tmp_path / "int8") >= shrink


def test_torch_dynamic_fallback(tmp_path):
    batch = eval_batch()
    fp32 = trained_tiny_bert()
    base = accuracy(fp32, batch)
    q = compress_(fp32, TorchDynamicInt8Config())
    assert 100 * (base - accuracy(q, batch)) <= 1.0
    save_artefact(q, None, tmp_path / "q")
    assert not list((tmp_path / "q").glob("*.pt")), "no pickles: safetensors only"
    reloaded = load_model(str(tmp_path / "q"))
    torch.testing.assert_close(logits_of(reloaded, batch), logits_of(q, batch))
    assert _float_size(tmp_path) / dir_size_bytes(tmp_path / "q") >= 2.5


@pytest.mark.parametrize("mode", ["dynamic", "weight"])
def test_torchao_int8(tmp_path, mode):
    batch = eval_batch()
    fp32 = trained_tiny_bert()
    base = accuracy(fp32, batch)
    q = compress_(fp32, TorchAoInt8Config(mode=mode, compile=False))
    assert 100 * (base - accuracy(q, batch)) <= 1.0
    save_artefact(q, None, tmp_path / "q")
    reloaded = load_model(str(tmp_path / "q"))
    assert get_log(reloaded).transforms[-1]["runtime"] == "torchao"
    torch.testing.assert_close(logits_of(reloaded, batch), logits_of(q, batch))
    assert _float_size(tmp_path) / dir_size_bytes(tmp_path / "q") >= 1.5  # embeddings stay fp32


def test_torchao_mode_validated():
    with pytest.raises(ValueError, match="mode"):
        TorchAoInt8Config(mode="int4")


def test_onnx_export_respects_padding():
    # Regression: an all-ones example mask let transformers drop the mask while tracing.
    fp32 = trained_tiny_bert()
    batch = eval_batch()
    batch = {k: v[:8] for k, v in batch.items()}
    batch["attention_mask"][:4, 8:] = 0
    ort_model = compress_(trained_tiny_bert(), OnnxInt8Config())
    ref, got = logits_of(fp32, batch), logits_of(ort_model, batch)
    assert (ref - got).abs().max() < 0.1 * ref.abs().max()

"""Task metrics and weight counts: the same masked-LM masks for every model, token-level padding from the
data, the device a metric runs on, and parameter counts that never say 0 for packed int8 weights."""

import datasets
import pytest
import tiny
import torch
from transformers import BertForMaskedLM, BertForTokenClassification

from trimformer import data as D
from trimformer.measure import count_parameters, evaluate_model, measure, weights_mb
from trimformer.measure.evaluate import SeededCollator
from trimformer.tasks import TaskSpec

TEXTS = [" ".join(row["text"].split()) for row in tiny.sentiment_rows(40)]


def _mlm_data():
    tok = tiny.make_tokenizer()
    task = TaskSpec("masked-lm")
    settings = D.DataSettings(path="unused", max_length=16)
    ds = D.tokenize(datasets.Dataset.from_dict({"text": TEXTS}), task, settings, tok)
    return ds, D.DistillationCollator(tok, task), task


def test_masked_lm_masks_are_the_same_whatever_ran_before():
    ds, collator, _ = _mlm_data()
    rows = [ds[i] for i in range(8)]
    torch.manual_seed(1)
    first = SeededCollator(collator)(rows)
    torch.manual_seed(2)
    torch.rand(100)
    second = SeededCollator(collator)(rows)
    assert torch.equal(first["labels"], second["labels"]) and torch.equal(first["input_ids"], second["input_ids"])
    assert (first["labels"] != -100).any()


def test_masked_lm_perplexity_is_reproducible_across_calls():
    ds, collator, task = _mlm_data()
    torch.manual_seed(0)
    model = BertForMaskedLM(tiny.bert_config(layers=1)).eval()
    torch.manual_seed(11)
    a = evaluate_model(model, ds, collator, task, batch_size=8, device="cpu")
    torch.manual_seed(12)
    b = evaluate_model(model, ds, collator, task, batch_size=8, device="cpu")
    assert a["perplexity"] == b["perplexity"] and a["perplexity"] > 1


def test_token_classification_pads_to_the_widest_batch_not_512():
    tok = tiny.make_tokenizer()
    task = TaskSpec("token-classification", 3, ("O", "B-X", "I-X"))
    words = [t.split() for t in TEXTS]
    tags = [[("O", "B-X", "I-X")[i % 3] for i in range(len(w))] for w in words]
    raw = datasets.Dataset.from_dict({"tokens": words, "tags": tags})
    settings = D.DataSettings(path="unused", text_column="tokens", label_column="tags", max_length=12)
    ds = D.tokenize(raw, task, settings, tok)
    model = BertForTokenClassification(tiny.bert_config(num_labels=3)).eval()
    metrics = evaluate_model(model, ds, D.DistillationCollator(tok, task), task, batch_size=7, max_length=12)
    assert {"f1", "accuracy"} <= set(metrics)


def test_measure_reports_where_metrics_ran_and_every_size(tmp_path):
    ds, collator, task = _mlm_data()
    model = BertForMaskedLM(tiny.bert_config(layers=1)).eval()
    model.save_pretrained(tmp_path)
    entry = measure(model, task, ds, collator, artefact=tmp_path, device="cpu")
    assert entry["eval_device"] == "cpu" and entry["eval_examples"] == len(ds)
    assert entry["params"] == sum(p.numel() for p in model.parameters())
    assert entry["weights_mb"] > 0 and entry["size_mb"] > 0 and entry["runtime"] == "torch"
    assert "latency" not in entry  # timed later, with every other model


def test_packed_int8_weights_are_counted():
    from trimformer.quant import TorchDynamicInt8Config
    from trimformer.quant.torch_dynamic import quantize_torch_dynamic_

    float_model = tiny.tiny_bert(0, layers=2, hidden=64)
    total = count_parameters(float_model)["params"]
    quantized = quantize_torch_dynamic_(tiny.tiny_bert(0, layers=2, hidden=64), TorchDynamicInt8Config())
    counted = count_parameters(quantized)["params"]
    assert counted == pytest.approx(total, rel=0.01)  # same weights, stored packed (biases stay float)
    assert weights_mb(quantized) < weights_mb(float_model)


def test_onnx_model_counts_its_graph_weights():
    from trimformer.quant.onnx_int8 import quantize_onnx_int8

    ort = quantize_onnx_int8(tiny.tiny_bert(0, layers=2, hidden=64))
    counts = count_parameters(ort)
    assert counts["params"] > 0.9 * count_parameters(tiny.tiny_bert(0, layers=2, hidden=64))["params"]
    assert weights_mb(ort) > 0

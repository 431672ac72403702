"""Pruned checkpoints save as safetensors and reload with identical logits; sizes shrink as expected."""

import json
import os

import pytest
import torch
from conftest_prune import batch, logits, n_params, tiny_model
from transformers import AutoModelForMaskedLM, AutoModelForSequenceClassification

from trimformer.compress import Calibration
from trimformer.loading import load_model
from trimformer.prune import (
    FFNPruneConfig,
    HeadPruneConfig,
    LayerDropConfig,
    drop_layers_,
    prune_ffn_,
    prune_heads_,
    save_pruned,
)

FAMILIES = ["bert", "roberta"]


def _prune(model, kind, calib):
    if kind == "heads":
        prune_heads_(model, HeadPruneConfig(amount=0.5, importance="taylor"), calib)
    elif kind == "layers":
        drop_layers_(model, LayerDropConfig(layers=[1]))
    elif kind == "ffn_uniform":
        prune_ffn_(model, FFNPruneConfig(amount=0.5, scope="per_layer"), calib)
    elif kind == "ffn_global":
        prune_ffn_(model, FFNPruneConfig(amount=0.5, scope="global", importance="taylor"), calib)
    elif kind == "mixed":
        prune_heads_(model, HeadPruneConfig(heads={0: [1], 2: [0, 2, 3]}))
        prune_ffn_(model, FFNPruneConfig(amount=0.4, scope="global", importance="activation"), calib)
        drop_layers_(model, LayerDropConfig(layers=[1]))


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("kind", ["heads", "layers", "ffn_uniform", "ffn_global", "mixed"])
def test_reload_parity(tmp_path, family, kind):
    model = tiny_model(family)
    b = batch(family=family)
    _prune(model, kind, Calibration(batches=[b]))
    expected = logits(model, b)
    save_pruned(model, tmp_path)
    assert (tmp_path / "model.safetensors").exists()
    reloaded = load_model(str(tmp_path))
    assert type(reloaded) is type(model)
    assert torch.equal(logits(reloaded, b), expected)
    assert n_params(reloaded) == n_params(model)
    if kind in ("layers", "ffn_uniform"):
        # Uniform shapes are plain config fields: plain transformers reloads them too.
        plain = AutoModelForSequenceClassification.from_pretrained(tmp_path).eval()
        assert torch.equal(logits(plain, b), expected)


@pytest.mark.parametrize("family", FAMILIES)
def test_plain_transformers_fails_with_how_to_load(tmp_path, family):
    model = tiny_model(family)
    _prune(model, "mixed", Calibration(batches=[batch(family=family)]))
    save_pruned(model, tmp_path)
    with pytest.raises(OSError, match=r"load it with trimformer\.load_model"):
        AutoModelForSequenceClassification.from_pretrained(tmp_path)


def test_mlm_reload_with_tied_decoder(tmp_path):
    model = tiny_model("bert", mlm=True)
    b = batch()
    prune_heads_(model, HeadPruneConfig(heads={1: [0, 1]}))
    expected = logits(model, b)
    save_pruned(model, tmp_path)
    reloaded = load_model(str(tmp_path), model_cls=AutoModelForMaskedLM)
    assert torch.equal(logits(reloaded, b), expected)
    assert reloaded.cls.predictions.decoder.weight is reloaded.bert.embeddings.word_embeddings.weight


def _weights_bytes(path) -> int:
    return os.path.getsize(path / "model.safetensors")


def test_size_shrinks_by_exact_amount(tmp_path):
    model = tiny_model("bert")
    save_pruned(model, tmp_path / "full")
    full_params, full_bytes = n_params(model), _weights_bytes(tmp_path / "full")
    prune_heads_(model, HeadPruneConfig(heads={0: [0], 1: [1, 2]}))  # 3 heads of size 8, hidden 32
    prune_ffn_(model, FFNPruneConfig(amount=16, scope="per_layer", importance="magnitude"))  # 3 x 16 neurons
    drop_layers_(model, LayerDropConfig(layers=[2]))  # layer 2 keeps 4 heads, 48 neurons
    save_pruned(model, tmp_path / "pruned")
    hidden, head = 32, 8
    per_head = 3 * (head * hidden + head) + hidden * head
    per_neuron = hidden + 1 + hidden
    # then the whole of layer 2: 4 heads of attention + output bias + 2 LayerNorms + its FFN (48 neurons + out bias)
    layer2 = 4 * per_head + hidden + 2 * 2 * hidden + 48 * per_neuron + hidden
    expected_removed = 3 * per_head + 3 * 16 * per_neuron + layer2
    assert full_params - n_params(model) == expected_removed
    # safetensors stores raw float32 data: 4 bytes a parameter, plus a header that changes a little.
    header_delta = abs((full_bytes - 4 * full_params) - (_weights_bytes(tmp_path / "pruned") - 4 * n_params(model)))
    assert full_bytes - _weights_bytes(tmp_path / "pruned") == pytest.approx(4 * expected_removed, abs=header_delta)
    assert header_delta < 4096
    log = json.loads((tmp_path / "pruned" / "config.json").read_text())["trimformer"]
    assert [t["kind"] for t in log["transforms"]] == ["prune_heads", "prune_ffn", "prune_layers"]
    assert log["transforms"][0]["heads_per_layer"] == [3, 2, 4] and log["transforms"][1]["widths"] == [48, 48, 48]
    assert log["base"]["num_hidden_layers"] == 3

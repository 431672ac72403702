"""A pruned model must equal the original with the same heads / neurons / layers masked."""

import pytest
import torch
from conftest_prune import batch, logits, n_params, tiny_model

from trimformer.artefact.io import plain_compatible
from trimformer.artefact.log import get_log
from trimformer.compress import Calibration, compress_
from trimformer.prune import (
    FFNPruneConfig,
    HeadPruneConfig,
    LayerDropConfig,
    drop_layers_,
    masked,
    prune_ffn_,
    prune_heads_,
)
from trimformer.prune.ffn import neurons_to_prune
from trimformer.prune.heads import heads_to_prune

FAMILIES = ["bert", "roberta"]
TOL = 1e-5


def _max_diff(a, b):
    return (a - b).abs().max().item()


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("importance", ["taylor", "magnitude"])
def test_head_pruning_equals_masking(family, importance):
    model = tiny_model(family)
    b = batch(family=family)
    cfg = HeadPruneConfig(amount=0.5, importance=importance, min_heads_per_layer=1)
    plan = heads_to_prune(model, cfg, Calibration(batches=[b]))
    with masked(model, heads=plan):
        reference = logits(model, b)
    unmasked = logits(model, b)
    assert _max_diff(reference, unmasked) > 1e-3  # masking really changes something
    compress_(model, HeadPruneConfig(heads=plan), None)
    assert _max_diff(logits(model, b), reference) <= TOL
    assert sum(len(h) for h in plan.values()) == 6  # 50% of 3 layers x 4 heads
    layers = model.base_model.encoder.layer
    assert [layer.attention.self.num_attention_heads for layer in layers] == [
        4 - len(plan.get(i, [])) for i in range(3)
    ]


@pytest.mark.parametrize("family", FAMILIES)
def test_per_layer_heads_and_param_count(family):
    model = tiny_model(family)
    before = n_params(model)
    b = batch(family=family)
    prune_heads_(model, HeadPruneConfig(amount=1, scope="per_layer", importance="magnitude"))
    # per head and layer: Q, K, V rows (3 x (8 x 32 + 8)) and output columns (32 x 8)
    per_head = 3 * (8 * 32 + 8) + 32 * 8
    assert n_params(model) == before - 3 * per_head
    assert get_log(model).last("prune_heads")["heads_per_layer"] == [3, 3, 3]
    assert torch.isfinite(logits(model, b)).all()


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize(
    "scope,importance", [("per_layer", "activation"), ("global", "taylor"), ("per_layer", "magnitude")]
)
def test_ffn_pruning_equals_masking(family, scope, importance):
    model = tiny_model(family)
    b = batch(family=family)
    calib = Calibration(batches=[b])
    cfg = FFNPruneConfig(amount=0.5, scope=scope, importance=importance)
    plan = neurons_to_prune(model, cfg, calib)
    with masked(model, neurons=dict(enumerate(plan))):
        reference = logits(model, b)
    before = n_params(model)
    prune_ffn_(model, cfg, calib)
    assert _max_diff(logits(model, b), reference) <= TOL
    removed = sum(len(p) for p in plan)
    assert removed == 96  # half of 3 x 64
    assert n_params(model) == before - removed * (32 + 1 + 32)  # row+bias in, column out
    if scope == "per_layer":
        assert model.config.intermediate_size == 32 and plain_compatible(get_log(model))


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize(
    "cfg",
    [
        LayerDropConfig(layers=[0, 2]),
        LayerDropConfig(strategy="top", count=1),
        LayerDropConfig(strategy="importance", count=2),
    ],
)
def test_layer_drop_equals_skipping(family, cfg):
    from trimformer.prune import layers_to_drop

    model = tiny_model(family)
    b = batch(family=family)
    calib = Calibration(batches=[b])
    drop = layers_to_drop(model, cfg, calib)
    with masked(model, layers=drop):
        reference = logits(model, b)
    drop_layers_(model, cfg, calib)
    assert model.config.num_hidden_layers == 3 - len(drop)
    assert _max_diff(logits(model, b), reference) <= TOL


def test_importance_layer_drop_picks_identity_layer():
    # The greedy choice must be the layer whose skipping gives the lowest calibration loss.
    model = tiny_model("bert")
    b = batch()
    calib = Calibration(batches=[b])
    from trimformer.prune import calibration_loss

    losses = {}
    for i in range(3):
        with masked(model, layers=[i]):
            losses[i] = calibration_loss(model, calib)
    drop = LayerDropConfig(strategy="importance", count=1)
    from trimformer.prune import layers_to_drop

    assert layers_to_drop(model, drop, calib) == [min(losses, key=losses.get)]

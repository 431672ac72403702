"""Importance ranks a useless head last; impossible requests fail with one-line ValueErrors;
gradual pruning during training ends with a physically smaller model."""

import pytest
import torch
from conftest_prune import batch, logits, tiny_model
from transformers import DistilBertConfig, DistilBertForSequenceClassification

from trimformer.artefact.log import get_log
from trimformer.compress import Calibration
from trimformer.prune import (
    FFNPruneConfig,
    GradualPruningCallback,
    HeadPruneConfig,
    LayerDropConfig,
    drop_layers_,
    head_importance,
    prune_ffn_,
    prune_heads_,
)


def _kill_head(model, layer: int, head: int, d: int = 8) -> None:
    value = model.base_model.encoder.layer[layer].attention.self.value
    with torch.no_grad():
        value.weight[head * d : (head + 1) * d] = 0
        value.bias[head * d : (head + 1) * d] = 0


@pytest.mark.parametrize("family", ["bert", "roberta"])
@pytest.mark.parametrize("method", ["taylor", "magnitude"])
def test_useless_head_ranks_last(family, method):
    model = tiny_model(family)
    _kill_head(model, layer=1, head=2)
    calib = Calibration(batches=[batch(family=family, seed=s) for s in range(2)])
    scores = head_importance(model, calib, method, normalize=False)
    flat = torch.cat(scores)
    assert int(flat.argmin()) == 1 * 4 + 2
    assert flat.min().item() == 0.0 and (flat > 0).sum() == len(flat) - 1


def test_pruning_every_head_fails():
    with pytest.raises(ValueError, match="amount=12") as err:
        prune_heads_(tiny_model(), HeadPruneConfig(amount=12, importance="magnitude"))
    assert "min_heads_per_layer" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(ValueError, match="min_heads_per_layer"):
        prune_heads_(tiny_model(), HeadPruneConfig(amount=4, scope="per_layer", importance="magnitude"))
    with pytest.raises(ValueError, match="min_heads_per_layer"):
        prune_heads_(tiny_model(), HeadPruneConfig(heads={0: [0, 1, 2, 3]}))
    with pytest.raises(ValueError, match="min_heads_per_layer"):
        HeadPruneConfig(min_heads_per_layer=0)


def test_too_many_layers_fails():
    with pytest.raises(ValueError, match="count=3"):
        drop_layers_(tiny_model(), LayerDropConfig(strategy="top", count=3))
    with pytest.raises(ValueError, match="out of range"):
        drop_layers_(tiny_model(), LayerDropConfig(layers=[5]))
    with pytest.raises(ValueError, match="all 3 layers"):
        drop_layers_(tiny_model(), LayerDropConfig(layers=[0, 1, 2]))


def test_non_float_model_fails():
    model = tiny_model()
    q = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
    with pytest.raises(ValueError, match="not float; pruning needs float weights"):
        prune_heads_(q, HeadPruneConfig(importance="magnitude"))
    model = tiny_model()
    layer = model.base_model.encoder.layer[0].intermediate.dense
    layer.weight = torch.nn.Parameter(layer.weight.data.to(torch.int8), requires_grad=False)
    with pytest.raises(ValueError, match="layer 0 ffn is Linear with Parameter torch.int8"):
        prune_ffn_(model, FFNPruneConfig(importance="magnitude"))


def test_unsupported_family_fails():
    model = DistilBertForSequenceClassification(
        DistilBertConfig(vocab_size=50, dim=32, n_layers=1, n_heads=2, hidden_dim=64)
    )
    with pytest.raises(ValueError, match="supported: bert, roberta"):
        prune_heads_(model, HeadPruneConfig(importance="magnitude"))


def test_taylor_without_labels_fails():
    b = batch()
    del b["labels"]
    with pytest.raises(ValueError, match="labels"):
        prune_heads_(tiny_model(), HeadPruneConfig(), Calibration(batches=[b]))
    with pytest.raises(ValueError, match="calibration batches"):
        prune_heads_(tiny_model(), HeadPruneConfig(), None)


@pytest.mark.parametrize("config", [HeadPruneConfig(scope="global"), FFNPruneConfig(importance="taylor")])
def test_gradual_callback_masks_then_removes(config):
    model = tiny_model()
    b = batch()
    calib = Calibration(batches=[b])
    cb = GradualPruningCallback(config, schedule={1: 0.25, 2: 0.5}, calibration=calib)

    class State:
        global_step = 0

    state = State()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    for step in (1, 2):
        model.train()
        optimizer.zero_grad()
        model(**b).loss.backward()
        optimizer.step()  # shapes never change mid-training, so the optimizer stays valid
        state.global_step = step
        cb.on_step_end(None, state, None, model=model)
    masked_values = [v.clone() for v in cb.gates.values]
    model.eval()
    masked_logits = logits(model, b)
    cb.on_train_end(None, state, None, model=model)
    gone = sum(int((v == 0).sum()) for v in masked_values)
    total = sum(len(v) for v in masked_values)
    assert gone == total // 2
    assert torch.allclose(logits(model, b), masked_logits, atol=1e-5)
    if isinstance(config, HeadPruneConfig):
        assert sum(get_log(model).last("prune_heads")["heads_per_layer"]) == total - gone
    else:
        assert model.config.intermediate_size == 32

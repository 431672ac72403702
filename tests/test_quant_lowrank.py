"""Low-rank factorization: full rank reproduces the model, lower rank shrinks as computed, reload works."""

from __future__ import annotations

import pytest
import torch
from test_quant_common import accuracy, eval_batch, logits_of, trained_tiny_bert

from trimformer.artefact.io import save_artefact
from trimformer.artefact.log import get_log
from trimformer.compress import compress_
from trimformer.loading import load_model
from trimformer.quant import LowRankConfig, LowRankLinear, factorize_
from trimformer.quant.config import LOWRANK_TARGETS as DEFAULT_TARGETS
from trimformer.quant.lowrank import _targets, break_even_rank


def _n_params(model) -> int:
    return sum(p.numel() for p in model.parameters())


def test_full_rank_reproduces_original():
    batch = eval_batch()
    model = trained_tiny_bert()
    ref = logits_of(model, batch)
    ranks = {name: min(lin.in_features, lin.out_features) for name, lin in _targets(model, DEFAULT_TARGETS)}
    assert factorize_(model, ranks=ranks) == ranks
    torch.testing.assert_close(logits_of(model, batch), ref, atol=1e-4, rtol=1e-4)


def test_lower_rank_shrinks_as_computed(tmp_path):
    batch = eval_batch()
    model = trained_tiny_bert()
    before = _n_params(model)
    shapes = {name: (lin.in_features, lin.out_features) for name, lin in _targets(model, DEFAULT_TARGETS)}
    compress_(model, LowRankConfig(energy=None, target_compression=0.5))
    chosen = get_log(model).last("lowrank")["ranks"]
    expected = sum(i * o - r * (i + o) for name, r in chosen.items() for i, o in [shapes[name]])
    assert before - _n_params(model) == expected > 0
    assert all(r <= break_even_rank(*shapes[n]) for n, r in chosen.items())
    save_artefact(model, None, tmp_path)
    reloaded = load_model(str(tmp_path))
    assert isinstance(reloaded.bert.encoder.layer[0].attention.self.query, LowRankLinear)
    torch.testing.assert_close(logits_of(reloaded, batch), logits_of(model, batch))


def test_energy_threshold_orders_ranks():
    w = torch.randn(64, 64, generator=torch.Generator().manual_seed(0))
    from trimformer.quant.lowrank import choose_rank

    low = choose_rank(w, LowRankConfig(energy=0.5, min_rank=1))
    high = choose_rank(w, LowRankConfig(energy=0.99, min_rank=1))
    assert 1 <= low < high <= 64
    assert choose_rank(w, LowRankConfig(energy=1.0, min_rank=1)) == 64


def test_high_energy_keeps_accuracy():
    batch = eval_batch()
    model = trained_tiny_bert()
    base = accuracy(model, batch)
    factorize_(model, LowRankConfig(energy=0.999), keep_if_no_saving=False)
    assert 100 * (base - accuracy(model, batch)) <= 1.0


def test_config_needs_exactly_one_criterion():
    with pytest.raises(ValueError, match="exactly one"):
        LowRankConfig(energy=0.9, target_compression=0.5)

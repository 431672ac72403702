"""Recipe stages: options validated, each stage records its runtime, its artefact saves and reloads."""

from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError
from test_quant_common import eval_batch, logits_of, trained_tiny_bert

import trimformer.stages.quant as sq
from trimformer.artefact import capabilities as caps
from trimformer.artefact.io import save_artefact
from trimformer.loading import load_model
from trimformer.stages import RunState, get_stage
from trimformer.tasks import TaskSpec


def test_stage_effects_and_validation():
    assert get_stage("quantize").config_cls is sq.QuantizeStage
    task = "sequence-classification"
    assert caps.FLOAT_LINEARS in sq.QuantizeStage(method="bnb-nf4").effect(task).removes
    assert caps.DENSE_LINEARS in sq.LowRankStage().effect(task).removes
    assert caps.ADAPTERS in sq.LoraStage().effect(task).adds and caps.ADAPTERS in sq.MergeStage().effect(task).requires
    with pytest.raises(ValidationError):
        sq.QuantizeStage(method="int4-magic")
    with pytest.raises(ValidationError):
        sq.QuantizeStage(methd="bnb-nf4")  # unknown keys are errors
    assert sq.LowRankStage(target_compression=0.5).energy is None


@pytest.mark.parametrize("method", ["int8-cpu", "torch-ao-int8", "bnb-nf4", "lowrank"])
def test_stage_saves_reloadable_artefact(tmp_path, method):
    state = RunState(task=TaskSpec("sequence-classification"), output_dir=tmp_path, model=trained_tiny_bert())
    if method == "lowrank":
        result = state.run_stage("lowrank", sq.LowRankStage(target_compression=0.5))
    else:
        result = state.run_stage("quantize", sq.QuantizeStage(method=method))
    assert "runtime" in result.info and "compiled" in result.info
    batch = eval_batch()
    before = logits_of(state.model, batch)
    save_artefact(state.model, None, tmp_path / "out")
    torch.testing.assert_close(logits_of(load_model(str(tmp_path / "out")), batch), before, atol=1e-5, rtol=0)

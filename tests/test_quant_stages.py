"""Recipe stages: options validated, order flags set, each stage records its runtime."""

from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError
from test_quant_common import eval_batch, logits_of, trained_tiny_bert

import trimformer.stages.quant as sq
from trimformer.loading import load_model
from trimformer.stages.base import RunState, get_stage
from trimformer.tasks import TaskSpec


class _Tok:
    def save_pretrained(self, d):  # the runner hands the stage's tokenizer to the saver
        pass


def test_stage_flags_and_validation():
    assert get_stage("quantize").config_cls is sq.QuantizeStage
    assert sq.QuantizeStage.makes_weights_nonfloat and sq.LowRankStage.needs_float_weights and sq.LoraStage.trains
    with pytest.raises(ValidationError):
        sq.QuantizeStage(method="int4-magic")
    with pytest.raises(ValidationError):
        sq.QuantizeStage(methd="bnb-nf4")  # unknown keys are errors
    assert sq.LowRankStage(target_compression=0.5).energy is None


@pytest.mark.parametrize("method", ["int8-cpu", "torch-ao-int8", "bnb-nf4", "lowrank"])
def test_stage_saves_reloadable_artefact(tmp_path, method):
    state = RunState(task=TaskSpec("sequence-classification"), output_dir=tmp_path, model=trained_tiny_bert())
    state.history.append(method)
    if method == "lowrank":
        get_stage("lowrank").fn(sq.LowRankStage(target_compression=0.5), state)
    else:
        get_stage("quantize").fn(sq.QuantizeStage(method=method), state)
    info = state.stage_info[method]
    assert "runtime" in info and "compiled" in info
    batch = eval_batch()
    before = logits_of(state.model, batch)
    saver = state.saver or (lambda m, t, d: m.save_pretrained(d))
    saver(state.model, _Tok(), tmp_path / "out")
    # bitsandbytes' CPU 4-bit kernels are not bit-reproducible across loads (seen: up to ~7e-3 on logits).
    tol = 2e-2 if method.startswith("bnb") else 1e-5
    torch.testing.assert_close(logits_of(load_model(str(tmp_path / "out")), batch), before, atol=tol, rtol=0)

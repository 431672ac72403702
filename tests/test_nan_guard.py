"""A NaN/inf loss term stops training at the step it appears, naming the step and the term (exit code 4),
and keeps what was saved: Trainer checkpoints of the stage and the run's earlier outputs."""

from __future__ import annotations

import math

import pytest
import tiny
import torch
import yaml
from transformers import TrainerCallback

from trimformer import data as D
from trimformer.cli import main
from trimformer.config import DistillationConfig
from trimformer.errors import EXIT_DIVERGED, TrainingDiverged
from trimformer.trainer import DistillationTrainer

COMMON = dict(report_to=[], use_cpu=True, disable_tqdm=True, seed=0, data_seed=0, per_device_train_batch_size=8)


def tiny_data():
    tok = tiny.make_tokenizer()
    raw = D.datasets.DatasetDict(train=tiny.sentiment_dataset(64), validation=tiny.sentiment_dataset(16, 1))
    settings = D.DataSettings(path="mem", max_length=16)
    task = D.infer_task("sequence-classification", raw, settings, None)
    return D.prepare(raw, task, settings, tok)


def nan_teacher(seed: int = 2):
    teacher = tiny.tiny_bert(seed)
    with torch.no_grad():
        teacher.classifier.bias.fill_(float("nan"))
    return teacher


def test_nan_teacher_stops_at_step_1_naming_kd(tmp_path):
    data = tiny_data()
    args = DistillationConfig(
        tmp_path / "work", alpha_task=0.5, alpha_kd=0.5, max_steps=5, save_strategy="no", **COMMON
    )
    trainer = DistillationTrainer(
        model=tiny.tiny_bert(1), teacher_model=nan_teacher(), args=args, train_dataset=data.train,
        data_collator=data.collator,
    )  # fmt: skip
    with pytest.raises(TrainingDiverged, match=r"loss term 'kd' became nan at step 1; lower the learning rate"):
        trainer.train()
    assert trainer.state.global_step == 0  # no optimizer step was taken on the NaN loss


class BreakWeightsAt(TrainerCallback):
    """Set the student's classifier to inf when step `step` begins (after checkpoints of earlier steps)."""

    def __init__(self, step: int):
        self.step = step

    def on_step_begin(self, args, state, control, model=None, **kwargs):
        if state.global_step + 1 == self.step:
            with torch.no_grad():
                model.classifier.weight.fill_(float("inf"))


def test_inf_later_names_its_step_and_keeps_the_last_checkpoint(tmp_path):
    data = tiny_data()
    work = tmp_path / "work"
    args = DistillationConfig(
        work, alpha_task=1.0, alpha_kd=0.0, max_steps=6, save_strategy="steps", save_steps=2, **COMMON
    )
    trainer = DistillationTrainer(
        model=tiny.tiny_bert(1), args=args, train_dataset=data.train, data_collator=data.collator,
        callbacks=[BreakWeightsAt(3)],
    )  # fmt: skip
    with pytest.raises(TrainingDiverged) as caught:
        trainer.train()
    message = str(caught.value)
    assert "loss term 'task' became nan at step 3" in message and "\n" not in message
    assert f"last checkpoint kept: {work / 'checkpoint-2'}" in message
    assert (work / "checkpoint-2" / "model.safetensors").exists()


def test_finite_losses_train_normally(tmp_path):
    data = tiny_data()
    args = DistillationConfig(
        tmp_path / "work", alpha_task=0.5, alpha_kd=0.5, max_steps=2, save_strategy="no", **COMMON
    )
    trainer = DistillationTrainer(
        model=tiny.tiny_bert(1), teacher_model=tiny.tiny_bert(2), args=args, train_dataset=data.train,
        data_collator=data.collator,
    )  # fmt: skip
    trainer.train()
    assert trainer.state.global_step == 2
    assert all(math.isfinite(e["train_loss"]) for e in trainer.state.log_history if "train_loss" in e)


def test_cli_run_exits_4_with_one_line_and_keeps_the_output(tiny_run, capsys):
    teacher = nan_teacher(0)
    teacher.save_pretrained(tiny_run / "nan_teacher")
    tiny.make_tokenizer().save_pretrained(tiny_run / "nan_teacher")
    recipe = {
        "output_dir": str(tiny_run / "out"),
        "data": {"path": str(tiny_run / "data.csv.gz"), "max_length": 16},
        "teacher": {"model": str(tiny_run / "nan_teacher")},
        "student": {"init": "layers", "layers": [0, 1]},
        "training": {"per_device_train_batch_size": 16, "max_steps": 3},
        "measure": {"latency": False},
        "stages": [{"type": "distill"}],
    }
    path = tiny_run / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    code = main(["run", str(path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == EXIT_DIVERGED == 4
    # The student is cut from the NaN teacher, so its own head is NaN too: the task term is the first to go.
    errors = [line[line.index("error: ") :] for line in err if "error: " in line]  # after any progress bar
    assert len(errors) == 1 and errors[0].startswith("error: loss term 'task' became nan at step 1"), err[-3:]
    assert not any("Traceback" in line for line in err)
    assert (tiny_run / "out" / "report.json").exists()  # the teacher's measurement, written before the stage

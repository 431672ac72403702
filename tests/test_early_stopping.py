"""Fine-tuning to convergence on a validation slice of the training split: best weights kept, early stop."""

import json

import datasets
import torch
from test_cli_e2e import write_recipe

from trimformer.cli import main
from trimformer.stages.early_stopping import split_validation
from trimformer.stages.keep_best import KeepBestAndStop


def test_validation_slice_is_seeded_and_disjoint():
    train = datasets.Dataset.from_dict({"example_id": list(range(100))})
    a, va = split_validation(train, 0.2, seed=0)
    b, vb = split_validation(train, 0.2, seed=0)
    assert va["example_id"] == vb["example_id"] and len(va) == 20 and len(a) == 80
    assert not set(a["example_id"]) & set(va["example_id"])


class _Control:
    should_training_stop = False


class _State:
    global_step = 0


def test_keeps_the_best_weights_and_stops_after_patience():
    model = torch.nn.Linear(2, 1)
    callback, state, control = KeepBestAndStop("accuracy", True, patience=2), _State(), _Control()
    for step, acc in [(1, 0.6), (2, 0.8), (3, 0.7), (4, 0.75)]:
        state.global_step = step
        with torch.no_grad():
            model.weight.fill_(step)
        callback.on_evaluate(None, state, control, metrics={"eval_accuracy": acc}, model=model)
    assert control.should_training_stop and callback.summary["stopped_at_step"] == 4
    callback.on_train_end(None, state, control, model=model)
    assert callback.summary["best_step"] == 2 and torch.all(model.weight == 2)


def test_finetune_stage_stops_early_and_records_it(tiny_run):
    stages = [
        {
            "type": "finetune",
            "early_stopping": {"patience": 1, "evals_per_epoch": 2},
            "training": {"num_train_epochs": 20, "learning_rate": 5e-3},
        },
        {"type": "distill", "control": False, "training": {"max_steps": 2}},
    ]
    assert main(["run", str(write_recipe(tiny_run, stages=stages, measure={"latency": False}))]) == 0
    teacher = json.loads((tiny_run / "out" / "report.json").read_text())["models"][0]
    summary = teacher["info"]["early_stopping"]
    total = teacher["info"]["training"]["optimizer_steps"]
    assert summary["stopped_at_step"] == total < 20 * 12  # 20 epochs of ~12 steps were allowed
    assert summary["best_step"] <= total and len(summary["evaluations"]) >= 2

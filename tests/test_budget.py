"""The accuracy budget: a stage that loses too much stops the run (or is marked, if the recipe says so)."""

import json

import pytest
import yaml

from trimformer.budget import BudgetExceeded, check_budget, metric_drop
from trimformer.cli import main


def test_drop_in_points_and_perplexity():
    assert metric_drop(0.90, 0.87, "accuracy") == pytest.approx(3.0)
    assert metric_drop(10.0, 12.5, "perplexity") == pytest.approx(2.5)
    teacher = {"metrics": {"accuracy": 0.9}}
    entry = {"name": "distill", "metrics": {"accuracy": 0.88}}
    assert check_budget(entry, teacher, "accuracy", None, None) is None
    assert check_budget(entry, teacher, "accuracy", 3.0, None) == {"max_drop": 3.0, "drop": 2.0, "ok": True}
    with pytest.raises(BudgetExceeded, match="stage 'distill' lost 2.00 accuracy points"):
        check_budget(entry, teacher, "accuracy", 1.0, None)


def weak_student_recipe(root, budget):
    recipe = {
        "output_dir": str(root / "out"),
        "data": {"path": str(root / "data.csv.gz"), "max_length": 16},
        "teacher": {"model": str(root / "teacher")},
        # A random student trained for one step stays near chance: far below the fitted teacher.
        "student": {"init": "random", "config": {"num_hidden_layers": 1}},
        "training": {"per_device_train_batch_size": 16, "learning_rate": 2e-3},
        "stages": [
            {"type": "finetune", "training": {"num_train_epochs": 4}},
            {"type": "distill", "control": False, "training": {"max_steps": 1, "learning_rate": 1e-6}},
        ],
        "measure": {"repeats": 1, "threads": 1, "batch_sizes": [1]},
        "budget": budget,
    }
    path = root / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def test_budget_gate_stops_the_run_and_keeps_outputs(tiny_run, capsys):
    code = main(["run", str(weak_student_recipe(tiny_run, {"max_drop": 5.0}))])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 3
    assert "stage 'distill' lost" in err[-1] and "budget of 5.00" in err[-1]
    report = json.loads((tiny_run / "out" / "report.json").read_text())
    assert report["models"][-1]["name"] == "distill"
    assert report["models"][-1]["budget"]["ok"] is False
    assert (tiny_run / "out" / "distill" / "model.safetensors").exists()


def test_budget_mark_mode_flags_and_goes_on(tiny_run):
    assert main(["run", str(weak_student_recipe(tiny_run, {"max_drop": 5.0, "on_violation": "mark"}))]) == 0
    report = json.loads((tiny_run / "out" / "report.json").read_text())
    budget = report["models"][-1]["budget"]
    assert budget["ok"] is False and budget["drop"] > 5.0
    assert (tiny_run / "out" / "report.md").exists()

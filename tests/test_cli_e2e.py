"""The CLI end to end on a tiny model: outputs, report, reload (2 processes: tests/test_multiprocess.py)."""

import json
import os
from pathlib import Path

import torch
import yaml
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from trimformer.cli import main


def write_recipe(root: Path, **changes) -> Path:
    recipe = {
        "name": "tiny",
        "output_dir": str(root / "out"),
        "data": {"path": str(root / "data.csv.gz"), "max_length": 16},
        "teacher": {"model": str(root / "teacher")},
        "student": {"init": "layers", "layers": [0, 2]},
        "training": {"per_device_train_batch_size": 16, "learning_rate": 2e-3, "logging_steps": 5},
        "stages": [
            {"type": "finetune", "training": {"num_train_epochs": 3}},
            {
                "type": "distill",
                "teacher_cache": True,
                "augment": {"n_variants": 1},
                "control": False,  # the control row has its own test (test_control_row.py)
                "training": {"num_train_epochs": 3},
            },
        ],
        "measure": {"repeats": 2, "threads": 1},
    }
    recipe.update(changes)
    path = root / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def test_cli_run_writes_reloadable_stages_and_report(tiny_run, capsys):
    recipe = write_recipe(tiny_run)
    assert main(["run", str(recipe)]) == 0
    printed = capsys.readouterr().out
    out = tiny_run / "out"
    report = json.loads((out / "report.json").read_text())
    names = [m["name"] for m in report["models"]]
    assert names == ["teacher", "distill"]
    assert "teacher" in printed and "distill" in printed and "accuracy" in printed
    timing = report["measurement"]  # one interleaved pass after the stages, same threads for every model
    assert timing["threads"] == 1 and timing["calls"] == 2
    # Timed in a fresh process whose torch threads wait passively (this one's spin after training).
    assert timing["omp_wait_policy"] == os.environ.get("OMP_WAIT_POLICY", "PASSIVE")
    for entry in report["models"]:
        assert {"metrics", "params", "size_mb", "weights_mb", "latency"} <= set(entry)
        cpu = entry["latency"]["cpu"]
        assert cpu["threads"] == 1 and set(cpu["batches"]) == {"b1", "b32"}
        assert all(len(b["calls_ms"]) == timing["rounds"] and b["median_ms"] > 0 for b in cpu["batches"].values())
    teacher, student = report["models"]
    assert student["params"] < teacher["params"] and student["size_mb"] < teacher["size_mb"]
    assert teacher["metrics"]["accuracy"] > 0.8  # the tiny task is learnable
    for stage in ("finetune", "distill"):
        assert (out / stage / "model.safetensors").exists() and (out / stage / "tokenizer.json").exists()
    # The artefact reloads with plain transformers and reproduces the reported accuracy.
    model = AutoModelForSequenceClassification.from_pretrained(out / "distill").eval()
    assert model.config.num_hidden_layers == 2
    assert model.config.id2label == {0: "neg", 1: "pos"}
    tok = AutoTokenizer.from_pretrained(out / "distill")
    capsys.readouterr()
    held_out = ["--held-out", "--max-length", "16"]  # the rows the run's report scored
    assert main(["eval", str(out / "distill"), "--data", str(tiny_run / "data.csv.gz"), *held_out]) == 0
    evaluated = json.loads(capsys.readouterr().out)
    assert abs(evaluated["accuracy"] - student["metrics"]["accuracy"]) < 1e-9
    with torch.no_grad():
        logits = model(**tok(["the film was great"], return_tensors="pt")).logits
    assert logits.shape == (1, 2)
    # A second run into the same folder refuses instead of overwriting.
    assert main(["run", str(recipe)]) == 2
    assert "--overwrite" in capsys.readouterr().err

"""`trimformer run --resume` after a SIGKILL in the middle of a stage reaches the same metrics as a run that was
never interrupted (same seed): the finished stage is skipped, the interrupted one continues from its last
Trainer checkpoint. Tolerance: the resumed student's eval metrics are equal and its logits within 1e-4 of the
uninterrupted one's (Trainer restores the optimizer, scheduler and RNG state and skips the batches already seen).
`--overwrite` replaces the whole folder and never deletes one trimformer did not write."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import tiny
import torch
import yaml

from trimformer.cli import main
from trimformer.loading import load_model


def write_recipe(root, out: str, distill_epochs: int = 4):
    recipe = {
        "name": "tiny-resume",
        "output_dir": str(root / out),
        "data": {"path": str(root / "data.csv.gz"), "max_length": 16},
        "teacher": {"model": str(root / "teacher")},
        "student": {"init": "layers", "layers": [0, 2]},
        "training": {"per_device_train_batch_size": 16, "learning_rate": 2e-3, "logging_steps": 1},
        "stages": [
            {"type": "finetune", "training": {"num_train_epochs": 3}},
            {
                "type": "distill",
                "teacher_cache": True,
                "control": False,
                "training": {"num_train_epochs": distill_epochs},
            },
        ],
        "measure": {"latency": False},
    }
    path = root / f"{out}.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def distill_entry(root, out: str) -> dict:
    report = json.loads((root / out / "report.json").read_text())
    return next(m for m in report["models"] if m["name"] == "distill")


def run_and_kill(recipe, work, marker: str) -> None:
    """Run the recipe in a subprocess and SIGKILL it mid-stage, as soon as `work` holds `marker` (a glob)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "trimformer", "run", str(recipe)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 240
    try:
        while time.time() < deadline and proc.poll() is None:
            if any(work.glob(marker)):
                break
            time.sleep(0.05)
        assert proc.poll() is None, f"the stage ended before {marker} appeared"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL


def test_sigkill_mid_stage_then_resume_matches_uninterrupted(tiny_run, capsys):
    assert main(["run", str(write_recipe(tiny_run, "full"))]) == 0
    full = distill_entry(tiny_run, "full")

    recipe = write_recipe(tiny_run, "killed")
    # mid-stage: after the distill stage's first checkpoint
    run_and_kill(recipe, tiny_run / "killed" / ".work" / "distill", "checkpoint-*/trainer_state.json")
    assert (tiny_run / "killed" / "finetune" / ".trimformer-stage.json").exists()
    assert not (tiny_run / "killed" / "distill" / ".trimformer-stage.json").exists(), "killed too late"

    capsys.readouterr()
    assert main(["run", str(recipe), "--resume"]) == 0
    printed = capsys.readouterr().out
    assert "stage finetune: finished by an earlier run, skipped" in printed
    assert "resuming distill from" in printed
    resumed = distill_entry(tiny_run, "killed")
    assert resumed["info"]["training"]["optimizer_steps"] == full["info"]["training"]["optimizer_steps"]
    assert resumed["metrics"] == full["metrics"]
    assert [e["loss"] for e in resumed["info"]["train_loss_history"]][-3:] == pytest.approx(
        [e["loss"] for e in full["info"]["train_loss_history"]][-3:], abs=1e-4
    )
    tok = tiny.make_tokenizer()
    batch = tok(
        [" ".join(r["text"].split()) for r in tiny.sentiment_rows(32, seed=5)], return_tensors="pt", padding=True
    )
    with torch.no_grad():
        a = load_model(str(tiny_run / "full" / "distill")).eval()(**batch).logits
        b = load_model(str(tiny_run / "killed" / "distill")).eval()(**batch).logits
    gap = (a - b).abs().max().item()
    assert gap < 1e-4, gap
    print(f"\nresume vs uninterrupted: metrics {resumed['metrics']} vs {full['metrics']}, max logit gap {gap:.2e}")
    assert not (tiny_run / "killed" / ".work").exists()  # checkpoints are gone once the run finished


def test_early_stopping_resumes_with_its_best_weights_and_evaluations(tiny_run, capsys):
    """The early-stopping state (best weights, evaluations, patience used) lives in each checkpoint: a run killed
    mid-stage ends with the same weights and the same evaluation record as one never interrupted."""

    def recipe(out: str):
        raw = yaml.safe_load(write_recipe(tiny_run, out).read_text())
        raw["stages"] = [
            {
                "type": "finetune",
                "target": "student",
                "early_stopping": {"patience": 3, "evals_per_epoch": 2},
                "training": {"num_train_epochs": 4},
            }
        ]
        path = tiny_run / f"{out}.yaml"
        path.write_text(yaml.safe_dump(raw))
        return path

    def entry(out: str) -> dict:
        report = json.loads((tiny_run / out / "report.json").read_text())
        return next(m for m in report["models"] if m["name"] == "finetune")

    assert main(["run", str(recipe("es-full"))]) == 0
    full = entry("es-full")
    assert len(full["info"]["early_stopping"]["evaluations"]) >= 4

    path = recipe("es-killed")
    run_and_kill(path, tiny_run / "es-killed" / ".work" / "finetune", "checkpoint-*/trainer_state.json")
    assert any((tiny_run / "es-killed" / ".work" / "finetune").glob("checkpoint-*/keep_best.json"))
    assert not (tiny_run / "es-killed" / "finetune" / ".trimformer-stage.json").exists(), "killed too late"
    capsys.readouterr()
    assert main(["run", str(path), "--resume"]) == 0
    assert "resuming finetune from" in capsys.readouterr().out
    resumed = entry("es-killed")
    assert resumed["info"]["early_stopping"] == full["info"]["early_stopping"]  # accuracies: exact fractions
    assert resumed["metrics"] == pytest.approx(full["metrics"], abs=1e-6)
    tok = tiny.make_tokenizer()
    batch = tok([r["text"] for r in tiny.sentiment_rows(16, seed=6)], return_tensors="pt", padding=True)
    with torch.no_grad():
        a = load_model(str(tiny_run / "es-full" / "finetune")).eval()(**batch).logits
        b = load_model(str(tiny_run / "es-killed" / "finetune")).eval()(**batch).logits
    assert (a - b).abs().max().item() < 1e-4


def test_overwrite_replaces_whole_folder_and_spares_foreign_ones(tiny_run, capsys):
    foreign = tiny_run / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    assert main(["run", str(write_recipe(tiny_run, "foreign", 1)), "--overwrite"]) == 2
    assert "never deleted" in capsys.readouterr().err
    assert (foreign / "notes.txt").read_text() == "mine"

    recipe = write_recipe(tiny_run, "out", 1)
    recipe.write_text(recipe.read_text().replace("num_train_epochs: 3", "max_steps: 2"))
    assert main(["run", str(recipe)]) == 0
    (tiny_run / "out" / "old-stage").mkdir()  # a stage folder of an earlier recipe
    assert main(["run", str(recipe), "--overwrite"]) == 0
    assert not (tiny_run / "out" / "old-stage").exists()
    assert not (tiny_run / ".out.replaced").exists()
    assert {p.name for p in (tiny_run / "out").iterdir()} >= {"finetune", "distill", "report.json"}


def test_hidden_state_projector_resumes_with_its_checkpoint(tiny_run, capsys):
    """A student narrower than its teacher learns a hidden-state projector beside it: each checkpoint holds the
    projector too, so a run killed mid-distillation ends as one never interrupted (this test also caught the
    projector's gradients adding up over the whole run: Trainer zeroes only the model's)."""

    def recipe(out: str):
        raw = yaml.safe_load(write_recipe(tiny_run, out).read_text())
        raw["student"] = {"init": "random", "config": {"num_hidden_layers": 2, "hidden_size": 32}}
        raw["stages"] = [
            {
                "type": "distill",
                "control": False,
                "alpha_hidden": 1.0,
                "training": {"num_train_epochs": 4},
            }
        ]
        path = tiny_run / f"{out}.yaml"
        path.write_text(yaml.safe_dump(raw))
        return path

    assert main(["run", str(recipe("hp-full"))]) == 0
    path = recipe("hp-killed")
    work = tiny_run / "hp-killed" / ".work" / "distill"
    run_and_kill(path, work, "checkpoint-*/trainer_state.json")
    assert any(work.glob("checkpoint-*/hidden_projector.safetensors"))
    capsys.readouterr()
    assert main(["run", str(path), "--resume"]) == 0
    assert "resuming distill from" in capsys.readouterr().out
    full, resumed = distill_entry(tiny_run, "hp-full"), distill_entry(tiny_run, "hp-killed")
    assert [e["loss"] for e in resumed["info"]["train_loss_history"]][-3:] == pytest.approx(
        [e["loss"] for e in full["info"]["train_loss_history"]][-3:], abs=1e-4
    )
    tok = tiny.make_tokenizer()
    batch = tok([r["text"] for r in tiny.sentiment_rows(16, seed=7)], return_tensors="pt", padding=True)
    with torch.no_grad():
        a = load_model(str(tiny_run / "hp-full" / "distill")).eval()(**batch).logits
        b = load_model(str(tiny_run / "hp-killed" / "distill")).eval()(**batch).logits
    assert (a - b).abs().max().item() < 1e-4

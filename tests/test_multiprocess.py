"""Data parallelism that divides the work: 2 CPU processes (torchrun, gloo) against 1 process with the same
global batch. Each process must train on half the examples, the logged loss curve and the final metric must
match the 1-process run, the teacher cache is computed once (sharded) and only the main process writes.

Tolerances: 2 x 8 examples averaged over processes is the same gradient as one batch of 16 (the global batch
holds the same examples: accelerate shards one seeded order), so only float rounding differs: each logged loss
within 1e-3, eval accuracy within one of the 24 eval examples.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

from trimformer.cli import main

pytestmark = pytest.mark.multiprocess
GLOBAL_BATCH = 16


def write_recipe(root, out: str, processes: int):
    recipe = {
        "name": "tiny-ddp",
        "output_dir": str(root / out),
        "data": {"path": str(root / "data.csv.gz"), "max_length": 16},
        "teacher": {"model": str(root / "teacher")},
        "student": {"init": "layers", "layers": [0, 2]},
        "training": {
            "per_device_train_batch_size": GLOBAL_BATCH // processes,
            "learning_rate": 2e-3,
            "logging_steps": 1,
            "dataloader_drop_last": True,  # 216 examples: equal full global batches in both runs
        },
        "stages": [
            {"type": "finetune", "training": {"num_train_epochs": 3}},  # the teacher learns the task first
            {
                "type": "distill",
                "alpha_task": 1.0,
                "alpha_kd": 0.5,
                "teacher_cache": True,
                "control": False,
                "training": {"num_train_epochs": 2},
            },
        ],
        "measure": {"latency": False},
    }
    path = root / f"{out}.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def models(root, out):
    report = json.loads((root / out / "report.json").read_text())
    return {m["name"]: m for m in report["models"]}


def test_two_processes_share_the_work_and_match_one(tiny_run):
    assert main(["run", str(write_recipe(tiny_run, "one", 1))]) == 0
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29517"]
    cmd += ["-m", "trimformer", "run", str(write_recipe(tiny_run, "two", 2))]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("report: ") == 1  # one process writes and prints
    one, two = models(tiny_run, "one"), models(tiny_run, "two")
    assert (
        one["teacher"]["metrics"]["accuracy"] > 0.8
    )  # the fine-tuned teacher learnt the task: metrics mean something
    for name, epochs in (("teacher", 3), ("distill", 2)):  # finetune (the teacher), then distill
        single, double = one[name], two[name]
        s, d = single["info"]["training"], double["info"]["training"]
        assert s["world_size"] == 1 and d["world_size"] == 2
        assert s["optimizer_steps"] == d["optimizer_steps"] == epochs * (216 // GLOBAL_BATCH)
        # Each process saw half the examples; together as many as the single process.
        assert s["samples_seen"] == s["optimizer_steps"] * GLOBAL_BATCH
        assert d["samples_per_process"] == [s["samples_seen"] // 2] * 2 and d["samples_seen"] == s["samples_seen"]
        losses_1 = [e["loss"] for e in single["info"]["train_loss_history"]]
        losses_2 = [e["loss"] for e in double["info"]["train_loss_history"]]
        assert len(losses_1) == len(losses_2) == s["optimizer_steps"]
        worst = max(abs(a - b) for a, b in zip(losses_1, losses_2))
        assert worst < 1e-3, (name, worst, losses_1, losses_2)
        acc_1, acc_2 = single["metrics"]["accuracy"], double["metrics"]["accuracy"]
        assert abs(acc_1 - acc_2) <= 1 / 24 + 1e-9, (name, acc_1, acc_2)
        # Evaluation covered the whole eval set once.
        assert double["eval_examples"] == single["eval_examples"] == 24
        print(f"\n{name}: 1 vs 2 processes: worst loss diff {worst:.2e}, accuracy {acc_1:.4f} vs {acc_2:.4f}")
    assert len(list((tiny_run / "two" / ".teacher_cache").glob("*.safetensors"))) == 1  # written once

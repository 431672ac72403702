"""A recipe's `bf16: true` trains with CPU autocast where there is no accelerator (the full demo's teacher)."""

import pytest
import torch

from trimformer.config import DistillationConfig


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only path")
def test_bf16_without_accelerator_trains_on_cpu(tmp_path):
    args = DistillationConfig(output_dir=str(tmp_path), bf16=True, report_to=[])
    assert args.use_cpu and args.bf16
    assert args.device.type == "cpu"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only path")
def test_bf16_stages_hand_on_a_plain_model_that_exports_to_onnx(tiny_run):
    """Under bf16 accelerate wraps forward in autocast; the next stage must get the plain model (the full demo's
    int8-cpu export traced through the wrapper and failed)."""
    import json

    import yaml

    from trimformer.cli import main

    recipe = {
        "output_dir": str(tiny_run / "out"),
        "data": {"path": str(tiny_run / "data.csv.gz"), "max_length": 16},
        "teacher": {"model": str(tiny_run / "teacher")},
        "student": {"init": "layers", "layers": [0, 2]},
        "training": {"per_device_train_batch_size": 16, "max_steps": 3, "bf16": True},
        "stages": [
            {"type": "distill", "control": False, "save": False},
            {"type": "prune_ffn", "amount": 0.5, "recovery": {"training": {"max_steps": 2}}, "save": False},
            {"type": "quantize", "method": "int8-cpu"},
        ],
        "measure": {"latency": False},
    }
    path = tiny_run / "bf16.yaml"
    path.write_text(yaml.safe_dump(recipe))
    assert main(["run", str(path)]) == 0
    report = json.loads((tiny_run / "out" / "report.json").read_text())
    (entry,) = [m for m in report["models"] if m.get("role") == "stage"]
    assert entry["name"] == "quantize" and entry["metrics"]["accuracy"] is not None

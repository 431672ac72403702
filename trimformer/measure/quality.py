"""The part of a model's report entry that does not depend on machine load: task metrics on the whole
eval set (on the accelerator when there is one), parameter count, resident weights and size on disk.

    entry = measure(model, task, eval_dataset, collator, artefact="OUTPUT/distill", max_length=128)

Latency is not measured here: every artefact of a run is timed together afterwards, in one interleaved
pass (`trimformer.measure.report_pass.measure_latency`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from trimformer.measure.evaluate import evaluate_model
from trimformer.measure.runtime import accelerator, model_device, placed, runtime_of
from trimformer.measure.weights import count_parameters, size_on_disk_mb, weights_mb
from trimformer.tasks import TaskSpec


def measure(
    model: Any,
    task: TaskSpec,
    dataset: Any,
    collator: Any,
    artefact: str | Path | None = None,
    *,
    max_length: int | None = None,
    device: str | torch.device | None = None,
) -> dict[str, Any]:
    """{metrics, eval_examples, eval_device, params, nonzero_params, weights_mb, size_mb, runtime}."""
    target = device or accelerator()
    with placed(model, target) as runnable:
        eval_device = str(model_device(runnable))
        metrics = evaluate_model(runnable, dataset, collator, task, device=target, max_length=max_length)
    return {
        "metrics": metrics,
        "eval_examples": len(dataset),
        "eval_device": eval_device,
        **count_parameters(model),
        "weights_mb": weights_mb(model),
        "size_mb": round(size_on_disk_mb(artefact), 3) if artefact else None,
        "runtime": runtime_of(model),
    }

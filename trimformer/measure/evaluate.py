"""Task metrics of one model on the whole eval set, computed on the accelerator when there is one.

    metrics = evaluate_model(model, dataset, collator, task)             # the model's accelerator
    metrics = evaluate_model(model, dataset, collator, task, device="cpu")

Masked-LM masks are drawn from a fixed seed per batch, so every model is scored on the same masked
positions; token-level logits are padded to one common width (at least the recipe's max_length).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from trimformer.measure.runtime import accelerator, model_device, placed
from trimformer.metrics import compute_task_metrics
from trimformer.tasks import TaskSpec

MASK_SEED = 1234  # masked-LM eval masks: one seed for every model of every run


def logits_of(output: Any) -> torch.Tensor:
    if hasattr(output, "logits"):
        return output.logits
    if isinstance(output, dict):
        return output["logits"]
    return output[0]


class SeededCollator:
    """Calls `collator` with torch's RNG seeded from (seed, batch index): a masked-LM collator then masks
    the same positions for every model, whatever ran before. Other collators are unaffected."""

    def __init__(self, collator: Any, seed: int = MASK_SEED) -> None:
        self.collator, self.seed, self.calls = collator, seed, 0

    def __call__(self, rows: list[dict]) -> dict:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed + self.calls)
            self.calls += 1
            return self.collator(rows)


def _pad_width(arrays: list[np.ndarray], width: int, value: float) -> np.ndarray:
    pad = [((0, 0), (0, width - a.shape[1])) + ((0, 0),) * (a.ndim - 2) for a in arrays]
    return np.concatenate([np.pad(a, p, constant_values=value) for a, p in zip(arrays, pad)])


@dataclass
class Outputs:
    """What a model produced on an eval set: logits and labels (one row per example; token tasks padded to
    one width), or for masked LM the summed loss over masked tokens and their count."""

    logits: np.ndarray | None = None
    labels: np.ndarray | None = None
    loss_sum: float = 0.0
    tokens: int = 0


@torch.no_grad()
def model_outputs(
    model: Any,
    dataset: Any,
    collator: Any,
    task: TaskSpec,
    batch_size: int = 64,
    *,
    device: str | torch.device | None = None,
    max_length: int | None = None,
) -> Outputs:
    """Run `model` over every example of `dataset` in order (one process; the caller picks which). `device`
    defaults to the accelerator; models that cannot move (ONNX Runtime, int8 CPU kernels, bitsandbytes) stay
    put."""
    if hasattr(model, "eval"):
        model.eval()
    with placed(model, device or accelerator()) as runnable:
        where = model_device(runnable)
        loader = DataLoader(dataset, batch_size=batch_size, collate_fn=SeededCollator(collator))
        all_logits, all_labels, out = [], [], Outputs()
        for batch in tqdm(loader, desc="evaluate", leave=False):
            labels = batch.pop("labels", None)
            feed = {k: v.to(where) for k, v in batch.items() if k != "example_id" and not k.startswith("teacher_")}
            logits = logits_of(runnable(**feed)).float().cpu()
            if task.name == "masked-lm":
                # Sum over masked tokens, then divide once: every masked token weighs the same.
                flat = labels.view(-1)
                loss = torch.nn.functional.cross_entropy(logits.view(-1, logits.size(-1)), flat, reduction="sum")
                out.loss_sum += loss.item()
                out.tokens += int((flat != -100).sum())
                continue
            all_logits.append(logits.numpy())
            all_labels.append(labels.numpy())
    if all_logits and all_logits[0].ndim == 3:  # token level: one width for every batch
        width = max([max_length or 0] + [a.shape[1] for a in all_logits])
        out.logits, out.labels = _pad_width(all_logits, width, 0.0), _pad_width(all_labels, width, -100)
    elif all_logits:
        out.logits, out.labels = np.concatenate(all_logits), np.concatenate(all_labels)
    return out


def metrics_of(outputs: Outputs, task: TaskSpec) -> dict[str, float]:
    if task.name == "masked-lm":
        return compute_task_metrics(task, np.zeros(0), np.zeros(0), outputs.loss_sum / max(1, outputs.tokens))
    return compute_task_metrics(task, outputs.logits, outputs.labels)


def evaluate_model(
    model: Any, dataset: Any, collator: Any, task: TaskSpec, batch_size: int = 64, **where: Any
) -> dict[str, float]:
    """Metrics on every example of `dataset`; `where` (device=, max_length=) as in `model_outputs`."""
    return metrics_of(model_outputs(model, dataset, collator, task, batch_size, **where), task)

"""Train to convergence on validation, not for a fixed number of epochs.

A validation slice is carved from the training split (never the held-out eval split the report scores), the
model is evaluated a few times per epoch, the best weights are kept in memory (no checkpoint files), and
training stops after `patience` evaluations without improvement; the best weights are restored at the end.
A one-epoch teacher can be weaker than a three-epoch student: this is how a run avoids that.
"""

from __future__ import annotations

import math
from typing import Any

import datasets
import torch
from pydantic import Field
from transformers import TrainerCallback

from trimformer.stages.base import Options


class EarlyStopping(Options):
    validation_fraction: float = Field(
        0.1, gt=0, lt=0.5, description="Share of the training split held out for validation (seeded)"
    )
    patience: int = Field(2, ge=1, le=100, description="Evaluations without improvement before stopping")
    evals_per_epoch: int = Field(2, ge=1, le=100, description="How often to evaluate on the validation slice")


def split_validation(train: datasets.Dataset, fraction: float, seed: int) -> tuple[datasets.Dataset, datasets.Dataset]:
    """(train, validation) by a seeded shuffle of row indices: both keep their example_id column."""
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed)).tolist()
    n_val = max(1, int(round(len(train) * fraction)))
    return train.select(sorted(order[n_val:])), train.select(sorted(order[:n_val]))


def eval_steps(n_train: int, batch_size: int, accumulation: int, world_size: int, evals_per_epoch: int) -> int:
    steps_per_epoch = math.ceil(n_train / (batch_size * accumulation * world_size))
    return max(1, steps_per_epoch // evals_per_epoch)


class KeepBestAndStop(TrainerCallback):
    """Keeps the best weights by `metric` (in memory), stops after `patience` evaluations without improvement,
    restores the best weights when training ends. Records what happened in `self.summary`."""

    def __init__(self, metric: str, greater_is_better: bool, patience: int):
        self.metric, self.sign, self.patience = f"eval_{metric}", 1.0 if greater_is_better else -1.0, patience
        self.best: float | None = None
        self.best_state: dict[str, torch.Tensor] | None = None
        self.waited = 0
        self.summary: dict[str, Any] = {"evaluations": []}

    def on_evaluate(self, args, state, control, metrics=None, model=None, **kwargs):
        value = (metrics or {}).get(self.metric)
        if value is None or model is None:
            return control
        self.summary["evaluations"].append({"step": state.global_step, self.metric: value})
        if self.best is None or self.sign * (value - self.best) > 0:
            self.best, self.waited = value, 0
            self.best_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
            self.summary.update(best_step=state.global_step, best=value)
        else:
            self.waited += 1
            if self.waited >= self.patience:
                control.should_training_stop = True
                self.summary["stopped_at_step"] = state.global_step
        return control

    def on_train_end(self, args, state, control, model=None, **kwargs):
        if self.best_state is not None and model is not None:
            model.load_state_dict(self.best_state)
        return control

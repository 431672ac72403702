"""Train to convergence on validation, not for a fixed number of epochs.

A validation slice is carved from the training split (never the held-out eval split the report scores), the
model is evaluated a few times per epoch, the best weights are kept in memory (no checkpoint files), and
training stops after `patience` evaluations without improvement; the best weights are restored at the end
(the callback: keep_best.py).
A one-epoch teacher can be weaker than a three-epoch student: this is how a run avoids that.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from pydantic import Field

from trimformer.stages.base import Options

if TYPE_CHECKING:  # imported where used: `trimformer validate` reads EarlyStopping without torch
    import datasets


class EarlyStopping(Options):
    validation_fraction: float = Field(
        0.1, gt=0, lt=0.5, description="Share of the training split held out for validation (seeded)"
    )
    patience: int = Field(2, ge=1, le=100, description="Evaluations without improvement before stopping")
    evals_per_epoch: int = Field(2, ge=1, le=100, description="How often to evaluate on the validation slice")


def split_validation(train: datasets.Dataset, fraction: float, seed: int) -> tuple[datasets.Dataset, datasets.Dataset]:
    """(train, validation) by a seeded shuffle of row indices: both keep their example_id column."""
    import torch

    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed)).tolist()
    n_val = max(1, int(round(len(train) * fraction)))
    return train.select(sorted(order[n_val:])), train.select(sorted(order[:n_val]))


def eval_steps(n_train: int, batch_size: int, accumulation: int, world_size: int, evals_per_epoch: int) -> int:
    steps_per_epoch = math.ceil(n_train / (batch_size * accumulation * world_size))
    return max(1, steps_per_epoch // evals_per_epoch)

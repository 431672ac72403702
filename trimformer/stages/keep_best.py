"""The early-stopping callback of `finetune` (settings: early_stopping.py): keep the best weights in memory,
stop after `patience` evaluations without improvement, restore the best weights at the end."""

from __future__ import annotations

from typing import Any

import torch
from transformers import TrainerCallback


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

"""The early-stopping callback of `finetune` (settings: early_stopping.py): keep the best weights in memory,
stop after `patience` evaluations without improvement, restore the best weights at the end.

Its state goes into every Trainer checkpoint (`keep_best.json` + `keep_best.safetensors`), so
`trimformer run --resume` continues with the best weights and the evaluations seen before the interruption.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from transformers import TrainerCallback

STATE_FILE, WEIGHTS_FILE = "keep_best.json", "keep_best.safetensors"


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

    def save_to_checkpoint(self, folder: Path) -> None:
        """Called by DistillationTrainer before Trainer marks the checkpoint in `folder` complete."""
        from safetensors.torch import save_file

        if self.best_state is not None:
            tmp = folder / (WEIGHTS_FILE + ".tmp")
            save_file({k: v.contiguous() for k, v in self.best_state.items()}, str(tmp))
            tmp.replace(folder / WEIGHTS_FILE)
        state = {"best": self.best, "waited": self.waited, "summary": self.summary}
        (folder / STATE_FILE).write_text(json.dumps(state))

    def restore_from_checkpoint(self, folder: Path) -> None:
        """Continue from `folder` (one `save_to_checkpoint` wrote into; one without our files: a fresh start)."""
        from safetensors.torch import load_file

        if not (folder / STATE_FILE).is_file():
            return
        state = json.loads((folder / STATE_FILE).read_text())
        self.best, self.waited, self.summary = state["best"], state["waited"], state["summary"]
        if (folder / WEIGHTS_FILE).is_file():
            self.best_state = load_file(str(folder / WEIGHTS_FILE))

    def on_train_end(self, args, state, control, model=None, **kwargs):
        if self.best_state is not None and model is not None:
            model.load_state_dict(self.best_state)
        return control

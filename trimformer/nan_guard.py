"""Stop training the step a loss term stops being finite.

Training on after a NaN only turns every weight into NaN and, much later, prints a meaningless metric;
Trainer's `logging_nan_inf_filter` even hides it from the logs. `DistillationTrainer.compute_loss` calls
`check_loss_terms` with each term's value (it already reads them for logging, so this costs nothing),
and the run ends with `TrainingDiverged` (exit code 4) naming the step and the term. Nothing is deleted:
earlier stages' outputs and any Trainer checkpoint of this stage stay where they are.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from trimformer.errors import TrainingDiverged

ADVICE = "lower the learning rate (training.learning_rate), keep max_grad_norm > 0, or check the inputs"


def last_checkpoint(output_dir: str | Path) -> Path | None:
    """The newest `checkpoint-N` folder Trainer wrote in `output_dir`, if any."""
    folder = Path(output_dir)
    if not folder.is_dir():
        return None
    steps = [(int(p.name.split("-")[-1]), p) for p in folder.glob("checkpoint-*") if p.name.split("-")[-1].isdigit()]
    return max(steps)[1] if steps else None


def check_loss_terms(trainer: Any, values: dict[str, float]) -> None:
    """Raise TrainingDiverged if any term in `values` (name -> float) is NaN or infinite. Under several
    processes all of them agree (one reduce of a flag), so none is left waiting in a collective."""
    step = trainer.state.global_step + 1
    bad = next(((name, value) for name, value in values.items() if not math.isfinite(value)), None)
    accelerator = getattr(trainer, "accelerator", None)
    if accelerator is not None and accelerator.num_processes > 1:
        import torch

        flag = torch.tensor([0.0 if bad is None else 1.0], device=accelerator.device)
        if accelerator.reduce(flag, reduction="sum").item() == 0:
            return
    elif bad is None:
        return
    checkpoint = last_checkpoint(trainer.args.output_dir)
    kept = f"; last checkpoint kept: {checkpoint}" if checkpoint else "; earlier stages' outputs are kept"
    if bad is None:
        raise TrainingDiverged(f"a loss term became non-finite on another process at step {step}; {ADVICE}{kept}")
    name, value = bad
    raise TrainingDiverged(f"loss term '{name}' became {value} at step {step}; {ADVICE}{kept}")

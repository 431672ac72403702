"""The technique door: `compress_(model, config, calibration)` applies any technique by its config.

Each technique (head pruning, FFN pruning, quantization, LoRA, ...) is one pydantic config, a subclass of
`TechniqueConfig`, and a `TransformSpec` registered in `trimformer.artefact` (how to apply it, rebuild its
shapes at load time, and what it requires of the model). The same config object is the recipe stage's
settings, what `compress_` takes in Python, and what the saved transform log records, so the three can
never disagree. This module imports no torch at import time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict

from trimformer.artefact.capabilities import Effect


class TechniqueConfig(BaseModel):
    """Settings of one technique. Unknown fields are errors; `effect()` says what it needs and removes."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    def effect(self) -> Effect:
        raise NotImplementedError


@dataclass
class Calibration:
    """A few tokenized batches (with labels when the task has them) that importance scores and
    calibrated quantizers may run the model on. Kept as plain tensors so techniques need no data
    machinery."""

    batches: list[dict[str, Any]] = field(default_factory=list)
    # Tokenized training text, for vocabulary pruning (token ids seen in the corpus).
    corpus_input_ids: Iterable[list[int]] | None = None
    tokenizer: Any = None
    # Set by vocabulary pruning: old token id -> new id (the new [UNK] for dropped ones).
    old_to_new: list[int] | None = None

    def __iter__(self):
        return iter(self.batches)


def compress_(model: Any, config: TechniqueConfig, calibration: Calibration | None = None, stage: str | None = None):
    """Apply the technique `config` names to `model` (in place where possible), record it in the model's
    transform log, and return the model to use from now on (some techniques, e.g. LoRA, wrap it)."""
    from trimformer.artefact.registry import apply_transform

    return apply_transform(model, config, calibration, stage=stage)

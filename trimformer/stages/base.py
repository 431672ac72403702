"""Stages: the unit a recipe is made of.

A stage is a pydantic config (validated before anything loads) plus a handler
`fn(config, state: RunState) -> None` that changes `state` (usually `state.model`). Each stage
module registers itself with `@register_stage("name", ConfigCls)`; `trimformer/stages/__init__.py`
imports every stage module, one line each (PEFT's pattern). The runner saves, reloads and measures
after every stage, so a handler only has to transform.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from trimformer.tasks import TaskSpec

# A stage's folder is OUTPUT/<name>: a plain name, never a path out of output_dir or over the run's own files.
STAGE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
RESERVED_NAMES = {"teacher", "student", "report.json", "report.md", "tradeoff.png", "readme.md"}


def check_training_block(value: Any) -> Any:
    from trimformer.recipe.training import check_training  # lazy: trimformer.recipe imports the stages

    return check_training(value)


class Options(BaseModel):
    """A nested option block inside a stage config (unknown keys are errors; inf/nan are not amounts)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class StageConfig(BaseModel):
    """Fields every stage has. Subclasses add their own; unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    name: str | None = Field(None, description="Output folder name (default: the stage type, numbered if repeated).")
    save: bool = Field(True, description="Write OUTPUT/<name>/ and measure it.")
    training: dict[str, Any] = Field(
        default_factory=dict, description="TrainingArguments overrides for this stage (merged over recipe.training)."
    )
    max_drop: float | None = Field(
        None, ge=0, description="Accuracy budget: most metric points this stage may lose vs the teacher."
    )

    # What the stage needs / does to the weights, for order checks before anything loads.
    needs_float_weights: ClassVar[bool] = False  # e.g. pruning, training the full model
    makes_weights_nonfloat: ClassVar[bool] = False  # e.g. bitsandbytes 4-bit, torchao int8
    trains: ClassVar[bool] = False

    @field_validator("name")
    @classmethod
    def _plain_name(cls, value: str | None) -> str | None:
        if value is not None and (not STAGE_NAME.fullmatch(value) or ".." in value):
            raise ValueError(
                f"{value!r} is not a plain folder name; use letters, digits, '.', '_' or '-' (it becomes "
                "OUTPUT/<name>, so no path separators and no leading dot)"
            )
        if value is not None and value.lower() in RESERVED_NAMES:
            raise ValueError(f"{value!r} is reserved (the run's own entry or file); choose another name")
        return value

    _training = field_validator("training")(classmethod(lambda cls, v: check_training_block(v)))

    def order_error(self, previous: list[StageConfig]) -> str | None:
        """Why this stage cannot follow `previous` (checked before anything loads), or None."""
        if self.needs_float_weights:
            blocker = next((p for p in reversed(previous) if p.makes_weights_nonfloat), None)
            if blocker is not None:
                return (
                    f"needs float weights, but an earlier {type(blocker).__name__} stage made them non-float; "
                    "move this stage before the quantization stage"
                )
        return None


StageFn = Callable[[Any, "RunState"], None]


@dataclass
class StageSpec:
    name: str
    config_cls: type[StageConfig]
    fn: StageFn


_STAGES: dict[str, StageSpec] = {}


def register_stage(name: str, config_cls: type[StageConfig]) -> Callable[[StageFn], StageFn]:
    def wrap(fn: StageFn) -> StageFn:
        if name in _STAGES:
            raise ValueError(f"stage '{name}' is already registered")
        _STAGES[name] = StageSpec(name, config_cls, fn)
        return fn

    return wrap


def get_stage(name: str) -> StageSpec | None:
    return _STAGES.get(name)


def stage_names() -> list[str]:
    return sorted(_STAGES)


@dataclass
class RunState:
    """Everything a stage may read or replace. The runner owns it; stages change fields in place."""

    task: TaskSpec
    output_dir: Path
    model: Any = None  # the current student / artefact
    tokenizer: Any = None
    teacher: Any = None
    teacher_tokenizer: Any = None
    data: Any = None  # trimformer.data.TaskData: raw + tokenized splits, collator
    training: dict[str, Any] = field(default_factory=dict)  # recipe-level TrainingArguments kwargs
    seed: int = 42
    recipe: Any = None  # the validated Recipe (student spec, data settings) when run from a recipe
    # Set by stages for the report and the saver: e.g. {"runtime": "torchao", "compiled": True}.
    stage_info: dict[str, dict[str, Any]] = field(default_factory=dict)
    # A stage may replace how its artefact is written (adapters, torchao, ONNX): fn(model, tokenizer, dir).
    saver: Callable[[Any, Any, Path], None] | None = None
    weights_nonfloat_since: str | None = None  # name of the stage that quantized the weights
    history: list[str] = field(default_factory=list)

    @property
    def current_stage(self) -> str:
        """The output name of the stage being run (the runner sets it before calling the handler)."""
        return self.history[-1]

    def training_args(self, overrides: dict[str, Any], output_dir: Path, **extra: Any) -> dict[str, Any]:
        merged = {**self.training, **overrides, **extra}
        merged.setdefault("seed", self.seed)
        merged["output_dir"] = str(output_dir)
        return merged

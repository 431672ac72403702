"""Stages: the unit a recipe is made of.

A stage is a pydantic config (validated before anything loads) plus a handler
`fn(config, state: RunState) -> StageResult` that reads the run state and returns what it made: the
model, its tokenizer, whose model it is (student or teacher) and facts for the report. The runner applies
the result, saves it (`trimformer.artefact.io.save_artefact`, whatever transforms it carries), reloads and
measures it; handlers never assign to the run state. Each stage module registers itself with
`@register_stage("name", ConfigCls)`; `trimformer/stages/__init__.py` imports every stage module, one line
each (PEFT's pattern). A stage's `effect(task)` (what it needs of the model, what it removes) drives the
order check before anything loads (`trimformer.artefact.capabilities`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from trimformer.artefact.capabilities import Effect
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

    def effect(self, task: str) -> Effect:
        """What this stage needs of the model and takes away (order checks before anything loads)."""
        return Effect()

    def kind(self, stage_type: str) -> str:
        """How the compatibility table and error messages name this stage (e.g. quantize:bnb-nf4)."""
        return stage_type


@dataclass
class StageResult:
    """What a stage made. `role` "teacher": the run's teacher is replaced (e.g. finetune of the teacher);
    "control": a reference row only (see `extras`)."""

    model: Any
    tokenizer: Any
    role: str = "student"
    info: dict[str, Any] = field(default_factory=dict)
    # Side results saved and measured next to this one but not carried on, e.g. {"control": ...}: the runner
    # writes them to OUTPUT/<stage>-<key>/ with their own role.
    extras: dict[str, StageResult] = field(default_factory=dict)


StageFn = Callable[[Any, "RunState"], StageResult]


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
    """What stages read: the current student and teacher with their tokenizers, the data, the settings.
    The runner owns it and applies each stage's `StageResult`; handlers only read it (and call `student()`)."""

    task: TaskSpec
    output_dir: Path
    model: Any = None  # the current student / artefact (None until the first stage that needs one)
    tokenizer: Any = None
    teacher: Any = None
    teacher_tokenizer: Any = None
    data: Any = None  # trimformer.data.TaskData: raw splits + per-tokenizer views
    training: dict[str, Any] = field(default_factory=dict)  # recipe-level TrainingArguments kwargs
    seed: int = 42
    recipe: Any = None  # the validated Recipe (student spec, data settings) when run from a recipe
    stage: str = ""  # output name of the stage being run
    build_student: Callable[[RunState], tuple[Any, Any]] | None = None  # (model, tokenizer) from the recipe
    resume: bool = False  # continue a training stage from its last checkpoint in OUTPUT/.work/<stage>
    fingerprint: str = ""  # the running stage's settings and inputs (trimformer.resume), stamped on checkpoints

    @property
    def current_stage(self) -> str:
        return self.stage

    def student(self) -> Any:
        """The current student, built from the recipe's student section the first time a stage needs it."""
        if self.model is None:
            if self.build_student is None:
                raise ValueError(f"{self.stage}: no student yet and no recipe student section to build one")
            self.model, self.tokenizer = self.build_student(self)
        return self.model

    def apply(self, result: StageResult) -> None:
        """What the runner does with a stage's result: the student (or teacher) and its tokenizer move on.

        A finished stage hands on an inference model: train mode left behind by a Trainer would make the next
        stage (and any logits compared with a reload) differ, e.g. bnb int8 takes its training matmul path."""
        if hasattr(result.model, "eval"):
            result.model.eval()
        if result.role == "teacher":
            self.teacher, self.teacher_tokenizer = result.model, result.tokenizer
        else:
            self.model, self.tokenizer = result.model, result.tokenizer

    def run_stage(self, stage_type: str, config: StageConfig, name: str | None = None) -> StageResult:
        """Run one registered stage on this state and apply its result (the runner's loop body, minus saving)."""
        self.stage = name or stage_type
        result = get_stage(stage_type).fn(config, self)
        self.apply(result)
        return result

    def training_args(self, overrides: dict[str, Any], output_dir: Path, **extra: Any) -> dict[str, Any]:
        merged = {**self.training, **overrides, **extra}
        merged.setdefault("seed", self.seed)
        merged["output_dir"] = str(output_dir)
        return merged

"""The recipe: one YAML file that drives a whole run, validated before anything loads."""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, field_validator, model_validator

from trimformer.tasks import TASKS


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataSection(Section):
    path: str = Field(description="Hub dataset id (e.g. glue), local file, or package:module/file.csv.bz2")
    name: str | None = Field(None, description="Dataset configuration name (e.g. sst2)")
    train_split: str = "train"
    eval_split: str | None = Field(None, description="Default: a fixed-seed split of train")
    eval_fraction: float = Field(0.1, gt=0, lt=1)
    text_column: str = "text"
    text_pair_column: str | None = None
    label_column: str = "label"
    label_names: list[str] | None = None
    regression: bool | None = Field(None, description="Default: true when the label column is float")
    filter: dict[str, list[Any]] = Field(default_factory=dict, description="Keep rows whose column is in the list")
    dedupe: bool = True
    max_length: int = Field(128, ge=8, le=8192)
    max_train_samples: PositiveInt | None = None
    max_eval_samples: PositiveInt | None = None
    unlabeled_path: str | None = Field(None, description="Extra text without labels: learnt from the teacher only")


class TeacherSection(Section):
    model: str = Field(description="Hub id, local directory or package:module/path")
    dtype: Literal["float32", "bfloat16", "float16"] | None = None
    own_tokenizer: bool | None = Field(
        None, description="Let the teacher tokenize raw text itself (classification only). Default: auto"
    )


class StudentSection(Section):
    init: Literal["layers", "random", "pretrained"] = "layers"
    layers: list[int] | None = Field(None, description="Teacher layers to keep, e.g. [0, 2, 4] (init: layers)")
    num_layers: PositiveInt | None = Field(None, description="Keep this many evenly spaced teacher layers")
    config: dict[str, Any] = Field(default_factory=dict, description="Config overrides (init: random)")
    model: str | None = Field(
        None,
        description="init: pretrained: the checkpoint to start from; init: layers: the model whose layers are "
        "kept (default: the teacher), e.g. a smaller pretrained encoder with its own tokenizer",
    )

    @model_validator(mode="after")
    def _consistent(self) -> StudentSection:
        if self.init == "pretrained" and not self.model:
            raise ValueError("init: pretrained needs student.model (a Hub id, directory or package: path)")
        if self.init == "layers" and self.layers is None and self.num_layers is None:
            raise ValueError("init: layers needs student.layers (e.g. [0, 2, 4]) or student.num_layers")
        return self


class MeasureSection(Section):
    batch_sizes: list[PositiveInt] = Field(default_factory=lambda: [1, 32])
    length: int = Field(64, ge=8, le=8192)
    threads: PositiveInt | None = Field(2, description="CPU threads for latency (fixed, for comparable numbers)")
    repeats: PositiveInt = 5
    latency: bool = True


class BudgetSection(Section):
    max_drop: float = Field(ge=0, description="Most metric points any stage may lose vs the teacher")
    on_violation: Literal["stop", "mark"] = Field(
        "stop", description="stop: end the run with an error; mark: flag the stage in the report and go on"
    )


def training_fields() -> dict[str, dataclasses.Field]:
    from trimformer.config import DistillationConfig

    return {f.name: f for f in dataclasses.fields(DistillationConfig) if f.init}


def check_training(values: dict[str, Any]) -> dict[str, Any]:
    """Keys must be TrainingArguments/DistillationConfig fields; simple types must match."""
    import difflib

    fields = training_fields()
    for key, value in values.items():
        if key not in fields:
            close = difflib.get_close_matches(key, fields, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise ValueError(f"unknown TrainingArguments field '{key}'{hint}")
        if key == "output_dir":
            raise ValueError("output_dir is set by the runner; use the recipe's top-level output_dir")
        default = fields[key].default
        if isinstance(default, bool) and not isinstance(value, bool):
            raise ValueError(f"'{key}' must be true or false (got {value!r})")
        if isinstance(default, (int, float)) and not isinstance(default, bool):
            if isinstance(value, str):
                # YAML 1.1 reads `3e-5` (no dot) as a string; accept it as the number it plainly is.
                try:
                    value = values[key] = float(value) if isinstance(default, float) else int(value)
                except ValueError:
                    pass
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"'{key}' must be a number (got {value!r})")
            if isinstance(default, int) and not isinstance(default, bool) and isinstance(value, float):
                if not value.is_integer():
                    raise ValueError(f"'{key}' must be an integer (got {value!r})")
    return values


class Recipe(Section):
    name: str = "run"
    task: Literal[TASKS] = "sequence-classification"  # type: ignore[valid-type]
    output_dir: str = Field("runs/trimformer", description="Where stages, report.json and the card are written")
    seed: int = 42
    data: DataSection
    teacher: TeacherSection
    student: StudentSection = Field(default_factory=lambda: StudentSection(init="layers", num_layers=3))
    training: dict[str, Any] = Field(default_factory=dict, description="TrainingArguments for every stage")
    stages: list[dict[str, Any]] = Field(min_length=1)
    measure: MeasureSection = Field(default_factory=MeasureSection)
    budget: BudgetSection | None = None
    hub: dict[str, Any] | None = None

    _training_check = field_validator("training")(classmethod(lambda cls, v: check_training(v)))

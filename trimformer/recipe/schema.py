"""The recipe: one YAML file that drives a whole run, validated before anything loads."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    PositiveInt,
    StrictBool,
    StringConstraints,
    field_validator,
    model_validator,
)

from trimformer.recipe.training import check_training, training_fields  # noqa: F401 (re-exported)
from trimformer.search.config import SearchSection
from trimformer.tasks import TASKS

NonEmpty = Annotated[str, StringConstraints(min_length=1, strip_whitespace=False, pattern=r"\S")]
Scalar = str | int | float | bool | None


class Section(BaseModel):
    # inf/nan are never a sensible amount; unknown keys are typos.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class DataSection(Section):
    path: NonEmpty = Field(description="Hub dataset id (e.g. glue), local file, or package:module/file.csv.bz2")
    name: NonEmpty | None = Field(None, description="Dataset configuration name (e.g. sst2)")
    train_split: NonEmpty = "train"
    eval_split: NonEmpty | None = Field(None, description="Hub datasets only. Default: a fixed-seed split of train")
    eval_fraction: float = Field(0.1, gt=0, lt=1)
    text_column: NonEmpty = "text"
    text_pair_column: NonEmpty | None = None
    label_column: NonEmpty = "label"
    label_names: list[NonEmpty] | None = Field(
        None, min_length=2, description="Class names in id order (text labels: the values; see trimformer.labels)"
    )
    regression: bool | None = Field(None, description="Default: true when the label column is float")
    filter: dict[NonEmpty, list[Scalar]] = Field(
        default_factory=dict, description="Keep rows whose column is in the list"
    )
    dedupe: bool = True
    max_length: int = Field(128, ge=8, le=8192)
    max_train_samples: PositiveInt | None = None
    max_eval_samples: PositiveInt | None = None
    unlabeled_path: NonEmpty | None = Field(
        None, description="Extra text without labels: learnt from the teacher only"
    )

    @field_validator("label_names", mode="before")
    @classmethod
    def _names_as_text(cls, value: Any) -> Any:
        # `label_names: [1, 2, 3]` means the values 1, 2, 3: accept numbers as their text.
        if isinstance(value, list):
            return [str(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v for v in value]
        return value

    @field_validator("label_names")
    @classmethod
    def _unique_names(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and len(set(value)) != len(value):
            repeated = sorted({v for v in value if value.count(v) > 1})
            raise ValueError(f"{repeated} repeated; list each class once")
        return value

    @field_validator("filter", mode="before")
    @classmethod
    def _scalar_values(cls, value: Any) -> Any:
        if isinstance(value, dict):
            for column, allowed in value.items():
                if isinstance(allowed, list) and any(isinstance(v, (list, dict)) for v in allowed):
                    raise ValueError(f"{column}: list single values to keep (text or numbers), got {allowed}")
        return value

    @field_validator("filter")
    @classmethod
    def _non_empty_filter(cls, value: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for column, allowed in value.items():
            if not allowed:
                raise ValueError(f"{column}: an empty list would drop every row; list the values to keep")
        return value


class TeacherSection(Section):
    model: NonEmpty = Field(description="Hub id, local directory or package:module/path")
    dtype: Literal["float32", "bfloat16", "float16"] | None = None
    own_tokenizer: bool | None = Field(
        None, description="Let the teacher tokenize raw text itself (classification only). Default: auto"
    )


class StudentSection(Section):
    init: Literal["layers", "random", "pretrained"] = "layers"
    layers: list[NonNegativeInt] | None = Field(
        None, min_length=1, description="Teacher layers to keep, e.g. [0, 2, 4] (init: layers)"
    )
    num_layers: PositiveInt | None = Field(None, le=1000, description="Keep this many evenly spaced teacher layers")
    config: dict[NonEmpty, Any] = Field(default_factory=dict, description="Config overrides (init: random)")
    model: NonEmpty | None = Field(
        None,
        description="init: pretrained: the checkpoint to start from; init: layers: the model whose layers are "
        "kept (default: the teacher), e.g. a smaller pretrained encoder with its own tokenizer",
    )

    @field_validator("layers")
    @classmethod
    def _unique_layers(cls, value: list[int] | None) -> list[int] | None:
        if value is not None and len(set(value)) != len(value):
            raise ValueError(f"{value} lists a layer twice; list each teacher layer once")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> StudentSection:
        if self.init == "pretrained" and not self.model:
            raise ValueError("init: pretrained needs student.model (a Hub id, directory or package: path)")
        if self.init == "layers" and self.layers is None and self.num_layers is None:
            raise ValueError("init: layers needs student.layers (e.g. [0, 2, 4]) or student.num_layers")
        if self.layers is not None and self.num_layers is not None:
            raise ValueError("give student.layers or student.num_layers, not both")
        # Settings for another init would be ignored silently: say so instead.
        for key, owners in (("layers", ("layers",)), ("num_layers", ("layers",)), ("model", ("pretrained", "layers"))):
            if getattr(self, key) is not None and self.init not in owners:
                raise ValueError(
                    f"student.{key} applies to init: {' or '.join(owners)}, not init: {self.init}; remove it"
                )
        if self.config and self.init != "random":
            raise ValueError(f"student.config applies to init: random, not init: {self.init}; remove it")
        return self


class MeasureSection(Section):
    batch_sizes: list[Annotated[int, Field(ge=1, le=4096)]] = Field(default_factory=lambda: [1, 32], min_length=1)
    length: int = Field(64, ge=8, le=8192)
    threads: PositiveInt | None = Field(
        2, le=1024, description="CPU threads for latency (fixed, for comparable numbers)"
    )
    rounds: PositiveInt = Field(
        5, le=1000, description="Interleaved rounds: every model runs in turn each round (spread is across rounds)"
    )
    repeats: PositiveInt = Field(5, le=1000, description="Timed calls per model per round (their median counts)")
    devices: list[Literal["cpu", "cuda"]] | None = Field(
        None, min_length=1, description="Where to time (default: cpu, plus cuda when present)"
    )
    latency: bool = True


class BudgetSection(Section):
    max_drop: float = Field(ge=0, description="Most metric points any stage may lose vs the teacher")
    on_violation: Literal["stop", "mark"] = Field(
        "stop", description="stop: end the run with an error; mark: flag the stage in the report and go on"
    )


class Recipe(Section):
    name: NonEmpty = "run"
    task: Literal[TASKS] = "sequence-classification"  # type: ignore[valid-type]
    output_dir: NonEmpty = Field("runs/trimformer", description="Where stages, report.json and the card are written")
    seed: int = Field(42, ge=0, le=2**32 - 1)
    trust_remote_code: StrictBool = Field(
        False,
        description="Run Python code shipped with a Hub model (config auto_map). Off unless you trust its author",
    )
    prerequisite: str | None = Field(
        None,
        description="How to make the local files this recipe reads when they are missing, e.g. 'run `trimformer "
        "run demo` first'; validate adds it to a file-not-found error",
    )
    data: DataSection
    teacher: TeacherSection
    student: StudentSection = Field(default_factory=lambda: StudentSection(init="layers", num_layers=3))
    training: dict[str, Any] = Field(default_factory=dict, description="TrainingArguments for every stage")
    stages: list[dict[str, Any]] = Field(min_length=1, max_length=100)
    measure: MeasureSection = Field(default_factory=MeasureSection)
    budget: BudgetSection | None = None
    hub: dict[str, Any] | None = None
    search: SearchSection | None = Field(None, description="Budget search space and schedule (`trimformer search`)")

    _training_check = field_validator("training")(classmethod(lambda cls, v: check_training(v)))

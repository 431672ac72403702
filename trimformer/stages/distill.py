"""`distill`: train the student from the teacher (task + KD + hidden + attention terms), optionally
over teacher-labelled augmented variants and unlabelled text."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

import datasets
from pydantic import Field, NonNegativeFloat, NonNegativeInt, PositiveFloat, field_validator, model_validator

from trimformer import data as data_mod
from trimformer.distill.augment import KINDS, augment_texts
from trimformer.distill.student import random_student, student_from_teacher_layers
from trimformer.loading import resolve_path
from trimformer.stages.base import Options, RunState, StageConfig, register_stage
from trimformer.stages.common import train_student, training_view

LayerPairs = Annotated[list[tuple[NonNegativeInt, NonNegativeInt]], Field(min_length=1)]


class AugmentSection(Options):
    n_variants: int = Field(3, ge=1, le=32, description="Teacher-labelled variants per training example")
    kinds: list[Literal["dropout", "span", "swap"]] = Field(default_factory=lambda: list(KINDS), min_length=1)


class DistillStage(StageConfig):
    alpha_task: NonNegativeFloat = 0.5
    alpha_kd: NonNegativeFloat = 0.5
    temperature: PositiveFloat = 2.0
    alpha_hidden: NonNegativeFloat = 0.0
    hidden_loss: Literal["mse", "cosine"] = "mse"
    layer_map: Literal["uniform", "last-k"] | LayerPairs = "uniform"
    alpha_attention: NonNegativeFloat = 0.0
    teacher_cache: bool = Field(False, description="Run the teacher once over the training data, reuse its logits")
    augment: AugmentSection | None = None

    needs_float_weights: ClassVar[bool] = True
    trains: ClassVar[bool] = True

    @field_validator("layer_map", mode="before")
    @classmethod
    def _pairs(cls, value: Any) -> Any:
        # One clear message instead of pydantic's per-union-member errors.
        if isinstance(value, str) and value not in ("uniform", "last-k"):
            raise ValueError(f"{value!r}: use uniform, last-k or a list of [student, teacher] layer pairs")
        if isinstance(value, list):
            for pair in value:
                ok = isinstance(pair, (list, tuple)) and len(pair) == 2
                if not ok or not all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in pair):
                    raise ValueError(
                        f"{pair!r} is not a [student, teacher] pair of layer indices >= 0 (0 = embeddings)"
                    )
        return value

    @field_validator("teacher_cache")
    @classmethod
    def _cache_only_logits(cls, value: bool, info: Any) -> bool:
        if value and (info.data.get("alpha_hidden", 0) > 0 or info.data.get("alpha_attention", 0) > 0):
            raise ValueError("teacher_cache stores logits only; set alpha_hidden and alpha_attention to 0")
        return value

    @model_validator(mode="after")
    def _something_to_learn(self) -> DistillStage:
        if self.alpha_task + self.alpha_kd + self.alpha_hidden + self.alpha_attention == 0:
            raise ValueError(
                "all loss weights are 0; set alpha_task, alpha_kd, alpha_hidden or alpha_attention above 0"
            )
        if (
            self.alpha_attention > 0
            and isinstance(self.layer_map, list)
            and not any(s and t for s, t in self.layer_map)
        ):
            raise ValueError(
                "alpha_attention needs a layer_map pair of two layers (not 0, the embeddings), e.g. [1, 2]"
            )
        return self

    def loss_settings(self) -> dict[str, Any]:
        fields = ("alpha_task", "alpha_kd", "temperature", "alpha_hidden", "hidden_loss", "alpha_attention")
        out = {f: getattr(self, f) for f in fields}
        out["layer_map"] = self.layer_map if isinstance(self.layer_map, str) else [list(p) for p in self.layer_map]
        out["teacher_cache"] = self.teacher_cache
        return out


def ensure_student(state: RunState) -> None:
    """Build the student from the recipe's student section the first time a stage needs one."""
    if state.model is not None:
        return
    spec = state.recipe.student
    if spec.init == "pretrained":
        from transformers import AutoConfig

        from trimformer.loading import load_model, trimformer_kind

        path = resolve_path(spec.model)
        if trimformer_kind(AutoConfig.from_pretrained(path)) is not None:  # pruned / low-rank / ... artefacts
            state.model = load_model(path, state.task.auto_class)
        else:
            state.model = state.task.auto_class.from_pretrained(path, **state.task.model_kwargs())
    elif spec.init == "random":
        state.model = random_student(state.teacher.config, state.task.auto_class, spec.config)
    else:
        total = state.teacher.config.num_hidden_layers
        layers = spec.layers
        if layers is None:
            if spec.num_layers > total:
                raise ValueError(f"student.num_layers {spec.num_layers} > the teacher's {total} layers")
            step = total / spec.num_layers
            layers = [int(i * step) for i in range(spec.num_layers)]
        state.model = student_from_teacher_layers(state.teacher, layers)
        state.stage_info.setdefault("student_init", {})["layers"] = layers


def extra_training_text(cfg: DistillStage, state: RunState) -> datasets.Dataset | None:
    """Augmented variants and unlabelled text, tokenized, with example_ids after the labelled ones."""
    d = state.data
    s = d.settings
    pieces: list[dict[str, list]] = []
    if cfg.augment is not None:
        variants, sources = augment_texts(d.raw_train[s.text_column], cfg.augment.n_variants, cfg.augment.kinds)
        rows = {s.text_column: variants}
        if s.text_pair_column:
            pairs = d.raw_train[s.text_pair_column]
            rows[s.text_pair_column] = [pairs[i] for i in sources]
        pieces.append(rows)
    if s.unlabeled_path:
        extra = data_mod.read_local(resolve_path(s.unlabeled_path))
        if s.text_column not in extra.column_names:
            raise ValueError(f"data.unlabeled_path: file has no '{s.text_column}' column (data.text_column)")
        pieces.append({s.text_column: extra[s.text_column]})
    if not pieces:
        return None
    merged = {k: sum((p.get(k, []) for p in pieces), []) for k in pieces[0]}
    raw = datasets.Dataset.from_dict(merged)
    view = training_view(state, state.teacher, teacher_tokenizer=state.teacher_tokenizer)
    return data_mod.tokenize(
        raw, state.task, s, view.tokenizer, view.teacher_tokenizer, labelled=False, id_offset=len(view.train)
    )


@register_stage("distill", DistillStage)
def run_distill(cfg: DistillStage, state: RunState) -> None:
    ensure_student(state)
    train = training_view(state, state.teacher, teacher_tokenizer=state.teacher_tokenizer).train
    extra = extra_training_text(cfg, state)
    if extra is not None:
        train = datasets.concatenate_datasets([train, extra.cast(train.features)])
        state.stage_info[state.current_stage]["extra_examples"] = len(extra)
    student = train_student(
        state,
        state.model,
        state.teacher,
        cfg,
        state.current_stage,
        cfg.loss_settings(),
        train,
        teacher_tokenizer=state.teacher_tokenizer,
    )
    state.model = student.eval()

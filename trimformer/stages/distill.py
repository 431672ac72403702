"""`distill`: train the student from the teacher (task + KD + hidden + attention terms), optionally
over teacher-labelled augmented variants and unlabelled text, optionally through a teacher assistant (a deeper
cut of the student's source model, distilled first; the student starts from its layers)."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, NonNegativeFloat, NonNegativeInt, PositiveFloat, field_validator, model_validator

from trimformer.artefact.capabilities import TEACHER_READS_IDS, TRAINS_FULL, Effect
from trimformer.distill.augment import DEFAULT_KINDS, augment_texts
from trimformer.loading import resolve_path
from trimformer.stages.base import Options, RunState, StageConfig, StageResult, check_training_block, register_stage

if TYPE_CHECKING:  # the handlers import these where used: `trimformer validate` reads the config alone
    import datasets

LayerPairs = Annotated[list[tuple[NonNegativeInt, NonNegativeInt]], Field(min_length=1)]


class AugmentSection(Options):
    n_variants: int = Field(3, ge=1, le=32, description="Teacher-labelled variants per training example")
    kinds: list[Literal["dropout", "span", "swap", "replace", "mix"]] = Field(
        default_factory=lambda: list(DEFAULT_KINDS), min_length=1, description="Cycled through per variant"
    )


class AssistantSection(Options):
    """A teacher assistant: a deeper cut of the student's source model, distilled first with this stage's loss,
    text and training (overridden by `training`); the student then starts from the assistant's copies of its
    layers instead of the raw ones. On the full demo it moved the distilled 3-layer student +0.5 to +1.6 points,
    the final pruned int8 artefact not at all (README, Measured)."""

    layers: list[NonNegativeInt] = Field(
        min_length=1, description="Layers of the student's source model the assistant keeps; must hold student.layers"
    )
    training: dict[str, Any] = Field(default_factory=dict, description="TrainingArguments overrides for the assistant")

    _training = field_validator("training")(classmethod(lambda cls, v: check_training_block(v)))

    @field_validator("layers")
    @classmethod
    def _unique(cls, value: list[int]) -> list[int]:
        if len(set(value)) != len(value):
            raise ValueError(f"{value} lists a layer twice; list each layer once")
        return sorted(value)


class DistillStage(StageConfig):
    alpha_task: NonNegativeFloat = 0.5
    alpha_kd: NonNegativeFloat = 0.5
    temperature: PositiveFloat = 2.0
    kd_loss: Literal["kl", "mse"] = Field("kl", description="kl: softened distributions at T; mse: the raw logits")
    alpha_hidden: NonNegativeFloat = 0.0
    hidden_loss: Literal["mse", "cosine"] = "mse"
    layer_map: Literal["uniform", "last-k"] | LayerPairs = "uniform"
    alpha_attention: NonNegativeFloat = 0.0
    alpha_embedding: NonNegativeFloat = Field(
        0.0,
        description="Weight of matching the student's sentence embedding (last layer, mean over real tokens, "
        "through a learned projection) to the teacher's: needs no shared tokenizer, cached with teacher_cache",
    )
    teacher_cache: bool = Field(False, description="Run the teacher once over the training data, reuse its logits")
    augment: AugmentSection | None = None
    assistant: AssistantSection | None = None
    control: bool = Field(
        True,
        description="Also train the same starting student on labels alone for the same number of optimizer "
        "steps: the report's control row, which shows what distillation bought (or that it did not)",
    )

    def effect(self, task: str) -> Effect:
        return Effect(TRAINS_FULL.requires | {TEACHER_READS_IDS})

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
        if self.alpha_task + self.alpha_kd + self.alpha_hidden + self.alpha_attention + self.alpha_embedding == 0:
            raise ValueError(
                "all loss weights are 0; set alpha_task, alpha_kd, alpha_hidden, alpha_attention or alpha_embedding "
                "above 0"
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
        from trimformer.recipe.training import LOSS_FIELDS

        out = {f: getattr(self, f) for f in LOSS_FIELDS}
        out["layer_map"] = self.layer_map if isinstance(self.layer_map, str) else [list(p) for p in self.layer_map]
        return out


def build_student(state: RunState) -> tuple[Any, Any]:
    """(model, tokenizer) from the recipe's student section: cut from the teacher's layers (or another
    model's), a smaller random config, or an existing checkpoint (a trimformer artefact included)."""
    from transformers import AutoTokenizer

    from trimformer.distill.student import random_student, student_from_teacher_layers
    from trimformer.loading import load_model

    spec = state.recipe.student
    remote = {"trust_remote_code": bool(state.recipe.trust_remote_code)}  # off unless the recipe turns it on
    if spec.init == "pretrained":
        path = resolve_path(spec.model)
        model = load_model(path, state.task.auto_class, **_head_kwargs(path, state), **remote)
        return model, AutoTokenizer.from_pretrained(path, **remote)
    if spec.init == "random":
        return random_student(state.teacher.config, state.task.auto_class, spec.config), state.tokenizer
    source, tokenizer = source_model(state)
    return student_from_teacher_layers(source, student_layers(spec, source.config.num_hidden_layers)), tokenizer


def source_model(state: RunState) -> tuple[Any, Any]:
    """(model, tokenizer) whose layers `student.init: layers` keeps: student.model when given, else the teacher."""
    from transformers import AutoTokenizer

    spec = state.recipe.student
    if not spec.model:
        return state.teacher, state.tokenizer
    path = resolve_path(spec.model)
    remote = {"trust_remote_code": bool(state.recipe.trust_remote_code)}  # off unless the recipe turns it on
    source = state.task.auto_class.from_pretrained(path, **state.task.model_kwargs(), **remote)
    return source, AutoTokenizer.from_pretrained(path, **remote)


def student_layers(spec: Any, total: int) -> list[int]:
    """The source-model layers the student keeps: student.layers, or num_layers evenly spaced."""
    if spec.layers is not None:
        return list(spec.layers)
    if spec.num_layers > total:
        raise ValueError(f"student.num_layers {spec.num_layers} > the {total} layers of the source model")
    step = total / spec.num_layers
    return [int(i * step) for i in range(spec.num_layers)]


def _head_kwargs(path: str, state: RunState) -> dict[str, Any]:
    """A plain checkpoint without this task's head gets one sized for the labels (a trimformer artefact
    already has its head)."""
    from transformers import AutoConfig

    from trimformer.artefact.log import get_log

    if not get_log(AutoConfig.from_pretrained(path, trust_remote_code=bool(state.recipe.trust_remote_code))).empty:
        return {}
    return state.task.model_kwargs()


def extra_training_text(cfg: DistillStage, state: RunState) -> datasets.Dataset | None:
    """Augmented variants and unlabelled text, tokenized, with example_ids after the labelled ones."""
    import datasets

    from trimformer import data as data_mod
    from trimformer.stages.common import training_view

    d = state.data
    s = d.settings
    pieces: list[dict[str, list]] = []
    if cfg.augment is not None:
        variants, sources = augment_texts(
            d.raw_train[s.text_column], cfg.augment.n_variants, cfg.augment.kinds, seed=state.seed
        )
        rows = {s.text_column: variants}
        if s.text_pair_column:
            pairs = d.raw_train[s.text_pair_column]
            rows[s.text_pair_column] = [pairs[i] for i in sources]
        pieces.append(rows)
    if s.unlabeled_path:
        extra = data_mod.read_local(resolve_path(s.unlabeled_path))
        columns = [s.text_column, *([s.text_pair_column] if s.text_pair_column else [])]
        for column in columns:
            if column not in extra.column_names:
                raise ValueError(f"data.unlabeled_path: file has no '{column}' column (as in the labelled data)")
        rows, dropped = without_eval_texts(
            list(zip(*(extra[c] for c in columns))), list(zip(*(d.raw_eval[c] for c in columns)))
        )
        if dropped:
            print(
                f"data.unlabeled_path: left out {dropped} of {len(rows) + dropped} texts that are also evaluation "
                "texts (learning the teacher's answers on them would inflate every held-out number)",
                flush=True,
            )
        if rows:
            pieces.append({c: [row[i] for row in rows] for i, c in enumerate(columns)})
    if not pieces:
        return None
    merged = {k: sum((p.get(k, []) for p in pieces), []) for k in pieces[0]}
    raw = datasets.Dataset.from_dict(merged)
    view = training_view(state, state.teacher, teacher_tokenizer=state.teacher_tokenizer)
    return data_mod.tokenize(
        raw, state.task, s, view.tokenizer, view.teacher_tokenizer, labelled=False, id_offset=len(view.train)
    )


def without_eval_texts(texts: list[Any], eval_texts: list[Any]) -> tuple[list[Any], int]:
    """(texts that are not evaluation texts, how many were left out). Compared exactly after stripping outer
    whitespace, field by field for (text, pair) rows and token lists: an unlabelled file that holds the test set would
    otherwise teach the student the teacher's answers on the very rows it is scored on."""

    def key(text: Any) -> Any:
        if isinstance(text, str):
            return text.strip()
        return tuple(key(t) for t in text) if isinstance(text, (list, tuple)) else text

    held_out = {key(t) for t in eval_texts}
    kept = [t for t in texts if key(t) not in held_out]
    return kept, len(texts) - len(kept)


@register_stage("distill", DistillStage)
def run_distill(cfg: DistillStage, state: RunState) -> StageResult:
    import datasets

    from trimformer.stages.common import train_student, training_view

    student = state.student()
    start = copy.deepcopy(student) if cfg.control else None
    train = training_view(state, state.teacher, teacher_tokenizer=state.teacher_tokenizer).train
    extra = extra_training_text(cfg, state)
    if extra is not None:
        train = datasets.concatenate_datasets([train, extra.cast(train.features)])
    assistant = None
    if cfg.assistant is not None:
        assistant, student = train_assistant(cfg, state, train)
    model, info = train_student(
        state,
        student,
        state.teacher,
        cfg,
        state.stage,
        cfg.loss_settings(),
        train,
        teacher_tokenizer=state.teacher_tokenizer,
    )
    if extra is not None:
        info["extra_examples"] = len(extra)
    result = StageResult(model.eval(), state.tokenizer, info=info)
    steps = info["training"]["optimizer_steps"]
    if assistant is not None:
        result.extras["assistant"] = assistant
        steps += assistant.info["training"]["optimizer_steps"]  # the control gets the whole budget
    if start is not None:
        result.extras["control"] = control_row(cfg, state, start, steps)
    return result


def train_assistant(cfg: DistillStage, state: RunState, train: datasets.Dataset) -> tuple[StageResult, Any]:
    """(the assistant, the student cut from it). The assistant is `cfg.assistant.layers` of the student's source
    model, distilled from the teacher on the same text with the stage's loss (its training block overrides the
    stage's); the student then copies its layers from the assistant instead of the raw source model."""
    from trimformer.distill.student import student_from_teacher_layers
    from trimformer.recipe.assistant_checks import check_assistant_holds
    from trimformer.stages.common import train_student

    keep = cfg.assistant.layers
    source, _ = source_model(state)
    wanted = student_layers(state.recipe.student, source.config.num_hidden_layers)
    check_assistant_holds("assistant", keep, wanted)  # as `trimformer validate` does; here for stages built in Python
    model = student_from_teacher_layers(source, keep)
    del source
    own = cfg.model_copy(update={"training": {**cfg.training, **cfg.assistant.training}})
    model, info = train_student(
        state,
        model,
        state.teacher,
        own,
        f"{state.stage}-assistant",
        cfg.loss_settings(),
        train,
        teacher_tokenizer=state.teacher_tokenizer,
    )
    model.eval()
    info.update(assistant_of=state.stage, layers=list(keep))
    student = student_from_teacher_layers(model, [keep.index(i) for i in wanted]).train()
    return StageResult(model, state.tokenizer, role="assistant", info=info), student


def control_row(cfg: DistillStage, state: RunState, student: Any, steps: int) -> StageResult:
    """The same starting student trained on labels alone, same optimizer steps and settings, no teacher."""
    from trimformer.stages.common import train_student

    budget = cfg.model_copy(update={"training": {**cfg.training, "max_steps": max(1, steps)}})
    model, info = train_student(state, student, None, budget, f"{state.stage}-control")
    info["control_of"] = state.stage
    return StageResult(model.eval(), state.tokenizer, role="control", info=info)

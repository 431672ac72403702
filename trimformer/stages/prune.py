"""Pruning stages: `prune_heads`, `prune_layers`, `prune_ffn`, `prune_vocab`.

Each builds a Calibration from the run's training data, applies the technique from
`trimformer.prune` to `state.model`, and (heads / layers / FFN) optionally recovers by distilling
from a copy of the model taken just before pruning.
"""

from __future__ import annotations

import copy
from typing import Annotated, Any, ClassVar, Literal

import datasets
from pydantic import (
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    field_validator,
    model_validator,
)
from torch.utils.data import DataLoader

from trimformer.compress import Calibration, compress_
from trimformer.prune import (
    FFNPruneConfig,
    HeadPruneConfig,
    LayerDropConfig,
    VocabPruneConfig,
    current_shapes,
    prune_vocab,
    save_pruned,
)
from trimformer.prune.families import adapter_for
from trimformer.stages.base import Options, RunState, StageConfig, check_training_block, register_stage
from trimformer.stages.common import train_student


class Recovery(Options):
    """Short distillation from the unpruned model right after pruning."""

    alpha_task: NonNegativeFloat = 0.5
    alpha_kd: NonNegativeFloat = 0.5
    temperature: PositiveFloat = 2.0
    training: dict[str, Any] = Field(default_factory=dict, description="TrainingArguments overrides for recovery")

    _training = field_validator("training")(classmethod(lambda cls, v: check_training_block(v)))

    @model_validator(mode="after")
    def _something_to_learn(self) -> Recovery:
        if self.alpha_task + self.alpha_kd == 0:
            raise ValueError("alpha_task and alpha_kd are both 0; set one above 0, or drop recovery")
        return self


def _fraction_or_count(value: float) -> float:
    """Pruning amounts: a fraction in (0, 1) or a whole count >= 1 (1.5 is neither)."""
    if value >= 1 and not float(value).is_integer():
        raise ValueError(f"{value} is neither a fraction below 1 (e.g. 0.5) nor a whole count (e.g. 4)")
    return value


class _PruneStage(StageConfig):
    calibration_batches: PositiveInt = Field(8, le=10_000, description="Training batches used to score importance")
    calibration_batch_size: PositiveInt = Field(16, le=4096)
    recovery: Recovery | None = None

    needs_float_weights: ClassVar[bool] = True


class PruneHeadsStage(_PruneStage):
    amount: float = Field(0.5, gt=0, description="Fraction (< 1) or count of heads to remove")
    scope: Literal["global", "per_layer"] = "global"
    importance: Literal["taylor", "magnitude"] = "taylor"
    min_heads_per_layer: PositiveInt = 1
    heads: dict[NonNegativeInt, Annotated[list[NonNegativeInt], Field(min_length=1)]] | None = Field(
        None, min_length=1, description="Explicit {layer: [heads]}; overrides amount"
    )

    _amount = field_validator("amount")(classmethod(lambda cls, v: _fraction_or_count(v)))

    def technique(self) -> HeadPruneConfig:
        return HeadPruneConfig(self.amount, self.scope, self.importance, self.min_heads_per_layer, heads=self.heads)


class PruneLayersStage(_PruneStage):
    strategy: Literal["explicit", "top", "importance"] = "explicit"
    layers: list[NonNegativeInt] | None = Field(
        None, min_length=1, description="0-based layers to drop (strategy: explicit)"
    )
    count: PositiveInt | None = Field(None, description="How many layers to drop (strategies top / importance)")

    @model_validator(mode="after")
    def _strategy_settings(self) -> PruneLayersStage:
        if self.strategy == "explicit" and self.layers is None:
            raise ValueError("strategy: explicit needs layers (0-based layers to drop, e.g. [1, 3])")
        if self.strategy != "explicit" and self.count is None:
            raise ValueError(f"strategy: {self.strategy} needs count (how many layers to drop)")
        if self.strategy != "explicit" and self.layers is not None:
            raise ValueError(f"layers applies to strategy: explicit, not {self.strategy}; use count")
        if self.layers is not None and len(set(self.layers)) != len(self.layers):
            raise ValueError(f"layers {self.layers} lists a layer twice")
        return self

    def technique(self) -> LayerDropConfig:
        return LayerDropConfig(self.strategy, self.layers, self.count)


class PruneFFNStage(_PruneStage):
    amount: float = Field(0.5, gt=0, description="Fraction (< 1) or count of FFN neurons to remove")
    scope: Literal["global", "per_layer"] = "per_layer"
    importance: Literal["activation", "taylor", "magnitude"] = "activation"
    min_neurons_per_layer: PositiveInt = 1
    round_to: PositiveInt = 1

    _amount = field_validator("amount")(classmethod(lambda cls, v: _fraction_or_count(v)))

    def technique(self) -> FFNPruneConfig:
        return FFNPruneConfig(self.amount, self.scope, self.importance, self.min_neurons_per_layer, self.round_to)


class PruneVocabStage(StageConfig):
    min_count: PositiveInt = Field(1, description="Keep tokens seen at least this often in the training text")
    include_eval_text: bool = Field(
        False,
        description="Also keep the eval split's tokens (text only, no labels): use when the eval text stands for "
        "what the model will see; otherwise its unseen words become [UNK] and outputs on them change",
    )

    needs_float_weights: ClassVar[bool] = True


def calibration_from(state: RunState, n_batches: int, batch_size: int) -> Calibration:
    view = state.data.view(state.tokenizer)
    train = view.train
    n = min(len(train), n_batches * batch_size)
    subset = train.shuffle(seed=state.seed).select(range(n))
    batches = []
    for batch in DataLoader(subset, batch_size=batch_size, collate_fn=view.collator):
        batches.append({k: v for k, v in batch.items() if k != "example_id" and not k.startswith("teacher_")})
    return Calibration(batches=batches, tokenizer=state.tokenizer)


def _saver(model: Any, tokenizer: Any, out_dir: Any) -> None:
    try:
        adapter_for(model)
    except ValueError:  # a later stage replaced the model with something we did not prune
        model.save_pretrained(out_dir)
        tokenizer.save_pretrained(out_dir)
        return
    save_pruned(model, out_dir, tokenizer)


def _run_structural(cfg: _PruneStage, state: RunState) -> None:
    from trimformer.stages.distill import ensure_student  # lazy: stage modules import each other lazily

    name = state.history[-1]
    ensure_student(state)
    teacher = copy.deepcopy(state.model).eval() if cfg.recovery is not None else None
    calib = calibration_from(state, cfg.calibration_batches, cfg.calibration_batch_size)
    state.model = compress_(state.model, cfg.technique(), calib)
    state.saver = _saver
    info = state.stage_info.setdefault(name, {})
    info.update(shapes=current_shapes(state.model), settings=cfg.model_dump(exclude={"recovery", "training"}))
    if cfg.recovery is not None:
        r = cfg.recovery
        train_cfg = cfg.model_copy(update={"training": {**cfg.training, **r.training}})
        loss = {"alpha_task": r.alpha_task, "alpha_kd": r.alpha_kd, "temperature": r.temperature}
        # The teacher here is the student itself before pruning: it reads the student's ids.
        state.model = train_student(
            state,
            student=state.model,
            teacher=teacher,
            stage_cfg=train_cfg,
            stage_name=name,
            loss=loss,
            teacher_tokenizer=state.tokenizer,
        )
        state.model.eval()
        info["recovery"] = r.model_dump()


register_stage("prune_heads", PruneHeadsStage)(_run_structural)
register_stage("prune_layers", PruneLayersStage)(_run_structural)
register_stage("prune_ffn", PruneFFNStage)(_run_structural)


def _corpus_ids(state: RunState, include_eval_text: bool = False) -> list[list[int]]:
    """The training text (and optionally the eval text) tokenized without truncation."""
    s = state.data.settings
    raw = state.data.raw_train
    if include_eval_text:
        raw = datasets.concatenate_datasets([raw, state.data.raw_eval])
    split = state.task.name == "token-classification"
    columns = [s.text_column] + ([s.text_pair_column] if s.text_pair_column else [])
    ids: list[list[int]] = []
    for start in range(0, len(raw), 1000):
        chunk = raw[start : start + 1000]
        ids += state.tokenizer(*(list(chunk[c]) for c in columns), is_split_into_words=split)["input_ids"]
    return ids


@register_stage("prune_vocab", PruneVocabStage)
def run_prune_vocab(cfg: PruneVocabStage, state: RunState) -> None:
    from trimformer.stages.distill import ensure_student

    name = state.history[-1]
    ensure_student(state)
    before = state.model.get_input_embeddings().num_embeddings
    state.model, state.tokenizer, _ = prune_vocab(
        state.model,
        state.tokenizer,
        _corpus_ids(state, cfg.include_eval_text),
        VocabPruneConfig(min_count=cfg.min_count),
    )
    state.saver = _saver
    # Later stages tokenize with the pruned tokenizer (state.data.view); the teacher keeps its own ids.
    after = state.model.get_input_embeddings().num_embeddings
    state.stage_info.setdefault(name, {}).update(vocab_before=before, vocab_after=after)

"""Pruning stages: `prune_heads`, `prune_layers`, `prune_ffn`, `prune_vocab`.

Each builds a Calibration from the run's training data, applies the technique from
`trimformer.prune` to the student, and (heads / layers / FFN) optionally recovers by distilling
from a copy of the model taken just before pruning.
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar

from pydantic import (
    Field,
    NonNegativeFloat,
    PositiveFloat,
    PositiveInt,
    field_validator,
    model_validator,
)

from trimformer.artefact.capabilities import TEACHER_READS_IDS, Effect
from trimformer.compress import Calibration, TechniqueConfig, compress_
from trimformer.prune.config import FFNPruneConfig, HeadPruneConfig, LayerDropConfig, VocabPruneConfig
from trimformer.stages.base import Options, RunState, StageConfig, StageResult, check_training_block, register_stage

# Handlers import torch, datasets and the trainer where used: `trimformer validate` reads the configs alone.


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


class TechniqueStage(StageConfig):
    """A stage that applies one technique: its fields are the technique config's own (the stage class
    inherits from it), so recipe, Python and the saved transform log share one config."""

    technique_cls: ClassVar[type[TechniqueConfig]]

    def technique(self) -> TechniqueConfig:
        fields = set(self.technique_cls.model_fields)
        return self.technique_cls.model_validate(self.model_dump(include=fields))

    def effect(self, task: str) -> Effect:
        return self.technique().effect()


class _PruneStage(TechniqueStage):
    calibration_batches: PositiveInt = Field(8, le=10_000, description="Training batches used to score importance")
    calibration_batch_size: PositiveInt = Field(16, le=4096)
    recovery: Recovery | None = None


class PruneHeadsStage(_PruneStage, HeadPruneConfig):
    technique_cls: ClassVar[type[TechniqueConfig]] = HeadPruneConfig


class PruneLayersStage(_PruneStage, LayerDropConfig):
    technique_cls: ClassVar[type[TechniqueConfig]] = LayerDropConfig


class PruneFFNStage(_PruneStage, FFNPruneConfig):
    technique_cls: ClassVar[type[TechniqueConfig]] = FFNPruneConfig


class PruneVocabStage(TechniqueStage, VocabPruneConfig):
    technique_cls: ClassVar[type[TechniqueConfig]] = VocabPruneConfig
    include_eval_text: bool = Field(
        False,
        description="Also keep the eval split's tokens (text only, no labels): use when the eval text stands for "
        "what the model will see; otherwise its unseen words become [UNK] and outputs on them change",
    )

    def effect(self, task: str) -> Effect:
        effect = self.technique().effect()
        if task != "sequence-classification":  # only then can the teacher tokenize the text itself
            effect = Effect(effect.requires, effect.removes | {TEACHER_READS_IDS}, effect.adds)
        return effect


def calibration_from(state: RunState, n_batches: int, batch_size: int) -> Calibration:
    from torch.utils.data import DataLoader

    view = state.data.view(state.tokenizer)
    train = view.train
    n = min(len(train), n_batches * batch_size)
    subset = train.shuffle(seed=state.seed).select(range(n))
    batches = []
    for batch in DataLoader(subset, batch_size=batch_size, collate_fn=view.collator):
        batches.append({k: v for k, v in batch.items() if k != "example_id" and not k.startswith("teacher_")})
    return Calibration(batches=batches, tokenizer=state.tokenizer)


def _run_structural(cfg: _PruneStage, state: RunState) -> StageResult:
    from trimformer.prune.shapes import current_shapes
    from trimformer.stages.common import train_student

    student = state.student()
    # Recovery distils from the model as it was just before pruning (it reads the student's own ids).
    teacher = copy.deepcopy(student).eval() if cfg.recovery is not None else None
    calib = calibration_from(state, cfg.calibration_batches, cfg.calibration_batch_size)
    model = compress_(student, cfg.technique(), calib, stage=state.stage)
    info: dict[str, Any] = {"shapes": current_shapes(model)}
    if cfg.recovery is not None:
        r = cfg.recovery
        train_cfg = cfg.model_copy(update={"training": {**cfg.training, **r.training}})
        loss = {"alpha_task": r.alpha_task, "alpha_kd": r.alpha_kd, "temperature": r.temperature}
        model, trained = train_student(
            state, model, teacher, train_cfg, state.stage, loss=loss, teacher_tokenizer=state.tokenizer
        )
        info.update(trained, recovery=r.model_dump())
    return StageResult(model.eval(), state.tokenizer, info=info)


register_stage("prune_heads", PruneHeadsStage)(_run_structural)
register_stage("prune_layers", PruneLayersStage)(_run_structural)
register_stage("prune_ffn", PruneFFNStage)(_run_structural)


def _corpus_ids(state: RunState, include_eval_text: bool = False) -> list[list[int]]:
    """The training text (and optionally the eval text) tokenized without truncation."""
    import datasets

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
def run_prune_vocab(cfg: PruneVocabStage, state: RunState) -> StageResult:
    student = state.student()
    before = student.get_input_embeddings().num_embeddings
    calib = Calibration(corpus_input_ids=_corpus_ids(state, cfg.include_eval_text), tokenizer=state.tokenizer)
    model = compress_(student, cfg.technique(), calib, stage=state.stage)
    # Later stages tokenize with the pruned tokenizer (state.data.view); the teacher keeps its own ids.
    after = model.get_input_embeddings().num_embeddings
    return StageResult(model, calib.tokenizer, info={"vocab_before": before, "vocab_after": after})

"""Make a candidate's model with the same stage code a recipe runs: cut the teacher's layers, prune heads and
FFN neurons (global ranking, so each layer keeps what its importance earns), then, after any training,
prune the vocabulary and quantize to int8-cpu.

    model, tokenizer = build_trainable(state, shape, importance="magnitude")   # for timing: no data needed
    model, tokenizer = finish(state, shape, model, tokenizer)                  # vocab + int8 as the shape says
"""

from __future__ import annotations

import copy
from typing import Any

from trimformer.distill.student import student_from_teacher_layers
from trimformer.search.space import Shape
from trimformer.stages.base import RunState
from trimformer.stages.prune import PruneFFNStage, PruneHeadsStage, PruneVocabStage
from trimformer.stages.quant import QuantizeStage


def prune_stages(shape: Shape, importance: str = "taylor") -> list[tuple[str, Any]]:
    """The recipe stages that give a student cut from the teacher this shape's heads and FFN widths."""
    stages: list[tuple[str, Any]] = []
    if shape.heads_keep < 1:
        stages.append(
            ("prune_heads", PruneHeadsStage(amount=1 - shape.heads_keep, scope="global", importance=importance))
        )
    if shape.ffn_keep < 1:
        ffn_importance = "activation" if importance == "taylor" else importance
        stages.append(
            ("prune_ffn", PruneFFNStage(amount=1 - shape.ffn_keep, scope="global", importance=ffn_importance))
        )
    return stages


def finish_stages(shape: Shape, include_eval_text: bool) -> list[tuple[str, Any]]:
    stages: list[tuple[str, Any]] = []
    if shape.vocab:
        stages.append(("prune_vocab", PruneVocabStage(include_eval_text=include_eval_text)))
    if shape.int8:
        stages.append(("quantize", QuantizeStage(method="int8-cpu")))
    return stages


def _run(state: RunState, stages: list[tuple[str, Any]], model: Any, tokenizer: Any) -> tuple[Any, Any]:
    # The stages read and replace state.model/state.tokenizer; both are put back afterwards. A vocabulary-pruned
    # candidate's tokenizer left in the state made every later candidate train on remapped ids (stuck at one class).
    kept = state.model, state.tokenizer
    state.model, state.tokenizer = model, tokenizer
    try:
        for kind, config in stages:
            state.run_stage(kind, config, f"search-{kind}")
        return state.model, state.tokenizer
    finally:
        state.model, state.tokenizer = kept  # the run state never keeps a candidate alive between builds


def build_trainable(state: RunState, shape: Shape, importance: str = "taylor") -> tuple[Any, Any]:
    """The student cut from the teacher with this shape's heads and FFN (untrained beyond the teacher's weights)."""
    student = student_from_teacher_layers(state.teacher, shape.layers).eval()
    return _run(state, prune_stages(shape, importance), student, state.teacher_tokenizer)


def finish(
    state: RunState, shape: Shape, model: Any, tokenizer: Any, include_eval_text: bool = False
) -> tuple[Any, Any]:
    """Vocabulary pruning and int8 as the shape asks, on a copy (the float model keeps training)."""
    stages = finish_stages(shape, include_eval_text)
    if not stages:
        return model, tokenizer
    return _run(state, stages, copy.deepcopy(model), tokenizer)

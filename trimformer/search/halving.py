"""Cheap accuracy first, more training only for the promising: successive halving over candidates.

Rung 0 scores every shortlisted candidate without training (the teacher's own weights, cut and pruned by
importance). Rung r >= 1 keeps the best `candidates` (then 1/eta of them each rung) and trains each a total of
`rung_steps * (1 + eta + ... + eta^(r-1))` distillation steps. Candidates are ranked on a seeded slice held
out of the training split (the eval split the report scores is never used to choose). Candidates that share
a trainable shape (they differ only in vocabulary pruning / int8, applied after training) share its training.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import datasets
import torch

from trimformer import data as data_mod
from trimformer.measure.evaluate import evaluate_model
from trimformer.stages.base import RunState
from trimformer.stages.common import train_student, training_view
from trimformer.stages.distill import DistillStage


def cumulative_steps(rung: int, rung_steps: int, eta: int) -> int:
    """Training steps a candidate has had when it is scored at `rung` (0 for the zero-shot rung)."""
    return sum(rung_steps * eta**i for i in range(rung))


def next_rung(ranked: list[str], rung: int, first: int, eta: int) -> list[str]:
    """Who is trained and scored at `rung` (>= 1), from the ranking of the rung before: the best `first` after
    the zero-shot rung, then 1/eta of them each rung."""
    keep = first if rung == 1 else math.ceil(len(ranked) / eta)
    return ranked[: max(1, keep)]


MAX_TIED_RUNGS = 4  # after this many rungs a tie is broken by lossiness and latency, not by more training


def survivors(ranked: list, accuracy: dict, rung: int, eta: int) -> list:
    """1/eta of `ranked` (best first) go on, and every candidate tied with the last of them: a tie (e.g. all
    still at the majority class after a short rung) says nothing yet, so they all train one rung more. From
    rung MAX_TIED_RUNGS on, ties are broken by the ranking's order."""
    keep = max(1, math.ceil(len(ranked) / eta))
    if rung >= MAX_TIED_RUNGS or keep >= len(ranked):
        return ranked[:keep]
    last = accuracy[ranked[keep - 1]]
    out = ranked[:keep] + [c for c in ranked[keep:] if accuracy[c] == last]
    if len(out) == len(ranked) and rung + 1 >= MAX_TIED_RUNGS:
        return ranked[:keep]  # everyone still tied one rung before the limit: that rung's training would not count
    return out


def planned_steps(n_shortlist: int, first: int, rung_steps: int, eta: int) -> int:
    """Training steps the rungs will spend (an upper bound: shared trainable shapes train once). Rungs go on
    while more than one candidate is left; the last one standing is the winner."""
    total, n, rung = 0, min(n_shortlist, first), 1
    while n > 1:
        total += n * (cumulative_steps(rung, rung_steps, eta) - cumulative_steps(rung - 1, rung_steps, eta))
        n, rung = math.ceil(n / eta), rung + 1
    return total


@dataclass
class Selection:
    """Training rows for the rungs and the held-out raw rows candidates are ranked on."""

    train: datasets.Dataset
    raw: datasets.Dataset

    @classmethod
    def carve(cls, state: RunState, n: int, seed: int) -> Selection:
        tokenizer = state.teacher_tokenizer  # candidates are cut from the teacher: they read its ids, as in train_more
        view = training_view(state, state.teacher, tokenizer=tokenizer, teacher_tokenizer=tokenizer)
        total = len(view.train)
        n = max(1, min(n, total // 5))  # never more than a fifth of the training rows
        order = torch.randperm(total, generator=torch.Generator().manual_seed(seed)).tolist()
        return cls(view.train.select(sorted(order[n:])), state.data.raw_train.select(sorted(order[:n])))


def score(state: RunState, model: Any, tokenizer: Any, raw: datasets.Dataset) -> float:
    """The task's main metric on `raw`, tokenized by the candidate's own tokenizer (vocabulary-pruned ones differ)."""
    settings = state.data.settings
    rows = data_mod.tokenize(raw, state.task, settings, tokenizer)
    collator = data_mod.DistillationCollator(tokenizer, state.task)
    metrics = evaluate_model(model, rows, collator, state.task, max_length=settings.max_length)
    return float(metrics[state.task.main_metric])


def rung_config(final: DistillStage, steps: int) -> DistillStage:
    """The recipe's distillation, shortened: no augmentation, no control row, no assistant, no teacher cache (a
    few hundred steps see a fraction of the data, so caching the teacher over all of it costs more than it saves).
    Warm-up is a tenth of the rung (not the recipe's, which may be as long as a whole rung)."""
    training = {**final.training, "max_steps": steps, "disable_tqdm": True, "logging_steps": max(10, steps)}
    training["warmup_steps"] = steps // 10  # each rung goes on from trained weights: a short warm-up is enough
    training.pop("num_train_epochs", None)
    # No assistant either: it is sized for the recipe's student, and would cost each candidate a deeper run.
    update = {"training": training, "augment": None, "control": False, "teacher_cache": False, "assistant": None}
    return final.model_copy(update=update)


def train_more(
    state: RunState, model: Any, steps: int, final: DistillStage, train: datasets.Dataset, name: str
) -> Any:
    cfg = rung_config(final, steps)
    # A candidate is cut from the teacher and reads the teacher's ids: say so rather than rely on state.tokenizer.
    tokenizer = state.teacher_tokenizer
    model, _ = train_student(
        state,
        model,
        state.teacher,
        cfg,
        name,
        cfg.loss_settings(),
        train,
        tokenizer=tokenizer,
        teacher_tokenizer=tokenizer,
    )
    return model.eval()

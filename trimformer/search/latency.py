"""Latency and size of candidates: measured on built shapes (untrained weights time the same as trained ones),
in one interleaved pass (`trimformer.measure.timing`), then a small linear model fitted on those measurements
ranks the candidates nobody timed.

    figures = measure_shapes(state, shapes, settings, batch_sizes)   # {key: {latency_b1_ms, size_mb, ...}}
    model = FittedModel.fit(measured_shapes, figures); model.predict(shape)
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from trimformer.artefact.io import save_artefact
from trimformer.measure.stats import paired_ratio
from trimformer.measure.timing import TimingSettings, time_interleaved
from trimformer.measure.weights import size_on_disk_mb
from trimformer.search.build import build_trainable, finish
from trimformer.search.config import budget_batch
from trimformer.search.space import Shape
from trimformer.stages.base import RunState


def figure_keys(batch_sizes: tuple[int, ...]) -> list[str]:
    return [f"latency_b{b}_ms" for b in batch_sizes] + ["size_mb"]


def measure_shapes(
    state: RunState,
    shapes: list[Shape],
    settings: TimingSettings,
    include_eval_text: bool = False,
    progress: Callable[[str], None] | None = None,
    references: dict[str, str] | None = None,
    pair_with: dict[str, str] | None = None,
    anchors: dict[str, float] | None = None,
) -> dict[str, dict[str, float]]:
    """Build every shape (magnitude importance: no data, same shapes' sizes), save it to a temp folder for its
    size on disk, and time them all together. {shape key: {latency_b<N>_ms: median, size_mb, spread_b<N>}}.
    `references` ({name: saved artefact}) are loaded and timed in the same pass (a budget taken from one).
    `pair_with` ({latency key: reference name}): that key of every other model becomes its paired figure
    (`paired_figure`), robust to load that comes and goes during the pass; `anchors` ({latency key: ms}) fixes the
    reference's figure the ratios convert with, so figures from separate passes are on one scale."""
    from trimformer.loading import load_model

    say = progress or (lambda _m: None)
    models: dict[str, Any] = {}
    sizes: dict[str, float] = {}
    for name, path in (references or {}).items():
        models[name] = load_model(path, state.task.auto_class).eval()
        sizes[name] = round(size_on_disk_mb(path), 3)
    scratch = Path(tempfile.mkdtemp(prefix="trimformer-search-"))
    try:
        for shape in tqdm(shapes, desc="building candidates to time", unit="cand", file=sys.stderr):
            model, tokenizer = build_trainable(state, shape, importance="magnitude")
            model, tokenizer = finish(state, shape, model, tokenizer, include_eval_text)
            folder = scratch / shape.key
            save_artefact(model, tokenizer, folder)
            sizes[shape.key] = round(size_on_disk_mb(folder), 3)
            models[shape.key] = model
        blocks = time_interleaved(models, settings, say)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    out = _figures(blocks, sizes, settings)
    for key, name in (pair_with or {}).items():
        batch = f"b{budget_batch(key)}"
        reference = blocks[name]["cpu"]["batches"][batch]
        anchor = (anchors or {}).get(key)
        for model_key, figures in out.items():
            if model_key != name:
                figures.update(paired_figure(key, reference, blocks[model_key]["cpu"]["batches"][batch], anchor))
    return out


def paired_figure(
    key: str, reference: dict[str, Any], block: dict[str, Any], anchor_ms: float | None = None
) -> dict[str, Any]:
    """A candidate's latency in the reference's milliseconds: the reference's figure (`anchor_ms`, else its
    median in this pass) / the median of the paired call ratios (reference / candidate, call after call in one
    pass). On a busy 2-core machine two separate medians can differ by more than the candidates do; the paired
    ratio stays within a few percent (see trimformer.measure.stats). The plain median is kept as
    `<key>_unpaired`."""
    ratio = paired_ratio(reference["calls_ms"], block["calls_ms"])
    if ratio is None:
        return {}
    base = float(anchor_ms) if anchor_ms is not None else float(reference["median_ms"])
    return {
        key: round(base / ratio.value, 4),
        f"{key}_unpaired": round(float(block["median_ms"]), 4),
        f"{key}_ratio_vs_reference": round(ratio.value, 4),
        f"{key}_ratio_supported": ratio.supported,
    }


def _figures(blocks: dict[str, Any], sizes: dict[str, float], settings: TimingSettings) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for key, block in blocks.items():
        cpu = block.get("cpu", {})
        figures: dict[str, float] = {"size_mb": sizes[key]}
        for b in settings.batch_sizes:
            stats = (cpu.get("batches") or {}).get(f"b{b}")
            if stats is None:
                raise RuntimeError(f"search: candidate {key} could not be timed: {cpu.get('skipped', 'no figures')}")
            figures[f"latency_b{b}_ms"] = round(float(stats["median_ms"]), 4)
            if stats.get("spread") is not None:
                figures[f"spread_b{b}"] = stats["spread"]
        out[key] = figures
    return out


FEATURES = ["1", "depth", "depth*heads_keep", "depth*ffn_keep", "full vocabulary"]


def features(shape: Shape) -> list[float]:
    """Each feature can only add cost: depth, the heads and FFN neurons of every layer, an unpruned vocabulary
    (size only, in practice: an embedding lookup costs the same whatever the table's rows)."""
    d = shape.depth
    return [1.0, d, d * shape.heads_keep, d * shape.ffn_keep, float(not shape.vocab)]


def nonnegative_lstsq(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Least squares with every coefficient >= 0, by trying every subset of features (5 features: 32 tiny
    solves). Plain least squares on noisy timings gives negative costs, which then predict 0 ms for big shapes."""
    best, best_err = np.zeros(x.shape[1]), float(np.sum(y**2))
    for mask in range(1, 2 ** x.shape[1]):
        cols = [i for i in range(x.shape[1]) if mask >> i & 1]
        coef, *_ = np.linalg.lstsq(x[:, cols], y, rcond=None)
        if (coef < 0).any():
            continue
        err = float(np.sum((x[:, cols] @ coef - y) ** 2))
        if err < best_err - 1e-12:
            best, best_err = np.zeros(x.shape[1]), err
            best[cols] = coef
    return best


@dataclass
class FittedModel:
    """Least squares per int8 flag (a different runtime) and figure: {int8: {figure: coefficients}}."""

    coefficients: dict[str, dict[str, list[float]]]

    @classmethod
    def fit(cls, shapes: list[Shape], figures: dict[str, dict[str, float]], keys: list[str]) -> FittedModel:
        coefficients: dict[str, dict[str, list[float]]] = {}
        for int8 in (False, True):
            group = [s for s in shapes if s.int8 == int8 and s.key in figures]
            if not group:
                continue
            x = np.array([features(s) for s in group])
            coefficients[str(int8)] = {}
            for key in keys:
                y = np.array([figures[s.key][key] for s in group])
                coef = nonnegative_lstsq(x, y)
                coefficients[str(int8)][key] = [round(float(c), 6) for c in coef]
        return cls(coefficients)

    def predict(self, shape: Shape) -> dict[str, float] | None:
        group = self.coefficients.get(str(shape.int8))
        if group is None:
            return None
        x = np.array(features(shape))
        return {key: round(max(0.0, float(x @ np.array(coef))), 4) for key, coef in group.items()}

    def to_dict(self) -> dict[str, Any]:
        return {"features": FEATURES, "int8": self.coefficients, "fit": "least squares, coefficients >= 0"}


def design_sample(shapes: list[Shape], n: int, seed: int, always: list[Shape]) -> list[Shape]:
    """`always` (the smallest shapes) plus the largest of each int8 flag plus a seeded random sample: up to n."""
    chosen = list(dict.fromkeys(always))
    for int8 in (False, True):
        group = [s for s in shapes if s.int8 == int8]
        if group:
            big = max(group, key=lambda s: (s.depth, s.heads_keep, s.ffn_keep, -s.vocab))
            if big not in chosen:
                chosen.append(big)
    rest = [s for s in shapes if s not in chosen]
    rng = np.random.default_rng(seed)
    extra = max(0, n - len(chosen))
    if extra and rest:
        picks = rng.choice(len(rest), size=min(extra, len(rest)), replace=False)
        chosen += [rest[i] for i in sorted(picks)]
    return chosen


def within(figures: dict[str, float], budget: dict[str, float], slack: float = 0.0) -> bool:
    return all(figures.get(k, float("inf")) <= v * (1 + slack) for k, v in budget.items())

"""The numbers behind a run's table, from `report.json` alone: each model's metric, size and per-device latency
against the teacher, with a ratio only between two figures from the same device, thread count and timing pass,
and the rule's verdict on whether the rounds support it (`trimformer.measure.stats.RULE`).

    rows = stage_ratios(report)        # one StageRatio per model, teacher first
    value = metric_value(model, main_metric(report))

Rendering (markdown, console text, notes) lives in `trimformer.report_table`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from trimformer.measure.stats import Ratio, paired_ratio, unpaired_ratio

# Metrics reported as fractions in [0, 1]; their differences read best as percentage points.
FRACTION_METRICS = {
    "accuracy",
    "f1",
    "precision",
    "recall",
    "exact_match",
    "pearson",
    "spearmanr",
    "matthews_correlation",
}
LOWER_IS_BETTER = {"perplexity", "loss", "eval_loss"}
DEVICE_LABELS = {"cpu": "CPU", "cuda": "CUDA"}
LEGACY = "timed one model at a time by an older trimformer"


@dataclass(frozen=True)
class Timing:
    """One device × batch cell: the model's figure and its ratio against the reference."""

    ms: float | None
    ratio: Ratio | None = None
    spread: float | None = None  # (max − min) / median of the model's per-round figures
    why_missing: str | None = None  # why there is no figure (model cannot run there, failed, ...)
    why_no_ratio: str | None = None  # why there is a figure but no ratio (different threads, ...)


@dataclass(frozen=True)
class StageRatio:
    """One row of the table: a model's measurements and its ratios against the teacher (or reference)."""

    name: str
    role: str
    stage_type: str | None
    metric: float | None
    params: int | None
    size_mb: float | None
    size_x: float | None  # teacher size / stage size: >1 means smaller
    metric_delta: float | None  # stage - teacher, in points for fraction metrics
    metric_pct: float | None  # stage / teacher * 100
    timings: dict[str, dict[str, Timing]] = field(default_factory=dict)  # device -> "b32" -> Timing

    def cpu_ms(self, batch: str) -> float | None:
        cell = self.timings.get("cpu", {}).get(batch)
        return cell.ms if cell else None

    def cpu_speedup(self, batch: str) -> float | None:
        """CPU speed-up against the teacher, only when the rule supports it (else None)."""
        cell = self.timings.get("cpu", {}).get(batch)
        return cell.ratio.value if cell and cell.ratio and cell.ratio.supported else None

    # The names model cards used before per-device timing; CPU only, supported ratios only.
    @property
    def latency_b1(self) -> float | None:
        return self.cpu_ms("b1")

    @property
    def latency_b32(self) -> float | None:
        return self.cpu_ms("b32")

    @property
    def speed_b1_x(self) -> float | None:
        return self.cpu_speedup("b1")

    @property
    def speed_b32_x(self) -> float | None:
        return self.cpu_speedup("b32")


def main_metric(report: dict[str, Any]) -> str:
    return str(report.get("main_metric") or "accuracy")


def metric_value(model: dict[str, Any], metric: str) -> float | None:
    metrics = model.get("metrics") or {}
    for key in (metric, f"eval_{metric}", f"test_{metric}"):
        value = metrics.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
    return None


def teacher_of(report: dict[str, Any]) -> dict[str, Any] | None:
    """The row every ratio is against: the teacher, or the first model of a `trimformer bench`."""
    models = report.get("models") or []
    for role in ("teacher", "reference"):
        for model in models:
            if model.get("role") == role:
                return model
    return None


def stages_of(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in report.get("models") or [] if m.get("role") not in ("teacher", "reference")]


def latency_blocks(model: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """{device: block} of a report entry; entries of older reports (`latency_ms`) are converted, marked legacy."""
    if isinstance(model.get("latency"), dict):
        return model["latency"]
    blocks: dict[str, dict[str, Any]] = {}
    device = "cuda" if str(model.get("device", "cpu")).startswith("cuda") else "cpu"
    for key, dev in (("latency_ms", device), ("latency_ms_cuda", "cuda")):
        values = model.get(key) or {}
        batches = {}
        for name, value in values.items():
            batch = name.split("_")[0]
            if name in (batch, f"{batch}_p50") and isinstance(value, int | float) and value > 0:
                batches[batch] = {"median_ms": float(value)}
        if batches:
            threads = model.get("threads") if dev == "cpu" else None
            blocks[dev] = {"legacy": True, "threads": threads, "batches": batches}
    return blocks


def latency(model: dict[str, Any], batch: str, device: str = "cpu") -> float | None:
    """A model's latency in ms for batch key `b1`/`b32` on `device`, or None."""
    cell = (latency_blocks(model).get(device) or {}).get("batches", {}).get(batch) or {}
    value = cell.get("median_ms")
    return float(value) if isinstance(value, int | float) and value > 0 else None


def devices_of(report: dict[str, Any]) -> list[str]:
    seen = {d for m in report.get("models") or [] for d in latency_blocks(m)}
    return [d for d in DEVICE_LABELS if d in seen] + sorted(seen - set(DEVICE_LABELS))


def batches_of(report: dict[str, Any]) -> list[str]:
    sizes = (report.get("measurement") or {}).get("batch_sizes")
    if sizes:
        return [f"b{b}" for b in sizes]
    keys = {k for m in report.get("models") or [] for b in latency_blocks(m).values() for k in b.get("batches", {})}
    return sorted(keys, key=lambda k: int(k[1:]) if k[1:].isdigit() else 0)


def _timing(ref_block: dict | None, block: dict | None, batch: str, is_ref: bool) -> Timing:
    if not block:
        return Timing(None, why_missing="not measured")
    if "skipped" in block:
        return Timing(None, why_missing=str(block["skipped"]))
    cell = (block.get("batches") or {}).get(batch) or {}
    ms = cell.get("median_ms")
    if not isinstance(ms, int | float) or ms <= 0:
        return Timing(None, why_missing="not measured")
    ms, spread = float(ms), _num(cell.get("spread"))
    if is_ref:
        return Timing(ms, Ratio(1.0, 0.0, True), spread)
    if not ref_block or "skipped" in ref_block:
        return Timing(ms, spread=spread, why_no_ratio="the teacher has no figure here")
    ref_cell = (ref_block.get("batches") or {}).get(batch) or {}
    if not ref_cell.get("median_ms"):
        return Timing(ms, spread=spread, why_no_ratio="the teacher has no figure here")
    if ref_block.get("threads") != block.get("threads"):
        why = f"different thread counts ({_threads(block)} vs the teacher's {_threads(ref_block)})"
        return Timing(ms, spread=spread, why_no_ratio=why)
    if block.get("legacy") or ref_block.get("legacy"):
        return Timing(ms, unpaired_ratio(float(ref_cell["median_ms"]), ms, LEGACY), spread)
    ratio = paired_ratio(ref_cell.get("calls_ms") or [], cell.get("calls_ms") or [])
    if ratio is None:
        ratio = unpaired_ratio(float(ref_cell["median_ms"]), ms, "no paired calls recorded")
    return Timing(ms, ratio, spread)


def _threads(block: dict) -> str:
    return str(block.get("threads") or "runtime default")


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def safe_ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or denominator == 0:
        return None
    return numerator / denominator


def _pct(value: float, reference: float | None) -> float | None:
    ratio = safe_ratio(value, reference)
    return None if ratio is None else ratio * 100


def metric_scale(metric: str, *values: float | None) -> float:
    """100 for fraction metrics (deltas become points), 1 otherwise."""
    known = [v for v in values if v is not None]
    if metric in FRACTION_METRICS and all(0.0 <= v <= 1.0 for v in known):
        return 100.0
    return 1.0


def stage_ratios(report: dict[str, Any]) -> list[StageRatio]:
    """Teacher (or reference) first, then every other model in run order."""
    metric = main_metric(report)
    teacher = teacher_of(report)
    t_metric = metric_value(teacher, metric) if teacher else None
    t_size = _num(teacher.get("size_mb")) if teacher else None
    t_blocks = latency_blocks(teacher) if teacher else {}
    devices, batches = devices_of(report), batches_of(report)
    rows = []
    for model in ([teacher] if teacher else []) + stages_of(report):
        value = metric_value(model, metric)
        size = _num(model.get("size_mb"))
        blocks = latency_blocks(model)
        timings = {
            d: {b: _timing(t_blocks.get(d), blocks.get(d), b, model is teacher) for b in batches} for d in devices
        }
        params = model.get("params")
        rows.append(
            StageRatio(
                name=str(model.get("name", "?")),
                role=str(model.get("role", "stage")),
                stage_type=model.get("stage_type"),
                metric=value,
                params=int(params) if isinstance(params, int | float) and params > 0 else None,
                size_mb=size,
                size_x=safe_ratio(t_size, size),
                metric_delta=None
                if value is None or t_metric is None
                else (value - t_metric) * metric_scale(metric, value, t_metric),
                metric_pct=None if value is None else _pct(value, t_metric),
                timings=timings,
            )
        )
    return rows

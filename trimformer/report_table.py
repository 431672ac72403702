"""Trade-off ratios of every stage against the teacher, computed from `report.json` alone.

Pure functions on the report dict (no model is loaded, nothing is measured again), so `report.md`,
the model card and the terminal summary always agree with the stored measurements.

    rows = stage_ratios(report)
    print(text_table(report))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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


@dataclass(frozen=True)
class StageRatio:
    """One row of the trade-off table: a model's measurements and its ratios against the teacher."""

    name: str
    role: str
    stage_type: str | None
    metric: float | None
    size_mb: float | None
    latency_b1: float | None
    latency_b32: float | None
    size_x: float | None  # teacher size / stage size: >1 means smaller
    speed_b1_x: float | None  # teacher latency / stage latency: >1 means faster
    speed_b32_x: float | None
    metric_delta: float | None  # stage - teacher, in points for fraction metrics
    metric_pct: float | None  # stage / teacher * 100


def latency(model: dict[str, Any], batch: str) -> float | None:
    """Latency in ms for batch key `b1`/`b32`; falls back to the median (`b1_p50`) when only percentiles exist."""
    lat = model.get("latency_ms") or {}
    for key in (batch, f"{batch}_p50", f"{batch}_mean"):
        value = lat.get(key)
        if isinstance(value, int | float) and value > 0:
            return float(value)
    return None


def main_metric(report: dict[str, Any]) -> str:
    return str(report.get("main_metric") or "accuracy")


def metric_value(model: dict[str, Any], metric: str) -> float | None:
    metrics = model.get("metrics") or {}
    for key in (metric, f"eval_{metric}", f"test_{metric}"):
        value = metrics.get(key)
        if isinstance(value, int | float):
            return float(value)
    return None


def teacher_of(report: dict[str, Any]) -> dict[str, Any] | None:
    models = report.get("models") or []
    for model in models:
        if model.get("role") == "teacher":
            return model
    return None


def stages_of(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in report.get("models") or [] if m.get("role") != "teacher"]


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or denominator == 0:
        return None
    return numerator / denominator


def metric_scale(metric: str, *values: float | None) -> float:
    """100 for fraction metrics (deltas become points), 1 otherwise."""
    known = [v for v in values if v is not None]
    if metric in FRACTION_METRICS and all(0.0 <= v <= 1.0 for v in known):
        return 100.0
    return 1.0


def stage_ratios(report: dict[str, Any]) -> list[StageRatio]:
    """Teacher first (ratios 1.0), then every stage in run order."""
    metric = main_metric(report)
    teacher = teacher_of(report)
    t_metric = metric_value(teacher, metric) if teacher else None
    t_size = _num(teacher.get("size_mb")) if teacher else None
    t_b1 = latency(teacher, "b1") if teacher else None
    t_b32 = latency(teacher, "b32") if teacher else None
    rows = []
    for model in ([teacher] if teacher else []) + stages_of(report):
        value = metric_value(model, metric)
        size = _num(model.get("size_mb"))
        b1, b32 = latency(model, "b1"), latency(model, "b32")
        scale = metric_scale(metric, value, t_metric)
        delta = None if value is None or t_metric is None else (value - t_metric) * scale
        rows.append(
            StageRatio(
                name=str(model.get("name", "?")),
                role=str(model.get("role", "stage")),
                stage_type=model.get("stage_type"),
                metric=value,
                size_mb=size,
                latency_b1=b1,
                latency_b32=b32,
                size_x=_ratio(t_size, size),
                speed_b1_x=_ratio(t_b1, b1),
                speed_b32_x=_ratio(t_b32, b32),
                metric_delta=delta,
                metric_pct=None if value is None else _pct(value, t_metric),
            )
        )
    return rows


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def _pct(value: float, reference: float | None) -> float | None:
    ratio = _ratio(value, reference)
    return None if ratio is None else ratio * 100


def _fmt(value: float | None, spec: str, suffix: str = "") -> str:
    return "–" if value is None else f"{value:{spec}}{suffix}"


def _cells(row: StageRatio, metric: str) -> list[str]:
    scale = metric_scale(metric, row.metric)
    unit = " pts" if scale == 100.0 else ""
    return [
        row.name,
        _fmt(row.metric, ".4f"),
        _fmt(row.metric_delta, "+.2f", unit),
        _fmt(row.metric_pct, ".1f", "%"),
        _fmt(row.size_mb, ".1f"),
        _fmt(row.size_x, ".2f", "×"),
        _fmt(row.latency_b1, ".1f"),
        _fmt(row.speed_b1_x, ".2f", "×"),
        _fmt(row.latency_b32, ".1f"),
        _fmt(row.speed_b32_x, ".2f", "×"),
    ]


def _headers(metric: str) -> list[str]:
    better = " (lower is better)" if metric in LOWER_IS_BETTER else ""
    return [
        "model",
        f"{metric}{better}",
        "Δ vs teacher",
        "% of teacher",
        "size MB",
        "smaller ×",
        "b1 ms",
        "faster b1 ×",
        "b32 ms",
        "faster b32 ×",
    ]


def markdown_table(report: dict[str, Any]) -> str:
    """GitHub-flavoured markdown table (for report.md and the model card)."""
    metric = main_metric(report)
    lines = ["| " + " | ".join(_headers(metric)) + " |", "|" + "---|" * len(_headers(metric))]
    lines += ["| " + " | ".join(_cells(row, metric)) + " |" for row in stage_ratios(report)]
    return "\n".join(lines) + "\n"


def text_table(report: dict[str, Any]) -> str:
    """Aligned plain-text table for the terminal."""
    metric = main_metric(report)
    table = [_headers(metric)] + [_cells(row, metric) for row in stage_ratios(report)]
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    out = []
    for n, row in enumerate(table):
        out.append(
            "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths)))
        )
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out) + "\n"


def render_report_md(report: dict[str, Any], plot_file: str | None = "tradeoff.png") -> str:
    """The body of OUTPUT/report.md: what ran, the table, the plot."""
    recipe = report.get("recipe") or {}
    env = report.get("environment") or {}
    title = recipe.get("name") or "trimformer run"
    parts = [
        f"# {title}\n",
        f"Task: `{report.get('task', '?')}` · main metric: `{main_metric(report)}` · "
        f"device: `{env.get('device', '?')}` · threads: `{env.get('threads', '?')}`\n",
        "Ratios are against the teacher: *smaller ×* = teacher size / model size, *faster ×* = teacher "
        "latency / model latency, Δ in points for fraction metrics.\n",
        markdown_table(report),
    ]
    if plot_file:
        parts.append(f"![size and latency trade-off]({plot_file})\n")
    return "\n".join(parts)

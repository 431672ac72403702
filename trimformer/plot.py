"""Trade-off plot: main metric against size and against latency, one labelled point per model.

    result = plot_tradeoffs(report, "OUTPUT/tradeoff.png")

Axes show differences in proportion: x starts at 0; a fraction metric's y axis spans at least
`METRIC_SPAN` below the teacher (so 0.08 points never fills the plot), other metrics start at 0. Each
point is labelled with its name and value; a note says when every accuracy is within sampling noise.
Latency comes from one device only (CPU when measured there), the largest batch size timed.

Uses matplotlib's Agg backend through `matplotlib.figure.Figure` directly, so it never touches
pyplot's global state or needs a display.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trimformer.report_rows import (
    DEVICE_LABELS,
    FRACTION_METRICS,
    batches_of,
    devices_of,
    latency,
    main_metric,
    metric_value,
    stages_of,
    teacher_of,
)
from trimformer.report_table import accuracy_noise_points, noise_note

PLOT_FILE = "tradeoff.png"
METRIC_SPAN = 0.05  # fraction metrics: the y axis reaches at least 5 points below the teacher


@dataclass(frozen=True)
class PlotResult:
    path: Path
    size_points: int  # models drawn in the metric-vs-size panel
    latency_points: int  # models drawn in the metric-vs-latency panel


def _points(report: dict[str, Any], x_of: Callable[[dict], float | None]) -> list[tuple[str, float, float, bool]]:
    metric = main_metric(report)
    teacher = teacher_of(report)
    models = ([teacher] if teacher else []) + stages_of(report)
    points = []
    for model in models:
        x, y = x_of(model), metric_value(model, metric)
        if x is not None and y is not None:
            points.append((str(model.get("name", "?")), x, y, model is teacher))
    return points


def _size(model: dict[str, Any]) -> float | None:
    value = model.get("size_mb")
    return float(value) if isinstance(value, int | float) and value > 0 else None


def latency_axis(report: dict[str, Any]) -> tuple[str, str] | None:
    """(device, batch) for the latency panel: CPU when any model was timed there, the largest batch."""
    batches = batches_of(report)
    if not batches:
        return None
    batch = batches[-1]
    for device in devices_of(report):
        if any(latency(m, batch, device) is not None for m in report.get("models") or []):
            return device, batch
    return None


def y_limits(metric: str, values: list[float], teacher: float | None) -> tuple[float, float] | None:
    """A y range in which differences keep their proportion (see the module docstring)."""
    if not values:
        return None
    lo, hi = min(values), max(values)
    if metric in FRACTION_METRICS and all(0 <= v <= 1 for v in values):
        anchor = teacher if teacher is not None else hi
        bottom = max(0.0, min(anchor - METRIC_SPAN, lo - 0.01))
        top = min(1.0, hi + 0.01)
        return bottom, max(top, bottom + METRIC_SPAN)
    if lo >= 0:
        return 0.0, hi * 1.1 if hi > 0 else 1.0
    return None


def _label(name: str, y: float, metric: str) -> str:
    return f"{name} ({y:.2%})" if metric in FRACTION_METRICS and 0 <= y <= 1 else f"{name} ({y:.4g})"


def _panel(ax, points, xlabel: str, metric: str, limits, band=None) -> None:
    xs = [p[1] for p in points]
    if band and points:
        # The teacher's 95% sampling interval: points inside it are not distinguishable from the teacher.
        ax.axhspan(*band, color="tab:red", alpha=0.08, zorder=0, label="teacher ± sampling noise (95%)")
        ax.legend(loc="lower right", fontsize=7, frameon=False)
    ys = [p[2] for p in points]
    if len(points) > 1:
        # Run order as a faint line: shows the path the recipe took through the trade-off space.
        ax.plot(xs, ys, color="0.8", linewidth=1, zorder=1)
    for name, x, y, is_teacher in points:
        ax.scatter(
            [x], [y], s=60, zorder=2, color="tab:red" if is_teacher else "tab:blue", marker="*" if is_teacher else "o"
        )
        ax.annotate(_label(name, y, metric), (x, y), textcoords="offset points", xytext=(5, 5), fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(metric)
    ax.grid(True, alpha=0.3)
    if points:
        ax.set_xlim(0, max(xs) * 1.25)  # from 0: a 2× smaller model sits at half the distance
        if limits:
            ax.set_ylim(*limits)
    else:
        ax.text(0.5, 0.5, "no measurements", ha="center", va="center", transform=ax.transAxes)


def plot_tradeoffs(report: dict[str, Any], path: str | Path) -> PlotResult:
    """Write a two-panel PNG to `path` and say how many points each panel shows."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    metric = main_metric(report)
    axis = latency_axis(report)
    size_points = _points(report, _size)
    latency_points = _points(report, lambda m: latency(m, axis[1], axis[0])) if axis else []
    teacher = teacher_of(report)
    values = [p[2] for p in size_points + latency_points]
    t_value = metric_value(teacher, metric) if teacher else None
    limits = y_limits(metric, values, t_value)
    half = accuracy_noise_points(report)
    band = (t_value - half / 100, t_value + half / 100) if half is not None and t_value is not None else None
    fig = Figure(figsize=(11, 4.8), dpi=100)
    FigureCanvasAgg(fig)
    ax_size, ax_lat = fig.subplots(1, 2)
    _panel(ax_size, size_points, "size on disk (MB)", metric, limits, band)
    where = f"batch {axis[1][1:]}, {DEVICE_LABELS.get(axis[0], axis[0])}" if axis else "not measured"
    _panel(ax_lat, latency_points, f"latency, {where} (ms)", metric, limits, band)
    fig.suptitle(f"{metric} vs size and latency")
    note = noise_note(report)
    if note:
        fig.text(0.5, 0.01, note, ha="center", va="bottom", fontsize=8, wrap=True)
    fig.tight_layout(rect=(0, 0.06 if note else 0, 1, 1))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", metadata={"Software": None})
    return PlotResult(path=path, size_points=len(size_points), latency_points=len(latency_points))

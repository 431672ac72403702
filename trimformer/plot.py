"""Trade-off plot: main metric against size and against batch-32 latency, one labelled point per model.

    result = plot_tradeoffs(report, "OUTPUT/tradeoff.png")

Uses matplotlib's Agg backend through `matplotlib.figure.Figure` directly, so it never touches
pyplot's global state or needs a display.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trimformer.report_table import latency, main_metric, metric_value, stages_of, teacher_of

PLOT_FILE = "tradeoff.png"


@dataclass(frozen=True)
class PlotResult:
    path: Path
    size_points: int  # models drawn in the metric-vs-size panel
    latency_points: int  # models drawn in the metric-vs-latency panel


def _points(report: dict[str, Any], x_of) -> list[tuple[str, float, float, bool]]:
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
    return float(value) if isinstance(value, int | float) else None


def _panel(ax, points, xlabel: str, ylabel: str) -> None:
    xs = [p[1] for p in points]
    ys = [p[2] for p in points]
    if len(points) > 1:
        # Run order as a faint line: shows the path the recipe took through the trade-off space.
        ax.plot(xs, ys, color="0.8", linewidth=1, zorder=1)
    for name, x, y, is_teacher in points:
        ax.scatter(
            [x], [y], s=60, zorder=2, color="tab:red" if is_teacher else "tab:blue", marker="*" if is_teacher else "o"
        )
        ax.annotate(name, (x, y), textcoords="offset points", xytext=(5, 5), fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    if not points:
        ax.text(0.5, 0.5, "no measurements", ha="center", va="center", transform=ax.transAxes)


def plot_tradeoffs(report: dict[str, Any], path: str | Path) -> PlotResult:
    """Write a two-panel PNG to `path` and say how many points each panel shows."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    metric = main_metric(report)
    size_points = _points(report, _size)
    latency_points = _points(report, lambda m: latency(m, "b32"))
    fig = Figure(figsize=(11, 4.5), dpi=100)
    FigureCanvasAgg(fig)
    ax_size, ax_lat = fig.subplots(1, 2)
    _panel(ax_size, size_points, "size (MB)", metric)
    _panel(ax_lat, latency_points, "latency, batch 32 (ms)", metric)
    device = (report.get("environment") or {}).get("device", "")
    fig.suptitle(f"{metric} vs size and latency{f' ({device})' if device else ''}")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return PlotResult(path=path, size_points=len(size_points), latency_points=len(latency_points))

"""The one table of a run: every model's metric, params, size and per-device latency against the teacher,
computed from `report.json` alone, rendered as markdown (report.md, model cards) or aligned text (console).

    print(text_table(report))          # the end of `trimformer run`, `trimformer report`, `trimformer bench`
    md = markdown_table(report)        # table + notes, for report.md and the model card
    rows = stage_ratios(report)        # the numbers behind it

Honest cells: "–" for anything not measured, with the reason in the notes; a ratio only between two
figures from the same device, thread count and timing pass; a ratio the rounds do not support carries
⚠ (the rule: `trimformer.measure.stats.RULE`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from trimformer.measure.stats import FLAG, RULE, Ratio, paired_ratio, unpaired_ratio

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
                size_x=_ratio(t_size, size),
                metric_delta=None
                if value is None or t_metric is None
                else (value - t_metric) * metric_scale(metric, value, t_metric),
                metric_pct=None if value is None else _pct(value, t_metric),
                timings=timings,
            )
        )
    return rows


def _pct(value: float, reference: float | None) -> float | None:
    ratio = _ratio(value, reference)
    return None if ratio is None else ratio * 100


def _fmt(value: float | None, spec: str, suffix: str = "") -> str:
    return "–" if value is None else f"{value:{spec}}{suffix}"


def _count(n: int | None) -> str:
    if n is None:
        return "–"
    for div, unit in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if n >= div:
            return f"{n / div:.1f}{unit}"
    return str(n)


def _ms(value: float | None, spread: float | None = None) -> str:
    """`145.2 ±3%`: the figure and how far its rounds spread ((max − min) / median)."""
    if value is None:
        return "–"
    text = f"{value:.2f}" if value < 10 else f"{value:.1f}"
    return text if spread is None else f"{text} ±{min(spread, 9.99):.0%}"


def _speed(cell: Timing) -> str:
    if cell.ratio is None:
        return "–"
    return f"{cell.ratio.value:.2f}×" + ("" if cell.ratio.supported else f" {FLAG}")


def _has_metrics(report: dict[str, Any]) -> bool:
    metric = main_metric(report)
    return any(metric_value(m, metric) is not None for m in report.get("models") or [])


def _headers(report: dict[str, Any]) -> list[str]:
    metric = main_metric(report)
    cols = ["model"]
    if _has_metrics(report):
        better = " (lower is better)" if metric in LOWER_IS_BETTER else ""
        cols += [f"{metric}{better}", "Δ vs teacher", "% of teacher"]
    cols += ["params", "size MB", "smaller ×"]
    for device in devices_of(report):
        label = DEVICE_LABELS.get(device, device)
        for batch in batches_of(report):
            cols += [f"{label} {batch} ms", f"{label} {batch} ×"]
    return cols


def _cells(report: dict[str, Any], row: StageRatio) -> list[str]:
    metric = main_metric(report)
    cells = [row.name]
    if _has_metrics(report):
        unit = " pts" if metric_scale(metric, row.metric) == 100.0 else ""
        cells += [_fmt(row.metric, ".4f"), _fmt(row.metric_delta, "+.2f", unit), _fmt(row.metric_pct, ".1f", "%")]
    cells += [_count(row.params), _fmt(row.size_mb, ".1f"), _fmt(row.size_x, ".2f", "×")]
    for device in devices_of(report):
        for batch in batches_of(report):
            cell = row.timings[device][batch]
            cells += [_ms(cell.ms, cell.spread), _speed(cell)]
    return cells


def notes(report: dict[str, Any]) -> list[str]:
    """What the reader needs to trust (or distrust) the table: how it was timed, flags, missing cells."""
    rows = stage_ratios(report)
    out = [_timing_line(report)] if any(r.timings for r in rows) else []
    if any(r.timings for r in rows):
        out.append(RULE)
    flagged, missing, no_ratio = {}, {}, {}
    for row in rows:
        for device, cells in row.timings.items():
            label = DEVICE_LABELS.get(device, device)
            for batch, cell in cells.items():
                if cell.why_missing and cell.why_missing != "not measured":
                    missing.setdefault((row.name, label, cell.why_missing), []).append(batch)
                elif cell.why_no_ratio:
                    no_ratio.setdefault((row.name, label, cell.why_no_ratio), []).append(batch)
                elif cell.ratio is not None and not cell.ratio.supported:
                    flagged.setdefault((row.name, label, cell.ratio.why or "noisy"), []).append(batch)
    for (name, label, why), batches in flagged.items():
        out.append(f"{FLAG} {name}, {label} {'/'.join(batches)}: {why}; this measurement does not support the ratio.")
    if flagged and report.get("kind") == "bench":
        out.append("Run the bench again on a quiet machine, or with more --rounds.")
    elif flagged:
        run = (report.get("recipe") or {}).get("output_dir") or "OUTPUT"
        out.append(
            f"Re-time every model together on a quiet machine: `trimformer report {run} --remeasure` "
            f"(or `trimformer bench {run}`)."
        )
    for (name, label, why), _ in missing.items():
        out.append(f"– {name} on {label}: {why}.")
    for (name, label, why), batches in no_ratio.items():
        out.append(f"– {name}, {label} {'/'.join(batches)}: no ratio, {why}.")
    noise = noise_note(report)
    if noise:
        out.append(noise)
    out += control_verdicts(report)
    return out


def control_verdicts(report: dict[str, Any]) -> list[str]:
    """What distillation bought, stated against its control row (the same student trained on labels alone for
    the same optimizer steps): a distilled student that does not beat its control, or a teacher that does not,
    is flagged, never presented as a win. "Beats" means by more than the sampling noise when it is known."""
    metric = main_metric(report)
    better = 1.0 if metric not in LOWER_IS_BETTER else -1.0
    models = {m.get("name"): m for m in report.get("models") or []}
    teacher = teacher_of(report)
    noise = accuracy_noise_points(report) or 0.0
    out = []
    for control in (m for m in report.get("models") or [] if m.get("role") == "control"):
        student = models.get((control.get("info") or {}).get("control_of"))
        c, d = metric_value(control, metric), metric_value(student or {}, metric)
        if student is None or c is None or d is None:
            continue
        scale = metric_scale(metric, c, d)
        gain = (d - c) * scale * better
        name, unit = student.get("name"), " points" if scale == 100.0 else ""
        if gain > noise:
            out.append(
                f"{name} beats its control {control.get('name')} (same student, labels only, same steps) by "
                f"{gain:+.2f}{unit}: that is what distillation bought."
            )
        else:
            why = "did not beat" if gain <= 0 else "is within noise of"
            out.append(
                f"{FLAG} {name} {why} its control {control.get('name')} (same student, labels only, same steps): "
                f"{gain:+.2f}{unit}; distillation bought nothing measurable here."
            )
        t = metric_value(teacher or {}, metric)
        if t is not None and (t - c) * scale * better <= noise:
            out.append(
                f"{FLAG} the teacher ({t * scale:.2f}) does not beat that control ({c * scale:.2f}) either: train the "
                "teacher longer (to convergence on validation) or use a stronger one before distilling."
            )
    return out


def _timing_line(report: dict[str, Any]) -> str:
    m = report.get("measurement")
    if not m:
        return (
            f"Timing: each model was {LEGACY}, at a different moment of the run, so background load may have "
            "landed on some rows and not others; no ratio is supported."
        )
    threads = m.get("threads") or "default"
    load = ""
    if m.get("load_before") and m.get("load_after"):
        load = f"; CPU load {m['load_before'][0]:.1f} → {m['load_after'][0]:.1f} on {m.get('cpu_count', '?')} cores"
    policy = f"; torch OpenMP threads wait: {m['omp_wait_policy']}" if m.get("omp_wait_policy") else ""
    return (
        f"Timing: one interleaved pass over every model ({m.get('rounds')} rounds × {m.get('calls')} calls, "
        f"warm-up {m.get('warmup')}), batch × {m.get('length')} tokens, {threads} CPU threads for every runtime "
        f"(torch and ONNX Runtime intra-op; ONNX Runtime inter-op 1){policy}{load}."
    )


def noise_note(report: dict[str, Any]) -> str | None:
    """A note when every model's accuracy is within the teacher's sampling noise (95% binomial interval)."""
    half = accuracy_noise_points(report)
    if half is None:
        return None
    rows = [r for r in stage_ratios(report) if r.role not in ("teacher", "reference")]
    if not rows or any(r.metric_delta is None or abs(r.metric_delta) >= half for r in rows):
        return None
    n = (teacher_of(report) or {}).get("eval_examples")
    return (
        f"Every {main_metric(report)} is within ±{half:.2f} points of the teacher's, its 95% sampling interval on "
        f"{n:,} examples: these differences are noise, not a ranking."
    )


def accuracy_noise_points(report: dict[str, Any]) -> float | None:
    """Half-width, in points, of the teacher's 95% binomial interval (accuracy only), or None."""
    teacher = teacher_of(report)
    if teacher is None or main_metric(report) != "accuracy":
        return None
    p, n = metric_value(teacher, "accuracy"), teacher.get("eval_examples")
    if p is None or not isinstance(n, int) or n <= 0 or not 0 <= p <= 1:
        return None
    return 100 * 1.96 * math.sqrt(p * (1 - p) / n)


def markdown_table(report: dict[str, Any]) -> str:
    """GitHub-flavoured markdown table and its notes (for report.md and the model card)."""
    headers = _headers(report)
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_cells(report, row)) + " |" for row in stage_ratios(report)]
    extra = notes(report)
    return "\n".join(lines) + "\n" + ("\n" + "\n".join(f"- {n}" for n in extra) + "\n" if extra else "")


def text_table(report: dict[str, Any]) -> str:
    """The same table, aligned for the terminal, with the same notes below it."""
    table = [_headers(report)] + [_cells(report, row) for row in stage_ratios(report)]
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    out = []
    for n, row in enumerate(table):
        out.append(
            "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths)))
        )
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out) + "\n" + "".join(f"  {n}\n" for n in notes(report))


def _devices_line(report: dict[str, Any]) -> str:
    parts = []
    for device in devices_of(report):
        names = {
            b.get("device_name")
            for m in report.get("models") or []
            for b in [latency_blocks(m).get(device) or {}]
            if b.get("device_name")
        }
        label = DEVICE_LABELS.get(device, device)
        parts.append(f"{label} ({', '.join(sorted(names))})" if names and device != "cpu" else label)
    return ", ".join(parts) or "not measured"


def render_report_md(report: dict[str, Any], plot_file: str | None = "tradeoff.png") -> str:
    """The body of OUTPUT/report.md: what ran, the table with its notes, the plot."""
    recipe = report.get("recipe") or {}
    env = report.get("environment") or {}
    m = report.get("measurement") or {}
    title = recipe.get("name") or "trimformer run"
    threads = m.get("threads") or "–"
    parts = [
        f"# {title}\n",
        f"Task: `{report.get('task', '?')}` · main metric: `{main_metric(report)}` · metrics computed on: "
        f"`{_eval_devices(report) or env.get('device', '?')}` · timed on: {_devices_line(report)} · "
        f"timing threads: `{threads}`\n",
        "Ratios are against the teacher: *smaller ×* = teacher size / model size, *faster ×* (the `×` latency "
        "columns) = teacher latency / model latency on the same device, Δ in points for fraction metrics.\n",
        markdown_table(report),
    ]
    if plot_file:
        parts.append(f"![size and latency trade-off]({plot_file})\n")
    return "\n".join(parts)


def _eval_devices(report: dict[str, Any]) -> str:
    seen = [str(m.get("eval_device")) for m in report.get("models") or [] if m.get("eval_device")]
    return ", ".join(dict.fromkeys(seen))

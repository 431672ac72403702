"""The one table of a run: every model's metric, params, size and per-device latency against the teacher,
computed from `report.json` alone, rendered as markdown (report.md, model cards) or aligned text (console).

    print(text_table(report))          # the end of `trimformer run`, `trimformer report`, `trimformer bench`
    md = markdown_table(report)        # table + notes, for report.md and the model card
    rows = stage_ratios(report)        # the numbers behind it (`trimformer.report_rows`)

Honest cells: "–" for anything not measured, with the reason in the notes; a ratio only between two
figures from the same device, thread count and timing pass; a ratio the rounds do not support carries
⚠ (the rule: `trimformer.measure.stats.RULE`).
"""

from __future__ import annotations

import math
from typing import Any

from trimformer.measure.stats import FLAG, RULE
from trimformer.report_rows import (
    DEVICE_LABELS,
    LEGACY,
    LOWER_IS_BETTER,
    StageRatio,
    Timing,
    batches_of,
    devices_of,
    latency_blocks,
    main_metric,
    metric_scale,
    metric_value,
    stage_ratios,
    teacher_of,
)


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

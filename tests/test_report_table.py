"""The one table renderer, from stored measurements only (hand-made report dicts, nothing is measured)."""

import pytest

from trimformer.report import format_table
from trimformer.report_rows import latency, stage_ratios
from trimformer.report_table import (
    markdown_table,
    notes,
    render_report_md,
    text_table,
)


def _calls(ms, rounds=5, calls=3, jitter=0.0):
    """rounds × calls call times around `ms`; `jitter` makes every other round slower by that fraction."""
    return [[ms * (1 + (jitter if r % 2 else 0.0))] * calls for r in range(rounds)]


def _block(b1, b32, threads=2, jitter=0.0, **extra):
    batches = {}
    for key, ms in (("b1", b1), ("b32", b32)):
        calls = _calls(ms, jitter=jitter)
        batches[key] = {"median_ms": ms, "spread": 0.0, "rounds_ms": [c[0] for c in calls], "calls_ms": calls}
    return {"runtime": "torch", "threads": threads, "batches": batches, **extra}


def _report(metric="accuracy", teacher_value=0.80, stage_value=0.76, stage_latency=None, **stage_extra):
    return {
        "main_metric": metric,
        "measurement": {"batch_sizes": [1, 32], "rounds": 5, "calls": 3, "warmup": 2, "length": 64, "threads": 2},
        "models": [
            {
                "name": "teacher",
                "role": "teacher",
                "metrics": {metric: teacher_value},
                "eval_examples": 1000,
                "params": 22_700_000,
                "size_mb": 80.0,
                "latency": {"cpu": _block(4.0, 100.0)},
            },
            {
                "name": "distill",
                "role": "stage",
                "stage_type": "distill",
                "metrics": {metric: stage_value},
                "params": 11_000_000,
                "size_mb": 20.0,
                "latency": stage_latency or {"cpu": _block(2.0, 25.0)},
                **stage_extra,
            },
        ],
    }


def test_ratios_against_teacher():
    teacher, stage = stage_ratios(_report())
    assert (teacher.size_x, teacher.speed_b32_x, teacher.metric_delta) == (1.0, 1.0, 0.0)
    assert stage.size_x == pytest.approx(4.0)
    assert stage.speed_b1_x == pytest.approx(2.0) and stage.speed_b32_x == pytest.approx(4.0)
    assert stage.metric_delta == pytest.approx(-4.0)  # points
    assert stage.metric_pct == pytest.approx(95.0)
    assert stage.latency_b32 == 25.0 and stage.params == 11_000_000


def test_perplexity_delta_is_not_scaled():
    _, stage = stage_ratios(_report("perplexity", teacher_value=10.0, stage_value=12.5))
    assert stage.metric_delta == pytest.approx(2.5) and stage.metric_pct == pytest.approx(125.0)
    assert "perplexity (lower is better)" in markdown_table(_report("perplexity", 10.0, 12.5))


def test_noisy_rounds_flag_the_ratio_instead_of_a_confident_number():
    report = _report(stage_latency={"cpu": _block(2.0, 25.0, jitter=0.5)})  # rounds disagree by 50%
    _, stage = stage_ratios(report)
    cell = stage.timings["cpu"]["b32"]
    assert cell.ratio is not None and not cell.ratio.supported and "disagree" in cell.ratio.why
    assert stage.speed_b32_x is None  # cards only ever quote supported ratios
    md = markdown_table(report)
    assert "×" in md and "⚠" in md and "--remeasure" in md
    assert any("distill, CPU b1/b32" in n and "does not support" in n for n in notes(report))


def test_missing_values_are_dashes_never_nan_or_zero():
    report = _report(params=None, size_mb=None, stage_latency={"cpu": {"skipped": "could not load: OSError: gone"}})
    report["models"][1]["metrics"] = {}
    text = text_table(report)
    assert "nan" not in text.lower() and " 0 " not in text
    row = next(line for line in text.splitlines() if line.startswith("distill"))
    assert row.split()[1:] == ["–"] * (len(row.split()) - 1)
    assert "– distill on CPU: could not load: OSError: gone." in text


def test_onnx_row_shows_its_weight_count():
    report = _report(params=5_800_000, runtime="onnxruntime")
    assert "5.8M" in markdown_table(report)


def test_different_threads_give_no_ratio():
    report = _report(stage_latency={"cpu": _block(2.0, 25.0, threads=8)})
    _, stage = stage_ratios(report)
    assert stage.timings["cpu"]["b32"].ratio is None and stage.timings["cpu"]["b32"].ms == 25.0
    assert "different thread counts (8 vs the teacher's 2)" in markdown_table(report)


def test_older_reports_render_but_their_ratios_are_never_supported():
    report = _report()
    for model, (b1, b32) in zip(report["models"], ((4.0, 100.0), (1.0, None))):
        del model["latency"]
        model["latency_ms"] = {"b1_p50": b1, "b1_p95": b1 * 3, **({"b32": b32} if b32 else {})}
    del report["measurement"]
    _, stage = stage_ratios(report)
    assert latency(report["models"][1], "b1") == 1.0
    assert stage.timings["cpu"]["b1"].ratio.value == pytest.approx(4.0) and stage.speed_b1_x is None
    assert stage.timings["cpu"]["b32"].ms is None
    md = markdown_table(report)
    assert "4.00× ⚠" in md and "older trimformer" in md


def test_console_and_markdown_are_one_renderer():
    report = _report()
    md_rows = [line.strip("|").split("|") for line in markdown_table(report).splitlines()[:4] if "---" not in line]
    text_rows = [line.split("  ") for line in text_table(report).splitlines()[:4] if not line.startswith("-")]
    md_cells = [[c.strip() for c in row] for row in md_rows]
    text_cells = [[c.strip() for c in row if c.strip()] for row in text_rows]
    assert md_cells == text_cells
    assert md_cells[0][:5] == ["model", "accuracy", "Δ vs teacher", "% of teacher", "params"]
    assert md_cells[2] == [
        "distill",
        "0.7600",
        "-4.00 pts",
        "95.0%",
        "11.0M",
        "20.0",
        "4.00×",
        "2.00 ±0%",
        "2.00×",
        "25.0 ±0%",
        "4.00×",
    ]
    assert format_table(report) == text_table(report)
    lines = text_table(report).splitlines()
    assert lines[1].startswith("-") and len({len(line) for line in lines[:4]}) == 1
    assert "tradeoff.png" in render_report_md(report)


def test_report_md_header_names_timing_threads_not_the_environment():
    report = _report()
    report["environment"] = {"device": "NVIDIA H200", "threads": 1}
    md = render_report_md(report)
    assert "timing threads: `2`" in md and "threads: `1`" not in md


def test_accuracies_within_noise_get_a_note():
    report = _report(teacher_value=0.7900, stage_value=0.7908)
    assert any("noise" in n for n in notes(report))
    assert not any("noise" in n for n in notes(_report(teacher_value=0.80, stage_value=0.70)))

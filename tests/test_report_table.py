"""Trade-off ratios from stored measurements (hand-made report dicts, nothing is measured)."""

import pytest

from trimformer.report_table import latency, markdown_table, render_report_md, stage_ratios, text_table


def _report(metric="accuracy", teacher_value=0.80, stage_value=0.76, **stage_extra):
    return {
        "main_metric": metric,
        "models": [
            {
                "name": "teacher",
                "role": "teacher",
                "metrics": {metric: teacher_value},
                "size_mb": 80.0,
                "latency_ms": {"b1": 4.0, "b32": 100.0},
            },
            {
                "name": "distill",
                "role": "stage",
                "stage_type": "distill",
                "metrics": {metric: stage_value},
                "size_mb": 20.0,
                "latency_ms": {"b1": 2.0, "b32": 25.0},
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


def test_perplexity_delta_is_not_scaled():
    _, stage = stage_ratios(_report("perplexity", teacher_value=10.0, stage_value=12.5))
    assert stage.metric_delta == pytest.approx(2.5) and stage.metric_pct == pytest.approx(125.0)
    assert "perplexity (lower is better)" in markdown_table(_report("perplexity", 10.0, 12.5))


def test_percentile_only_latency_and_missing_values():
    report = _report(latency_ms={"b1_p50": 1.0, "b1_p95": 3.0})  # no b32 at all
    _, stage = stage_ratios(report)
    assert latency(report["models"][1], "b1") == 1.0
    assert stage.speed_b1_x == pytest.approx(4.0) and stage.speed_b32_x is None
    assert "| – |" in markdown_table(report)


def test_no_teacher_gives_no_ratios():
    report = _report()
    report["models"] = report["models"][1:]
    (stage,) = stage_ratios(report)
    assert stage.size_x is None and stage.metric_delta is None and stage.metric_pct is None


def test_tables_render_every_model():
    md = markdown_table(_report())
    assert md.splitlines()[0].startswith("| model | accuracy | Δ vs teacher |")
    assert "| distill | 0.7600 | -4.00 pts | 95.0% | 20.0 | 4.00× | 2.0 | 2.00× | 25.0 | 4.00× |" in md
    lines = text_table(_report()).splitlines()
    assert len(lines) == 4 and lines[1].startswith("-") and len({len(line) for line in lines}) == 1
    assert "tradeoff.png" in render_report_md(_report())

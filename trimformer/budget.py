"""Accuracy budget: how many metric points a stage may lose against the teacher."""

from __future__ import annotations

from typing import Any


class BudgetExceeded(ValueError):
    """A stage lost more than its budget allows; the message names the stage, the drop and the limit."""


def metric_drop(teacher_value: float, value: float, metric: str) -> float:
    """Points lost vs the teacher (positive = worse). Fractions are scaled to points; perplexity is
    lower-is-better and compared as is."""
    if metric == "perplexity":
        return value - teacher_value
    return (teacher_value - value) * 100


def budget_record(
    entry: dict[str, Any], teacher: dict[str, Any] | None, metric: str, stage_limit: float | None, overall: Any
) -> dict[str, Any] | None:
    """{max_drop, drop, ok} for `entry`, or None when no budget applies (stage limit or recipe-wide)."""
    limits = [x for x in (stage_limit, getattr(overall, "max_drop", None)) if x is not None]
    if not limits or teacher is None:
        return None
    limit = min(limits)
    drop = metric_drop(teacher["metrics"][metric], entry["metrics"][metric], metric)
    return {"max_drop": limit, "drop": round(drop, 4), "ok": drop <= limit}


def enforce_budget(entry: dict[str, Any], metric: str, overall: Any) -> None:
    """Stop the run (BudgetExceeded) when the entry broke its budget, unless the recipe says mark."""
    record = entry.get("budget")
    if record is None or record["ok"] or getattr(overall, "on_violation", "stop") == "mark":
        return
    raise BudgetExceeded(
        f"stage '{entry['name']}' lost {record['drop']:.2f} {metric} points vs the teacher, over its budget of "
        f"{record['max_drop']:.2f}; its output and report.json are kept — relax max_drop, change the stage, or set "
        "budget.on_violation: mark to go on"
    )


def check_budget(
    entry: dict[str, Any], teacher: dict[str, Any] | None, metric: str, stage_limit: float | None, overall: Any
) -> dict[str, Any] | None:
    """budget_record + enforce_budget in one call (for Python users)."""
    entry["budget"] = budget_record(entry, teacher, metric, stage_limit, overall)
    enforce_budget(entry, metric, overall)
    return entry["budget"]

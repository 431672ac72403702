"""A model's lineage, in words, from `report.json`: what each stage was made from, the teacher it learnt from
(the recipe's, or the run's fine-tuned copy of it), and the model reference its chain starts at (a Hub id gives
the card its `base_model`).
"""

from __future__ import annotations

from typing import Any

from trimformer.report_rows import teacher_of


def _entry(report: dict[str, Any], name: Any) -> dict[str, Any] | None:
    return next((m for m in report.get("models") or [] if m.get("name") == name), None)


def made_from(report: dict[str, Any], model: dict[str, Any]) -> str:
    """What this model was made from, in words: the report's `input` of each entry, not the recipe's teacher
    (a quantize stage after distill was made from the distilled student)."""
    recipe = report.get("recipe") or {}
    teacher = (recipe.get("teacher") or {}).get("model")
    student = recipe.get("student") or {}
    if model.get("role") == "teacher":
        return f"`{teacher}` (the recipe's teacher.model)" if teacher else "the recipe's teacher"
    source = model.get("input")
    if source == "student":
        return f"`{student.get('model')}` (the recipe's student.model)"
    entry = _entry(report, source) if source else None
    if entry is not None and entry.get("role") not in ("teacher", "input"):
        return f"stage `{source}` of this run (`{entry.get('path')}`)"
    teacher_path = (entry or {}).get("path") or teacher
    if student.get("init") == "random":
        return f"a randomly initialised student shaped like the teacher `{teacher_path}`"
    layers = student.get("layers")
    cut = f"layers {layers}" if layers else f"{student.get('num_layers', 'some')} layers"
    return f"{cut} of `{student.get('model') or teacher_path}`"


def teacher_line(report: dict[str, Any], teacher_ref: Any) -> str:
    """The model the student learnt from: the recipe's teacher, or the run's fine-tuned copy of it."""
    if not teacher_ref:
        return "not recorded"
    entry = teacher_of(report) or {}  # a reference row (trimformer bench) is never a finetune stage
    if entry.get("stage_type") == "finetune" and entry.get("path"):
        return f"`{teacher_ref}`, fine-tuned by this run's finetune stage (`{entry['path']}`)"
    return f"`{teacher_ref}`"


def root_ref(report: dict[str, Any], model: dict[str, Any]) -> Any:
    """The model reference at the start of this entry's chain (a Hub id when it came from the Hub)."""
    recipe = report.get("recipe") or {}
    teacher, student = (recipe.get("teacher") or {}).get("model"), recipe.get("student") or {}
    seen: set[Any] = set()
    while model.get("role") not in ("teacher", "input") and model.get("name") not in seen:
        seen.add(model.get("name"))
        source = model.get("input")
        if source == "student":
            return student.get("model")
        entry = _entry(report, source) if source else None
        if entry is None or entry.get("role") == "teacher":
            return student.get("model") if student.get("init") == "layers" and student.get("model") else teacher
        model = entry
    return student.get("model") if model.get("role") == "input" else teacher

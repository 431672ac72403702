"""Class labels: which names a task has, and which id each label value gets.

Labels are mapped by value to ids 0..n-1, the same way whether they come from a CSV at `validate`
time (pandas) or from a `datasets` split at run time:

- text labels: `data.label_names` (when given) lists them in id order; otherwise the sorted values;
- integer labels without `label_names`: the sorted distinct values, so 1..5 become ids 0..4 named "1".."5";
- integer labels with `label_names`: names that are all numbers ("1", "2") name the values; any other
  names name the ids 0..n-1 in order (the Hub's ClassLabel convention: 0 = first name);
- "unlabelled" is only an explicit missing value (empty cell, null, NaN; -1 in a Hub ClassLabel column):
  such rows learn from the teacher alone.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from trimformer.errors import UserInputError

UNLABELLED = -100


def is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str) and not value.strip():
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return type(value).__name__ in ("NAType", "NaTType")  # pandas' missing markers, without importing pandas


def _as_int(value: Any) -> int | None:
    """The integer a label value stands for, or None for text (numpy integers and 3.0 count as integers)."""
    if isinstance(value, bool):
        return None
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # numpy scalars
        value = value.item()
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _shown(values: Iterable[Any], limit: int = 6) -> str:
    values = list(values)
    text = ", ".join(repr(v) if isinstance(v, str) else str(v) for v in values[:limit])
    return text + (f", ... ({len(values)} in all)" if len(values) > limit else "")


def names_are_values(names: Sequence[str]) -> bool:
    """Numeric names ("1", "5") name integer label values; any other names name ids 0..n-1."""
    return bool(names) and all(_as_int(_number(n)) is not None for n in names)


def _number(text: str) -> Any:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def class_names(
    values: Iterable[Any],
    label_names: Sequence[str] | None,
    where: str,
    *,
    column: str = "label",
    min_classes: int = 2,
) -> tuple[str, ...]:
    """The task's label names (id order) for these label values; raises UserInputError naming the
    field and the fix when the values and `label_names` cannot agree. `where` names the data (a file)."""
    present = [v for v in values if not is_missing(v)]
    if not present:
        raise UserInputError(
            f"data.label_column: every '{column}' cell in {where} is empty; fill in the labels, point "
            "data.label_column at the label column, or use task: masked-lm for text alone"
        )
    if any(isinstance(v, (list, dict, tuple)) for v in present):
        raise UserInputError(
            f"data.label_column: '{column}' in {where} holds lists, not one label per row; use task: "
            "token-classification for per-word tags, or point data.label_column at a column of single labels"
        )
    ints = {_as_int(v) for v in present}
    if None not in ints:
        distinct: list[Any] = sorted(ints)  # type: ignore[type-var]
    else:
        if any(isinstance(v, float) for v in present):
            sample = next(v for v in present if isinstance(v, float) and not float(v).is_integer())
            raise UserInputError(
                f"data.regression: '{column}' in {where} holds continuous values ({sample}); set data.regression: "
                "true to predict a number, or give class labels"
            )
        texts = {str(v) for v in present}
        numeric = sorted(t for t in texts if _looks_numeric(t))
        words = sorted(t for t in texts if not _looks_numeric(t))
        if numeric and words:
            sample = _shown(numeric[:2] + words[:2])
            raise UserInputError(
                f"data.label_column: '{column}' in {where} mixes numbers and text ({sample}); "
                "make every label the same kind (all names or all numbers)"
            )
        distinct = sorted(texts, key=float) if numeric else words
    if label_names:
        names = tuple(str(n) for n in label_names)
        _check_against_names(distinct, names, where, column)
        present_count = len(distinct)
    else:
        names = tuple(str(v) for v in distinct)
        present_count = len(names)
    if present_count < min_classes:
        raise UserInputError(
            f"data.label_column: '{column}' in {where} has one class only ({_shown(distinct)}); a classifier needs at "
            "least two: add examples of the other classes, or loosen data.filter"
        )
    return names


def _check_against_names(distinct: list[Any], names: tuple[str, ...], where: str, column: str) -> None:
    if len(set(names)) != len(names):
        raise UserInputError(f"data.label_names: {list(names)} repeats a name; list each class once")
    if distinct and isinstance(distinct[0], int) and not names_are_values(names):
        outside = [v for v in distinct if not 0 <= v < len(names)]
        if outside:
            raise UserInputError(
                f"data.label_names: {len(names)} names stand for label ids 0..{len(names) - 1}, but '{column}' in "
                f"{where} holds {_shown(distinct)}; list one name per value in order (e.g. "
                f"{[str(v) for v in distinct[:3]]}...) or drop data.label_names"
            )
        return
    unknown = [v for v in distinct if str(v) not in names]
    if unknown:
        raise UserInputError(
            f"data.label_names: '{column}' in {where} holds {_shown(unknown)}, not in label_names {list(names)}; "
            "add them to data.label_names or drop those rows with data.filter"
        )


def label_encoder(names: Sequence[str], integer_column: bool, class_label: bool = False, where: str = "the data"):
    """value -> id for `names` (see the module docstring); missing values -> UNLABELLED."""
    names = tuple(str(n) for n in names)
    index = {name: i for i, name in enumerate(names)}
    by_value = not integer_column or names_are_values(names)

    def encode(value: Any) -> int:
        if is_missing(value) or (class_label and _as_int(value) == -1):
            return UNLABELLED
        if class_label:
            return int(value)
        if by_value:
            as_int = _as_int(value)
            key = str(as_int) if as_int is not None and integer_column else str(value)
            if key in index:
                return index[key]
            # Numeric names may be written "1.0" or "1"; compare as numbers.
            if as_int is not None:
                for name, i in index.items():
                    if _number(name) == as_int:
                        return i
        else:
            as_int = _as_int(value)
            if as_int is not None and 0 <= as_int < len(names):
                return as_int
        raise UserInputError(
            f"data: label {value!r} in {where} is not one of the task's labels {list(names)}; add it to "
            "data.label_names or drop those rows with data.filter"
        )

    return encode

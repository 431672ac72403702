"""Validate-time checks of a local data file, read with pandas (cheap: no torch, no tokenizer):
readable, has rows, has the named columns, text in the text columns, rows left after `filter`, enough
rows for a train/eval split, and labels that map onto classes (`trimformer.labels`). Hub datasets
cannot be read offline: they are checked when the run loads them (`trimformer.data.load_raw`)."""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trimformer.data_files import read_frame
from trimformer.errors import UserInputError
from trimformer.labels import class_names, is_missing
from trimformer.references import resolve_local


@dataclass(frozen=True)
class DataFacts:
    """What the data says about the task, for the checks that compare it with the models."""

    where: str
    label_names: tuple[str, ...] | None  # classification; None for regression / masked-lm
    regression: bool


def _column_error(frame: Any, column: str, key: str, path: Path) -> UserInputError:
    columns = [str(c) for c in frame.columns]
    close = difflib.get_close_matches(column, columns, n=1) or [c for c in columns if c.lower() == column.lower()]
    hint = f"did you mean '{close[0]}'? " if close else ""
    return UserInputError(
        f"data.{key}: '{column}' is not a column of {path} (columns: {', '.join(columns[:12])}); "
        f"{hint}set data.{key} to one of them"
    )


def _split_sizes(rows: int, fraction: float) -> tuple[int, int]:
    """(train, eval) rows as datasets' train_test_split computes them."""
    test = math.ceil(fraction * rows)
    return math.floor((1 - fraction) * rows), test


def check_local_data(recipe: Any, path: Path) -> DataFacts:
    d = recipe.data
    if d.eval_split or d.train_split != "train":
        key = "eval_split" if d.eval_split else "train_split"
        raise UserInputError(
            f"data.{key}: {d.path} is one local file with no named splits; remove data.{key} "
            "(data.eval_fraction holds out a fixed-seed share of its rows for evaluation)"
        )
    frame = read_frame(path, "data.path")
    if len(frame) == 0:
        raise UserInputError(f"data.path: {path} has a header but no rows; add examples")
    token_task = recipe.task == "token-classification"
    labelled = recipe.task != "masked-lm"
    needed = [(d.text_column, "text_column")]
    if d.text_pair_column:
        needed.append((d.text_pair_column, "text_pair_column"))
    if labelled:
        needed.append((d.label_column, "label_column"))
    needed += [(column, f"filter.{column}") for column in d.filter]
    for column, key in needed:
        if column not in frame.columns:
            raise _column_error(frame, column, key, path)

    for column, allowed in d.filter.items():
        kept = frame[frame[column].map(lambda v, keep=allowed: _matches(v, keep))]
        if len(kept) == 0:
            seen = sorted({str(v) for v in frame[column].dropna().unique()})[:8]
            raise UserInputError(
                f"data.filter.{column}: no row of {path} has one of {allowed} (it holds: {', '.join(seen)}); "
                "fix the values (they must match exactly, including case and type)"
            )
        frame = kept

    text_columns = [(d.text_column, "text_column")] + (
        [(d.text_pair_column, "text_pair_column")] if d.text_pair_column else []
    )
    for column, key in text_columns:
        frame = _rows_with_text(frame, column, key, path, token_task)
    if d.dedupe and not token_task:
        frame = frame.drop_duplicates(subset=[d.text_column])
    train_rows, eval_rows = _split_sizes(len(frame), d.eval_fraction)
    if train_rows < 1 or eval_rows < 1:
        raise UserInputError(
            f"data.eval_fraction: {path} has {len(frame)} usable row(s) after filters and de-duplication; "
            f"eval_fraction {d.eval_fraction} leaves {train_rows} for training and {eval_rows} for evaluation; "
            "add rows or change eval_fraction"
        )
    if d.unlabeled_path:
        check_unlabelled(recipe, d.unlabeled_path)
    if not labelled:
        return DataFacts(str(path), None, False)
    return _labels(recipe, frame, path, token_task)


def _matches(value: Any, allowed: list[Any]) -> bool:
    try:
        return value in allowed
    except TypeError:  # an unhashable/odd cell never matches
        return False


def _rows_with_text(frame: Any, column: str, key: str, path: Path, token_task: bool) -> Any:
    series = frame[column]
    if token_task:
        bad = [v for v in series if not isinstance(v, (list, tuple)) and not is_missing(v)]
        if bad or series.map(is_missing).all():
            got = repr(bad[0])[:40] if bad else "no lists"
            raise UserInputError(
                f"data.{key}: token-classification needs '{column}' in {path} to hold lists of words (JSON "
                f'lines like {{"{column}": ["a", "b"], ...}}); got {got}'
            )
        return frame[series.map(lambda v: isinstance(v, (list, tuple)) and len(v) > 0)]
    if series.map(is_missing).all():
        raise UserInputError(
            f"data.{key}: every '{column}' cell in {path} is empty (after data.filter); "
            f"point data.{key} at the text column"
        )
    if series.dtype.kind in "iufcb":
        raise UserInputError(
            f"data.{key}: '{column}' in {path} holds numbers, not text; point data.{key} at the text column"
        )
    lists = [v for v in series if isinstance(v, (list, dict))]
    if lists:
        raise UserInputError(
            f"data.{key}: '{column}' in {path} holds lists, not text; use task: token-classification for "
            f"word lists, or point data.{key} at a text column"
        )
    has_text = series.map(lambda v: isinstance(v, str) and v.strip() != "")
    if not has_text.any():
        raise UserInputError(
            f"data.{key}: every '{column}' cell in {path} is empty (after data.filter); "
            f"point data.{key} at the text column"
        )
    return frame[has_text]  # empty text cells are dropped, as the run does


def _labels(recipe: Any, frame: Any, path: Path, token_task: bool) -> DataFacts:
    d = recipe.data
    series = frame[d.label_column]
    if token_task:
        for words, tags in zip(frame[d.text_column], series):
            if is_missing(tags):
                continue
            if not isinstance(tags, (list, tuple)) or len(tags) != len(words):
                raise UserInputError(
                    f"data.label_column: each '{d.label_column}' cell in {path} must list one tag per word of "
                    f"'{d.text_column}' (got {str(tags)[:40]} for {len(words)} words)"
                )
        tags = [t for row in series if isinstance(row, (list, tuple)) for t in row]
        names = class_names(tags, d.label_names, str(path), column=d.label_column)
        return DataFacts(str(path), names, False)
    regression = d.regression if d.regression is not None else series.dtype.kind == "f"
    if regression:
        _check_numbers(series, path, d.label_column)
        return DataFacts(str(path), None, True)
    names = class_names(list(series), d.label_names, str(path), column=d.label_column)
    return DataFacts(str(path), names, False)


def _check_numbers(series: Any, path: Path, column: str) -> None:
    present = [v for v in series if not is_missing(v)]
    if not present:
        raise UserInputError(f"data.label_column: every '{column}' cell in {path} is empty; fill in the labels")
    for value in present:
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise UserInputError(
                f"data.regression: regression needs numeric labels, but '{column}' in {path} holds {value!r}; "
                "set data.regression: false for class labels"
            ) from None
        if not math.isfinite(number):
            raise UserInputError(f"data.label_column: '{column}' in {path} holds {value!r}; labels must be finite")


def check_unlabelled(recipe: Any, ref: str) -> None:
    path = resolve_local("data.unlabeled_path", ref)
    if path is None:
        raise UserInputError(f"data.unlabeled_path: {ref} must be a local file (.csv/.jsonl/...), not a Hub id")
    frame = read_frame(path, "data.unlabeled_path")
    column = recipe.data.text_column
    for name, field in ((column, "text_column"), (recipe.data.text_pair_column, "text_pair_column")):
        if name is not None and name not in frame.columns:
            raise UserInputError(
                f"data.unlabeled_path: {path} has no '{name}' column (the data.{field}; its columns: "
                f"{', '.join(map(str, frame.columns[:12]))}); name that column '{name}'"
            )
    _rows_with_text(frame, column, "unlabeled_path", path, recipe.task == "token-classification")

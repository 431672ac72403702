"""Labels are mapped by value to ids 0..n-1 (label_names kept), the same at validate time and at run time;
"unlabelled" is only an explicit missing value."""

from __future__ import annotations

import datasets
import pandas as pd
import pytest

from trimformer import data as D
from trimformer.errors import UserInputError
from trimformer.labels import UNLABELLED, class_names, label_encoder


def test_integer_labels_map_by_value():
    names = class_names([5, 1, 3, 2, 4, 1], None, "x.csv")
    assert names == ("1", "2", "3", "4", "5")
    encode = label_encoder(names, integer_column=True)
    assert [encode(v) for v in (1, 2, 5)] == [0, 1, 4]


def test_integer_labels_with_names_are_ids_and_numeric_names_are_values():
    names = class_names([0, 1, 1], ["neg", "pos"], "x.csv")
    assert names == ("neg", "pos") and label_encoder(names, True)(1) == 1
    names = class_names([1, 2], ["2", "1"], "x.csv")  # numbers as names name the values, in the order given
    assert label_encoder(names, True)(1) == 1 and label_encoder(names, True)(2) == 0
    with pytest.raises(UserInputError, match=r"data.label_names: 2 names stand for label ids 0..1.*holds 1, 2, 3"):
        class_names([1, 2, 3], ["neg", "pos"], "stars.csv")


def test_text_labels_follow_label_names_order():
    names = class_names(["fresh", "rotten", "fresh"], ["rotten", "fresh"], "rt.csv")
    encode = label_encoder(names, integer_column=False)
    assert (encode("rotten"), encode("fresh")) == (0, 1)
    with pytest.raises(UserInputError, match=r"holds 'neutral', not in label_names"):
        class_names(["neg", "neutral"], ["neg", "pos"], "x.csv")
    with pytest.raises(UserInputError, match="is not one of the task's labels"):
        encode("neutral")


def test_only_missing_values_are_unlabelled():
    encode = label_encoder(("-1", "0", "1"), integer_column=True)
    assert encode(-1) == 0  # a plain integer column: -1 is a class like any other
    assert encode(None) == UNLABELLED and encode(float("nan")) == UNLABELLED and encode(pd.NA) == UNLABELLED
    assert label_encoder(("a", "b"), True, class_label=True)(-1) == UNLABELLED  # the Hub's ClassLabel convention


@pytest.mark.parametrize(
    "values,message",
    [
        (["pos", "pos", None], "one class only"),
        ([1, "neg", 2], "mixes numbers and text"),
        (["1", "neg"], "mixes numbers and text"),
        ([None, float("nan")], "is empty"),
        ([0.25, 0.5], "continuous values"),
    ],
)
def test_label_problems_are_user_errors(values, message):
    with pytest.raises(UserInputError, match=message):
        class_names(values, None, "x.csv")


def test_run_time_mapping_matches(tmp_path):
    """Through load_raw / infer_task / tokenize: stars 1..5 train a 5-class head with ids 0..4; blanks are
    unlabelled, not a reason to call the column float (regression)."""
    rows = [{"text": f"the film was {w} number {i}", "label": 1 + i % 5} for i, w in enumerate(["good", "bad"] * 20)]
    rows[3]["label"] = None
    path = tmp_path / "stars.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    settings = D.DataSettings(path=str(path), eval_fraction=0.2)
    raw = D.load_raw(settings, seed=0)
    task = D.infer_task("sequence-classification", raw, settings, None)
    assert not task.regression and task.label_names == ("1", "2", "3", "4", "5")
    encode = D._label_encoder(task, raw["train"].features["label"])
    both = datasets.concatenate_datasets([raw["train"], raw["validation"]])
    encoded = sorted(encode(v) for v in both["label"])
    assert encoded[0] == UNLABELLED and set(encoded[1:]) == {0, 1, 2, 3, 4}


def test_dedupe_and_empty_text_rows(tmp_path):
    rows = [{"text": "same text", "label": "a"}] * 3 + [{"text": "", "label": "b"}, {"text": "other", "label": "b"}]
    rows += [{"text": f"row {i}", "label": "ab"[i % 2]} for i in range(10)]
    path = tmp_path / "d.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    raw = D.load_raw(D.DataSettings(path=str(path), eval_fraction=0.2), seed=0)
    texts = list(raw["train"]["text"]) + list(raw["validation"]["text"])
    assert sorted(texts) == sorted(["same text", "other"] + [f"row {i}" for i in range(10)])


def test_run_time_data_errors_are_user_errors(tmp_path):
    path = tmp_path / "d.csv"
    pd.DataFrame({"review": ["a b", "c d", "e f"], "label": [0, 1, 0]}).to_csv(path, index=False)
    with pytest.raises(
        UserInputError, match=r"data.text_column: 'text' is not a column .* \(columns: review, label\)"
    ):
        D.load_raw(D.DataSettings(path=str(path)), seed=0)
    with pytest.raises(UserInputError, match="data.eval_split: .* no named splits"):
        D.load_raw(D.DataSettings(path=str(path), text_column="review", eval_split="validation"), seed=0)
    with pytest.raises(UserInputError, match="file not found: missing.csv"):
        D.load_raw(D.DataSettings(path="missing.csv"), seed=0)


def test_python_task_spec_without_names_uses_ids():
    """TaskSpec(num_labels=2) built in Python (no label names): integer labels are the ids, as before."""
    from trimformer.tasks import TaskSpec

    encode = D._label_encoder(TaskSpec("sequence-classification", num_labels=2), datasets.Value("int64"))
    assert (encode(0), encode(1), encode(None)) == (0, 1, UNLABELLED)

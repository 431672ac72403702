"""`data.unlabeled_path`: extra text the student learns from the teacher alone, never the evaluation rows."""

import pandas as pd
import tiny

from trimformer import data as D
from trimformer.stages.base import RunState
from trimformer.stages.distill import DistillStage, extra_training_text, without_eval_texts


def _state(tmp_path, unlabelled: list[str]) -> RunState:
    path = tmp_path / "unlabelled.csv"
    pd.DataFrame({"text": unlabelled}).to_csv(path, index=False)
    raw = D.datasets.DatasetDict(train=tiny.sentiment_dataset(32), validation=tiny.sentiment_dataset(16, 1))
    settings = D.DataSettings(path="mem", max_length=16, unlabeled_path=str(path))
    task = D.infer_task("sequence-classification", raw, settings, None)
    tok = tiny.make_tokenizer()
    data = D.prepare(raw, task, settings, tok)
    return RunState(
        task=task, output_dir=tmp_path, tokenizer=tok, teacher=tiny.tiny_bert(1), teacher_tokenizer=tok, data=data
    )


def test_evaluation_texts_in_the_unlabelled_file_are_left_out(tmp_path, capsys):
    eval_texts = tiny.sentiment_dataset(16, 1)["text"]
    new = ["a film nobody in the evaluation set wrote", "another unseen line"]
    state = _state(tmp_path, [*new, eval_texts[0], f"  {eval_texts[3]} "])
    extra = extra_training_text(DistillStage(), state)
    assert len(extra) == len(new)
    assert all(label == -100 for label in extra["labels"])  # learnt from the teacher alone
    assert "left out 2 of 4 texts that are also evaluation texts" in capsys.readouterr().out


def test_an_unlabelled_file_of_evaluation_texts_adds_nothing(tmp_path):
    state = _state(tmp_path, tiny.sentiment_dataset(16, 1)["text"][:5])
    assert extra_training_text(DistillStage(), state) is None


def test_token_lists_and_text_pairs_are_compared_whole():
    kept, dropped = without_eval_texts([["a", "b"], ["a"], ["b", "a"]], [["a", "b"]])
    assert kept == [["a"], ["b", "a"]] and dropped == 1
    pairs = [("a film", "it was fine "), ("a film", "it was bad")]
    assert without_eval_texts(pairs, [("a film", "it was fine")]) == ([("a film", "it was bad")], 1)

"""`trimformer eval`: every row by default, --limit samples, --held-out reproduces a run's split (--training-share
the rest), --against counts rows two models predict alike, every task the recipes support, and a missing local
file is "file not found" (exit 2), never a Hub lookup."""

import json
import random

import pandas as pd
import pytest
import tiny
import torch
from transformers import BertForMaskedLM, BertForSequenceClassification, BertForTokenClassification, BertTokenizerFast

from trimformer.cli import main

TAGS = ["O", "B-POS", "B-NEG"]


def _save(model, folder):
    model.save_pretrained(folder)
    tiny.make_tokenizer().save_pretrained(folder)
    return str(folder)


def _eval(capsys, *argv) -> dict:
    capsys.readouterr()
    assert main(["eval", *argv, "--max-length", "16"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval")
    model = tiny.tiny_bert(0, layers=1, hidden=32, id2label={0: "neg", 1: "pos"}, label2id={"neg": 0, "pos": 1})
    pd.DataFrame(tiny.sentiment_rows(50)).to_csv(root / "reviews.csv", index=False)
    return _save(model, root / "model"), root / "reviews.csv"


def test_every_row_by_default_and_limit_samples(classifier, capsys):
    model, data = classifier
    assert _eval(capsys, model, "--data", str(data))["examples"] == 50
    assert _eval(capsys, model, "--data", str(data), "--limit", "7")["examples"] == 7
    assert _eval(capsys, model, "--data", str(data), "--held-out")["examples"] == 5  # a run's 10%


def test_missing_local_file_is_not_found_with_exit_2(classifier, capsys, tmp_path, monkeypatch):
    model, _ = classifier
    monkeypatch.chdir(tmp_path)
    assert main(["eval", model, "--data", "reviews.csv"]) == 2
    err = capsys.readouterr().err
    assert "--data: file not found: reviews.csv" in err and "if you meant a Hub dataset id" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_bad_limit_is_refused(classifier, capsys):
    model, data = classifier
    assert main(["eval", model, "--data", str(data), "--limit", "0"]) == 2
    assert "--limit: must be 1 or more" in capsys.readouterr().err


def test_token_classification(tmp_path, capsys):
    rng = random.Random(0)
    with open(tmp_path / "ner.jsonl", "w") as f:
        for _ in range(20):
            words = rng.sample(tiny.FILLER, 3) + [rng.choice(tiny.POSITIVE)]
            tags = ["B-POS" if w in tiny.POSITIVE else "O" for w in words]
            f.write(json.dumps({"tokens": words, "tags": tags}) + "\n")
    torch.manual_seed(0)
    config = tiny.bert_config(layers=1, hidden=32, num_labels=3, id2label=dict(enumerate(TAGS)))
    model = _save(BertForTokenClassification(config).eval(), tmp_path / "ner")
    argv = ["--task", "token-classification", "--text-column", "tokens", "--label-column", "tags"]
    result = _eval(capsys, model, "--data", str(tmp_path / "ner.jsonl"), *argv)
    assert result["examples"] == 20 and 0 <= result["f1"] <= 1


def test_masked_lm(tmp_path, capsys):
    pd.DataFrame(tiny.sentiment_rows(20)).to_csv(tmp_path / "text.csv", index=False)
    torch.manual_seed(0)
    model = _save(BertForMaskedLM(tiny.bert_config(layers=1, hidden=32)).eval(), tmp_path / "mlm")
    result = _eval(capsys, model, "--data", str(tmp_path / "text.csv"), "--task", "masked-lm")
    assert result["examples"] == 20 and result["perplexity"] > 1


def test_dedupe_drops_repeated_texts_as_a_recipe_would(classifier, capsys, tmp_path):
    model, data = classifier
    frame = pd.read_csv(data)
    doubled = tmp_path / "doubled.csv"
    pd.concat([frame, frame.head(10)]).to_csv(doubled, index=False)
    assert _eval(capsys, model, "--data", str(doubled))["examples"] == 60
    assert _eval(capsys, model, "--data", str(doubled), "--dedupe")["examples"] == frame["text"].nunique()


def test_recipe_gives_every_data_setting_and_held_out_matches_its_run(classifier, capsys, tmp_path):
    import yaml

    from trimformer import data as data_mod
    from trimformer.recipe import load_recipe
    from trimformer.runner import data_settings

    model, data = classifier
    frame = pd.read_csv(data).rename(columns={"text": "review", "label": "category"})
    plot = pd.DataFrame({"review": [f"plot summary {i}" for i in range(7)], "category": "plot"})
    mixed = tmp_path / "mixed.csv"
    pd.concat([frame, frame.head(5), plot]).to_csv(mixed, index=False)
    recipe = tmp_path / "r.yaml"
    raw = {
        "seed": 3,
        "output_dir": str(tmp_path / "out"),
        "data": {
            "path": str(mixed),
            "text_column": "review",
            "label_column": "category",
            "label_names": ["neg", "pos"],
            "filter": {"category": ["neg", "pos"]},
            "dedupe": True,
            "eval_fraction": 0.2,
            "max_length": 16,
        },
        "teacher": {"model": model},
        "student": {"init": "layers", "layers": [0]},
        "stages": [{"type": "distill"}],
    }
    recipe.write_text(yaml.safe_dump(raw))
    run_split = data_mod.load_raw(data_settings(load_recipe(str(recipe)).recipe), 3)["validation"]
    capsys.readouterr()
    assert main(["eval", model, "--recipe", str(recipe), "--held-out"]) == 0
    held_out = json.loads(capsys.readouterr().out)
    assert held_out["examples"] == len(run_split) == round(0.2 * frame["review"].nunique())
    assert main(["eval", model, "--recipe", str(recipe)]) == 0  # every row the filter and dedupe keep
    assert json.loads(capsys.readouterr().out)["examples"] == frame["review"].nunique()
    assert main(["eval", model]) == 2 and "--data FILE" in capsys.readouterr().err


def _logits(folder, texts) -> tuple[torch.Tensor, dict]:
    model = BertForSequenceClassification.from_pretrained(folder).eval()
    tokenizer = BertTokenizerFast.from_pretrained(folder)
    with torch.no_grad():
        batch = tokenizer(texts, padding=True, truncation=True, max_length=16, return_tensors="pt")
        return model(**batch).logits, model.config.id2label


def _predicted(folder, texts) -> list[str]:
    logits, id2label = _logits(folder, texts)
    return [id2label[int(i)] for i in logits.argmax(-1)]


def test_against_a_teacher_with_its_own_tokenizer_counts_rows_predicted_alike(classifier, tmp_path, capsys):
    model, data = classifier
    labels = {"id2label": {0: "neg", 1: "pos"}, "label2id": {"neg": 0, "pos": 1}}
    teacher = tiny.tiny_bert(3, layers=1, hidden=32, **labels)
    teacher.save_pretrained(tmp_path / "teacher")
    tiny.make_tokenizer(reverse=True).save_pretrained(tmp_path / "teacher")  # other ids for the same words
    rows = pd.read_csv(data)
    texts = rows["text"].tolist()
    # A random tiny model predicts one class for nearly every row: centre the teacher's margin so it splits.
    logits = _logits(tmp_path / "teacher", texts)[0]
    with torch.no_grad():
        teacher.classifier.bias[1] -= (logits[:, 1] - logits[:, 0]).median()
    teacher.save_pretrained(tmp_path / "teacher")
    mine, theirs = _predicted(model, texts), _predicted(tmp_path / "teacher", texts)
    expected = sum(a == b for a, b in zip(mine, theirs)) / len(texts)
    assert 0 < expected < 1  # the two models disagree on some rows, so the count is tested
    result = _eval(capsys, model, "--data", str(data), "--against", str(tmp_path / "teacher"))
    assert result["agreement"] == pytest.approx(expected)
    assert result["against"]["examples"] == 50
    assert result["against"]["accuracy"] == pytest.approx(sum(p == r for p, r in zip(theirs, rows["label"])) / 50)
    assert _eval(capsys, model, "--data", str(data), "--against", model)["agreement"] == 1.0


def test_training_share_and_held_out_split_the_rows(classifier, capsys):
    model, data = classifier
    held = _eval(capsys, model, "--data", str(data), "--held-out")["examples"]
    trained = _eval(capsys, model, "--data", str(data), "--training-share")["examples"]
    assert (held, trained) == (5, 45)
    with pytest.raises(SystemExit) as refused:
        main(["eval", model, "--data", str(data), "--held-out", "--training-share"])
    assert refused.value.code == 2 and "not allowed with argument" in capsys.readouterr().err


def test_against_refuses_other_class_names_and_token_tasks(classifier, tmp_path, capsys):
    model, data = classifier
    other = tiny.tiny_bert(0, layers=1, hidden=32, id2label={0: "bad", 1: "good"}, label2id={"bad": 0, "good": 1})
    _save(other, tmp_path / "other")
    capsys.readouterr()  # saving prints a progress bar
    assert main(["eval", model, "--data", str(data), "--against", str(tmp_path / "other")]) == 2
    err = capsys.readouterr().err
    assert "--against: the two models name their classes differently" in err and len(err.strip().splitlines()) == 1
    regression = tiny.tiny_bert(0, layers=1, hidden=32, num_labels=1, problem_type="regression")
    _save(regression, tmp_path / "regression")
    capsys.readouterr()
    assert main(["eval", model, "--data", str(data), "--against", str(tmp_path / "regression")]) == 2
    assert "--against: agreement compares predicted classes; a regression model has none" in capsys.readouterr().err
    argv = ["--data", str(data), "--task", "token-classification", "--against", model]
    assert main(["eval", model, *argv]) == 2
    assert "--against: agreement compares one class per row" in capsys.readouterr().err

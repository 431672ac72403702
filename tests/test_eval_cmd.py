"""`trimformer eval`: every row by default, --limit samples, --held-out reproduces a run's split, every task the
recipes support, and a missing local file is "file not found" (exit 2), never a Hub lookup."""

import json
import random

import pandas as pd
import pytest
import tiny
import torch
from transformers import BertForMaskedLM, BertForTokenClassification

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

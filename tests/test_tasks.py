"""Every task kind through the recipe runner on tiny models: sentence pairs, regression, token
classification, masked-LM; local jsonl / parquet / tsv data."""

import json
import random

import pandas as pd
import pytest
import tiny
import torch
import yaml
from transformers import BertForMaskedLM, BertForSequenceClassification, BertForTokenClassification

from trimformer.cli import main
from trimformer.loading import load_model

TAGS = ["O", "B-POS", "B-NEG"]


def save_teacher(model, root):
    model.save_pretrained(root / "teacher")
    tiny.make_tokenizer().save_pretrained(root / "teacher")
    return str(root / "teacher")


def run_recipe(root, task, data_file, teacher, **data):
    recipe = {
        "task": task,
        "output_dir": str(root / "out"),
        "data": {"path": str(data_file), "max_length": 16, **data},
        "teacher": {"model": teacher},
        "student": {"init": "layers", "layers": [0]},
        "training": {"per_device_train_batch_size": 16, "learning_rate": 2e-3, "logging_steps": 5},
        "stages": [
            {"type": "finetune", "training": {"num_train_epochs": 4}},
            {"type": "distill", "control": False, "training": {"num_train_epochs": 4}},
        ],
        "measure": {"repeats": 1, "threads": 1, "batch_sizes": [1]},
    }
    path = root / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    assert main(["run", str(path)]) == 0
    return json.loads((root / "out" / "report.json").read_text())


def test_sentence_pairs_from_parquet(tmp_path):
    rng = random.Random(0)
    rows = []
    for _ in range(240):
        same = rng.randint(0, 1)
        a = rng.choice(tiny.POSITIVE + tiny.NEGATIVE)
        b = a if same else rng.choice([w for w in tiny.POSITIVE + tiny.NEGATIVE if w != a])
        rows.append({"s1": f"the film was {a}", "s2": f"a {b} story", "label": same})
    pd.DataFrame(rows).to_parquet(tmp_path / "pairs.parquet")
    teacher = save_teacher(tiny.tiny_bert(0, layers=2, hidden=64), tmp_path)
    report = run_recipe(
        tmp_path,
        "sequence-classification",
        tmp_path / "pairs.parquet",
        teacher,
        text_column="s1",
        text_pair_column="s2",
        dedupe=False,
    )
    assert report["main_metric"] == "accuracy"
    assert {"accuracy", "f1", "matthews_correlation"} <= set(report["models"][-1]["metrics"])


def test_regression_from_tsv(tmp_path):
    rows = [{"text": r["text"], "score": 1.0 if r["label"] == "pos" else 0.0} for r in tiny.sentiment_rows(200)]
    pd.DataFrame(rows).to_csv(tmp_path / "scores.tsv", sep="\t", index=False)
    teacher = save_teacher(tiny.tiny_bert(0, layers=2, hidden=64, num_labels=1, problem_type="regression"), tmp_path)
    report = run_recipe(tmp_path, "sequence-classification", tmp_path / "scores.tsv", teacher, label_column="score")
    assert report["main_metric"] == "pearson"
    student = report["models"][-1]
    assert {"pearson", "spearmanr"} <= set(student["metrics"])
    assert student["metrics"]["pearson"] > 0.5
    assert load_model(student["path"]).config.problem_type == "regression"


def test_token_classification_from_jsonl(tmp_path):
    rng = random.Random(0)
    with open(tmp_path / "ner.jsonl", "w") as f:
        for _ in range(200):
            words = rng.sample(tiny.FILLER, 3) + [rng.choice(tiny.POSITIVE), rng.choice(tiny.NEGATIVE)]
            rng.shuffle(words)
            tags = ["B-POS" if w in tiny.POSITIVE else "B-NEG" if w in tiny.NEGATIVE else "O" for w in words]
            f.write(json.dumps({"tokens": words, "tags": tags}) + "\n")
    torch.manual_seed(0)
    config = tiny.bert_config(layers=2, hidden=64, num_labels=3)
    teacher = save_teacher(BertForTokenClassification(config), tmp_path)
    report = run_recipe(
        tmp_path,
        "token-classification",
        tmp_path / "ner.jsonl",
        teacher,
        text_column="tokens",
        label_column="tags",
        label_names=TAGS,
        dedupe=False,
    )
    assert report["main_metric"] == "f1"
    assert report["models"][0]["metrics"]["f1"] > 0.8
    assert isinstance(load_model(report["models"][-1]["path"]), BertForTokenClassification)


def test_masked_lm_distillation(tmp_path):
    pd.DataFrame(tiny.sentiment_rows(200)).to_csv(tmp_path / "text.csv", index=False)
    torch.manual_seed(0)
    teacher = save_teacher(BertForMaskedLM(tiny.bert_config(layers=2, hidden=64)), tmp_path)
    report = run_recipe(tmp_path, "masked-lm", tmp_path / "text.csv", teacher)
    assert report["main_metric"] == "perplexity"
    teacher_ppl, student_ppl = (m["metrics"]["perplexity"] for m in report["models"])
    vocab = tiny.bert_config().vocab_size
    assert teacher_ppl < vocab and student_ppl < vocab  # both learnt something from a uniform start
    assert isinstance(load_model(report["models"][-1]["path"]), BertForMaskedLM)


@pytest.mark.parametrize("suffix", [".csv.bz2", ".jsonl.gz"])
def test_compressed_local_files(tmp_path, suffix):
    from trimformer import data as D

    frame = pd.DataFrame(tiny.sentiment_rows(50))
    path = tmp_path / f"d{suffix}"
    if ".csv" in suffix:
        frame.to_csv(path, index=False)
    else:
        frame.to_json(path, orient="records", lines=True)
    raw = D.load_raw(D.DataSettings(path=str(path), eval_fraction=0.2), seed=0)
    assert len(raw["train"]) + len(raw["validation"]) == frame["text"].nunique()
    assert BertForSequenceClassification is not None

"""A teacher with its own tokenizer is trained and distilled on its own ids, never on the student's.

The teacher's vocabulary here is the student's in reverse order: fed the student's ids, the teacher would
learn a scrambled mapping and score chance level when evaluated with its own tokenizer (what happened with
an MPNet teacher and a BERT student: 59% = the majority class)."""

import json

import tiny
from test_cli_e2e import write_recipe
from transformers import AutoTokenizer, BertTokenizerFast

from trimformer import data as D
from trimformer.cli import main


def reversed_tokenizer() -> BertTokenizerFast:
    return tiny.make_tokenizer(reverse=True)


def test_the_one_rule():
    student = tiny.make_tokenizer()
    assert not D.teacher_needs_own_ids(student, tiny.make_tokenizer())  # same vocabulary: shared ids
    assert D.teacher_needs_own_ids(student, reversed_tokenizer())
    assert D.teacher_needs_own_ids(student, tiny.make_tokenizer(), force=True)


def test_finetuned_teacher_with_its_own_tokenizer_learns(tiny_run, capsys):
    # The teacher checkpoint gets the reversed vocabulary; the student is a pretrained tiny BERT with the original.
    reversed_tokenizer().save_pretrained(tiny_run / "teacher")
    student = tiny.tiny_bert(1, layers=2, hidden=64)
    student.save_pretrained(tiny_run / "student")
    tiny.make_tokenizer().save_pretrained(tiny_run / "student")
    recipe = write_recipe(
        tiny_run,
        student={"init": "pretrained", "model": str(tiny_run / "student")},
        stages=[
            {"type": "finetune", "training": {"num_train_epochs": 3}},
            {
                "type": "distill",
                "alpha_task": 0.0,
                "alpha_kd": 1.0,
                "temperature": 1.0,
                "control": False,
                "training": {"num_train_epochs": 8, "learning_rate": 5e-3},
            },
        ],
    )
    assert main(["run", str(recipe)]) == 0
    report = json.loads((tiny_run / "out" / "report.json").read_text())
    accuracy = {m["name"]: m["metrics"]["accuracy"] for m in report["models"]}
    # Evaluated with its own tokenizer, the teacher has learnt the task ...
    assert accuracy["teacher"] > 0.9
    # ... and the student learns it from the teacher's logits alone (no labels), each reading its own ids.
    assert accuracy["distill"] > 0.9


def test_student_cut_from_another_model_reads_its_own_tokenizer(tiny_run):
    # "layers [0, 2] of model X": X has its own vocabulary order; the teacher keeps reading its own ids.
    other = tiny.tiny_bert(2, layers=4, hidden=64)
    other.save_pretrained(tiny_run / "other")
    reversed_tokenizer().save_pretrained(tiny_run / "other")
    recipe = write_recipe(
        tiny_run,
        student={"init": "layers", "model": str(tiny_run / "other"), "layers": [0, 2]},
        stages=[
            {"type": "finetune", "training": {"num_train_epochs": 3}},
            {
                "type": "distill",
                "alpha_task": 0.5,
                "alpha_kd": 0.5,
                "control": False,
                "training": {"num_train_epochs": 8, "learning_rate": 5e-3},
            },
        ],
    )
    assert main(["run", str(recipe)]) == 0
    report = json.loads((tiny_run / "out" / "report.json").read_text())
    accuracy = {m["name"]: m["metrics"]["accuracy"] for m in report["models"]}
    assert accuracy["teacher"] > 0.9 and accuracy["distill"] > 0.9
    saved = AutoTokenizer.from_pretrained(tiny_run / "out" / "distill")
    assert saved.get_vocab() == reversed_tokenizer().get_vocab()  # the student kept X's tokenizer

"""A teacher assistant: a deeper cut of the student's source model, distilled first; the student starts from
the assistant's copies of its layers, and the control row gets the whole budget (assistant + student steps)."""

import json

import pytest
import torch
from safetensors.torch import load_file
from test_cli_e2e import write_recipe

from trimformer.card import select_stage
from trimformer.cli import main
from trimformer.errors import UserInputError
from trimformer.recipe import RecipeError, load_recipe

ASSISTANT = {"layers": [0, 1, 2], "training": {"learning_rate": 2e-3, "num_train_epochs": 2}}


def _stages(assistant=ASSISTANT, control=True, learning_rate=2e-3):
    distill = {
        "type": "distill",
        "teacher_cache": True,
        "assistant": assistant,
        "control": control,
        "training": {"num_train_epochs": 1, "learning_rate": learning_rate},
    }
    return [{"type": "finetune", "training": {"num_train_epochs": 2}}, distill]


def test_the_student_starts_from_the_assistants_layers(tiny_run):
    # The student's own stage barely moves it (lr 1e-12), so its weights show where it started.
    recipe = write_recipe(tiny_run, stages=_stages(learning_rate=1e-12))
    assert main(["run", str(recipe)]) == 0
    out = tiny_run / "out"
    models = {m["name"]: m for m in json.loads((out / "report.json").read_text())["models"]}
    assert [models[n]["role"] for n in ("distill", "distill-assistant", "distill-control")] == [
        "stage",
        "assistant",
        "control",
    ]
    assistant, student = models["distill-assistant"], models["distill"]
    assert assistant["info"]["layers"] == [0, 1, 2] and assistant["params"] > student["params"]
    steps = lambda m: m["info"]["training"]["optimizer_steps"]  # noqa: E731
    assert steps(models["distill-control"]) == steps(student) + steps(assistant)

    a = load_file(out / "distill-assistant" / "model.safetensors")
    s = load_file(out / "distill" / "model.safetensors")
    t = load_file(out / "finetune" / "model.safetensors")
    for new, old in ((0, 0), (1, 2)):  # student.layers [0, 2] sit at positions 0 and 2 of the assistant's
        key = "bert.encoder.layer.{}.attention.self.query.weight"
        assert torch.allclose(s[key.format(new)], a[key.format(old)], atol=1e-6)
        assert not torch.allclose(a[key.format(old)], t[key.format(old)], atol=1e-4)  # the assistant trained
    assert select_stage(json.loads((out / "report.json").read_text()), None)["name"] == "distill"


@pytest.mark.parametrize(
    "changes, message",
    [
        (
            {"student": {"init": "random", "config": {"num_hidden_layers": 2}}, "stages": _stages()},
            "needs student.init: layers",
        ),
        ({"stages": _stages(assistant={"layers": [0, 1]})}, "lacks the student's layers [2]"),
        ({"stages": _stages(assistant={"layers": [0, 2, 7]})}, "assistant.layers: [7] out of range"),
        ({"stages": _stages(assistant={"layers": [0, 2]})}, "keeps no more layers than the student"),
        (  # num_layers 2 of the teacher's 4 layers = [0, 2], known once the teacher's depth is read
            {"student": {"init": "layers", "num_layers": 2}, "stages": _stages(assistant={"layers": [0, 1, 3]})},
            "lacks the student's layers [2]",
        ),
        (
            {"stages": [{"type": "prune_heads", "amount": 0.5}, *_stages()[1:]]},
            "only the first stage that trains the student",
        ),
    ],
)
def test_bad_assistants_are_refused_before_anything_trains(tiny_run, changes, message):
    recipe = write_recipe(tiny_run, **changes)
    with pytest.raises((RecipeError, UserInputError), match=message.replace("[", r"\[").replace("]", r"\]")):
        load_recipe(str(recipe))
    assert not (tiny_run / "out").exists()

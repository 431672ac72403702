"""`trust_remote_code` reaches every load of the teacher, the student and their tokenizers, and stays False
unless the recipe turns it on."""

import pytest
import transformers
import yaml

from trimformer import runner
from trimformer.recipe import load_recipe


@pytest.mark.parametrize("trust", [False, True])
def test_recipe_setting_reaches_every_load(tiny_run, monkeypatch, trust):
    recipe = {
        "output_dir": str(tiny_run / "out"),
        "data": {"path": str(tiny_run / "data.csv.gz"), "max_length": 16},
        "teacher": {"model": str(tiny_run / "teacher")},
        "student": {"init": "pretrained", "model": str(tiny_run / "teacher")},
        "stages": [{"type": "distill", "control": False}],
    }
    if trust:
        recipe["trust_remote_code"] = True
    (tiny_run / "r.yaml").write_text(yaml.safe_dump(recipe))
    loaded = load_recipe(str(tiny_run / "r.yaml"))  # validation reads config.json and never runs model code
    seen: list[tuple[str, object]] = []

    def spy(name, original):
        def call(*args, **kwargs):
            seen.append((name, kwargs.get("trust_remote_code", "missing")))
            return original(*args, **kwargs)

        return call

    for cls in (transformers.AutoTokenizer, transformers.AutoModelForSequenceClassification, transformers.AutoConfig):
        monkeypatch.setattr(cls, "from_pretrained", spy(cls.__name__, cls.from_pretrained))
    state = runner.build_state(loaded)
    state.student()
    names = {name for name, _ in seen}
    assert {"AutoTokenizer", "AutoModelForSequenceClassification", "AutoConfig"} <= names
    assert all(value is trust for _, value in seen), seen

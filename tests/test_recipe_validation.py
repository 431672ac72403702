"""Bad recipes: one line naming the field and the fix, exit code 2, nothing written."""

import copy
import subprocess
import sys

import pytest
import yaml

from trimformer.cli import main
from trimformer.recipe import RecipeError, load_recipe

GOOD = {
    "output_dir": "OUT",
    "data": {"path": "DATA", "max_length": 16},
    "teacher": {"model": "TEACHER"},
    "student": {"init": "layers", "layers": [0, 2]},
    "stages": [{"type": "finetune"}, {"type": "distill", "temperature": 2.0}],
}


def with_change(path: str, value, base=GOOD):
    recipe = copy.deepcopy(base)
    node = recipe
    keys = path.split(".")
    for key in keys[:-1]:
        node = node[int(key)] if key.isdigit() else node[key]
    last = keys[-1]
    if value is DELETE:
        del node[last]
    elif last.isdigit():
        node[int(last)] = value
    else:
        node[last] = value
    return recipe


DELETE = object()

BAD = [
    ("foo", 1, "foo: unknown key"),
    ("seed", "abc", "seed: input should be a valid integer"),
    ("data.eval_fraction", 1.5, "data.eval_fraction: input should be less than 1"),
    ("data.max_length", 2, "data.max_length: input should be greater than or equal to 8"),
    ("data.path", "/no/such/file.csv", "data.path: file not found: /no/such/file.csv"),
    ("data.colum", "x", "did you mean 'filter'?" if False else "data.colum: unknown key"),
    ("teacher", DELETE, "teacher: required field is missing"),
    ("teacher.model", "package:no_such_pkg_xyz/model", "is not installed"),
    ("stages.1.temperature", -1, "stages[1].temperature: input should be greater than 0"),
    ("stages.1.type", "distil", "stages[1].type: unknown stage 'distil'; did you mean 'distill'?"),
    ("stages.1.augment", {"bogus": 1}, "stages[1].augment.bogus: unknown key"),
    ("stages.1.training", {"learning_rat": 1e-4}, "did you mean 'learning_rate'?"),
    ("stages.1.training", {"num_train_epochs": "two"}, "stages[1].training.num_train_epochs: must be a number"),
    ("stages.1.teacher_cache", True, None),  # valid on its own (cache + logits only)
    ("stages", [], "stages: list should have at least 1 item"),
    ("task", "translation", "task: input should be"),
    ("student", {"init": "pretrained"}, "student: init: pretrained needs student.model"),
    ("training", {"output_dir": "x"}, "training.output_dir: is set by the runner"),
]


@pytest.fixture
def files(tmp_path, tiny_run):
    return {"DATA": str(tiny_run / "data.csv.gz"), "TEACHER": str(tiny_run / "teacher"), "OUT": str(tmp_path / "out")}


def materialise(recipe, files, tmp_path):
    text = yaml.safe_dump(recipe)
    for key, value in files.items():
        text = text.replace(f": {key}\n", f": {value}\n")
    path = tmp_path / "recipe.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("field,value,expected", BAD, ids=[b[0] + "=" + repr(b[1])[:20] for b in BAD])
def test_bad_recipe_gives_one_line_and_exit_2(field, value, expected, files, tmp_path, capsys):
    path = materialise(with_change(field, value), files, tmp_path)
    code = main(["validate", str(path)])
    err = capsys.readouterr().err.strip()
    if expected is None:
        assert code == 0
        return
    assert code == 2
    assert len(err.splitlines()) == 1, err
    assert expected in err, err
    assert str(path) in err
    assert not (tmp_path / "out").exists()


def test_good_recipe_validates_and_overrides_apply(files, tmp_path):
    path = materialise(GOOD, files, tmp_path)
    loaded = load_recipe(str(path), ["stages.1.temperature=4", "training.learning_rate=3e-5"])
    assert loaded.stages[1].temperature == 4.0
    assert loaded.recipe.training["learning_rate"] == 3e-5
    with pytest.raises(RecipeError, match="stages\\[1\\].temperature"):
        load_recipe(str(path), ["stages.1.temperature=-2"])


def test_invalid_yaml_and_order_errors(tmp_path):
    bad = tmp_path / "broken.yaml"
    bad.write_text("data: [unclosed\n")
    with pytest.raises(RecipeError, match="not valid YAML"):
        load_recipe(str(bad))
    with pytest.raises(RecipeError, match="no such recipe"):
        load_recipe("no-such-recipe-name")


def test_run_with_bad_recipe_exits_2_without_traceback(files, tmp_path):
    path = materialise(with_change("stages.1.temperature", 0), files, tmp_path)
    proc = subprocess.run([sys.executable, "-m", "trimformer", "run", str(path)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "stages[1].temperature" in proc.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "out").exists()


def test_builtin_recipes_validate_offline():
    from trimformer.recipe import builtin_recipes

    assert {"demo", "demo-compress", "bert-large-to-6l-sst2"} <= set(builtin_recipes())
    for name in ("demo", "bert-large-to-6l-sst2"):
        assert load_recipe(name).stages
    # demo-compress starts from the demo's outputs: its schema validates anywhere, its files after the demo.
    assert [type(s).__name__ for s in load_recipe("demo-compress", check_files=False).stages] == [
        "PruneHeadsStage",
        "PruneFFNStage",
        "PruneVocabStage",
        "LowRankStage",
        "QuantizeStage",
    ]

"""Property-based fuzzing of the recipe loader: whatever the YAML text, the recipe values or the `--set`
overrides, `load_recipe` returns a validated recipe or raises UserInputError with a one-line message;
never any other exception (that would be a traceback for the user). Deterministic (derandomized, no
example database written) and bounded in examples and time per example."""

from __future__ import annotations

import copy
import os
import tempfile
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, configuration, given, settings
from hypothesis import strategies as st

from trimformer.errors import UserInputError
from trimformer.recipe import LoadedRecipe, load_recipe

CORPUS = Path(__file__).parent / "malformed"

# Hypothesis' pytest plugin caches "local constants" while collecting (before any fixture runs), in
# ./.hypothesis by default: point it at the system temp folder instead of the checkout.
if not os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY"):
    configuration.set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "trimformer-hypothesis")
FUZZ = settings(
    max_examples=int(os.environ.get("TRIMFORMER_FUZZ_EXAMPLES", "60")),
    deadline=timedelta(seconds=5),
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12),
    st.sampled_from(["uniform", "last-k", "distill", "quantize", "int8-cpu", "text", "label", "1e-4", "-1", "../x"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.text(max_size=8), st.integers(-3, 3), st.booleans()), inner, max_size=4),
    ),
    max_leaves=8,
)
keys = st.sampled_from(
    [
        "name", "task", "output_dir", "seed", "trust_remote_code", "data", "teacher", "student", "training",
        "stages", "measure", "budget", "hub", "path", "text_column", "label_column", "label_names", "filter",
        "max_length", "eval_split", "model", "init", "layers", "num_layers", "config", "type", "amount",
        "alpha_kd", "alpha_task", "alpha_hidden", "alpha_attention", "alpha_embedding", "layer_map", "temperature",
        "recovery", "learning_rate", "per_device_train_batch_size", "max_steps", "method", "heads", "loss", "bogus",
        "0", "1",
    ]
)  # fmt: skip
STAGE_TYPES = ["distill", "finetune", "prune_heads", "prune_ffn", "prune_layers", "prune_vocab", "quantize"]
STAGE_TYPES += ["lowrank", "lora", "merge", "nope"]


@pytest.fixture(scope="module")
def baseline(tmp_path_factory) -> dict:
    import tiny

    root = tmp_path_factory.mktemp("fuzz")
    tiny.tiny_bert(0, layers=4, hidden=32, heads=4).save_pretrained(root / "teacher")
    tiny.make_tokenizer().save_pretrained(root / "teacher")
    text = (CORPUS / "good.yaml").read_text()
    text = text.replace("@OUT@", str(root / "out")).replace("@CORPUS@", str(CORPUS))
    return yaml.safe_load(text.replace("@TEACHER@", str(root / "teacher")))


@pytest.fixture
def workdir(tmp_path):
    """Relative paths in fuzzed recipes resolve inside tmp_path, and nothing may appear there."""
    previous = os.getcwd()
    os.chdir(tmp_path)
    yield tmp_path
    os.chdir(previous)


def check_outcome(path: Path, overrides: list[str] | None = None) -> None:
    try:
        loaded = load_recipe(str(path), overrides)
    except UserInputError as exc:
        message = str(exc)
        assert message and "\n" not in message, repr(message)
        return
    assert isinstance(loaded, LoadedRecipe)


def mutate(recipe: dict, data: st.DataObject) -> dict:
    """Replace, delete or add one value somewhere in the recipe (near-valid recipes reach deep checks)."""
    recipe = copy.deepcopy(recipe)
    recipe["stages"] = [{"type": data.draw(st.sampled_from(STAGE_TYPES))} for _ in range(data.draw(st.integers(1, 3)))]
    for _ in range(data.draw(st.integers(1, 3))):
        node: object = recipe
        for _ in range(data.draw(st.integers(0, 3))):
            children = (
                list(node.items())
                if isinstance(node, dict)
                else list(enumerate(node))
                if isinstance(node, list)
                else []
            )
            containers = [(k, v) for k, v in children if isinstance(v, (dict, list)) and v]
            if not containers:
                break
            node = data.draw(st.sampled_from(containers))[1]
        action = data.draw(st.sampled_from(["set", "delete", "add"]))
        if isinstance(node, dict):
            if action == "delete" and node:
                del node[data.draw(st.sampled_from(sorted(node, key=str)))]
            elif action == "set" and node:
                node[data.draw(st.sampled_from(sorted(node, key=str)))] = data.draw(values)
            else:
                node[data.draw(keys)] = data.draw(values)
        elif isinstance(node, list) and node:
            node[data.draw(st.integers(0, len(node) - 1))] = data.draw(values)
    return recipe


@FUZZ
@given(data=st.data())
def test_mutated_recipes_validate_or_fail_cleanly(baseline, workdir, data):
    recipe = mutate(baseline, data)
    path = workdir / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe, allow_unicode=True))
    before = sorted(p.name for p in workdir.iterdir())
    check_outcome(path)
    assert sorted(p.name for p in workdir.iterdir()) == before  # validation writes nothing


@FUZZ
@given(
    text=st.one_of(st.text(max_size=200), st.text(st.sampled_from("{}[]:-,&*!|>'\"#%@` \n\tabc123.e"), max_size=120))
)
def test_arbitrary_yaml_text_validates_or_fails_cleanly(workdir, text):
    path = workdir / "recipe.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    check_outcome(path)


@FUZZ
@given(
    key=st.one_of(
        st.lists(keys, min_size=1, max_size=4).map(".".join),
        st.text(st.sampled_from("abc.0123=_ "), max_size=12),
    ),
    value=st.one_of(st.text(max_size=30), values.map(lambda v: yaml.safe_dump(v).strip())),
    sep=st.sampled_from(["=", "", "=="]),
)
def test_set_overrides_validate_or_fail_cleanly(baseline, workdir, key, value, sep):
    path = workdir / "recipe.yaml"
    path.write_text(yaml.safe_dump(baseline))
    check_outcome(path, [f"{key}{sep}{value}"])

"""Read a recipe (file or built-in name), apply CLI overrides, validate everything before anything
loads. Every problem becomes one `RecipeError` line: the recipe, the field path and what would fix it.

`validate` checks, in order: the schema (types, ranges, unknown keys), each stage's config and its
order and prerequisites, stage folder names, the `hub:` section; then, with `check_files`, the files:
output_dir can be created, local data files (columns, text, labels; `recipe.data_checks`) and local
model folders (layers, lengths, vocabularies, heads, pruning amounts; `recipe.model_checks`)."""

from __future__ import annotations

import difflib
import re
import typing
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from trimformer.errors import UserInputError
from trimformer.loading import ModelReferenceError, resolve_path
from trimformer.recipe import assistant_checks, data_checks, model_checks, prerequisites
from trimformer.recipe.schema import Recipe
from trimformer.references import resolve_local
from trimformer.stages import get_stage, stage_names
from trimformer.stages.base import StageConfig


class RecipeError(UserInputError):
    """A bad recipe; str(err) is the one line shown to the user."""


@dataclass
class LoadedRecipe:
    recipe: Recipe
    stages: list[StageConfig]
    source: str
    raw: dict[str, Any]

    def stage_dir_names(self) -> list[str]:
        """`name` if given, else the stage type, numbered when a type repeats."""
        names, seen = [], {}
        for stage, entry in zip(self.stages, self.raw["stages"]):
            base = stage.name or entry["type"]
            seen[base] = seen.get(base, 0) + 1
            names.append(base if seen[base] == 1 else f"{base}-{seen[base]}")
        return names


def builtin_dir() -> Path:
    """Recipes ship inside the wheel as package data; in a source checkout they sit at the root."""
    packaged = Path(str(resources.files("trimformer"))) / "_data" / "recipes"
    return packaged if packaged.is_dir() else Path(__file__).resolve().parents[2] / "recipes"


def builtin_recipes() -> dict[str, Path]:
    return {p.stem: p for p in sorted(builtin_dir().glob("*.yaml"))}


def find_recipe(ref: str) -> Path:
    path = Path(ref).expanduser()
    if path.is_file():
        return path
    if path.is_dir():
        raise RecipeError(f"{ref}: is a folder; give a recipe file (.yaml) or a built-in name (`trimformer recipes`)")
    builtins = builtin_recipes()
    if ref in builtins:
        return builtins[ref]
    close = difflib.get_close_matches(ref, builtins, n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    raise RecipeError(f"{ref}: no such recipe file or built-in recipe; {hint}see `trimformer recipes`")


def apply_override(raw: dict[str, Any], assignment: str) -> None:
    """`a.b.0.c=VALUE` or `a.b[0].c=VALUE` (the form errors print; VALUE parsed as YAML) sets that field,
    creating mappings as needed."""
    key, sep, value = assignment.partition("=")
    key = re.sub(r"\[(\d+)\]", r".\1", key)
    parts = key.split(".")
    if not sep or not key or not all(parts):
        raise RecipeError(f"--set {assignment}: expected KEY=VALUE, e.g. --set training.learning_rate=3e-5")
    try:
        parsed = yaml.safe_load(value)
    except (yaml.YAMLError, ValueError, RecursionError) as exc:
        raise RecipeError(
            f"--set {key}: the value {value!r} is{_yaml_problem(exc, with_line=False)}; quote it: --set {key}='...'"
        ) from None
    node: Any = raw
    for i, part in enumerate(parts[:-1]):
        where = ".".join(parts[: i + 1])
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise RecipeError(f"--set {key}: '{part}' is not an index of {'.'.join(parts[:i]) or 'the recipe'}")
            node = node[int(part)]
        elif isinstance(node, dict):
            if node.get(part) is None:
                node[part] = {}
            node = node[part]
        else:
            raise RecipeError(f"--set {key}: {'.'.join(parts[:i]) or 'the recipe'} is not a mapping")
        if not isinstance(node, (dict, list)):
            raise RecipeError(f"--set {key}: {where} is {node!r}, not a mapping; set {where} itself")
    last = parts[-1]
    if isinstance(node, list):
        if not last.isdigit() or int(last) >= len(node):
            raise RecipeError(f"--set {key}: '{last}' is not an index")
        node[int(last)] = parsed
    else:
        node[last] = parsed


def _yaml_problem(exc: BaseException, with_line: bool = True) -> str:
    """' line N: not valid YAML (what)' from a PyYAML error (or the ValueError of an impossible date)."""
    mark = getattr(exc, "problem_mark", None)
    where = f" line {mark.line + 1}:" if mark is not None and with_line else ""
    problem = getattr(exc, "problem", None) or (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return f"{where} not valid YAML ({problem})"


# Tags pydantic puts in an error's location for the member of a union it tried ("str", "literal['a','b']"):
# not keys of the recipe, so they are left out of the field path shown to the user.
_UNION_TAGS = {"str", "int", "float", "bool", "list", "dict", "tuple", "none", "json-or-python", "lax-or-strict"}


def _loc(parts: tuple[Any, ...], prefix: str = "") -> str:
    out = prefix
    for p in parts:
        if isinstance(p, str) and (p in _UNION_TAGS or "[" in p):
            continue
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def _where(err: dict[str, Any], prefix: str = "") -> str:
    """The field path of a pydantic error; a training/loss block's error names its key too."""
    key = getattr((err.get("ctx") or {}).get("error"), "key", None)
    return _loc(tuple(err["loc"]) + ((key,) if key else ()), prefix)


def _explain(err: dict[str, Any], model: type[BaseModel] | None) -> str:
    kind, msg = err["type"], err["msg"]
    if kind == "extra_forbidden":
        allowed = list(model.model_fields) if model is not None else []
        field = str(err["loc"][-1])
        close = difflib.get_close_matches(field, allowed, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        return f"unknown key; {hint}allowed: {', '.join(allowed)}"
    if kind == "missing":
        return "required field is missing; add it"
    error = (err.get("ctx") or {}).get("error")
    if kind == "value_error" and error is not None:
        return getattr(error, "detail", None) or str(error)  # our own message, without pydantic's "Value error, "
    got = err.get("input")
    shown = f" (got {got!r})" if got is not None and not isinstance(got, (dict, list)) else ""
    return f"{msg[0].lower()}{msg[1:]}{shown}"


def _owner(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The pydantic model that holds the field at `loc` (for listing allowed keys)."""
    current: Any = model
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = current.model_fields.get(part) if isinstance(current, type) else None
        annotation = getattr(field, "annotation", None)
        # `Section | None` (an optional section such as search:) names its keys like a plain one
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        annotation = members[0] if len(members) == 1 else annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            current = annotation
        else:
            return None
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def validate(raw: Any, source: str, check_files: bool = True) -> LoadedRecipe:
    try:
        return _validate(raw, source, check_files)
    except RecipeError:
        raise
    except UserInputError as exc:  # from the checks below: name the recipe too
        raise RecipeError(f"{source}: {exc}") from None


def _validate(raw: Any, source: str, check_files: bool) -> LoadedRecipe:
    if not isinstance(raw, dict):
        raise RecipeError(f"{source}: the recipe must be a YAML mapping (keys like data:, teacher:, stages:)")
    try:
        recipe = Recipe.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise RecipeError(f"{source}: {_where(err)}: {_explain(err, _owner(Recipe, err['loc']))}") from None
    stages = []
    for index, entry in enumerate(raw["stages"]):
        where = f"stages[{index}]"
        if not isinstance(entry, dict) or "type" not in entry:
            raise RecipeError(f"{source}: {where}: each stage needs a 'type' (one of {', '.join(stage_names())})")
        spec = get_stage(str(entry["type"]))
        if spec is None:
            close = difflib.get_close_matches(str(entry["type"]), stage_names(), n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            raise RecipeError(
                f"{source}: {where}.type: unknown stage '{entry['type']}'; {hint}known: {', '.join(stage_names())}"
            )
        body = {k: v for k, v in entry.items() if k != "type"}
        try:
            stage = spec.config_cls.model_validate(body)
        except ValidationError as exc:
            err = exc.errors()[0]
            raise RecipeError(
                f"{source}: {_where(err, where)}: {_explain(err, _owner(spec.config_cls, err['loc']))}"
            ) from None
        stages.append(stage)
    types = [str(entry["type"]) for entry in raw["stages"]]
    loaded = LoadedRecipe(recipe, stages, source, raw)
    check_stage_order(recipe, stages, raw["stages"], source, check_files)
    prerequisites.check_names(loaded.stage_dir_names())
    prerequisites.check_tokenizer_option(recipe)
    prerequisites.check_teacher_cache(recipe, stages)
    assistant_checks.check_assistant(recipe, stages, types)
    try:
        from trimformer.hub.section import parse_hub_section

        parse_hub_section(raw.get("hub"))
    except ValueError as exc:
        raise RecipeError(f"{source}: {exc}") from None
    if check_files:
        _check_files(loaded, types)
    return loaded


def check_stage_order(
    recipe: Recipe, stages: list[StageConfig], entries: list[dict[str, Any]], source: str, check_files: bool
) -> None:
    """Replay each stage's effect (what it needs of the model, what it removes) before anything loads."""
    from trimformer.artefact.capabilities import INITIAL, OrderError, Step, check_order

    steps = [
        Step(f"stages[{i}] ({stage.kind(entry['type'])})", stage.kind(entry["type"]), stage.effect(recipe.task), i)
        for i, (stage, entry) in enumerate(zip(stages, entries))
    ]
    start = INITIAL
    if check_files and recipe.student.init == "pretrained" and recipe.student.model:
        start = _artefact_capabilities(recipe.student.model)
    try:
        check_order(steps, start)
    except OrderError as exc:
        raise RecipeError(f"{source}: {exc}") from None


def _artefact_capabilities(ref: str) -> frozenset[str]:
    """A pretrained student that is already a trimformer artefact starts with what its transforms left."""
    import json

    from trimformer.artefact.capabilities import INITIAL

    try:
        config = json.loads((Path(resolve_path(ref)) / "config.json").read_text())
    except (OSError, ValueError, ModelReferenceError):
        return INITIAL
    record = config.get("trimformer")
    if not isinstance(record, dict) or not record.get("transforms"):
        return INITIAL
    from trimformer.artefact.registry import entry_config

    caps = INITIAL
    for entry in record["transforms"]:
        technique = entry_config(entry)
        if technique is not None:
            caps = technique.effect().apply(caps)
    return caps


def _check_files(loaded: LoadedRecipe, types: list[str]) -> None:
    """Everything that needs a file but no model weights (see the module docstring). A missing file of a
    recipe that says how it is made (`prerequisite:`) gets that sentence too."""
    try:
        _check_files_inner(loaded, types)
    except UserInputError as exc:
        need = loaded.recipe.prerequisite
        if need and "not found" in str(exc):
            raise UserInputError(f"{exc}; this recipe needs: {need}") from None
        raise


def _check_files_inner(loaded: LoadedRecipe, types: list[str]) -> None:
    r = loaded.recipe
    prerequisites.check_output_dir(r.output_dir)
    facts = None
    data_path = resolve_local("data.path", r.data.path, "file")
    if data_path is not None:
        facts = data_checks.check_local_data(r, data_path)
    elif r.data.unlabeled_path:
        data_checks.check_unlabelled(r, r.data.unlabeled_path)
    teacher = model_checks.read_model("teacher.model", r.teacher.model, r.trust_remote_code)
    student = None
    if r.student.model:  # init: pretrained, or init: layers of another model than the teacher
        student = model_checks.read_model("student.model", r.student.model, r.trust_remote_code)
    for model in (teacher, student):
        if model is not None:
            model_checks.check_model(model, r, facts)
    model_checks.check_tokenizers(r, teacher, student)
    shape = model_checks.student_shape(r, teacher, student)
    assistant_checks.check_assistant_layers(r, loaded.stages, teacher, student)
    model_checks.check_stage_shapes(loaded.stages, types, teacher, shape)
    model_checks.check_stage_support(r, loaded.stages, types, teacher, student)


def load_recipe(ref: str, overrides: list[str] | None = None, check_files: bool = True) -> LoadedRecipe:
    path = find_recipe(ref)
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RecipeError(
            f"{path}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x}); re-save it as UTF-8"
        ) from None
    except OSError as exc:
        raise RecipeError(f"{path}: cannot be read ({exc.strerror or exc}); check the file") from None
    try:
        raw = yaml.safe_load(text)
    except (yaml.YAMLError, ValueError, RecursionError) as exc:  # ValueError: e.g. the date 2024-13-01
        raise RecipeError(f"{path}:{_yaml_problem(exc)}; fix the syntax") from None
    for assignment in overrides or []:
        if not isinstance(raw, dict):
            break
        apply_override(raw, assignment)
    return validate(raw, str(path), check_files=check_files)

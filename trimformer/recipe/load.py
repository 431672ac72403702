"""Read a recipe (file or built-in name), apply CLI overrides, validate everything before anything
loads. Every problem becomes one `RecipeError` line: the field path and what would fix it."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from trimformer.loading import ModelReferenceError, looks_local, resolve_path
from trimformer.recipe.schema import Recipe, check_training
from trimformer.stages import get_stage, stage_names
from trimformer.stages.base import StageConfig


class RecipeError(ValueError):
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
    builtins = builtin_recipes()
    if ref in builtins:
        return builtins[ref]
    close = difflib.get_close_matches(ref, builtins, n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    raise RecipeError(f"{ref}: no such recipe file or built-in recipe; {hint}see `trimformer recipes`")


def apply_override(raw: dict[str, Any], assignment: str) -> None:
    """`a.b.0.c=VALUE` (VALUE parsed as YAML) sets that field, creating mappings as needed."""
    key, sep, value = assignment.partition("=")
    if not sep or not key:
        raise RecipeError(f"--set {assignment}: expected KEY=VALUE, e.g. --set training.learning_rate=3e-5")
    parts = key.split(".")
    node: Any = raw
    for i, part in enumerate(parts[:-1]):
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise RecipeError(f"--set {key}: '{part}' is not an index of {'.'.join(parts[:i])}")
            node = node[int(part)]
        else:
            node = node.setdefault(part, {})
    last = parts[-1]
    parsed = yaml.safe_load(value)
    if isinstance(node, list):
        if not last.isdigit() or int(last) >= len(node):
            raise RecipeError(f"--set {key}: '{last}' is not an index")
        node[int(last)] = parsed
    elif isinstance(node, dict):
        node[last] = parsed
    else:
        raise RecipeError(f"--set {key}: {'.'.join(parts[:-1])} is not a mapping")


def _loc(parts: tuple[Any, ...], prefix: str = "") -> str:
    out = prefix
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


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
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            current = annotation
        else:
            return None
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def validate(raw: Any, source: str, check_files: bool = True) -> LoadedRecipe:
    if not isinstance(raw, dict):
        raise RecipeError(f"{source}: the recipe must be a YAML mapping (keys like data:, teacher:, stages:)")
    try:
        recipe = Recipe.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise RecipeError(f"{source}: {_loc(err['loc'])}: {_explain(err, _owner(Recipe, err['loc']))}") from None
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
            check_training(stage.training)
        except ValidationError as exc:
            err = exc.errors()[0]
            raise RecipeError(
                f"{source}: {_loc(err['loc'], where)}: {_explain(err, _owner(spec.config_cls, err['loc']))}"
            ) from None
        except ValueError as exc:
            raise RecipeError(f"{source}: {where}.training: {exc}") from None
        stages.append(stage)
    check_stage_order(recipe, stages, raw["stages"], source, check_files)
    try:
        check_training(recipe.training)
    except ValueError as exc:
        raise RecipeError(f"{source}: training: {exc}") from None
    try:
        from trimformer.hub.section import parse_hub_section

        parse_hub_section(raw.get("hub"))
    except ValueError as exc:
        raise RecipeError(f"{source}: {exc}") from None
    loaded = LoadedRecipe(recipe, stages, source, raw)
    if check_files:
        _check_references(loaded)
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


def _check_references(loaded: LoadedRecipe) -> None:
    r = loaded.recipe
    refs = [
        ("data.path", r.data.path),
        ("data.unlabeled_path", r.data.unlabeled_path),
        ("teacher.model", r.teacher.model),
    ]
    refs.append(("student.model", r.student.model))
    for field, ref in refs:
        if not ref or not looks_local(ref):
            continue
        try:
            path = Path(resolve_path(ref))
        except ModelReferenceError as exc:
            raise RecipeError(f"{loaded.source}: {field}: {exc}") from None
        if not path.exists():
            raise RecipeError(f"{loaded.source}: {field}: {ref} does not exist; fix the path")


def load_recipe(ref: str, overrides: list[str] | None = None, check_files: bool = True) -> LoadedRecipe:
    path = find_recipe(ref)
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise RecipeError(f"{path}:{where}: not valid YAML ({getattr(exc, 'problem', exc)}); fix the syntax") from None
    for assignment in overrides or []:
        if not isinstance(raw, dict):
            break
        apply_override(raw, assignment)
    return validate(raw, str(path), check_files=check_files)

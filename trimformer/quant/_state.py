"""Read the weights a `save_pretrained` wrote back into a model whose modules a loader rebuilt."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn


def load_state_into(model: nn.Module, path: str | Path, strict: bool = True) -> None:
    from safetensors.torch import load_file

    files = sorted(Path(path).glob("*.safetensors"))
    if not files:
        raise ValueError(f"{path}: no .safetensors weights found; save the artefact with save_pretrained")
    state = {}
    for f in files:
        state.update(load_file(str(f)))
    missing, unexpected = model.load_state_dict(state, strict=False)
    # Tied / non-persistent entries (e.g. position_ids) may legitimately be absent from the file.
    missing = [k for k in missing if not k.endswith("position_ids")]
    if strict and (missing or unexpected):
        raise ValueError(
            f"{path}: weights do not match the rebuilt model (missing {missing[:5]}, unexpected {unexpected[:5]})"
        )


def build_empty(model_cls: Any, config: Any) -> nn.Module:
    """An untrained model of `config`'s shapes; `load_model` may pass an Auto class, which has no __init__."""
    if model_cls.__name__.startswith("Auto"):
        return model_cls.from_config(config)
    return model_cls(config)

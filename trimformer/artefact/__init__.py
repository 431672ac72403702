"""The trimformer checkpoint format: an ordered log of transforms over a base architecture.

A saved artefact's `config.json` carries `trimformer = {"format": 2, "base": {...}, "transforms": [...]}`:
the config fields as they were before any transform (`base`) and, in order, every transform applied
(`{"kind": "prune_heads", "heads_per_layer": [...]}`, `{"kind": "lowrank", "ranks": {...}}`,
`{"kind": "bnb", "bits": 4, ...}`). Loading builds the base skeleton, replays each transform's *shape*
rebuild in order (no data needed), then does one strict safetensors load of the weights — the pattern of
transformers' quantizers, generalised so transforms stack.

Each technique registers a `TransformSpec` (how to apply itself, rebuild its shapes, convert its special
tensors to and from safetensors) and its config declares an `Effect` (what it requires and what it takes
away: float weights, dense Linear layers, a torch graph ...). The same effects check a recipe's stage
order before anything loads and generate the README's compatibility table.
"""

from trimformer.artefact.capabilities import Effect, OrderError, check_order, compat_markdown
from trimformer.artefact.log import TransformLog, get_log
from trimformer.artefact.registry import TransformSpec, apply_transform, get_transform, register_transform

__all__ = [
    "Effect",
    "OrderError",
    "TransformLog",
    "TransformSpec",
    "apply_transform",
    "check_order",
    "compat_markdown",
    "get_log",
    "get_transform",
    "register_transform",
]

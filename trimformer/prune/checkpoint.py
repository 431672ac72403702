"""Save and reload pruned models.

Per-layer shapes live in `config.trimformer`; `load_pruned` (registered for kind "pruned") builds the
model from the config, cuts it to those shapes and loads the safetensors weights.

Plain transformers must not half-load such a checkpoint. `save_pruned` writes the config field
`transformers_weights` (the file `from_pretrained` should read weights from) with a value that is
not a weights file but a how-to-load sentence: transformers checks that field before touching any
weights and raises a ValueError that quotes it. `transformers` itself drops the field whenever it
saves a config, and `load_pruned` ignores it. (Without the field, plain loading still fails, with a
size-mismatch RuntimeError.)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file
from torch import nn

from trimformer.loading import register_loader
from trimformer.prune.shapes import KIND, apply_shapes, is_per_layer, record_shapes

HOW_TO_LOAD = (
    "this is a trimformer pruned checkpoint with per-layer shapes that plain transformers cannot build; "
    "load it with trimformer.loading.load_model(<this folder>)"
)


def save_pruned(model: nn.Module, out_dir: str | Path, tokenizer: Any = None) -> Path:
    """`save_pretrained` (safetensors) plus the guard that makes plain transformers fail clearly."""
    out = Path(out_dir)
    record_shapes(model)
    model.save_pretrained(out)
    if tokenizer is not None:
        tokenizer.save_pretrained(out)
    if is_per_layer(model.config):
        config_file = out / "config.json"
        data = json.loads(config_file.read_text())
        data["transformers_weights"] = HOW_TO_LOAD
        config_file.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return out


def _state_dict(path: Path) -> dict[str, torch.Tensor]:
    single = path / "model.safetensors"
    if single.exists():
        return load_file(single)
    index = path / "model.safetensors.index.json"
    if not index.exists():
        raise ValueError(f"{path}: no model.safetensors (or index) found; save pruned models with save_pruned()")
    shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
    state: dict[str, torch.Tensor] = {}
    for shard in shards:
        state.update(load_file(path / shard))
    return state


_ALLOWED_KWARGS = ("dtype", "torch_dtype", "device_map", "attn_implementation")


@register_loader(KIND)
def load_pruned(path: str, config: Any, model_cls: Any, **kwargs: Any) -> nn.Module:
    """Rebuild a per-layer-shaped pruned model; identical logits to the one that was saved."""
    unknown = sorted(set(kwargs) - set(_ALLOWED_KWARGS))
    if unknown:
        raise ValueError(f"load_model: {unknown} not supported for pruned checkpoints (only {list(_ALLOWED_KWARGS)})")
    if hasattr(config, "transformers_weights"):
        delattr(config, "transformers_weights")
    meta = dict(config.trimformer)
    if kwargs.get("attn_implementation"):
        config._attn_implementation = kwargs["attn_implementation"]
    build = getattr(model_cls, "from_config", None) or model_cls._from_config
    model = build(config)
    apply_shapes(model, meta)
    state = _state_dict(Path(path))
    result = model.load_state_dict(state, strict=False)
    model.tie_weights()
    _check_load(model, state, result)
    dtype = kwargs.get("dtype") or kwargs.get("torch_dtype")
    if dtype not in (None, "auto"):
        model.to(getattr(torch, dtype) if isinstance(dtype, str) else dtype)
    elif state:
        model.to(next(iter(state.values())).dtype)
    device = kwargs.get("device_map")
    if isinstance(device, (str, torch.device)) and device != "auto":
        model.to(device)
    model.eval()
    return model


def _check_load(model: nn.Module, state: dict[str, torch.Tensor], result: Any) -> None:
    params = dict(model.named_parameters(remove_duplicate=False))
    loaded_ptrs = {params[k].data_ptr() for k in state if k in params}
    # Keys missing from the file are fine only when tied to a loaded weight (e.g. an MLM decoder).
    missing = [k for k in result.missing_keys if k not in params or params[k].data_ptr() not in loaded_ptrs]
    if missing or result.unexpected_keys:
        raise ValueError(
            f"pruned checkpoint does not match its config (missing {missing[:5]}, unexpected "
            f"{list(result.unexpected_keys)[:5]}); re-save it with trimformer.prune.save_pruned"
        )

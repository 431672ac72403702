"""Save and load artefacts: safetensors only, one strict load, shapes rebuilt from the transform log.

    save_artefact(model, tokenizer, "out/")         # config.json (+ log), model.safetensors, tokenizer
    model = load_artefact("out/")                    # skeleton -> replay rebuilds -> strict load -> finish

A model with an empty log is saved with plain `save_pretrained`, so plain transformers loads it. Logs that
plain transformers can express with config fields (layers dropped, one FFN width, a smaller vocabulary) are
loadable by both. Any other log gets a config field that makes plain `from_pretrained` stop at once with a
sentence saying to use trimformer, instead of silently loading wrong shapes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from trimformer.artefact import log as log_mod
from trimformer.artefact.registry import get_transform
from trimformer.errors import UserInputError

WEIGHTS = "model.safetensors"
# transformers reads weights from the file this field names; the name below does not exist, so plain
# `from_pretrained` fails with "No such file or directory: <folder>/<this sentence>" before touching weights.
GUARD_FIELD = "transformers_weights"
GUARD = (
    "TRIMFORMER-ARTEFACT (plain transformers cannot rebuild its layers; "
    "load it with trimformer.load_model(<this folder>)).safetensors"
)
# Buffers transformers creates from the config; a checkpoint may leave them out.
_DERIVED_BUFFERS = ("position_ids", "token_type_ids")


def _base(model: Any) -> nn.Module:
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def plain_compatible(log: log_mod.TransformLog) -> bool:
    return all(get_transform(t["kind"]).plain_compatible(t) for t in log.transforms)


def save_artefact(model: Any, tokenizer: Any, out_dir: str | Path) -> Path:
    """Write `model` (and `tokenizer`) to `out_dir` in the format its transform log calls for."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    log = log_mod.get_log(model)
    terminal = next((get_transform(t["kind"]) for t in log.transforms if get_transform(t["kind"]).terminal), None)
    if terminal is not None:
        terminal.save(model, out)
    elif not log.transforms:
        model.save_pretrained(out)
    else:
        _save_transformed(model, log, out)
    if tokenizer is not None:
        tokenizer.save_pretrained(out)
    with_user_umask(out.glob("*.safetensors"))
    return out


def with_user_umask(paths: Any) -> None:
    """safetensors writes its files with mode 0600 (a temp file renamed into place); give them the mode every
    other file gets under the user's umask, so a shared or served model folder is readable like the rest."""
    mask = os.umask(0)
    os.umask(mask)  # reading the umask means setting it: put it straight back
    for path in paths:
        os.chmod(path, 0o666 & ~mask)


def _save_transformed(model: Any, log: log_mod.TransformLog, out: Path) -> None:
    from safetensors.torch import save_file

    state = {k: v for k, v in model.state_dict().items()}
    metadata: dict[str, str] = {"format": "pt"}
    for entry in log.transforms:
        spec = get_transform(entry["kind"])
        if spec.export_state is not None:
            state = spec.export_state(model, entry, state)
    state, extra_meta = _flatten_subclasses(state)
    metadata.update(extra_meta)
    state = _drop_shared(state)
    save_file({k: v.detach().contiguous().cpu() for k, v in state.items()}, str(out / WEIGHTS), metadata=metadata)
    base = _base(model)
    config = base.config
    config.architectures = [type(base).__name__]
    config.save_pretrained(out)
    data = json.loads((out / "config.json").read_text())
    data[log_mod.KEY] = log.to_dict()
    if plain_compatible(log):
        for entry in log.transforms:
            spec = get_transform(entry["kind"])
            if spec.config_fields is not None:
                data.update(spec.config_fields(entry))
    else:
        data[GUARD_FIELD] = GUARD
    (out / "config.json").write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    for entry in log.transforms:  # e.g. LoRA also writes adapter files peft can read on their own
        spec = get_transform(entry["kind"])
        if spec.write_extra is not None:
            spec.write_extra(model, entry, out)


def _flatten_subclasses(state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """torchao's quantized tensors are subclasses safetensors cannot hold: flatten them with torchao's own
    helper (plain tensors + json metadata), the same one its loaders read back."""
    if all(type(v) in (torch.Tensor, nn.Parameter) for v in state.values()):
        return state, {}
    from torchao.prototype.safetensors.safetensors_support import flatten_tensor_state_dict

    tensors, metadata = flatten_tensor_state_dict(state)
    return tensors, metadata


def _drop_shared(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Tied weights (e.g. an MLM decoder sharing the embeddings) are stored once; loading re-ties them."""
    seen: dict[tuple, str] = {}
    out = {}
    for name, tensor in state.items():
        key = (tensor.untyped_storage().data_ptr(), tensor.storage_offset(), tuple(tensor.shape), tensor.dtype)
        if tensor.numel() and key in seen:
            continue
        seen[key] = name
        out[name] = tensor
    return out


def read_state(path: Path) -> dict[str, torch.Tensor]:
    from safetensors import safe_open
    from safetensors.torch import load_file

    files = sorted(path.glob("*.safetensors"))
    files = [f for f in files if f.name != "adapter_model.safetensors"]
    if not files:
        raise FileNotFoundError(f"{path}: no .safetensors weights; save artefacts with trimformer.save_artefact")
    state: dict[str, torch.Tensor] = {}
    for f in files:
        tensors = load_file(str(f))
        with safe_open(str(f), framework="pt") as handle:
            metadata = handle.metadata() or {}
        if "tensor_names" in metadata:  # torchao-flattened subclasses
            from torchao.prototype.safetensors.safetensors_support import unflatten_tensor_state_dict

            tensors, leftover = unflatten_tensor_state_dict(tensors, metadata)
            if leftover:
                raise UserInputError(f"{f}: tensors {sorted(leftover)[:5]} could not be rebuilt by torchao")
        state.update(tensors)
    return state


def load_artefact(path: str | Path, config: Any, model_cls: Any, **kwargs: Any) -> Any:
    """Rebuild a format-2 artefact: base skeleton, shape rebuilds in order, one strict load, finish hooks."""
    from transformers.initialization import no_init_weights

    path = Path(path)
    log = log_mod.get_log(config)
    terminal = next((t for t in log.transforms if get_transform(t["kind"]).terminal), None)
    if terminal is not None:
        return get_transform(terminal["kind"]).load(path, config, **kwargs)
    skeleton_config = log_mod.skeleton_config(config)
    with no_init_weights():  # every weight comes from the file: skip random initialisation
        model = model_cls.from_config(skeleton_config) if model_cls.__name__.startswith("Auto") else None
        model = model if model is not None else model_cls(skeleton_config)
    model.tie_weights()  # the same tied structure as a normally built model (no_init_weights skips it)
    for entry in log.transforms:
        spec = get_transform(entry["kind"])
        if spec.rebuild is not None:
            model = spec.rebuild(model, entry)
        for name, value in (entry.get("sets") or {}).items():
            setattr(_base(model).config, name, value)
    log_mod.set_log(model, log)  # the reloaded model carries its log, so it can be transformed further
    _check_config(model, config, log)
    state = read_state(path)
    filled: set[str] = set()
    for entry in log.transforms:
        spec = get_transform(entry["kind"])
        if spec.import_state is not None:
            filled |= spec.import_state(model, entry, state) or set()
    strict_load(model, state, path, filled)
    for entry in log.transforms:
        spec = get_transform(entry["kind"])
        if spec.finish is not None:
            model = spec.finish(model, entry, **kwargs)
    return _place(model, kwargs).eval()


def _check_config(model: Any, saved: Any, log: log_mod.TransformLog) -> None:
    rebuilt = _base(model).config
    for name in log.base:
        if getattr(rebuilt, name, None) != getattr(saved, name, None):
            raise UserInputError(
                f"config.json: replaying the transform log gives {name}={getattr(rebuilt, name, None)!r} but the "
                f"config says {getattr(saved, name, None)!r}; the artefact was edited by hand or is corrupt"
            )


def strict_load(
    model: nn.Module, state: dict[str, torch.Tensor], path: Path | str, filled: set[str] = frozenset()
) -> None:
    """Every parameter and persistent buffer must come from the file (tied ones may share a loaded tensor);
    nothing in the file may go unused. Never a silent re-initialisation. `filled`: modules an import hook
    already loaded."""
    result = model.load_state_dict(state, strict=False, assign=_needs_assign(state))
    if hasattr(model, "tie_weights"):
        model.tie_weights()
    params = dict(model.named_parameters(remove_duplicate=False))
    loaded = {params[k].data_ptr() for k in state if k in params}
    missing = [
        k
        for k in result.missing_keys
        if not k.endswith(_DERIVED_BUFFERS)
        and not (k in params and params[k].data_ptr() in loaded)
        and k.rpartition(".")[0] not in filled
        and not any(k.startswith(f"{m}.") for m in filled)
    ]
    if missing or result.unexpected_keys:
        raise UserInputError(
            f"{path}: weights do not match the rebuilt model (missing {missing[:4]}, unexpected "
            f"{list(result.unexpected_keys)[:4]}); the file and its config.json disagree — re-save the artefact"
        )


def _needs_assign(state: dict[str, torch.Tensor]) -> bool:
    # torchao tensor subclasses must replace the skeleton's parameters rather than be copied into them.
    return any(type(v) not in (torch.Tensor, nn.Parameter) for v in state.values())


def _place(model: Any, kwargs: dict[str, Any]) -> Any:
    dtype = kwargs.get("dtype") or kwargs.get("torch_dtype")
    if dtype not in (None, "auto"):
        model = model.to(getattr(torch, dtype) if isinstance(dtype, str) else dtype)
    device = kwargs.get("device_map") or kwargs.get("device")
    if isinstance(device, (str, torch.device)) and device != "auto":
        model = model.to(device)
    return model


def default_umask_mode(path: Path) -> None:
    """Files get the user's normal umask (a temp-file writer may leave 0600)."""
    mask = os.umask(0)
    os.umask(mask)
    for f in path.rglob("*"):
        if f.is_file():
            f.chmod(0o666 & ~mask)

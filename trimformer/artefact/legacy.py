"""Artefacts written by trimformer 0.1 (`config.trimformer = {"kind": ...}`, one technique per checkpoint).

Shape-only kinds (pruned, lowrank, embedding-int8) become a format-2 log over the saved config and load
through the normal strict path. Kinds that were stored in another library's format load through that
library (torchao via transformers, LoRA via peft). The 0.1 torch.ao int8 format was a pickle: it is only
read when the caller passes `allow_pickle=True`, because unpickling a downloaded file can run code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from trimformer.artefact import log as log_mod
from trimformer.errors import UserInputError


def upgrade(record: dict[str, Any], config: Any) -> log_mod.TransformLog | None:
    """The format-2 log equivalent to a 0.1 record, or None when the kind needs its own loader."""
    kind = record.get("kind")
    if kind == "pruned":
        transforms = []
        heads = record.get("heads_per_layer")
        if heads and any(h != config.num_attention_heads for h in heads):
            transforms.append({"kind": "prune_heads", "heads_per_layer": list(heads)})
        widths = record.get("intermediate_per_layer")
        if widths and len(set(widths)) > 1:
            transforms.append({"kind": "prune_ffn", "widths": list(widths)})
        return log_mod.TransformLog(transforms=transforms, history=[{"kind": t["kind"]} for t in transforms])
    if kind == "lowrank":
        entry = {"kind": "lowrank", "ranks": dict(record["ranks"])}
        return log_mod.TransformLog(transforms=[entry], history=[{"kind": "lowrank"}])
    if kind == "embedding-int8":
        entry = {"kind": "embedding-int8", "modules": list(record["modules"])}
        return log_mod.TransformLog(transforms=[entry], history=[{"kind": "embedding-int8"}])
    if kind == "onnx-int8":
        entry = {"kind": "onnx-int8", **{k: v for k, v in record.items() if k != "kind"}}
        return log_mod.TransformLog(transforms=[entry], history=[{"kind": "onnx-int8"}])
    return None


def upgrade_in_memory(config: Any, record: dict[str, Any]) -> log_mod.TransformLog:
    log = upgrade(record, config)
    if log is None:
        raise UserInputError(
            f"a trimformer 0.1 '{record.get('kind')}' artefact cannot be transformed further; "
            "re-run its recipe with this version"
        )
    return log


def load_legacy(path: Path, config: Any, model_cls: Any, allow_pickle: bool = False, **kwargs: Any) -> Any:
    record = dict(config.trimformer)
    kind = record.get("kind")
    log = upgrade(record, config)
    if log is not None:
        from trimformer.artefact.io import load_artefact

        config.trimformer = log.to_dict()
        return load_artefact(path, config, model_cls, **kwargs)
    if kind == "torchao":
        import torch

        del config.trimformer
        model = model_cls.from_pretrained(path, config=config, **kwargs).eval()
        return torch.compile(model) if record.get("compiled") else model
    if kind == "lora":
        from peft import PeftModel

        del config.trimformer
        base = model_cls.from_pretrained(path, config=config, **kwargs)
        return PeftModel.from_pretrained(base, str(path)).eval()
    if kind == "torch-dynamic-int8":
        return _load_pickled_int8(path, config, model_cls, allow_pickle)
    raise UserInputError(f"{path}: unknown trimformer 0.1 artefact kind '{kind}'; upgrade trimformer")


def _load_pickled_int8(path: Path, config: Any, model_cls: Any, allow_pickle: bool) -> Any:
    if not allow_pickle:
        raise UserInputError(
            f"{path}: a trimformer 0.1 torch.ao int8 artefact stored as a pickle (quantized_state.pt); unpickling "
            "can run code, so it is refused: re-export it with this version, or pass allow_pickle=True if you trust it"
        )
    import torch

    from trimformer.quant.torch_dynamic import quantize_linears_, swap_in_empty_int8_embeddings

    record = dict(config.trimformer)
    del config.trimformer
    model = (model_cls.from_config(config) if model_cls.__name__.startswith("Auto") else model_cls(config)).eval()
    swap_in_empty_int8_embeddings(model, record.get("embedding_modules", []))
    quantize_linears_(model)
    model.load_state_dict(torch.load(Path(path) / "quantized_state.pt", weights_only=False))
    return model

"""What a model holds: parameter count, bytes of resident weights, bytes on disk.

Counted for every runtime, so no row says 0 for "not counted": packed torch.ao int8 weights, 4-bit
bitsandbytes params (two values per byte) and ONNX initializers are all counted; what cannot be
counted is None (shown as "–").
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from trimformer.measure.runtime import is_onnx

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".onnx", ".pt", ".pth", ".gguf")


def _tensors(model: Any) -> list[tuple[torch.Tensor, bool]]:
    """(tensor, counts as a parameter) for every distinct weight, packed int8 ones included."""
    seen: set[tuple[int, int]] = set()
    out = []

    def add(t: Any, is_param: bool) -> None:
        if not isinstance(t, torch.Tensor) or t.numel() == 0:
            return
        try:
            key = (t.data_ptr(), t.numel())
        except RuntimeError:  # tensor subclasses without storage: count once by identity
            key = (id(t), t.numel())
        if key not in seen:
            seen.add(key)
            out.append((t, is_param))

    for module in model.modules():
        for p in module.parameters(recurse=False):
            add(p, True)
        packed = getattr(module, "_packed_params", None)
        if packed is not None and callable(getattr(module, "weight", None)):  # torch.ao quantized Linear/Embedding
            add(module.weight(), True)
            bias = module.bias() if callable(getattr(module, "bias", None)) else None
            add(bias, True)
        for name, b in module.named_buffers(recurse=False):
            add(b, name in ("qweight",))  # int8 embedding rows are weights; position ids etc. are not
    return out


def _param_count(t: torch.Tensor) -> int:
    if type(t).__name__ == "Params4bit":  # two 4-bit values per stored byte
        return t.numel() * 2 * t.element_size()
    return t.numel()


def count_parameters(model: Any) -> dict[str, int | None]:
    """{params, nonzero_params}; for an ONNX model the weight elements of its graph."""
    if is_onnx(model):
        count = onnx_weight_count(Path(model.path) / "model.onnx") if hasattr(model, "path") else None
        return {"params": count, "nonzero_params": count}
    if not hasattr(model, "modules"):
        return {"params": None, "nonzero_params": None}
    total = nonzero = 0
    for t, is_param in _tensors(model):
        if not is_param:
            continue
        n = _param_count(t)
        total += n
        if t.is_floating_point() and not t.is_quantized:
            nonzero += int(torch.count_nonzero(t.detach()).item())
        else:
            nonzero += n
    return {"params": total, "nonzero_params": nonzero}


def weights_mb(model: Any) -> float | None:
    """MiB of weights the loaded model keeps resident (parameters and buffers, packed int8 included; for
    ONNX Runtime the graph's initializers). Activations and runtime workspaces are not counted."""
    if is_onnx(model):
        path = Path(model.path) / "model.onnx" if hasattr(model, "path") else None
        return round(path.stat().st_size / 2**20, 3) if path and path.is_file() else None
    if not hasattr(model, "modules"):
        return None
    total = 0
    for t, _ in _tensors(model):
        total += t.numel() * t.element_size()
    return round(total / 2**20, 3)


def onnx_weight_count(path: str | Path) -> int | None:
    """Elements of the graph's initializers (int8 weights, scales, zero points, float tensors)."""
    try:
        import onnx
    except ImportError:
        return None
    try:
        graph = onnx.load(str(path), load_external_data=False).graph
    except (OSError, ValueError):
        return None
    total = 0
    for init in graph.initializer:
        n = 1
        for d in init.dims:
            n *= d
        total += n
    return total


def size_on_disk_mb(path: str | Path) -> float:
    """Bytes of the weight files of a saved artefact (config/tokenizer files excluded)."""
    p = Path(path)
    files = [p] if p.is_file() else [f for f in p.rglob("*") if f.is_file() and f.suffix in WEIGHT_SUFFIXES]
    return sum(f.stat().st_size for f in files) / 2**20

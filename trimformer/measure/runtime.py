"""Which runtime runs a model, on which devices it can run, and how to pin its thread count.

runtime_of(model)                 # "torch", "onnxruntime", "bitsandbytes", "torch.ao-int8", "torchao"
why_not(model, "cuda")            # None, or one line saying why the model is not timed there
model = pin_threads(model, 2)     # an ONNX Runtime session rebuilt with intra-op 2, inter-op 1
model = place(model, "cuda")      # float torch models move; others stay where they are
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Any

import torch

# Reasons shown in the tables, one line each: a "–" must say why.
BNB_ON_CPU = "bitsandbytes layers: a GPU memory format; their CPU kernels run but are not a speed path"
ORT_ON_CUDA = "ONNX Runtime CPU session (int8-cpu artefact)"
TORCH_AO_ON_CUDA = "torch.ao int8 kernels are CPU-only (fbgemm)"
TORCHAO_ON_CUDA = "torchao artefact quantized for CPU kernels"


def is_onnx(model: Any) -> bool:
    return hasattr(model, "session") and hasattr(model.session, "get_providers")


def is_bnb(model: Any) -> bool:
    if getattr(model, "is_loaded_in_4bit", False) or getattr(model, "is_loaded_in_8bit", False):
        return True
    return hasattr(model, "modules") and any(type(m).__module__.startswith("bitsandbytes") for m in model.modules())


def is_torch_ao_int8(model: Any) -> bool:
    return hasattr(model, "modules") and any(
        type(m).__module__.startswith(("torch.ao.nn.quantized", "torch.nn.quantized")) for m in model.modules()
    )


def is_torchao(model: Any) -> bool:
    if getattr(model, "quantization_method", None) == "torchao":
        return True
    params = model.parameters() if hasattr(model, "parameters") else []
    return any(type(p.data).__module__.startswith("torchao") for p in params)


def runtime_of(model: Any) -> str:
    if is_onnx(model):
        return "onnxruntime"
    if is_bnb(model):
        return "bitsandbytes"
    if is_torch_ao_int8(model):
        return "torch.ao-int8"
    if is_torchao(model):
        return "torchao"
    return "torch"


def cuda_available() -> bool:
    """One place to ask (tests replace it to fake a machine with a GPU)."""
    return torch.cuda.is_available()


def why_not(model: Any, device: str) -> str | None:
    """None when `model` can be timed on `device` ("cpu" / "cuda"), else the reason it is not."""
    runtime = runtime_of(model)
    if device == "cpu":
        return BNB_ON_CPU if runtime == "bitsandbytes" else None
    if device == "cuda":
        if not cuda_available():
            return "no CUDA device"
        return {"onnxruntime": ORT_ON_CUDA, "torch.ao-int8": TORCH_AO_ON_CUDA, "torchao": TORCHAO_ON_CUDA}.get(runtime)
    return f"unknown device {device!r}"


def accelerator() -> torch.device:
    """The device this process computes metrics on: its own GPU under torchrun/accelerate, else the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return torch.device("cpu")


def model_device(model: Any) -> torch.device:
    if is_onnx(model):
        return torch.device("cpu")
    try:
        return next(model.parameters()).device
    except (AttributeError, StopIteration):
        return torch.device("cpu")


def place(model: Any, device: str | torch.device) -> Any:
    """`model` on `device` when it can move there (plain torch weights); bitsandbytes models stay where
    `device_map` put them, ONNX Runtime and torch.ao int8 models stay on the CPU."""
    device = torch.device(device)
    if runtime_of(model) != "torch" or model_device(model) == device:
        return model
    if device.type == "cuda" and device.index is None:
        device = accelerator()
    return model.to(device)


@contextmanager
def placed(model: Any, device: str | torch.device):
    """`place` for the duration of a block, then back where it was (the runner keeps training it on)."""
    before = model_device(model)
    moved = place(model, device)
    try:
        yield moved
    finally:
        if model_device(moved) != before and runtime_of(moved) == "torch":
            moved.to(before)


def pin_threads(model: Any, threads: int | None) -> Any:
    """An ONNX Runtime model rebuilt with `threads` intra-op threads and 1 inter-op thread (OrtModel's
    `num_threads`), so it gets the same cores as the torch models it is compared with: left alone, ORT
    takes every physical core while torch is pinned."""
    if not threads or not is_onnx(model) or session_threads(model) == threads:
        return model
    rebuilt = type(model)(model.path, model.config, threads)
    if hasattr(model, "_tmp"):
        rebuilt._tmp = model._tmp  # an in-memory export keeps its temp folder alive
    return rebuilt


def session_threads(model: Any) -> int | None:
    if not is_onnx(model):
        return None
    value = model.session.get_session_options().intra_op_num_threads
    return value or None  # 0 = ONNX Runtime's default (every physical core)


@contextmanager
def cpu_threads(threads: int | None):
    """torch intra-op threads fixed for the block (inter-op threads can only be set once per process)."""
    previous = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def try_single_interop_thread() -> int:
    """Ask torch for 1 inter-op thread (only possible before any parallel work); return what it has."""
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    return torch.get_num_interop_threads()


def dtype_of(model: Any) -> str | None:
    if is_onnx(model):
        return "int8/float32 (onnx)"
    params = list(model.parameters()) if hasattr(model, "parameters") else []
    floats = [p.dtype for p in params if p.is_floating_point()]
    return str(max(set(floats), key=floats.count)).removeprefix("torch.") if floats else None

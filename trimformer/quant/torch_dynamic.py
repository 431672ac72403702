"""Fallback CPU int8: `torch.ao.quantization.quantize_dynamic` (fbgemm), eager.

torch.ao.quantization is deprecated in favour of torchao, so this is not the default; it is kept because
it needs nothing beyond torch and measured as fast as ONNX Runtime int8 eagerly (~2.8x fp32 at batch 32).
Its packed weights do not fit safetensors, so the artefact is config.json + `quantized_state.pt`, and the
`torch-dynamic-int8` loader rebuilds the float model, re-applies the swap and loads the state.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from trimformer.compress import Calibration, register_technique
from trimformer.loading import register_loader
from trimformer.quant._artefact import set_record, write_info
from trimformer.quant._state import build_empty
from trimformer.quant.embedding import Int8Embedding, _embedding_names, swap_in_empty_int8_embeddings

STATE_FILE = "quantized_state.pt"
HEAD_NAMES = ("classifier", "pre_classifier", "qa_outputs")


@dataclass
class TorchDynamicInt8Config:
    quantize_embeddings: bool = True  # word embeddings to Int8Embedding so the file shrinks too

    @property
    def method(self) -> str:
        return "torch-ao-int8"


def _quantize_linears(model: nn.Module) -> nn.Module:
    from torch.ao.quantization import default_dynamic_qconfig, quantize_dynamic

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the deprecation notice; the module docstring says why we still use it
        qconfig = {
            name: default_dynamic_qconfig
            for name, m in model.named_modules()
            if isinstance(m, nn.Linear) and name.rpartition(".")[2] not in HEAD_NAMES
        }
        return quantize_dynamic(model, qconfig, dtype=torch.qint8, inplace=True)


def quantize_torch_dynamic_(model: nn.Module, cfg: TorchDynamicInt8Config | None = None) -> nn.Module:
    cfg = cfg or TorchDynamicInt8Config()
    model = model.float().cpu().eval()
    names = _embedding_names(model, "word") if cfg.quantize_embeddings else []
    for name in names:
        parent, _, child = name.rpartition(".")
        setattr(
            model.get_submodule(parent) if parent else model,
            child,
            Int8Embedding.from_float(model.get_submodule(name)),
        )
    _quantize_linears(model)
    set_record(
        model.config,
        "torch-dynamic-int8",
        method=cfg.method,
        runtime="pytorch (torch.ao fbgemm)",
        compiled=False,
        embedding_modules=names,
    )
    return model


def save_torch_dynamic(model: nn.Module, tokenizer: Any, out_dir: str | Path) -> None:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.config.architectures = [type(model).__name__]  # so load_model picks the right class back
    model.config.save_pretrained(out_dir)
    torch.save(model.state_dict(), out_dir / STATE_FILE)
    write_info(out_dir, dict(model.config.trimformer))
    if tokenizer is not None:
        tokenizer.save_pretrained(out_dir)


@register_technique(TorchDynamicInt8Config)
def _torch_dynamic_technique(model: nn.Module, cfg: TorchDynamicInt8Config, calibration: Calibration | None = None):
    return quantize_torch_dynamic_(model, cfg)


@register_loader("torch-dynamic-int8")
def _load_torch_dynamic(path: str, config: Any, model_cls: Any, **_: Any) -> nn.Module:
    model = build_empty(model_cls, config).eval()
    swap_in_empty_int8_embeddings(model, config.trimformer.get("embedding_modules", []))
    _quantize_linears(model)
    # Packed int8 weights are pickled objects; this is our own artefact format (see module docstring).
    model.load_state_dict(torch.load(Path(path) / STATE_FILE, weights_only=False))
    return model

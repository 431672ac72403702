"""CPU int8 with `torch.ao.quantization.quantize_dynamic` (fbgemm), eager: no compile step.

torch.ao.quantization is deprecated in favour of torchao, but torchao is slower than fp32 on CPU unless
compiled (see /notes/cpu-int8.md), and this path measured ~2.8-3.7x fp32 eagerly; it needs nothing beyond
torch. Packed int8 weights are not tensors safetensors can hold, so the artefact stores each layer's int8
values, scale and zero point as plain tensors and loading packs them again (no pickle anywhere).
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch import nn

from trimformer.artefact.registry import TransformSpec, register_transform
from trimformer.compress import Calibration, compress_
from trimformer.errors import UserInputError
from trimformer.quant.config import HEAD_NAMES, TorchDynamicInt8Config, in_modules
from trimformer.quant.embedding import _embedding_names, swap_in_empty_int8_embeddings, swap_in_int8_embeddings_

# What a torch.ao dynamic Linear puts in its state dict besides plain tensors: a dtype and a packed object.
PACKED_KEYS = ("_packed_params.dtype", "_packed_params._packed_params")


def _dynamic_linear_cls() -> type:
    from torch.ao.nn.quantized.dynamic import Linear

    return Linear


def _linear_names(model: nn.Module) -> list[str]:
    return [n for n, m in model.named_modules() if type(m) is nn.Linear and not in_modules(n, HEAD_NAMES)]


def quantize_linears_(model: nn.Module, names: list[str] | None = None) -> nn.Module:
    from torch.ao.quantization import default_dynamic_qconfig, quantize_dynamic

    names = _linear_names(model) if names is None else names
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the deprecation notice; the module docstring says why we still use it
        return quantize_dynamic(model, {n: default_dynamic_qconfig for n in names}, dtype=torch.qint8, inplace=True)


def _apply(model: nn.Module, cfg: TorchDynamicInt8Config, calib: Calibration | None):
    model = model.float().cpu().eval()
    embeddings = _embedding_names(model, "word") if cfg.quantize_embeddings else []
    linears = _linear_names(model)
    swap_in_int8_embeddings_(model, embeddings)
    quantize_linears_(model, linears)
    entry = {"linears": linears, "embeddings": embeddings, "runtime": "pytorch (torch.ao fbgemm)"}
    return model, entry, {}


def _rebuild(model: nn.Module, entry: dict[str, Any]) -> nn.Module:
    swap_in_empty_int8_embeddings(model, entry["embeddings"])
    return quantize_linears_(model.eval(), entry["linears"])


def _export_state(model: nn.Module, entry: dict[str, Any], state: dict[str, Any]) -> dict[str, Any]:
    """Packed params -> int8 values + scale + zero point (per tensor or per channel) + bias."""
    out = dict(state)
    for name, module in model.named_modules():
        if not isinstance(module, _dynamic_linear_cls()):
            continue
        for leaf in PACKED_KEYS:
            out.pop(f"{name}.{leaf}", None)
        weight = module.weight()
        out[f"{name}.weight_int8"] = weight.int_repr()
        if weight.qscheme() in (torch.per_channel_affine, torch.per_channel_symmetric):
            out[f"{name}.weight_scale"] = weight.q_per_channel_scales().float()
            out[f"{name}.weight_zero_point"] = weight.q_per_channel_zero_points()
        else:
            out[f"{name}.weight_scale"] = torch.tensor([weight.q_scale()], dtype=torch.float64)
            out[f"{name}.weight_zero_point"] = torch.tensor([weight.q_zero_point()])
        if module.bias() is not None:
            out[f"{name}.bias"] = module.bias().detach()
    return out


def _import_state(model: nn.Module, entry: dict[str, Any], state: dict[str, Any]) -> set[str]:
    """int8 values + scale + zero point -> the packed entries the torch.ao module's own loader reads."""
    for name, module in model.named_modules():
        if not isinstance(module, _dynamic_linear_cls()):
            continue
        try:
            values = state.pop(f"{name}.weight_int8")
            scale = state.pop(f"{name}.weight_scale")
            zero = state.pop(f"{name}.weight_zero_point")
        except KeyError as exc:
            raise UserInputError(
                f"torch-ao-int8 artefact: missing {exc} for layer {name}; re-save the artefact"
            ) from None
        if scale.numel() == 1:
            weight = torch._make_per_tensor_quantized_tensor(values, float(scale), int(zero))
        else:
            weight = torch._make_per_channel_quantized_tensor(values, scale.double(), zero.long(), 0)
        # The module's own loader packs a quantized `weight` + `bias` (its pre-packing state-dict layout).
        state[f"{name}.weight"] = weight
        state.setdefault(f"{name}.bias", None)
    return set()


def _finish(model: nn.Module, entry: dict[str, Any], **_: Any) -> nn.Module:
    # Loading through the pre-packing layout leaves `version` unset, which selects the legacy kernel call
    # (no reduce_range): put back the current version so the reloaded model computes what was saved.
    for module in model.modules():
        if isinstance(module, _dynamic_linear_cls()):
            module.version = type(module)._version
    return model


def quantize_torch_dynamic_(model: nn.Module, cfg: TorchDynamicInt8Config | None = None) -> nn.Module:
    return compress_(model, cfg or TorchDynamicInt8Config())


register_transform(
    TransformSpec(
        "torch-ao-int8",
        TorchDynamicInt8Config,
        _apply,
        _rebuild,
        export_state=_export_state,
        import_state=_import_state,
        finish=_finish,
    )
)

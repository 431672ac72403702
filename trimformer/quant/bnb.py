"""bitsandbytes 8-bit (LLM.int8 with its outlier threshold) and 4-bit (NF4 / FP4) quantization.

Applied in place to the model as it is (pruned, low-rank, ...): each target `nn.Linear` becomes a
bitsandbytes layer built from prequantized weights — the same constructor loading uses, so a reloaded
artefact holds exactly the in-memory bytes. No save -> `from_pretrained` round trip (it forgets every
shape the config cannot describe). For GPU memory; on CPU it runs but is slower than fp32.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from trimformer.artefact.registry import TransformSpec, register_transform
from trimformer.compress import Calibration, compress_
from trimformer.errors import UserInputError
from trimformer.quant.config import BnbConfig, in_modules


def _targets(model: nn.Module, skip: list[str]) -> list[str]:
    return [n for n, m in model.named_modules() if type(m) is nn.Linear and not in_modules(n, skip)]


def _set_module(model: nn.Module, name: str, new: nn.Module) -> None:
    parent, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, child, new)


def _empty_layer(linear: nn.Linear, cfg: BnbConfig, compute_dtype: torch.dtype) -> nn.Module:
    import bitsandbytes as bnb

    has_bias = linear.bias is not None
    if cfg.bits == 8:
        layer = bnb.nn.Linear8bitLt(
            linear.in_features, linear.out_features, has_bias, has_fp16_weights=False, threshold=cfg.llm_int8_threshold
        )
    else:
        layer = bnb.nn.Linear4bit(
            linear.in_features,
            linear.out_features,
            has_bias,
            compute_dtype,
            compress_statistics=cfg.double_quant,
            quant_type=cfg.quant_type,
        )
        # bitsandbytes' repacked CPU kernel (bf16) rewrites the weights in place on the first eval forward and
        # converts them back, lossily, when the state dict is read (fp4 logits moved by ~0.2 between a model
        # and its reload); it also asserts shapes pruned or low-rank layers often lack. The generic kernel is
        # exact across save -> load, and CPU is not bitsandbytes' speed path anyway.
        layer.support_avx512bf16_for_cpu = False
    layer.requires_grad_(False)
    return layer


def _set_quantized(layer: nn.Module, bits: int, weight: torch.Tensor, stats: dict[str, torch.Tensor]) -> None:
    """Give a bitsandbytes layer its prequantized weight (both at apply and at load)."""
    import bitsandbytes as bnb

    if bits == 8:
        scb = stats["SCB"]
        layer.weight = bnb.nn.Int8Params(weight, requires_grad=False, has_fp16_weights=False, CB=weight, SCB=scb)
    else:
        layer.weight = bnb.nn.Params4bit.from_prequantized(
            weight, stats, requires_grad=False, device=weight.device, module=layer
        )


def _mark(model: nn.Module, bits: int) -> nn.Module:
    # peft reads these to pick its bitsandbytes LoRA layers and kbit-training preparation.
    setattr(model, f"is_loaded_in_{bits}bit", True)
    return model


@torch.no_grad()
def _apply(model: nn.Module, cfg: BnbConfig, calib: Calibration | None):
    import bitsandbytes as bnb

    names = _targets(model, cfg.skip_modules)
    if not names:
        raise UserInputError(f"{cfg.method}: the model has no float nn.Linear layers to quantize")
    compute_dtype = cfg.resolved_compute_dtype()
    for name in names:
        linear = model.get_submodule(name)
        layer = _empty_layer(linear, cfg, compute_dtype).to(linear.weight.device)
        w = linear.weight.detach()
        if cfg.bits == 8:
            cb, scb, _ = bnb.functional.int8_vectorwise_quant(w.to(torch.float16))
            _set_quantized(layer, 8, cb, {"SCB": scb})
        else:
            packed, state = bnb.functional.quantize_4bit(
                w.float(), compress_statistics=cfg.double_quant, quant_type=cfg.quant_type, quant_storage=torch.uint8
            )
            _set_quantized(layer, 4, packed, state.as_dict(packed=True))
        if linear.bias is not None:
            layer.bias = nn.Parameter(linear.bias.detach().clone(), requires_grad=False)
        # bitsandbytes picks its CPU kernel by train/eval mode: keep the mode of the layer replaced.
        layer.train(linear.training)
        _set_module(model, name, layer)
    entry = {"modules": names, "runtime": "bitsandbytes", "compute_dtype": str(compute_dtype).removeprefix("torch.")}
    return _mark(model, cfg.bits), entry, {}


def _rebuild(model: nn.Module, entry: dict[str, Any]) -> nn.Module:
    cfg = BnbConfig.model_validate(entry["config"])
    dtype = getattr(torch, entry.get("compute_dtype", "float32"))
    for name in entry["modules"]:
        _set_module(model, name, _empty_layer(model.get_submodule(name), cfg, dtype))
    return _mark(model, cfg.bits)


def _bnb_layers(model: nn.Module) -> list[tuple[str, nn.Module, int]]:
    import bitsandbytes as bnb

    out = []
    for name, module in model.named_modules():
        if isinstance(module, bnb.nn.Linear4bit):
            out.append((name, module, 4))
        elif isinstance(module, bnb.nn.Linear8bitLt):
            out.append((name, module, 8))
    return out


def _import_state(model: nn.Module, entry: dict[str, Any], state: dict[str, Any]) -> set[str]:
    """Build each bitsandbytes layer from its stored packed weight and quantization statistics."""
    filled = set()
    for name, layer, bits in _bnb_layers(model):
        if f"{name}.weight" not in state:
            raise UserInputError(f"bitsandbytes artefact: no weight for layer {name}; re-save the artefact")
        weight = state.pop(f"{name}.weight")
        if bits == 8:
            stats = {"SCB": state.pop(f"{name}.SCB")}
            state.pop(f"{name}.weight_format", None)
        else:
            prefix = f"{name}.weight."
            stats = {k[len(prefix) :]: state.pop(k) for k in [k for k in state if k.startswith(prefix)]}
        _set_quantized(layer, bits, weight, stats)
        if f"{name}.bias" in state:
            layer.bias = nn.Parameter(state.pop(f"{name}.bias"), requires_grad=False)
        filled.add(name)
    return filled


def quantize_bnb(model: nn.Module, cfg: BnbConfig | None = None) -> nn.Module:
    """bitsandbytes-quantize a float model in place (its transform log records it)."""
    return compress_(model, cfg or BnbConfig())


def load_bnb(path: str, cfg: BnbConfig, model_cls: Any = None, **kwargs: Any) -> nn.Module:
    """Load a float checkpoint (directory or Hub id) and quantize it with bitsandbytes."""
    from trimformer.loading import load_model

    return quantize_bnb(load_model(path, model_cls, **kwargs), cfg)


def _plain_fields(entry: dict[str, Any]) -> dict[str, Any]:
    return {"quantization_config": BnbConfig.model_validate(entry["config"]).to_transformers().to_dict()}


register_transform(
    TransformSpec(
        "bnb",
        BnbConfig,
        _apply,
        _rebuild,
        import_state=_import_state,
        plain_compatible=lambda entry: True,
        config_fields=_plain_fields,
    )
)

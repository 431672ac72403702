"""LoRA and QLoRA for encoders (peft): adapters on the attention/FFN Linears, the head fully trainable.

QLoRA = 4-bit NF4 base (bitsandbytes, loaded via `quantize_bnb`) + `prepare_model_for_kbit_training`
+ LoRA. The result is a `peft.PeftModel`, an ordinary nn.Module, so `DistillationTrainer` trains it
as a student. Saved unmerged, the artefact is one folder holding the base weights (float or 4-bit)
and the adapter; the `lora` loader rebuilds base + adapter. Merging lives in `merge.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from trimformer.compress import Calibration, register_technique
from trimformer.loading import register_loader
from trimformer.quant._artefact import set_record, write_info
from trimformer.quant.bnb import BnbConfig, quantize_bnb

TASK_TYPES = {"sequence-classification": "SEQ_CLS", "token-classification": "TOKEN_CLS", "masked-lm": None}
HEADS = ["classifier", "pre_classifier", "score"]  # kept fully trainable and saved with the adapter


@dataclass
class LoraAdapterConfig:
    r: int = 8
    alpha: int = 16
    dropout: float = 0.1
    target_modules: list[str] = field(default_factory=lambda: ["query", "key", "value", "dense"])
    task: str = "sequence-classification"
    modules_to_save: list[str] | None = None  # default: the classifier head(s) present in the model
    qlora: bool = False  # quantize the base to 4-bit NF4 first (QLoRA)
    bnb: BnbConfig = field(default_factory=BnbConfig)  # the 4-bit settings when qlora=True
    gradient_checkpointing: bool = False  # QLoRA memory saver; off by default (encoders are short)

    def __post_init__(self) -> None:
        if self.task not in TASK_TYPES:
            raise ValueError(f"LoraAdapterConfig.task={self.task!r}: use one of {', '.join(TASK_TYPES)}")
        if self.r < 1:
            raise ValueError(f"LoraAdapterConfig.r={self.r}: use a rank >= 1 (8-16 is typical)")
        if self.qlora and self.bnb.bits != 4:
            raise ValueError("LoraAdapterConfig: qlora=True needs bnb.bits=4 (QLoRA is a 4-bit base)")


def _head_names(model: nn.Module) -> list[str]:
    leaf_names = {n.rpartition(".")[2] for n, _ in model.named_modules()}
    return [h for h in HEADS if h in leaf_names]


def apply_lora(model: nn.Module, cfg: LoraAdapterConfig | None = None) -> nn.Module:
    """Wrap a transformers model in LoRA adapters (QLoRA if `cfg.qlora`); returns the `PeftModel`."""
    from peft import LoraConfig, TaskType, get_peft_model, prepare_model_for_kbit_training

    cfg = cfg or LoraAdapterConfig()
    if cfg.qlora:
        if not getattr(model, "is_loaded_in_4bit", False):
            model = quantize_bnb(model, cfg.bnb)
        # Freezes the base, upcasts norms to fp32, makes input embeddings emit grads (for checkpointing).
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=cfg.gradient_checkpointing)
    task_type = TASK_TYPES[cfg.task]
    peft_cfg = LoraConfig(
        r=cfg.r,
        lora_alpha=cfg.alpha,
        lora_dropout=cfg.dropout,
        target_modules=cfg.target_modules,
        task_type=getattr(TaskType, task_type) if task_type else None,
        modules_to_save=cfg.modules_to_save if cfg.modules_to_save is not None else _head_names(model),
    )
    peft_model = get_peft_model(model, peft_cfg)
    base_cfg = peft_model.get_base_model().config
    set_record(
        base_cfg,
        "lora",
        method="qlora" if cfg.qlora else "lora",
        runtime="peft" + ("+bitsandbytes" if cfg.qlora else ""),
        compiled=False,
        r=cfg.r,
        alpha=cfg.alpha,
        qlora=cfg.qlora,
    )
    return peft_model


def base_state_dict(peft_model: nn.Module) -> dict[str, Any]:
    """The base model's own weights under their original names (adapter tensors dropped): peft renames
    wrapped layers to `<name>.base_layer.*` and heads to `<name>.original_module.*`."""
    out = {}
    for key, value in peft_model.get_base_model().state_dict().items():
        if ".lora_" in key or ".modules_to_save." in key:
            continue
        out[key.replace(".base_layer.", ".").replace(".original_module.", ".")] = value
    return out


def save_lora(peft_model: nn.Module, tokenizer: Any, out_dir: str | Path, include_base: bool = True) -> None:
    """Adapter folder (adapter_config.json + adapter_model.safetensors); with `include_base` also the base
    weights and config, so the folder reloads on its own with `trimformer.loading.load_model`."""
    out_dir = Path(out_dir)
    base = peft_model.get_base_model()
    if include_base:
        from safetensors.torch import save_file

        # Written by hand: save_pretrained of a bitsandbytes model ignores a passed state_dict and would
        # store the peft-renamed keys, which plain from_pretrained cannot read back.
        out_dir.mkdir(parents=True, exist_ok=True)
        base.config.architectures = [type(base).__name__]
        base.config.save_pretrained(out_dir)
        state = {k: v.data.detach().contiguous().clone() for k, v in base_state_dict(peft_model).items()}
        save_file(state, str(out_dir / "model.safetensors"), metadata={"format": "pt"})
        write_info(out_dir, dict(base.config.trimformer))
    peft_model.save_pretrained(out_dir)
    if tokenizer is not None:
        tokenizer.save_pretrained(out_dir)


@register_technique(LoraAdapterConfig)
def _lora_technique(model: nn.Module, cfg: LoraAdapterConfig, calibration: Calibration | None = None) -> nn.Module:
    return apply_lora(model, cfg)


@register_loader("lora")
def _load_lora(path: str, config: Any, model_cls: Any, is_trainable: bool = False, **kwargs: Any) -> nn.Module:
    from peft import PeftModel

    base = model_cls.from_pretrained(path, **kwargs)  # bitsandbytes settings come back from config.json
    return PeftModel.from_pretrained(base, path, is_trainable=is_trainable)

"""LoRA and QLoRA for encoders (peft): adapters on the attention/FFN Linears, the head fully trainable.

QLoRA = 4-bit NF4 base (bitsandbytes, applied in place by `BnbConfig` — so a pruned base stays pruned)
+ `prepare_model_for_kbit_training` + LoRA. The result is a `peft.PeftModel`, an ordinary nn.Module, so
`DistillationTrainer` trains it as a student. The transform log records the bnb step and the LoRA config;
loading rebuilds base, quantization and adapters, then loads everything strictly from one file. The folder
also holds peft's own adapter files, so `PeftModel.from_pretrained(base, folder)` works too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from torch import nn

from trimformer.artefact import capabilities as caps
from trimformer.artefact.registry import TransformSpec, model_capabilities, register_transform
from trimformer.compress import Calibration, compress_
from trimformer.quant.config import LoraAdapterConfig

TASK_TYPES = {"sequence-classification": "SEQ_CLS", "token-classification": "TOKEN_CLS", "masked-lm": None}
HEADS = ["classifier", "pre_classifier", "score"]  # kept fully trainable and saved with the adapter


def _head_names(model: nn.Module) -> list[str]:
    leaf_names = {n.rpartition(".")[2] for n, _ in model.named_modules()}
    return [h for h in HEADS if h in leaf_names]


def _peft_config(model: nn.Module, cfg: LoraAdapterConfig) -> Any:
    from peft import LoraConfig, TaskType

    task_type = TASK_TYPES[cfg.task]
    return LoraConfig(
        r=cfg.r,
        lora_alpha=cfg.alpha,
        lora_dropout=cfg.dropout,
        target_modules=cfg.target_modules,
        task_type=getattr(TaskType, task_type) if task_type else None,
        modules_to_save=cfg.modules_to_save if cfg.modules_to_save is not None else _head_names(model),
    )


def _apply(model: nn.Module, cfg: LoraAdapterConfig, calib: Calibration | None):
    from peft import get_peft_model, prepare_model_for_kbit_training

    if cfg.qlora and caps.FLOAT_LINEARS in model_capabilities(model):
        model = compress_(model, cfg.bnb)  # its own log entry, before the adapters'
    if cfg.qlora or getattr(model, "is_loaded_in_4bit", False) or getattr(model, "is_loaded_in_8bit", False):
        # Freezes the base, upcasts norms to fp32, makes input embeddings emit grads (for checkpointing).
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=cfg.gradient_checkpointing)
    peft_cfg = _peft_config(model, cfg)
    peft_model = get_peft_model(model, peft_cfg)
    entry = {
        "peft_config": json.loads(json.dumps(peft_cfg.to_dict(), default=list)),
        "runtime": "peft" + ("+bitsandbytes" if cfg.qlora else ""),
    }
    return peft_model, entry, {}


def _rebuild(model: nn.Module, entry: dict[str, Any]) -> nn.Module:
    from peft import LoraConfig, get_peft_model

    peft_cfg = LoraConfig(**{k: v for k, v in entry["peft_config"].items() if k in LoraConfig.__dataclass_fields__})
    return get_peft_model(model, peft_cfg)


def _write_adapter(model: nn.Module, entry: dict[str, Any], out_dir: Path) -> None:
    if hasattr(model, "peft_config"):
        model.save_pretrained(out_dir)  # adapter_config.json + adapter_model.safetensors (peft's format)


def apply_lora(model: nn.Module, cfg: LoraAdapterConfig | None = None) -> nn.Module:
    """Wrap a transformers model in LoRA adapters (QLoRA if `cfg.qlora`); returns the `PeftModel`."""
    return compress_(model, cfg or LoraAdapterConfig())


def save_lora(peft_model: nn.Module, tokenizer: Any, out_dir: str | Path) -> None:
    """The whole adapted model (base + adapters, loadable with trimformer.load_model) plus peft's adapter files."""
    from trimformer.artefact.io import save_artefact

    save_artefact(peft_model, tokenizer, out_dir)


register_transform(TransformSpec("lora", LoraAdapterConfig, _apply, _rebuild, write_extra=_write_adapter))

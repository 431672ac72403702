"""Recipe stages for quantization, low-rank factorization and LoRA: `quantize`, `lowrank`, `lora`, `merge`.

Order checks come from the ClassVars: `quantize` makes weights non-float, so pruning or training after it
is rejected before anything loads; `lora` trains but only adapters, so it may follow a 4-bit quantize
(QLoRA) but not an int8 CPU export (checked here, as the runner only knows the ClassVars).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from trimformer.compress import compress_
from trimformer.stages.base import RunState, StageConfig, register_stage

QuantMethod = Literal[
    "int8-cpu",
    "onnx-int8",
    "torch-ao-int8",
    "torchao-int8-dynamic",
    "torchao-int8-weight",
    "embedding-int8",
    "bnb-8bit",
    "bnb-nf4",
    "bnb-fp4",
]


def _name(state: RunState, default: str) -> str:
    return state.history[-1] if state.history else default


def _plain_saver(model: Any, tokenizer: Any, out_dir: Path) -> None:
    from trimformer.quant._artefact import write_info

    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    record = getattr(model.config, "trimformer", None)
    if isinstance(record, dict):
        write_info(out_dir, record)


class QuantizeStage(StageConfig):
    method: QuantMethod = Field("int8-cpu", description="int8-cpu = ONNX Runtime dynamic int8 (measured fastest).")
    quantize_embeddings: bool = Field(True, description="onnx-int8 / torch-ao-int8: int8 embeddings too.")
    # Per-channel scales measured -0.08 vs -0.78 points on the demo student (ONNX int8 + int8 embeddings).
    per_channel: bool = Field(True, description="onnx-int8 / int8-cpu: per-output-channel weight scales.")
    compile: bool = Field(True, description="torchao: load with torch.compile (torchao is slow eagerly on CPU).")
    llm_int8_threshold: float = Field(6.0, gt=0, description="bnb-8bit: outlier threshold of LLM.int8.")
    double_quant: bool = Field(True, description="bnb-nf4/fp4: quantize the block scales too.")
    compute_dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field("auto", description="bnb 4-bit.")

    makes_weights_nonfloat: ClassVar[bool] = True

    def technique(self) -> Any:
        from trimformer import quant as q

        m = "onnx-int8" if self.method == "int8-cpu" else self.method
        if m == "onnx-int8":
            return q.OnnxInt8Config(quantize_embeddings=self.quantize_embeddings, per_channel=self.per_channel)
        if m == "torch-ao-int8":
            return q.TorchDynamicInt8Config(quantize_embeddings=self.quantize_embeddings)
        if m.startswith("torchao-int8-"):
            return q.TorchAoInt8Config(mode=m.rpartition("-")[2], compile=self.compile)
        if m == "embedding-int8":
            return q.EmbeddingInt8Config()
        bits, kind = (8, "nf4") if m == "bnb-8bit" else (4, m.rpartition("-")[2])
        return q.BnbConfig(
            bits=bits,
            quant_type=kind,
            double_quant=self.double_quant,
            compute_dtype=self.compute_dtype,
            llm_int8_threshold=self.llm_int8_threshold,
        )


@register_stage("quantize", QuantizeStage)
def run_quantize(cfg: QuantizeStage, state: RunState) -> None:
    from trimformer.quant import OrtModel, save_torch_dynamic

    name = _name(state, "quantize")
    technique = cfg.technique()
    state.model = compress_(state.model, technique)
    if isinstance(state.model, OrtModel):
        state.saver = lambda m, tok, d: (m.save_pretrained(d), tok.save_pretrained(d))
        info = dict(state.model.config.trimformer)
    elif cfg.method == "torch-ao-int8":
        state.saver = save_torch_dynamic
        info = dict(state.model.config.trimformer)
    else:
        state.saver = _plain_saver
        info = dict(getattr(state.model.config, "trimformer", None) or {})
        if cfg.method.startswith("bnb-"):
            info = technique.describe()
    state.stage_info.setdefault(name, {}).update(info, method=cfg.method)
    state.weights_nonfloat_since = state.weights_nonfloat_since or name


class LowRankStage(StageConfig):
    energy: float | None = Field(
        0.9, gt=0, le=1, description="Keep this share of each weight's squared singular values."
    )
    target_compression: float | None = Field(None, gt=0, le=1, description="Or: keep this fraction of parameters.")
    targets: list[str] | None = Field(
        None, min_length=1, description="fnmatch patterns of Linear names (default: encoder Linears)."
    )
    recovery: bool = Field(False, description="Distil from the teacher after factoring (uses recipe training).")

    needs_float_weights: ClassVar[bool] = True

    @model_validator(mode="after")
    def _one_criterion(self) -> LowRankStage:
        if self.target_compression is not None:
            self.energy = None
        if self.energy is None and self.target_compression is None:
            raise ValueError("lowrank: set energy (e.g. 0.9) or target_compression (e.g. 0.5)")
        return self


@register_stage("lowrank", LowRankStage)
def run_lowrank(cfg: LowRankStage, state: RunState) -> None:
    from trimformer.quant import LowRankConfig, factorize_

    name = _name(state, "lowrank")
    extra = {"targets": cfg.targets} if cfg.targets else {}
    ranks = factorize_(
        state.model, LowRankConfig(energy=cfg.energy, target_compression=cfg.target_compression, **extra)
    )
    state.saver = None
    state.stage_info.setdefault(name, {}).update(runtime="pytorch", compiled=False, ranks=ranks)
    if cfg.recovery:
        from trimformer.stages.common import train_student

        state.model = train_student(
            state, state.model, state.teacher, cfg, name, teacher_tokenizer=state.teacher_tokenizer
        ).eval()


class LoraStage(StageConfig):
    r: int = Field(8, ge=1, le=4096, description="LoRA rank.")
    alpha: int = Field(16, ge=1, description="LoRA scaling numerator (scale = alpha / r).")
    dropout: float = Field(0.1, ge=0, lt=1)
    target_modules: list[str] = Field(default_factory=lambda: ["query", "key", "value", "dense"], min_length=1)
    qlora: bool = Field(False, description="4-bit NF4 base + prepare_model_for_kbit_training + LoRA.")
    distill: bool = Field(True, description="Train against the teacher (KD) rather than labels alone.")
    loss: dict[str, Any] = Field(default_factory=dict, description="DistillationConfig loss fields (alpha_kd, ...).")

    trains: ClassVar[bool] = True  # adapters only: the base may be 4-bit (QLoRA)

    @field_validator("loss")
    @classmethod
    def _loss_fields(cls, value: dict[str, Any]) -> dict[str, Any]:
        from trimformer.recipe.training import check_loss  # lazy: trimformer.recipe imports the stages

        return check_loss(value)


@register_stage("lora", LoraStage)
def run_lora(cfg: LoraStage, state: RunState) -> None:
    from trimformer.quant import LoraAdapterConfig, OrtModel, save_lora
    from trimformer.stages.common import train_student

    name = _name(state, "lora")
    if isinstance(state.model, OrtModel) or getattr(state.model, "quantization_method", None) == "torchao":
        raise ValueError(f"{name}: LoRA cannot train an int8 CPU export; put lora before quantize, or use qlora: true")
    adapter_cfg = LoraAdapterConfig(
        r=cfg.r,
        alpha=cfg.alpha,
        dropout=cfg.dropout,
        target_modules=cfg.target_modules,
        task=state.task.name,
        qlora=cfg.qlora,
    )
    student = compress_(state.model, adapter_cfg)
    teacher = state.teacher if cfg.distill else None
    state.model = train_student(
        state, student, teacher, cfg, name, loss=cfg.loss, teacher_tokenizer=state.teacher_tokenizer
    ).eval()
    state.saver = save_lora
    state.stage_info.setdefault(name, {}).update(dict(state.model.get_base_model().config.trimformer))


class MergeStage(StageConfig):
    requantize: bool = Field(False, description="QLoRA: re-quantize the merged weights to 4-bit (lossy, small).")


@register_stage("merge", MergeStage)
def run_merge(cfg: MergeStage, state: RunState) -> None:
    from trimformer.quant import merge_lora

    name = _name(state, "merge")
    if not hasattr(state.model, "merge_and_unload"):
        raise ValueError(f"{name}: nothing to merge; put a lora stage before merge")
    state.model = merge_lora(state.model, requantize=cfg.requantize)
    state.saver = None
    four_bit = bool(getattr(state.model, "is_loaded_in_4bit", False))
    state.stage_info.setdefault(name, {}).update(
        runtime="bitsandbytes" if four_bit else "pytorch", compiled=False, requantized=cfg.requantize and four_bit
    )

"""Recipe stages for quantization, low-rank factorization and LoRA: `quantize`, `lowrank`, `lora`, `merge`.

Each stage's fields are its technique config's (see trimformer/quant/config.py); its `effect` is the
technique's, so a recipe whose order cannot work (e.g. pruning after int8, LoRA after low-rank) is refused
by `trimformer validate` before anything loads, naming both stages and an order that works.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from trimformer.artefact.capabilities import TEACHER_READS_IDS, Effect
from trimformer.compress import TechniqueConfig, compress_
from trimformer.quant.config import (
    BnbConfig,
    EmbeddingInt8Config,
    LoraAdapterConfig,
    LowRankConfig,
    MergeConfig,
    OnnxInt8Config,
    TorchAoInt8Config,
    TorchDynamicInt8Config,
)
from trimformer.stages.base import RunState, StageConfig, StageResult, register_stage
from trimformer.stages.prune import TechniqueStage

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


class QuantizeStage(StageConfig):
    method: QuantMethod = Field("int8-cpu", description="int8-cpu = ONNX Runtime dynamic int8 (measured fastest).")
    quantize_embeddings: bool = Field(True, description="onnx-int8 / torch-ao-int8: int8 embeddings too.")
    # Per-channel scales measured -0.08 vs -0.78 points on the demo student (ONNX int8 + int8 embeddings).
    per_channel: bool = Field(True, description="onnx-int8 / int8-cpu: per-output-channel weight scales.")
    compile: bool = Field(True, description="torchao: load with torch.compile (torchao is slow eagerly on CPU).")
    llm_int8_threshold: float = Field(6.0, gt=0, description="bnb-8bit: outlier threshold of LLM.int8.")
    double_quant: bool = Field(True, description="bnb-nf4/fp4: quantize the block scales too.")
    compute_dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field("auto", description="bnb 4-bit.")

    def technique(self) -> TechniqueConfig:
        m = "onnx-int8" if self.method == "int8-cpu" else self.method
        if m == "onnx-int8":
            return OnnxInt8Config(quantize_embeddings=self.quantize_embeddings, per_channel=self.per_channel)
        if m == "torch-ao-int8":
            return TorchDynamicInt8Config(quantize_embeddings=self.quantize_embeddings)
        if m.startswith("torchao-int8-"):
            return TorchAoInt8Config(mode=m.rpartition("-")[2], compile=self.compile)
        if m == "embedding-int8":
            return EmbeddingInt8Config()
        if m == "bnb-8bit":
            return BnbConfig(bits=8, llm_int8_threshold=self.llm_int8_threshold)
        return BnbConfig(
            bits=4, quant_type=m.rpartition("-")[2], double_quant=self.double_quant, compute_dtype=self.compute_dtype
        )

    def effect(self, task: str) -> Effect:
        return self.technique().effect()

    def kind(self, stage_type: str) -> str:
        return f"quantize:{self.method}"


@register_stage("quantize", QuantizeStage)
def run_quantize(cfg: QuantizeStage, state: RunState) -> StageResult:
    technique = cfg.technique()
    model = compress_(state.student(), technique, stage=state.stage)
    info: dict[str, Any] = {"method": cfg.method, "runtime": _runtime(technique), "compiled": False}
    if isinstance(technique, TorchAoInt8Config):
        info["compiled"] = technique.compile
    if isinstance(technique, BnbConfig):
        info.update(technique.describe())
    return StageResult(model, state.tokenizer, info=info)


def _runtime(technique: TechniqueConfig) -> str:
    return {
        OnnxInt8Config: "onnxruntime",
        TorchDynamicInt8Config: "pytorch (torch.ao fbgemm)",
        TorchAoInt8Config: "torchao",
        BnbConfig: "bitsandbytes",
    }.get(type(technique), "pytorch")


class LowRankStage(TechniqueStage, LowRankConfig):
    technique_cls: ClassVar[type[TechniqueConfig]] = LowRankConfig
    recovery: bool = Field(False, description="Distil from the teacher after factoring (uses recipe training).")

    def effect(self, task: str) -> Effect:
        effect = self.technique().effect()
        return Effect(effect.requires | ({TEACHER_READS_IDS} if self.recovery else set()), effect.removes, effect.adds)


@register_stage("lowrank", LowRankStage)
def run_lowrank(cfg: LowRankStage, state: RunState) -> StageResult:
    model = compress_(state.student(), cfg.technique(), stage=state.stage)
    info: dict[str, Any] = {"runtime": "pytorch", "compiled": False, "ranks": _last_entry(model)["ranks"]}
    if cfg.recovery:
        from trimformer.stages.common import train_student  # here: validating a recipe imports no transformers

        model, trained = train_student(
            state, model, state.teacher, cfg, state.stage, teacher_tokenizer=state.teacher_tokenizer
        )
        info.update(trained)
    return StageResult(model.eval(), state.tokenizer, info=info)


def _last_entry(model: Any) -> dict[str, Any]:
    from trimformer.artefact.log import get_log

    return get_log(model).transforms[-1]


class LoraStage(TechniqueStage, LoraAdapterConfig):
    technique_cls: ClassVar[type[TechniqueConfig]] = LoraAdapterConfig
    distill: bool = Field(True, description="Train against the teacher (KD) rather than labels alone.")
    loss: dict[str, Any] = Field(default_factory=dict, description="DistillationConfig loss fields (alpha_kd, ...).")

    @field_validator("loss")
    @classmethod
    def _loss_fields(cls, value: dict[str, Any]) -> dict[str, Any]:
        from trimformer.recipe.training import check_loss  # lazy: trimformer.recipe imports the stages

        return check_loss(value)

    def effect(self, task: str) -> Effect:
        effect = self.technique().effect()
        return Effect(effect.requires | ({TEACHER_READS_IDS} if self.distill else set()), effect.removes, effect.adds)

    def kind(self, stage_type: str) -> str:
        return "qlora" if self.qlora else "lora"


@register_stage("lora", LoraStage)
def run_lora(cfg: LoraStage, state: RunState) -> StageResult:
    adapter_cfg = cfg.technique().model_copy(update={"task": state.task.name})
    student = compress_(state.student(), adapter_cfg, stage=state.stage)
    teacher = state.teacher if cfg.distill else None
    from trimformer.stages.common import train_student

    model, info = train_student(
        state, student, teacher, cfg, state.stage, loss=cfg.loss, teacher_tokenizer=state.teacher_tokenizer
    )
    info.update(method="qlora" if cfg.qlora else "lora", runtime="peft" + ("+bitsandbytes" if cfg.qlora else ""))
    return StageResult(model.eval(), state.tokenizer, info=info)


class MergeStage(TechniqueStage, MergeConfig):
    technique_cls: ClassVar[type[TechniqueConfig]] = MergeConfig


@register_stage("merge", MergeStage)
def run_merge(cfg: MergeStage, state: RunState) -> StageResult:
    model = compress_(state.student(), cfg.technique(), stage=state.stage)
    four_bit = bool(getattr(model, "is_loaded_in_4bit", False))
    info = {
        "runtime": "bitsandbytes" if four_bit else "pytorch",
        "compiled": False,
        "requantized": cfg.requantize and four_bit,
    }
    return StageResult(model, state.tokenizer, info=info)

"""Quantization / low-rank / LoRA technique configs: pure settings (pydantic, no torch at import), shared by
recipe stages, `compress_` in Python and the saved transform log. Implementations: bnb.py, embedding.py,
lora.py, lowrank.py, merge.py, onnx_int8.py, torch_dynamic.py, torchao_int8.py."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, PositiveInt, model_validator

from trimformer.artefact import capabilities as caps
from trimformer.compress import TechniqueConfig

LOWRANK_TARGETS = [
    "*attention.self.query",
    "*attention.self.key",
    "*attention.self.value",
    "*attention.output.dense",
    "*intermediate.dense",
    "*output.dense",
]
# Heads stay in full precision: they are tiny, freshly trained and most sensitive (and LoRA trains them).
HEAD_NAMES = ["classifier", "pre_classifier", "qa_outputs", "score"]


def in_modules(name: str, names: list[str] | tuple[str, ...]) -> bool:
    """True when any component of the dotted module name is listed: RoBERTa's head is `classifier.dense`
    and `classifier.out_proj`, so matching the last component alone would quantize it."""
    return any(part in names for part in name.split("."))


class LowRankConfig(TechniqueConfig):
    energy: float | None = Field(
        0.9, gt=0, le=1, description="Keep the smallest rank whose singular values hold this share of ||W||^2"
    )
    target_compression: float | None = Field(
        None, gt=0, le=1, description="Or: factor every target to keep this fraction of its parameters"
    )
    targets: list[str] = Field(
        default_factory=lambda: list(LOWRANK_TARGETS), min_length=1, description="fnmatch on module names"
    )
    min_rank: PositiveInt = 8
    keep_if_no_saving: bool = Field(True, description="Leave a layer dense when its rank would not save weights")
    ranks: dict[str, PositiveInt] | None = Field(None, description="Explicit {module name: rank}; overrides the rest")

    @model_validator(mode="after")
    def _one_criterion(self) -> LowRankConfig:
        if self.target_compression is not None and "energy" not in self.model_fields_set:
            self.energy = None  # giving target_compression replaces the default energy
        if (self.energy is None) == (self.target_compression is None):
            raise ValueError("set exactly one of energy (e.g. 0.9) or target_compression (e.g. 0.5)")
        return self

    def effect(self) -> caps.Effect:
        return caps.Effect.of(
            requires=[caps.TORCH, caps.FLOAT_LINEARS, caps.DENSE_LINEARS, caps.NO_ADAPTERS],
            removes=[caps.DENSE_LINEARS],
        )


class EmbeddingInt8Config(TechniqueConfig):
    which: Literal["word", "all"] = Field("word", description="word: the big table; all: also position/type tables")

    def effect(self) -> caps.Effect:
        return caps.Effect.of(
            requires=[caps.TORCH, caps.FLOAT_EMBEDDINGS, caps.NO_ADAPTERS], removes=[caps.FLOAT_EMBEDDINGS]
        )


class TorchDynamicInt8Config(TechniqueConfig):
    quantize_embeddings: bool = Field(True, description="Word embeddings to per-row int8 too, so the file shrinks")

    @property
    def method(self) -> str:
        return "torch-ao-int8"

    def effect(self) -> caps.Effect:
        emb = [caps.FLOAT_EMBEDDINGS] if self.quantize_embeddings else []
        return caps.Effect.of(
            requires=[caps.TORCH, caps.FLOAT_LINEARS, caps.NO_ADAPTERS, *emb],
            removes=[caps.FLOAT_LINEARS, caps.PEFT_LINEARS, *emb],
        )


class TorchAoInt8Config(TechniqueConfig):
    mode: Literal["dynamic", "weight"] = Field("dynamic", description="int8 activations+weights, or weights only")
    compile: bool = Field(True, description="Load with torch.compile (what makes torchao fast on CPU)")

    @property
    def method(self) -> str:
        return f"torchao-int8-{self.mode}"

    def effect(self) -> caps.Effect:
        return caps.Effect.of(
            requires=[caps.TORCH, caps.FLOAT_LINEARS, caps.NO_ADAPTERS],
            removes=[caps.FLOAT_LINEARS, caps.PEFT_LINEARS],
        )

    def torchao_config(self) -> Any:
        from torchao.quantization import Int8DynamicActivationInt8WeightConfig, Int8WeightOnlyConfig

        return Int8DynamicActivationInt8WeightConfig() if self.mode == "dynamic" else Int8WeightOnlyConfig()


class BnbConfig(TechniqueConfig):
    bits: Literal[8, 4] = 4
    quant_type: Literal["nf4", "fp4"] = Field("nf4", description="4-bit only")
    double_quant: bool = Field(True, description="4-bit only: quantize the per-block scales too")
    compute_dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto", description="4-bit only: auto = bfloat16 on CUDA, float32 on CPU"
    )
    llm_int8_threshold: float = Field(6.0, gt=0, description="8-bit only: outlier threshold of LLM.int8")
    skip_modules: list[str] = Field(default_factory=lambda: list(HEAD_NAMES))

    @property
    def method(self) -> str:
        return "bnb-8bit" if self.bits == 8 else f"bnb-{self.quant_type}"

    def effect(self) -> caps.Effect:
        # peft wraps bitsandbytes layers (QLoRA), so PEFT_LINEARS survives.
        return caps.Effect.of(
            requires=[caps.TORCH, caps.FLOAT_LINEARS, caps.NO_ADAPTERS], removes=[caps.FLOAT_LINEARS]
        )

    def resolved_compute_dtype(self) -> Any:
        import torch

        if self.compute_dtype == "auto":
            return torch.bfloat16 if torch.cuda.is_available() else torch.float32
        return getattr(torch, self.compute_dtype)

    def to_transformers(self) -> Any:
        """The same settings as transformers' BitsAndBytesConfig (written so plain from_pretrained loads it)."""
        from transformers import BitsAndBytesConfig

        if self.bits == 8:
            return BitsAndBytesConfig(
                load_in_8bit=True, llm_int8_threshold=self.llm_int8_threshold, llm_int8_skip_modules=self.skip_modules
            )
        return BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type=self.quant_type,
            bnb_4bit_use_double_quant=self.double_quant,
            bnb_4bit_compute_dtype=self.resolved_compute_dtype(),
            llm_int8_skip_modules=self.skip_modules,
        )

    def describe(self) -> dict[str, Any]:
        info: dict[str, Any] = {"method": self.method, "runtime": "bitsandbytes", "compiled": False}
        if self.bits == 8:
            info["llm_int8_threshold"] = self.llm_int8_threshold
        else:
            info.update(double_quant=self.double_quant, compute_dtype=str(self.resolved_compute_dtype()))
        return info


class LoraAdapterConfig(TechniqueConfig):
    r: int = Field(8, ge=1, le=4096, description="LoRA rank (8-16 is typical)")
    alpha: int = Field(16, ge=1, description="Scaling numerator (scale = alpha / r)")
    dropout: float = Field(0.1, ge=0, lt=1)
    target_modules: list[str] = Field(default_factory=lambda: ["query", "key", "value", "dense"], min_length=1)
    task: Literal["sequence-classification", "token-classification", "masked-lm"] = "sequence-classification"
    modules_to_save: list[str] | None = Field(None, description="Default: the classifier head(s) present")
    qlora: bool = Field(False, description="4-bit NF4 base (quantized here if still float) + LoRA")
    bnb: BnbConfig = Field(default_factory=BnbConfig, description="The 4-bit settings when qlora is true")
    gradient_checkpointing: bool = Field(False, description="QLoRA memory saver (encoders are short: off)")

    @model_validator(mode="after")
    def _four_bit_base(self) -> LoraAdapterConfig:
        if self.qlora and self.bnb.bits != 4:
            raise ValueError("qlora needs bnb.bits=4 (QLoRA is a 4-bit base); for an 8-bit base quantize first")
        return self

    def effect(self) -> caps.Effect:
        removes = [caps.NO_ADAPTERS] + ([caps.FLOAT_LINEARS] if self.qlora else [])
        return caps.Effect.of(
            requires=[caps.TORCH, caps.NO_ADAPTERS, caps.PEFT_LINEARS, caps.DENSE_LINEARS],
            removes=removes,
            adds=[caps.ADAPTERS],
        )


class MergeConfig(TechniqueConfig):
    requantize: bool = Field(False, description="QLoRA: quantize the merged weights again (lossy, small)")

    def effect(self) -> caps.Effect:
        # Without requantize every weight ends float: a quantized base is dequantized by the merge.
        adds = [caps.NO_ADAPTERS] + ([] if self.requantize else [caps.FLOAT_LINEARS, caps.PEFT_LINEARS])
        return caps.Effect.of(requires=[caps.ADAPTERS], removes=[caps.ADAPTERS], adds=adds)


class OnnxInt8Config(TechniqueConfig):
    quantize_embeddings: bool = Field(True, description="Also int8 the Gather (embedding) tables: ~4x smaller file")
    # Per-channel scales measured -0.08 vs -0.78 points on the demo student (ONNX int8 + int8 embeddings).
    per_channel: bool = Field(True, description="Per-output-channel weight scales")
    opset: int = Field(17, ge=13, le=21)
    num_threads: PositiveInt | None = Field(None, description="Session intra-op threads (None: onnxruntime's)")

    @property
    def method(self) -> str:
        return "onnx-int8"

    def effect(self) -> caps.Effect:
        # An exported graph: every later stage needs a torch model, so nothing can follow it.
        return caps.Effect.of(requires=[caps.TORCH, caps.FLOAT_LINEARS, caps.NO_ADAPTERS], removes=[caps.TORCH])

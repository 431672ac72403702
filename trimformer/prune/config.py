"""Pruning technique configs: pure settings (pydantic, no torch), shared by recipe stages, `compress_` in
Python and the saved transform log. The implementations live in heads.py, ffn.py, layers.py, vocab.py."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, NonNegativeInt, PositiveInt, field_validator, model_validator

from trimformer.artefact import capabilities as caps
from trimformer.compress import TechniqueConfig

# Cutting heads or neurons slices float nn.Linear weights.
STRUCTURAL = caps.Effect.of(requires=[caps.TORCH, caps.FLOAT_LINEARS, caps.DENSE_LINEARS, caps.NO_ADAPTERS])


def whole_amount(amount: float, field: str) -> float:
    """An amount is a fraction < 1 or a whole count (so 1.5 is refused before anything runs)."""
    if amount >= 1 and float(amount) != int(amount):
        raise ValueError(f"{amount} is neither a fraction below 1 (e.g. 0.5) nor a whole count (e.g. 4)")
    return int(amount) if amount >= 1 else amount


class HeadPruneConfig(TechniqueConfig):
    """Remove attention heads.

    amount: fraction (< 1) or whole count of heads to remove; scope "global" ranks all heads together,
    "per_layer" removes `amount` from every layer. importance: "taylor" (gradient of a head gate on
    the calibration batches, Michel et al. 2019) or "magnitude" (no data). `heads` names heads to
    remove explicitly ({layer: [head, ...]}) and then overrides amount/importance."""

    amount: float = Field(0.5, gt=0, description="Fraction (< 1) or whole count of heads to remove")
    scope: Literal["global", "per_layer"] = "global"
    importance: Literal["taylor", "magnitude"] = "taylor"
    min_heads_per_layer: PositiveInt = 1
    normalize: bool = Field(True, description="Per-layer L2 normalisation of taylor scores (as in the paper)")
    heads: dict[NonNegativeInt, Annotated[list[NonNegativeInt], Field(min_length=1)]] | None = Field(
        None, min_length=1, description="Explicit {layer: [heads]}; overrides amount"
    )

    _whole = field_validator("amount")(classmethod(lambda cls, v: whole_amount(v, "amount")))

    def effect(self) -> caps.Effect:
        return STRUCTURAL


class FFNPruneConfig(TechniqueConfig):
    """Remove FFN (intermediate) neurons.

    amount: fraction (< 1) or whole count of neurons to remove; scope "per_layer" (default) keeps every
    layer the same width, so plain transformers reloads the result; "global" ranks all neurons
    together (per-layer widths, reload with trimformer.load_model). importance: "activation"
    (mean |activation| x output norm on calibration batches), "taylor" (gate gradient) or
    "magnitude" (no data). round_to: keep widths a multiple of this (fast matmuls)."""

    amount: float = Field(0.5, gt=0, description="Fraction (< 1) or whole count of FFN neurons to remove")
    scope: Literal["global", "per_layer"] = "per_layer"
    importance: Literal["activation", "taylor", "magnitude"] = "activation"
    min_neurons_per_layer: PositiveInt = 1
    round_to: PositiveInt = Field(1, description="Keep widths a multiple of this (fast matmuls)")

    _whole = field_validator("amount")(classmethod(lambda cls, v: whole_amount(v, "amount")))

    def effect(self) -> caps.Effect:
        return STRUCTURAL


class LayerDropConfig(TechniqueConfig):
    """Drop whole encoder layers.

    strategy "explicit": drop `layers` (0-based); "top": drop the last `count` layers; "importance":
    drop `count` layers one at a time, each time the one whose removal raises the calibration loss
    least (needs labelled calibration batches)."""

    strategy: Literal["explicit", "top", "importance"] = "explicit"
    layers: list[NonNegativeInt] | None = Field(
        None, min_length=1, description="0-based layers to drop (strategy: explicit)"
    )
    count: PositiveInt | None = Field(None, description="How many layers to drop (strategies top / importance)")

    @model_validator(mode="after")
    def _consistent(self) -> LayerDropConfig:
        if self.strategy == "explicit" and self.layers is None:
            raise ValueError("strategy: explicit needs layers (0-based layers to drop, e.g. [1, 3])")
        if self.strategy != "explicit" and self.count is None:
            raise ValueError(f"strategy: {self.strategy} needs count (how many layers to drop)")
        if self.strategy != "explicit" and self.layers is not None:
            raise ValueError(f"layers applies to strategy: explicit, not {self.strategy}; use count")
        if self.layers is not None and len(set(self.layers)) != len(self.layers):
            raise ValueError(f"layers {self.layers} lists a layer twice")
        return self

    def effect(self) -> caps.Effect:
        # Whole layers go, whatever is inside them: works on quantized and low-rank layers too.
        return caps.Effect.of(requires=[caps.TORCH, caps.NO_ADAPTERS])


class VocabPruneConfig(TechniqueConfig):
    """Keep tokens that occur at least `min_count` times in the corpus (Calibration.corpus_input_ids),
    plus special/added tokens and `keep_token_ids`."""

    min_count: PositiveInt = Field(1, description="Keep tokens seen at least this often in the corpus")
    keep_token_ids: list[int] | None = None

    def effect(self) -> caps.Effect:
        return caps.Effect.of(requires=[caps.TORCH, caps.FLOAT_EMBEDDINGS, caps.NO_ADAPTERS])

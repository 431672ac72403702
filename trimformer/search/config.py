"""The `search:` recipe section and the budget it searches under (pure settings: pydantic, no torch).

    search:
      budget: {latency_b1_ms: 5, size_mb: 30}   # or `trimformer search RECIPE --budget latency_b1_ms=5`
      heads_keep: [1.0, 0.5]
      ffn_keep: [1.0, 0.5, 0.25]

A budget key is `latency_b<N>_ms` (median CPU latency at batch N, recipe `measure.length` tokens, `measure.threads`
threads) or `size_mb` (the saved artefact's size on disk). Several keys are all met at once.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, PositiveInt, field_validator, model_validator

from trimformer.errors import UserInputError

LATENCY_KEY = re.compile(r"latency_b([1-9][0-9]{0,3})_ms")
Keep = Annotated[float, Field(gt=0, le=1)]


def check_budget_key(key: str) -> str:
    if key != "size_mb" and not LATENCY_KEY.fullmatch(key):
        raise ValueError(f"budget key {key!r}: use latency_b<N>_ms (e.g. latency_b1_ms, latency_b32_ms) or size_mb")
    return key


def budget_batch(key: str) -> int | None:
    """The batch size a latency key is measured at (None for size_mb)."""
    match = LATENCY_KEY.fullmatch(key)
    return int(match.group(1)) if match else None


def parse_budget(items: list[str]) -> dict[str, float | str]:
    """`["latency_b1_ms=5", "size_mb=20"]` (the CLI's --budget, also comma-separated) -> {key: value}; a value
    `@PATH` stands for what the artefact at PATH measures in the search's first timing pass."""
    out: dict[str, float | str] = {}
    for item in items:
        for part in filter(None, (p.strip() for p in item.split(","))):
            key, sep, value = part.partition("=")
            if sep and value.startswith("@") and len(value) > 1:  # the figure a saved artefact measures
                out[check_budget_key(key.strip())] = value
                continue
            try:
                check_budget_key(key.strip())
                number = float(value)
            except ValueError as exc:
                detail = str(exc) if not sep or value else ""
                raise UserInputError(
                    f"--budget {part}: {detail or 'expected KEY=NUMBER'}, e.g. --budget latency_b1_ms=5"
                ) from None
            if not number > 0 or number == float("inf"):
                raise UserInputError(f"--budget {part}: the limit must be a positive number")
            out[key.strip()] = number
    return out


class SearchSection(BaseModel):
    """What the search may change, how it measures, and how much training it spends per candidate."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    budget: dict[str, Annotated[float, Field(gt=0)] | Annotated[str, Field(pattern=r"^@.+")]] = Field(
        default_factory=dict,
        description="latency_b<N>_ms and/or size_mb limits (CLI --budget adds to these); @PATH: what the artefact "
        "at PATH measures, timed in the same pass as the smallest candidates",
    )
    depths: list[PositiveInt] | None = Field(None, description="Student depths to try (default: 1 .. teacher layers)")
    layer_patterns: list[Literal["spread", "bottom", "top"]] = Field(
        default_factory=lambda: ["spread", "bottom"],
        min_length=1,
        description="Which teacher layers form a student of each depth: spread (evenly spaced from layer 0), "
        "bottom (the first N), top (evenly spaced, ending at the last layer)",
    )
    layer_sets: list[list[NonNegativeInt]] | None = Field(
        None, description="Explicit teacher layer lists to try instead of depths x layer_patterns"
    )
    heads_keep: list[Keep] = Field(default_factory=lambda: [1.0, 0.5], min_length=1)
    ffn_keep: list[Keep] = Field(default_factory=lambda: [1.0, 0.5, 0.25], min_length=1)
    vocab: list[bool] = Field(default_factory=lambda: [False, True], min_length=1, description="Vocabulary pruning")
    int8: list[bool] = Field(default_factory=lambda: [False, True], min_length=1, description="int8-cpu (ONNX RT)")
    vocab_include_eval_text: bool = Field(
        False, description="Vocabulary pruning keeps the eval text's tokens too (as prune_vocab.include_eval_text)"
    )
    timed_shapes: PositiveInt = Field(
        16, le=1000, description="Candidates timed before a fitted latency/size model ranks the rest"
    )
    max_timed: PositiveInt = Field(
        64, le=10_000, description="Most candidates timed in all (a noisy machine can keep moving the front)"
    )
    slack: float = Field(
        0.15, ge=0, le=2, description="Candidates predicted within budget x (1 + slack) are timed for real"
    )
    candidates: PositiveInt = Field(8, le=256, description="Shapes that enter successive halving (best zero-shot)")
    rung_steps: PositiveInt = Field(50, le=100_000, description="Distillation steps per candidate in the first rung")
    eta: int = Field(2, ge=2, le=8, description="Each rung keeps 1/eta of the candidates and trains eta x longer")
    selection_examples: PositiveInt = Field(
        512, le=100_000, description="Rows held out of the training split to rank candidates (never the eval split)"
    )
    recovery_steps: PositiveInt = Field(
        150, le=100_000, description="The winner's run: recovery distillation steps after each pruning stage"
    )
    rounds: PositiveInt = Field(3, le=100, description="Interleaved timing rounds for candidates")
    calls: PositiveInt = Field(3, le=100, description="Timed calls per candidate, batch and round")
    compare: list[str] = Field(
        default_factory=list,
        description="Artefacts (e.g. runs/demo-compress/quantize) evaluated and timed in the winner's pass",
    )

    _keys = field_validator("budget")(
        classmethod(lambda cls, v: {check_budget_key(k): x if isinstance(x, str) else float(x) for k, x in v.items()})
    )

    @field_validator("layer_sets")
    @classmethod
    def _sets(cls, value: list[list[int]] | None) -> list[list[int]] | None:
        for layers in value or []:
            if not layers or len(set(layers)) != len(layers):
                raise ValueError(f"{layers}: list each teacher layer once, at least one")
        return value

    @model_validator(mode="after")
    def _one_way(self) -> SearchSection:
        if self.layer_sets is not None and self.depths is not None:
            raise ValueError("give search.depths or search.layer_sets, not both")
        return self

"""`finetune`: train the teacher on the task first, for when only a pretrained base model exists."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from trimformer.stages.base import RunState, StageConfig, register_stage
from trimformer.stages.common import train_student


class FinetuneStage(StageConfig):
    target: Literal["teacher", "student"] = Field("teacher", description="Which model to fine-tune")

    needs_float_weights: ClassVar[bool] = True
    trains: ClassVar[bool] = True


@register_stage("finetune", FinetuneStage)
def run_finetune(cfg: FinetuneStage, state: RunState) -> None:
    name = state.history[-1]
    if cfg.target == "teacher":
        # The teacher reads its own tokenizer's ids (an MPNet teacher fed a BERT student's ids learns nothing).
        state.teacher = train_student(state, state.teacher, None, cfg, name, tokenizer=state.teacher_tokenizer).eval()
        state.stage_info[name]["role"] = "teacher"
    else:
        from trimformer.stages.distill import ensure_student

        ensure_student(state)
        state.model = train_student(state, state.model, None, cfg, name).eval()

"""`finetune`: train the teacher on the task first (when only a pretrained base exists), or the student
on labels alone (the control row that shows what distillation buys)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from trimformer.artefact.capabilities import TRAINS_FULL, Effect
from trimformer.stages.base import RunState, StageConfig, StageResult, register_stage
from trimformer.stages.common import train_student


class FinetuneStage(StageConfig):
    target: Literal["teacher", "student"] = Field("teacher", description="Which model to fine-tune")

    def effect(self, task: str) -> Effect:
        return TRAINS_FULL if self.target == "student" else Effect()


@register_stage("finetune", FinetuneStage)
def run_finetune(cfg: FinetuneStage, state: RunState) -> StageResult:
    if cfg.target == "teacher":
        # The teacher reads its own tokenizer's ids (an MPNet teacher fed a BERT student's ids learns nothing).
        model, info = train_student(state, state.teacher, None, cfg, state.stage, tokenizer=state.teacher_tokenizer)
        return StageResult(model.eval(), state.teacher_tokenizer, role="teacher", info=info)
    model, info = train_student(state, state.student(), None, cfg, state.stage)
    return StageResult(model.eval(), state.tokenizer, info=info)

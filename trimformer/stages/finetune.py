"""`finetune`: train the teacher on the task first (when only a pretrained base exists), or the student
on labels alone (the control row that shows what distillation buys)."""

from __future__ import annotations

import os
from typing import Literal

from pydantic import Field

from trimformer.artefact.capabilities import TRAINS_FULL, Effect
from trimformer.stages.base import RunState, StageConfig, StageResult, register_stage
from trimformer.stages.early_stopping import EarlyStopping


class FinetuneStage(StageConfig):
    target: Literal["teacher", "student"] = Field("teacher", description="Which model to fine-tune")
    early_stopping: EarlyStopping | None = Field(
        None,
        description="Evaluate on a validation slice of the training split, keep the best weights, stop when it "
        "stops improving (training.num_train_epochs is then the upper bound)",
    )

    def effect(self, task: str) -> Effect:
        return TRAINS_FULL if self.target == "student" else Effect()


@register_stage("finetune", FinetuneStage)
def run_finetune(cfg: FinetuneStage, state: RunState) -> StageResult:
    from trimformer.stages.common import train_student  # here: validating a recipe imports no transformers

    if cfg.target == "teacher":
        # The teacher reads its own tokenizer's ids (an MPNet teacher fed a BERT student's ids learns nothing).
        model, tokenizer, role = state.teacher, state.teacher_tokenizer, "teacher"
    else:
        model, tokenizer, role = state.student(), state.tokenizer, "student"
    kwargs = _early_stopping(cfg, state, tokenizer) if cfg.early_stopping is not None else {}
    model, info = train_student(state, model, None, cfg, state.stage, tokenizer=tokenizer, **kwargs)
    for callback in kwargs.get("callbacks") or []:
        info["early_stopping"] = callback.summary
    return StageResult(model.eval(), tokenizer, role=role, info=info)


def _early_stopping(cfg: FinetuneStage, state: RunState, tokenizer) -> dict:
    from trimformer.stages.common import training_view
    from trimformer.stages.early_stopping import eval_steps, split_validation
    from trimformer.stages.keep_best import KeepBestAndStop

    es = cfg.early_stopping
    view = training_view(state, None, tokenizer=tokenizer)
    train, validation = split_validation(view.train, es.validation_fraction, state.seed)
    args = {**state.training, **cfg.training}
    steps = eval_steps(
        len(train),
        int(args.get("per_device_train_batch_size", 32)),
        int(args.get("gradient_accumulation_steps", 1)),
        int(os.environ.get("WORLD_SIZE", "1")),
        es.evals_per_epoch,
    )
    # Masked LM reports no metric in training evaluations: its loss is what perplexity is made of.
    metric, greater = (state.task.main_metric, state.task.greater_is_better)
    if state.task.name == "masked-lm":
        metric, greater = "loss", False
    callback = KeepBestAndStop(metric, greater, es.patience)
    return {
        "train_dataset": train,
        "eval_dataset": validation,
        "callbacks": [callback],
        "extra_args": {"eval_strategy": "steps", "eval_steps": steps},
    }

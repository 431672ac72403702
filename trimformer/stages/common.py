"""Shared by every stage that trains: build the DistillationTrainer from a RunState and run it."""

from __future__ import annotations

from typing import Any

import datasets
import numpy as np

from trimformer.config import DistillationConfig
from trimformer.distributed import is_main_process
from trimformer.metrics import compute_task_metrics
from trimformer.resume import claim_work_dir
from trimformer.stages.base import RunState, StageConfig

# Quiet defaults. The runner saves and measures each stage itself; Trainer checkpoints (4 per stage, the last
# one kept) are only there so `trimformer run --resume` can continue an interrupted stage.
TRAINING_DEFAULTS: dict[str, Any] = {
    "report_to": [],
    "save_strategy": "steps",
    "save_steps": 0.25,  # below 1: a fraction of the stage's optimizer steps
    "save_total_limit": 1,
    "eval_strategy": "no",
    "logging_steps": 50,
    "per_device_train_batch_size": 32,
    "per_device_eval_batch_size": 64,
    "dataloader_num_workers": 0,
}


def metrics_fn(state: RunState):
    def compute(eval_pred) -> dict[str, float]:
        logits = eval_pred.predictions[0] if isinstance(eval_pred.predictions, tuple) else eval_pred.predictions
        return compute_task_metrics(state.task, np.asarray(logits), np.asarray(eval_pred.label_ids))

    return None if state.task.name == "masked-lm" else compute


def train_student(
    state: RunState,
    student: Any,
    teacher: Any,
    stage_cfg: StageConfig,
    stage_name: str,
    loss: dict[str, Any] | None = None,
    train_dataset: datasets.Dataset | None = None,
    callbacks: list[Any] | None = None,
    *,
    tokenizer: Any = None,
    teacher_tokenizer: Any = None,
    eval_dataset: datasets.Dataset | None = None,
    extra_args: dict[str, Any] | None = None,
) -> tuple[Any, dict[str, Any]]:
    """Train `student` (distilling from `teacher` when given) with the recipe's training settings
    overlaid by the stage's; returns the trained, unwrapped model and facts for the report (loss history,
    world size, optimizer steps, samples seen). `loss` holds DistillationConfig
    loss fields (alpha_*, temperature, ...); without a teacher the loss is the task loss alone.

    Each model reads the ids of its own tokenizer: `tokenizer` is the trained model's (default: the
    student's), `teacher_tokenizer` the teacher's (required with a teacher). When they differ the
    batches carry the teacher's ids as `teacher_*` columns (`trimformer.data.teacher_needs_own_ids`).
    `train_dataset` / `eval_dataset`, when given, must have been tokenized by `training_view(...)` for the same
    pair (e.g. a validation slice carved from training for early stopping). `extra_args` go to TrainingArguments
    over everything else."""
    from trimformer.trainer import DistillationTrainer  # lazy: keeps `trimformer validate` fast

    view = training_view(state, teacher, tokenizer=tokenizer, teacher_tokenizer=teacher_tokenizer)
    loss = dict(loss or {})
    if teacher is None:
        loss.update(
            alpha_task=1.0,
            alpha_kd=0.0,
            alpha_hidden=0.0,
            alpha_attention=0.0,
            alpha_embedding=0.0,
            teacher_cache=False,
        )
    work_dir = state.output_dir / ".work" / stage_name
    kwargs = {**TRAINING_DEFAULTS, **state.training_args(stage_cfg.training, work_dir, **loss), **(extra_args or {})}
    if kwargs.get("teacher_cache"):
        kwargs.setdefault("teacher_cache_dir", str(state.output_dir / ".teacher_cache"))
    args = DistillationConfig(**kwargs)
    trainer = DistillationTrainer(
        model=student,
        teacher_model=teacher,
        args=args,
        train_dataset=train_dataset if train_dataset is not None else view.train,
        eval_dataset=eval_dataset if eval_dataset is not None else view.eval,
        data_collator=view.collator,
        processing_class=view.tokenizer,
        compute_metrics=metrics_fn(state),
        regression=state.task.regression,
        callbacks=callbacks,
    )
    checkpoint = claim_work_dir(work_dir, state.fingerprint or stage_name, state.resume)
    if checkpoint is not None and is_main_process():
        print(f"resuming {stage_name} from {checkpoint}", flush=True)
    trainer.train(resume_from_checkpoint=checkpoint)
    history = [
        {k: v for k, v in entry.items() if k.startswith("loss") or k in ("epoch", "step")}
        for entry in trainer.state.log_history
        if "loss" in entry
    ]
    info = {"train_loss_history": history, "training": trainer.training_summary()}
    # keep_fp32_wrapper=False: under bf16/fp16 accelerate wraps forward in autocast; a stage after this one (e.g.
    # the ONNX export of int8-cpu) must get the plain model (tracing through the wrapper failed in the full demo).
    return trainer.accelerator.unwrap_model(trainer.model, keep_fp32_wrapper=False), info


def training_view(state: RunState, teacher: Any, *, tokenizer: Any = None, teacher_tokenizer: Any = None) -> Any:
    """The data view (`trimformer.data.TaskView`) a training run with this model/teacher pair reads."""
    tokenizer = tokenizer if tokenizer is not None else state.tokenizer
    if teacher is not None and teacher_tokenizer is None:
        raise ValueError("internal: train_student with a teacher needs teacher_tokenizer (the teacher's own)")
    force = getattr(getattr(state.recipe, "teacher", None), "own_tokenizer", None)
    own = force if teacher is not None and teacher_tokenizer is state.teacher_tokenizer else None
    return state.data.view(tokenizer, teacher_tokenizer if teacher is not None else None, own)

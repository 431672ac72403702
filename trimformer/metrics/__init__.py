"""Task metrics through `evaluate`: `metric_fn(task)` returns a function from (logits, labels) to a dict."""

from __future__ import annotations

import math

import numpy as np

from trimformer.metrics.modules import F1, Accuracy, MatthewsCorrelation, PearsonSpearman, Seqeval
from trimformer.tasks import TaskSpec

__all__ = ["compute_task_metrics", "Accuracy", "F1", "MatthewsCorrelation", "PearsonSpearman", "Seqeval"]


def compute_task_metrics(task: TaskSpec, logits: np.ndarray, labels: np.ndarray, loss: float | None = None) -> dict:
    """Metrics chosen by task: accuracy/F1/Matthews (classification), Pearson/Spearman
    (regression), seqeval (token classification), perplexity (masked LM, from the mean loss)."""
    if task.name == "masked-lm":
        return {"perplexity": math.exp(min(loss, 50.0)) if loss is not None else float("nan"), "loss": loss}
    if task.name == "token-classification":
        preds = logits.argmax(-1)
        names = task.label_names or tuple(str(i) for i in range(logits.shape[-1]))
        pred_tags, ref_tags = [], []
        for p_row, l_row in zip(preds, labels):
            keep = l_row != -100
            pred_tags.append([names[i] for i in p_row[keep]])
            ref_tags.append([names[i] for i in l_row[keep]])
        return Seqeval().compute(predictions=pred_tags, references=ref_tags)
    if task.regression:
        return PearsonSpearman().compute(predictions=logits.reshape(-1), references=labels.reshape(-1))
    keep = labels != -100
    preds, refs = logits.argmax(-1)[keep], labels[keep]
    out = Accuracy().compute(predictions=preds, references=refs)
    average = "binary" if logits.shape[-1] == 2 else "macro"
    out.update(F1().compute(predictions=preds, references=refs, average=average))
    out.update(MatthewsCorrelation().compute(predictions=preds, references=refs))
    return out

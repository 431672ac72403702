"""Task kinds: which model head, which metrics, how labels look."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

TaskName = Literal["sequence-classification", "token-classification", "masked-lm"]
TASKS: tuple[str, ...] = ("sequence-classification", "token-classification", "masked-lm")


@dataclass(frozen=True)
class TaskSpec:
    name: str
    num_labels: int = 2
    label_names: tuple[str, ...] = ()
    # Regression is sequence classification with one float output (STS-B style).
    regression: bool = False

    @property
    def auto_class_name(self) -> str:
        return {
            "sequence-classification": "AutoModelForSequenceClassification",
            "token-classification": "AutoModelForTokenClassification",
            "masked-lm": "AutoModelForMaskedLM",
        }[self.name]

    @property
    def auto_class(self):
        import transformers

        return getattr(transformers, self.auto_class_name)

    @property
    def main_metric(self) -> str:
        if self.name == "masked-lm":
            return "perplexity"
        if self.name == "token-classification":
            return "f1"
        if self.regression:
            return "pearson"
        return "accuracy"

    @property
    def greater_is_better(self) -> bool:
        return self.main_metric != "perplexity"

    def model_kwargs(self) -> dict:
        """kwargs for `from_pretrained` / config so the head matches the labels."""
        if self.name == "masked-lm":
            return {}
        if self.regression:
            return {"num_labels": 1, "problem_type": "regression"}
        kwargs: dict = {"num_labels": self.num_labels}
        if self.label_names:
            kwargs["id2label"] = dict(enumerate(self.label_names))
            kwargs["label2id"] = {n: i for i, n in enumerate(self.label_names)}
        return kwargs

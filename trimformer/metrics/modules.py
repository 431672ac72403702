"""evaluate metric modules for the metrics trimformer reports.

`evaluate.load("accuracy")` fetches its script from the Hub, which offline machines and air-gapped
clusters cannot reach. These are the same computations (scikit-learn / scipy / seqeval, as in the
evaluate-metric scripts) as `evaluate.Metric` subclasses, so they run through evaluate's real
machinery (add_batch, distributed gathering, features) with no download.
"""

from __future__ import annotations

import datasets
import evaluate

_CITATION = "See https://huggingface.co/evaluate-metric for the original metric cards."


def _features(pred: str, ref: str) -> datasets.Features:
    return datasets.Features({"predictions": datasets.Value(pred), "references": datasets.Value(ref)})


class Accuracy(evaluate.Metric):
    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description="Proportion of correct predictions.",
            citation=_CITATION,
            inputs_description="predictions, references: class ids",
            features=_features("int32", "int32"),
        )

    def _compute(self, predictions, references):
        from sklearn.metrics import accuracy_score

        return {"accuracy": float(accuracy_score(references, predictions))}


class F1(evaluate.Metric):
    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description="Harmonic mean of precision and recall (binary, or macro over classes).",
            citation=_CITATION,
            inputs_description="predictions, references: class ids; average: binary|macro|micro|weighted",
            features=_features("int32", "int32"),
        )

    def _compute(self, predictions, references, average="binary"):
        from sklearn.metrics import f1_score

        return {"f1": float(f1_score(references, predictions, average=average))}


class MatthewsCorrelation(evaluate.Metric):
    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description="Matthews correlation coefficient.",
            citation=_CITATION,
            inputs_description="predictions, references: class ids",
            features=_features("int32", "int32"),
        )

    def _compute(self, predictions, references):
        from sklearn.metrics import matthews_corrcoef

        return {"matthews_correlation": float(matthews_corrcoef(references, predictions))}


class PearsonSpearman(evaluate.Metric):
    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description="Pearson and Spearman correlation for regression.",
            citation=_CITATION,
            inputs_description="predictions, references: floats",
            features=_features("float32", "float32"),
        )

    def _compute(self, predictions, references):
        from scipy.stats import pearsonr, spearmanr

        return {
            "pearson": float(pearsonr(references, predictions)[0]),
            "spearmanr": float(spearmanr(references, predictions)[0]),
        }


class Seqeval(evaluate.Metric):
    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description="Entity-level precision/recall/F1 (seqeval), plus token accuracy.",
            citation=_CITATION,
            inputs_description="predictions, references: lists of tag strings per sentence",
            features=datasets.Features(
                {
                    "predictions": datasets.Sequence(datasets.Value("string")),
                    "references": datasets.Sequence(datasets.Value("string")),
                }
            ),
        )

    def _compute(self, predictions, references):
        from seqeval.metrics import accuracy_score, f1_score, precision_score, recall_score

        return {
            "precision": float(precision_score(references, predictions, zero_division=0)),
            "recall": float(recall_score(references, predictions, zero_division=0)),
            "f1": float(f1_score(references, predictions, zero_division=0)),
            "accuracy": float(accuracy_score(references, predictions)),
        }

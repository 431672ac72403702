"""Measurement: quality per artefact, then one interleaved latency pass over all of them.

    from trimformer.measure import measure, measure_latency, TimingSettings
    entry = measure(model, task, eval_dataset, collator, artefact=path)      # metrics, params, sizes
    measure_latency(report, TimingSettings(threads=2))                       # every model, together

Modules: `evaluate` (task metrics), `weights` (params and bytes), `runtime` (devices, runtimes, threads),
`timing` (the interleaved pass), `stats` (the one rule for figures and ratios), `report_pass` (report
entries in, latency blocks out; `trimformer bench`), `quality` (a model's metric/size entry).
"""

from trimformer.measure.evaluate import evaluate_model, logits_of
from trimformer.measure.quality import measure
from trimformer.measure.report_pass import (
    bench,
    measure_latency,
    settings_from_report,
    settings_from_section,
    time_run,
)
from trimformer.measure.runtime import model_device
from trimformer.measure.timing import TimingSettings, time_interleaved
from trimformer.measure.weights import count_parameters, size_on_disk_mb, weights_mb

__all__ = [
    "TimingSettings",
    "bench",
    "count_parameters",
    "evaluate_model",
    "logits_of",
    "measure",
    "measure_latency",
    "model_device",
    "settings_from_report",
    "settings_from_section",
    "size_on_disk_mb",
    "time_interleaved",
    "time_run",
    "weights_mb",
]

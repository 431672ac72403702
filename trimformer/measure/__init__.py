"""Measurement: quality per artefact, then one interleaved latency pass over all of them.

    from trimformer.measure import measure, measure_latency, TimingSettings
    entry = measure(model, task, eval_dataset, collator, artefact=path)      # metrics, params, sizes
    measure_latency(report, TimingSettings(threads=2))                       # every model, together

Modules: `evaluate` (task metrics), `weights` (params and bytes), `runtime` (devices, runtimes, threads),
`timing` (the interleaved pass), `stats` (the one rule for figures and ratios), `report_pass` (report
entries in, latency blocks out; `trimformer bench`), `quality` (a model's metric/size entry).
Names import lazily: `trimformer report` reads `stats` without importing torch and `evaluate`.
"""

from trimformer._lazy import lazy_exports

_EXPORTS = {
    "TimingSettings": "timing",
    "bench": "report_pass",
    "count_parameters": "weights",
    "evaluate_model": "evaluate",
    "logits_of": "evaluate",
    "measure": "quality",
    "measure_latency": "report_pass",
    "metrics_of": "evaluate",
    "model_device": "runtime",
    "model_outputs": "evaluate",
    "settings_from_report": "report_pass",
    "settings_from_section": "report_pass",
    "size_on_disk_mb": "weights",
    "time_interleaved": "timing",
    "time_run": "report_pass",
    "weights_mb": "weights",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)

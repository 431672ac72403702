"""Hand-made pipelines next to the winner: evaluated on the winner's eval split and timed in one interleaved
pass with it, so "as accurate as demo-compress at its latency" is read from one measurement.

    search: {compare: [runs/demo-compress/quantize]}      # or trimformer search ... --compare PATH
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from trimformer.search.winner import figures_of


def compare(
    report: dict[str, Any], winner: dict[str, Any], refs: list[str], recipe: Any, batch_sizes: tuple[int, ...]
) -> dict[str, Any]:
    from transformers import AutoTokenizer

    from trimformer import data as data_mod
    from trimformer.loading import load_model, resolve_path
    from trimformer.measure import measure_latency, settings_from_section
    from trimformer.measure.quality import measure
    from trimformer.runner import data_settings

    settings = data_settings(recipe)
    raw = data_mod.load_raw(settings, recipe.seed)
    task = data_mod.infer_task(recipe.task, raw, settings, recipe.data.regression)
    models = [{"name": "search winner", "role": "stage", "path": winner["path"], **_kept(winner)}]
    for ref in refs:
        path = resolve_path(ref)
        model = load_model(path, task.auto_class)
        tokenizer = AutoTokenizer.from_pretrained(path)
        rows = data_mod.tokenize(raw["validation"], task, settings, tokenizer)
        collator = data_mod.DistillationCollator(tokenizer, task)
        entry = measure(model, task, rows, collator, artefact=path, max_length=settings.max_length)
        models.append(
            {
                "name": Path(str(ref).rstrip("/")).parent.name + "/" + Path(str(ref)).name,
                "role": "stage",
                "path": path,
                **entry,
            }
        )
    bench = {
        "task": report["task"],
        "labels": report["labels"],
        "main_metric": report["main_metric"],
        "models": models,
    }
    timing = settings_from_section(recipe.measure, batch_sizes=tuple(sorted(set(batch_sizes))), devices=("cpu",))
    measure_latency(bench, timing)
    metric = report["main_metric"]
    rows = [
        {
            "name": m["name"],
            "path": m["path"],
            "accuracy": m["metrics"].get(metric),
            **figures_of(m, list(batch_sizes)),
            **(_winner_speedup(models[0], m, batch_sizes) if i else {}),
        }
        for i, m in enumerate(models)
    ]
    return {"metric": metric, "models": rows, "measurement": bench["measurement"]}


def _winner_speedup(winner: dict[str, Any], other: dict[str, Any], batch_sizes: tuple[int, ...]) -> dict[str, Any]:
    """{winner_speedup_b<N>: other / winner latency as the median of paired calls (> 1: the winner is faster),
    winner_speedup_b<N>_supported}: the ratio the same-pass verdict reads, robust to load during the pass."""
    from trimformer.measure.stats import paired_ratio

    out: dict[str, Any] = {}
    for b in batch_sizes:
        cells = [
            ((m.get("latency") or {}).get("cpu") or {}).get("batches", {}).get(f"b{b}") or {} for m in (other, winner)
        ]
        ratio = paired_ratio(cells[0].get("calls_ms") or [], cells[1].get("calls_ms") or [])
        if ratio is not None:
            out[f"winner_speedup_b{b}"] = round(ratio.value, 4)
            out[f"winner_speedup_b{b}_supported"] = ratio.supported
    return out


def _kept(entry: dict[str, Any]) -> dict[str, Any]:
    return {k: entry[k] for k in ("metrics", "size_mb", "params", "eval_examples") if k in entry}

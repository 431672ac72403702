"""Time every artefact of a run (or any list of models) together, and write the result into the report.

    time_run(report, recipe.measure)                                          # the runner, after the stages
    measure_latency(report, settings_from_report(report), base_dir="runs/demo")  # trimformer report --remeasure
    report = bench(["runs/demo/finetune", "runs/demo/distill"], TimingSettings())  # trimformer bench

Each model entry gets `latency = {device: block}` (see `trimformer.measure.timing`) and `weights_mb`; the
report gets `measurement`: the settings, the machine load before and after, and the rule ratios follow.
Entries are loaded from their saved folders, the way a user loads them, unless `models` hands one in.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from trimformer.measure import wait_policy
from trimformer.measure.stats import MIN_ROUNDS, NOISE_LIMIT, RULE
from trimformer.measure.timing import TimingSettings, time_interleaved
from trimformer.measure.weights import count_parameters, size_on_disk_mb, weights_mb

# Keys the one-model-at-a-time measurement wrote; a new pass replaces them.
LEGACY_KEYS = ("latency_ms", "latency_ms_cuda", "throughput_per_s", "peak_memory_mb", "threads", "length", "device")
DEFAULT_ROUNDS = 5
ORDER = "round-robin, one call per model in turn, order rotated every round, warm-up first"
INPUTS = "batch × length token ids from one seed, no padding, the same for every model"


def settings_from_section(section: Any, **overrides: Any) -> TimingSettings:
    """TimingSettings from a recipe's `measure:` section (an object or a dict); `repeats` = calls per round."""
    get = section.get if isinstance(section, dict) else lambda k, d=None: getattr(section, k, d)
    values = {
        "batch_sizes": tuple(get("batch_sizes", None) or (1, 32)),
        "length": get("length", None) or 64,
        "threads": get("threads", 2),
        "rounds": get("rounds", None) or DEFAULT_ROUNDS,
        "calls": get("calls", None) or get("repeats", None) or 5,
    }
    if get("devices", None):
        values["devices"] = tuple(get("devices"))
    values.update({k: v for k, v in overrides.items() if v is not None})
    return TimingSettings(**values)


def settings_from_report(report: dict[str, Any], **overrides: Any) -> TimingSettings:
    """The settings the run was measured with (its last pass, else its recipe), with `overrides` on top."""
    previous = report.get("measurement") or {}
    if previous:
        keys = ("batch_sizes", "length", "threads", "rounds", "calls", "warmup", "devices")
        return TimingSettings(**{**{k: previous[k] for k in keys if k in previous}, **_given(overrides)})
    return settings_from_section((report.get("recipe") or {}).get("measure") or {}, **overrides)


def _given(overrides: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in overrides.items() if v is not None}


def artefact_path(entry: dict[str, Any], base_dir: str | Path | None = None) -> str:
    """Where an entry's model loads from: its recorded path, else BASE_DIR/<folder name> (a moved run
    folder), else the reference as recorded (a Hub id or package: path)."""
    from trimformer.loading import resolve_path

    raw = str(entry.get("path") or "")
    if not raw:
        raise ValueError(f"report.json: model '{entry.get('name')}' has no 'path'; rerun the recipe to record it")
    resolved = resolve_path(raw)
    if Path(resolved).exists():
        return resolved
    if base_dir is not None and (Path(base_dir) / Path(raw).name).exists():
        return str(Path(base_dir) / Path(raw).name)
    return resolved


def task_of(report: dict[str, Any]) -> Any:
    """The run's TaskSpec, rebuilt from report.json (None for a bench of plain model folders)."""
    from trimformer.tasks import TaskSpec

    name = report.get("task")
    if not name:
        return None
    labels = tuple(str(x) for x in report.get("labels") or ())
    if report.get("main_metric") == "pearson":
        return TaskSpec(name, 1, (), regression=True)
    return TaskSpec(name, len(labels) or 2, labels)


def load_entry(entry: dict[str, Any], report: dict[str, Any], base_dir: str | Path | None = None) -> Any:
    """Load a report entry's artefact with `trimformer.loading.load_model`, the way the run loaded it: a model
    given to the recipe (teacher, pretrained student) gets the task's head kwargs and the teacher its dtype."""
    from transformers import AutoConfig

    from trimformer.artefact.log import get_log
    from trimformer.loading import load_model

    task = task_of(report)
    path = artefact_path(entry, base_dir)
    recipe = report.get("recipe") or {}
    teacher, student = recipe.get("teacher") or {}, recipe.get("student") or {}
    kwargs: dict[str, Any] = {}
    given = entry.get("path") in (teacher.get("model"), student.get("model")) and not entry.get("stage_type")
    if given and task is not None and get_log(AutoConfig.from_pretrained(path)).empty:
        kwargs.update(task.model_kwargs())
        if entry.get("role") == "teacher" and teacher.get("dtype"):
            kwargs["dtype"] = teacher["dtype"]
    model = load_model(path, task.auto_class if task else None, **kwargs)
    return model.eval() if hasattr(model, "eval") else model


def measure_latency(
    report: dict[str, Any],
    settings: TimingSettings,
    models: dict[str, Any] | None = None,
    base_dir: str | Path | None = None,
    progress: Callable[[str], None] | None = print,
) -> dict[str, Any]:
    """Time every entry of `report["models"]` in one interleaved pass; writes into `report` and returns it.
    `models` maps entry names to in-memory models to use instead of loading them (e.g. the teacher)."""
    say = progress or (lambda _m: None)
    entries = report.get("models") or []
    loaded: dict[str, Any] = {}
    failed: dict[str, str] = {}
    for i, entry in enumerate(entries):
        key = str(i)
        given = (models or {}).get(str(entry.get("name")))
        try:
            loaded[key] = given if given is not None else load_entry(entry, report, base_dir)
        except Exception as exc:  # reported in the table as "–" with the reason
            failed[key] = f"could not load: {type(exc).__name__}: {exc}"[:200]
            say(f"  {entry.get('name')}: {failed[key]}")
    before, start = _load_average(), time.perf_counter()
    blocks = time_interleaved(loaded, settings, say)
    seconds = time.perf_counter() - start
    for i, entry in enumerate(entries):
        key = str(i)
        for k in LEGACY_KEYS:
            entry.pop(k, None)
        if key in failed:
            entry["latency"] = {d: {"skipped": failed[key]} for d in _visible(settings.devices)}
            continue
        entry["latency"] = blocks.get(key, {})
        entry["weights_mb"] = weights_mb(loaded[key])
        if not entry.get("params"):
            entry.update(count_parameters(loaded[key]))
    report["measurement"] = {
        **settings.to_dict(),
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "seconds": round(seconds, 1),
        "order": ORDER,
        "inputs": INPUTS,
        "cpu_count": os.cpu_count(),
        "omp_wait_policy": wait_policy.current(),
        "load_before": before,
        "load_after": _load_average(),
        "rule": RULE,
        "noise_limit": NOISE_LIMIT,
        "min_rounds": MIN_ROUNDS,
    }
    return report


def _visible(devices: tuple[str, ...]) -> list[str]:
    from trimformer.measure.runtime import cuda_available

    return [d for d in devices if d != "cuda" or cuda_available()]


def _load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def expand_refs(refs: list[str]) -> list[dict[str, Any]]:
    """Model entries for `trimformer bench`: a run folder (holds report.json) adds each of its models,
    anything else is one model reference. Repeated names get #2, #3, ..."""
    import json

    entries: list[dict[str, Any]] = []
    for ref in refs:
        report_file = Path(ref) / "report.json"
        if report_file.is_file():
            run = json.loads(report_file.read_text(encoding="utf-8"))
            for model in run.get("models") or []:
                path = artefact_path(model, ref)
                entries.append({"name": str(model.get("name")), "path": path, "task": run.get("task")})
        else:
            entries.append({"name": Path(ref.rstrip("/")).name or ref, "path": ref})
    seen: dict[str, int] = {}
    for entry in entries:
        seen[entry["name"]] = seen.get(entry["name"], 0) + 1
        if seen[entry["name"]] > 1:
            entry["name"] = f"{entry['name']}#{seen[entry['name']]}"
    if entries:
        entries[0]["role"] = "reference"
    return entries


def bench(refs: list[str], settings: TimingSettings, progress: Callable[[str], None] | None = print) -> dict[str, Any]:
    """A report-shaped dict (no metrics) for `refs`, timed together; the first model is the reference."""
    from trimformer.loading import resolve_path

    entries = expand_refs(refs)
    report: dict[str, Any] = {"kind": "bench", "models": entries}
    if entries and entries[0].get("task"):
        report["task"] = entries[0]["task"]
    for entry in entries:
        entry.pop("task", None)
        entry.setdefault("role", "model")
        local = Path(resolve_path(entry["path"]))
        if local.is_dir():
            entry["size_mb"] = round(size_on_disk_mb(local), 3)
    measure_latency(report, settings, progress=progress)
    return report


def time_run(report: dict[str, Any], section: Any, progress: Callable[[str], None] | None = print) -> dict[str, Any]:
    """The runner's one call after all stages: time every model of `report` together with the recipe's
    `measure:` settings (nothing when `measure.latency` is false). Every model is loaded again from disk, as a
    user loads it: in-memory models may have been cast or moved by training (e.g. `teacher_dtype`)."""
    get = section.get if isinstance(section, dict) else lambda k, d=None: getattr(section, k, d)
    if not get("latency", True):
        return report
    if progress:
        progress("\n=== timing every model together ===")
    return measure_latency(report, settings_from_section(section), progress=progress)

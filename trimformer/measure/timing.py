"""One interleaved timing pass over several models: like-for-like latency.

    blocks = time_interleaved({"teacher": t, "student": s}, TimingSettings(threads=2, rounds=5))
    blocks["student"]["cpu"]["batches"]["b32"]["median_ms"]

Per device: every model gets `warmup` calls per batch size, then for each round, batch size and call
index, each model runs once, in an order rotated every round (A B C, B C A, C A B, ...). Background load
then lands on every model alike, and per-round ratios can be paired (see `trimformer.measure.stats`).
Every model sees the same inputs (batch × length token ids from one seed, no padding) and the same
thread count: torch intra-op threads and ONNX Runtime intra-op threads (inter-op 1).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import torch

from trimformer.measure import runtime
from trimformer.measure.runtime import (
    cpu_threads,
    dtype_of,
    model_device,
    pin_threads,
    place,
    runtime_of,
    session_threads,
    why_not,
)
from trimformer.measure.stats import summarize

DEVICES = ("cpu", "cuda")


@dataclass
class TimingSettings:
    batch_sizes: tuple[int, ...] = (1, 32)
    length: int = 64
    threads: int | None = 2
    rounds: int = 5
    calls: int = 5  # timed calls per model, batch size and round (their median is the round's figure)
    warmup: int = 2
    devices: tuple[str, ...] = DEVICES  # "cuda" is skipped when no GPU is visible
    seed: int = 0

    def __post_init__(self) -> None:
        self.batch_sizes = tuple(int(b) for b in self.batch_sizes)
        self.devices = tuple(self.devices)
        for name in ("rounds", "calls", "length"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"measure.{name}={getattr(self, name)}: use a positive number")
        if not self.batch_sizes or min(self.batch_sizes) < 1:
            raise ValueError(f"measure.batch_sizes={list(self.batch_sizes)}: use positive batch sizes, e.g. [1, 32]")
        unknown = set(self.devices) - set(DEVICES)
        if unknown:
            raise ValueError(f"measure.devices={list(self.devices)}: use cpu and/or cuda")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "batch_sizes": list(self.batch_sizes), "devices": list(self.devices)}


def timing_inputs(model: Any, batch: int, length: int, device: torch.device, seed: int) -> dict[str, torch.Tensor]:
    """batch × length token ids drawn from one seed (folded into the model's vocabulary), no padding."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1000, 30000, (batch, length), generator=g)
    vocab = getattr(getattr(model, "config", None), "vocab_size", None) or 30000
    ids = 5 + ids % max(1, vocab - 5)  # above the usual special tokens, inside every (pruned) vocabulary
    return {"input_ids": ids.to(device), "attention_mask": torch.ones_like(ids).to(device)}


def torch_device(name: str) -> torch.device:
    """The torch device that device name `name` times on (tests replace it to fake a GPU)."""
    return torch.device("cuda", torch.cuda.current_device()) if name == "cuda" else torch.device(name)


def _timer(device: torch.device) -> Callable[[Callable[[], Any]], float]:
    if device.type == "cuda":

        def timed(fn: Callable[[], Any]) -> float:
            torch.cuda.synchronize(device)
            start = time.perf_counter()
            fn()
            torch.cuda.synchronize(device)
            return (time.perf_counter() - start) * 1000

        return timed

    def timed_cpu(fn: Callable[[], Any]) -> float:
        start = time.perf_counter()
        fn()
        return (time.perf_counter() - start) * 1000

    return timed_cpu


def _rotated(items: list, k: int) -> list:
    k %= max(1, len(items))
    return items[k:] + items[:k]


def _cuda_peak_mb(model: Any, inputs: dict, device: torch.device) -> float:
    """Peak extra GPU memory of one forward (activations + workspace), from the allocator: exact, not sampled."""
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    before = torch.cuda.memory_allocated(device)
    model(**inputs)
    torch.cuda.synchronize(device)
    return round((torch.cuda.max_memory_allocated(device) - before) / 2**20, 2)


@torch.no_grad()
def time_interleaved(
    models: dict[str, Any], settings: TimingSettings, progress: Callable[[str], None] | None = None
) -> dict[str, dict[str, dict[str, Any]]]:
    """{name: {device: block}}; a block is {runtime, threads, dtype, batches: {bN: {median_ms, spread,
    rounds_ms, calls_ms}}} or {skipped: reason}. Models may be moved to each device in turn."""
    models = dict(models)  # placed / re-pinned copies replace entries here, never in the caller's dict
    out: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in models}
    say = progress or (lambda _msg: None)
    for device_name in settings.devices:
        if device_name == "cuda" and not runtime.cuda_available():
            continue
        device = torch_device(device_name)
        with cpu_threads(settings.threads):
            ready = _prepare(models, device_name, device, settings, out, say)
            if not ready:
                continue
            say(f"timing {len(ready)} model(s) on {device_name}: {settings.rounds} rounds × {settings.calls} calls")
            calls_ms = _run_rounds(ready, device, settings)
            for name, (model, inputs) in ready.items():
                block = out[name][device_name]
                for bs in settings.batch_sizes:
                    rounds = [statistics.median(c) for c in calls_ms[name][bs]]
                    block["batches"][f"b{bs}"] = {
                        **summarize(rounds),
                        "rounds_ms": [round(r, 4) for r in rounds],
                        "calls_ms": [[round(c, 4) for c in calls] for calls in calls_ms[name][bs]],
                    }
                if device.type == "cuda":
                    block["peak_mb"] = {f"b{bs}": _cuda_peak_mb(model, inputs[bs], device) for bs in inputs}
    return out


def _prepare(models, device_name, device, settings, out, say) -> dict[str, tuple[Any, dict[int, dict]]]:
    """Place, pin and warm up every model that can run on `device`; record why the others cannot."""
    ready = {}
    for name, model in models.items():
        reason = why_not(model, device_name)
        if reason is not None:
            out[name][device_name] = {"skipped": reason}
            continue
        try:
            model = pin_threads(place(model, device), settings.threads)
            models[name] = model
            where = model_device(model)
            inputs = {b: timing_inputs(model, b, settings.length, where, settings.seed) for b in settings.batch_sizes}
            for bs in settings.batch_sizes:
                for _ in range(settings.warmup):
                    model(**inputs[bs])
        except Exception as exc:  # a model that fails here is reported, not fatal to the others
            out[name][device_name] = {"skipped": f"failed on {device_name}: {type(exc).__name__}: {exc}"[:200]}
            say(f"  {name}: {out[name][device_name]['skipped']}")
            continue
        kind = runtime_of(model)
        threads = session_threads(model) if kind == "onnxruntime" else torch.get_num_threads()
        out[name][device_name] = {
            "runtime": kind,
            "threads": threads,
            "interop_threads": 1 if kind == "onnxruntime" else torch.get_num_interop_threads(),
            "dtype": dtype_of(model),
            "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
            "batches": {},
        }
        ready[name] = (model, inputs)
    return ready


def _run_rounds(ready, device, settings) -> dict[str, dict[int, list[list[float]]]]:
    timed = _timer(device)
    names = list(ready)
    calls_ms = {name: {bs: [] for bs in settings.batch_sizes} for name in names}
    for r in range(settings.rounds):
        order = _rotated(names, r)
        for bs in settings.batch_sizes:
            this_round = {name: [] for name in names}
            for _ in range(settings.calls):
                for name in order:
                    model, inputs = ready[name]
                    this_round[name].append(timed(lambda m=model, x=inputs[bs]: m(**x)))
            for name in names:
                calls_ms[name][bs].append(this_round[name])
    return calls_ms

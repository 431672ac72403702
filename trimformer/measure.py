"""One measurement for the teacher and every stage: task metric on the whole eval set, parameter
count, size on disk, CPU latency at fixed thread count and length."""

from __future__ import annotations

import math
import statistics
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from trimformer.metrics import compute_task_metrics
from trimformer.tasks import TaskSpec

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".onnx", ".pt", ".pth", ".gguf")


def logits_of(output: Any) -> torch.Tensor:
    if hasattr(output, "logits"):
        return output.logits
    if isinstance(output, dict):
        return output["logits"]
    return output[0]


def model_device(model: Any) -> torch.device:
    try:
        return next(model.parameters()).device
    except (AttributeError, StopIteration):
        return torch.device("cpu")


@torch.no_grad()
def evaluate_model(model: Any, dataset: Any, collator: Any, task: TaskSpec, batch_size: int = 64) -> dict[str, float]:
    """Metrics on every example of `dataset` (one process; the caller picks which)."""
    if hasattr(model, "eval"):
        model.eval()
    device = model_device(model)
    loader = DataLoader(dataset, batch_size=batch_size, collate_fn=collator)
    all_logits, all_labels, losses = [], [], []
    for batch in tqdm(loader, desc="evaluate", leave=False):
        labels = batch.pop("labels", None)
        feed = {k: v.to(device) for k, v in batch.items() if k != "example_id" and not k.startswith("teacher_")}
        logits = logits_of(model(**feed)).float().cpu()
        if task.name == "masked-lm":
            losses.append(torch.nn.functional.cross_entropy(logits.view(-1, logits.size(-1)), labels.view(-1)).item())
            continue
        if logits.dim() == 3:  # token level: pad to a common length for stacking
            width = 512
            logits = torch.nn.functional.pad(logits, (0, 0, 0, width - logits.size(1)))
            labels = torch.nn.functional.pad(labels, (0, width - labels.size(1)), value=-100)
        all_logits.append(logits.numpy())
        all_labels.append(labels.numpy())
    if task.name == "masked-lm":
        return compute_task_metrics(task, np.zeros(0), np.zeros(0), float(np.mean(losses)))
    return compute_task_metrics(task, np.concatenate(all_logits), np.concatenate(all_labels))


def count_parameters(model: Any) -> dict[str, int]:
    if not hasattr(model, "parameters"):
        return {"params": 0, "nonzero_params": 0}
    total = nonzero = 0
    for p in model.parameters():
        total += p.numel()
        if p.is_floating_point():
            nonzero += int(torch.count_nonzero(p).item())
        else:
            nonzero += p.numel()
    return {"params": total, "nonzero_params": nonzero}


def size_on_disk_mb(path: str | Path) -> float:
    """Bytes of the weight files of a saved artefact (config/tokenizer files excluded)."""
    p = Path(path)
    files = [p] if p.is_file() else [f for f in p.rglob("*") if f.is_file() and f.suffix in WEIGHT_SUFFIXES]
    return sum(f.stat().st_size for f in files) / 2**20


@contextmanager
def cpu_threads(threads: int | None):
    previous = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def latency_inputs(dataset: Any, collator: Any, batch_size: int, length: int, device: torch.device) -> dict:
    """Real eval rows, padded/truncated to exactly `length` tokens, repeated up to `batch_size`."""
    rows = [dataset[i % len(dataset)] for i in range(batch_size)]
    batch = collator(rows)
    out = {}
    for key in ("input_ids", "attention_mask", "token_type_ids"):
        if key not in batch:
            continue
        x = batch[key][:, :length]
        if x.size(1) < length:
            x = torch.nn.functional.pad(x, (0, length - x.size(1)), value=0)  # pad id / masked out
        out[key] = x.to(device)
    return out


def _rss_mb() -> float:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


@contextmanager
def peak_memory(device: torch.device):
    """Peak extra memory while the block runs: CUDA allocator peak on GPU; on CPU the growth of the
    process's resident set, sampled every millisecond (activations and runtime workspaces)."""
    result: dict[str, float] = {}
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        yield result
        result["peak_mb"] = (torch.cuda.max_memory_allocated(device) - before) / 2**20
        return
    import threading

    base, peak, stop = _rss_mb(), [0.0], threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], _rss_mb())
            stop.wait(0.001)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield result
    finally:
        stop.set()
        thread.join()
        result["peak_mb"] = max(0.0, peak[0] - base)


@torch.no_grad()
def latency_ms(model: Any, inputs: dict, repeats: int = 5, warmup: int = 2) -> dict[str, float]:
    for _ in range(warmup):
        model(**inputs)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model(**inputs)
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    p95 = times[min(len(times) - 1, math.ceil(0.95 * len(times)) - 1)]
    return {"p50": statistics.median(times), "p95": p95}


def measure(
    model: Any,
    task: TaskSpec,
    dataset: Any,
    collator: Any,
    artefact: str | Path | None = None,
    batch_sizes: tuple[int, ...] = (1, 32),
    length: int = 64,
    threads: int | None = 2,
    repeats: int = 5,
    latency: bool = True,
) -> dict[str, Any]:
    """The report entry for one model: metrics, params, size_mb, latency_ms {b1, b32, b1_p95, ...}."""
    result: dict[str, Any] = {"metrics": evaluate_model(model, dataset, collator, task), "eval_examples": len(dataset)}
    result.update(count_parameters(model))
    result["size_mb"] = round(size_on_disk_mb(artefact), 3) if artefact else None
    result["latency_ms"] = {}
    result["threads"] = threads
    result["length"] = length
    if latency:
        device = model_device(model)
        result["device"] = str(device)
        with cpu_threads(threads):
            for bs in batch_sizes:
                with peak_memory(device) as mem:
                    timing = latency_ms(model, latency_inputs(dataset, collator, bs, length, device), repeats)
                result["latency_ms"][f"b{bs}"] = round(timing["p50"], 3)
                result["latency_ms"][f"b{bs}_p95"] = round(timing["p95"], 3)
                result.setdefault("throughput_per_s", {})[f"b{bs}"] = round(bs * 1000 / timing["p50"], 2)
                result.setdefault("peak_memory_mb", {})[f"b{bs}"] = round(mem["peak_mb"], 2)
        if torch.cuda.is_available() and device.type == "cpu" and _movable(model):
            result["latency_ms_cuda"] = cuda_latency(model, dataset, collator, batch_sizes, length, repeats)
    return result


def _movable(model: Any) -> bool:
    """Plain float torch modules can be timed on the GPU too (not ONNX / int8 CPU artefacts)."""
    params = list(model.parameters()) if hasattr(model, "parameters") else []
    return bool(params) and all(p.is_floating_point() for p in params) and hasattr(model, "to")


def cuda_latency(model: Any, dataset: Any, collator: Any, batch_sizes, length: int, repeats: int) -> dict:
    cuda = torch.device("cuda")
    model.to(cuda)
    try:
        out = {}
        for bs in batch_sizes:
            timing = latency_ms(model, latency_inputs(dataset, collator, bs, length, cuda), repeats)
            out[f"b{bs}"], out[f"b{bs}_p95"] = round(timing["p50"], 3), round(timing["p95"], 3)
        return out
    finally:
        model.to("cpu")

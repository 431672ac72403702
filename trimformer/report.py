"""OUTPUT/report.json (machine-readable) and the table printed at the end of a run."""

from __future__ import annotations

import json
import os
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

import torch


def environment() -> dict[str, Any]:
    versions = {}
    for pkg in ("torch", "transformers", "datasets", "accelerate", "peft", "bitsandbytes", "torchao", "trimformer"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    return {
        **versions,
        "python": platform.python_version(),
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "threads": torch.get_num_threads(),
    }


def write_json_atomic(path: Path, payload: dict[str, Any]) -> None:
    """Write to a temp file then rename, so a crash never leaves a half-written report."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=str))
    tmp.replace(path)


def format_table(report: dict[str, Any]) -> str:
    """Plain-text comparison: each model's metric, size and latency against the teacher."""
    main = report.get("main_metric", "accuracy")
    models = report.get("models", [])
    teacher = next((m for m in models if m.get("role") == "teacher"), None)
    header = (
        f"{'model':<18}{main:>10}{'Δ pts':>8}{'params':>12}{'MB':>9}{'size ×':>8}{'b1 ms':>9}{'b32 ms':>9}{'b32 ×':>7}"
    )
    lines = [header, "-" * len(header)]
    for m in models:
        value = m["metrics"].get(main)
        delta = ""
        size_x = speed_x = ""
        if teacher is not None and m is not teacher:
            t_val = teacher["metrics"].get(main)
            if value is not None and t_val is not None:
                scale = 1 if main == "perplexity" else 100
                delta = f"{(value - t_val) * scale:+.2f}"
            if m.get("size_mb") and teacher.get("size_mb"):
                size_x = f"{teacher['size_mb'] / m['size_mb']:.2f}"
            t_lat, lat = teacher.get("latency_ms", {}).get("b32"), m.get("latency_ms", {}).get("b32")
            if t_lat and lat:
                speed_x = f"{t_lat / lat:.2f}"
        lat = m.get("latency_ms", {})
        shown = f"{value:.4f}" if isinstance(value, float) else str(value)
        size = f"{m['size_mb']:.1f}" if m.get("size_mb") is not None else "-"
        lines.append(
            f"{m['name']:<18}{shown:>10}{delta:>8}{m.get('params', 0):>12,}{size:>9}{size_x:>8}"
            f"{lat.get('b1', float('nan')):>9.1f}{lat.get('b32', float('nan')):>9.1f}{speed_x:>7}"
        )
    return "\n".join(lines)

"""OUTPUT/report.json (machine-readable), the environment it records, and the table printed at the end of a run."""

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
        # torch's default for this process, not what timing used (that is report["measurement"]["threads"]).
        "default_torch_threads": torch.get_num_threads(),
    }


def write_json_atomic(path: Path, payload: dict[str, Any]) -> None:
    """Write to a temp file then rename, so a crash never leaves a half-written report."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=str))
    tmp.replace(path)


def format_table(report: dict[str, Any]) -> str:
    """The console table: the same renderer, columns and notes as report.md (`report_table.text_table`)."""
    from trimformer.report_table import text_table

    return text_table(report)

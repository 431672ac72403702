"""Timing commands run with torch's OpenMP worker threads waiting passively.

In an interleaved pass every model runs call after call. After a torch call, torch's OpenMP (libgomp)
workers keep spinning on the cores for a while by default, and the next model's call (ONNX Runtime's own
threads, typically) competes with them for those cores. Measured on the full demo's int8-cpu model on 2
cores: 54.0 ms ±17% at batch 32 spinning, 40.3 ms ±16% passive, the torch teacher 2,048 vs 2,053 ms.
Deployed alone, no model has another runtime's spinners beside it, so the passive figure is the fair one.

libgomp reads OMP_WAIT_POLICY once, when torch starts its thread pool, so the commands that only time
(`trimformer bench`, `trimformer report --remeasure`) set it before importing torch. Training keeps the
default: passive waiting made a student training step ~12% slower here. A user's own setting wins.
"""

from __future__ import annotations

import os
from typing import Any

VARIABLE = "OMP_WAIT_POLICY"


def timing_only(args: Any) -> bool:
    """Does this command line only time models (so nothing it runs prefers spinning threads)?"""
    command = getattr(args, "command", None)
    return command == "bench" or (command == "report" and bool(getattr(args, "remeasure", False)))


def passive_for_timing(args: Any) -> None:
    """Call before torch is imported."""
    if timing_only(args):
        os.environ.setdefault(VARIABLE, "PASSIVE")


def current() -> str:
    """What the report records: the policy torch's threads were started with in this process."""
    return os.environ.get(VARIABLE, "default (spin, then sleep)")

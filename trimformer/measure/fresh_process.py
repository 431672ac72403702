"""The run's timing pass in a fresh Python process, with torch's OpenMP workers waiting passively.

Inside `trimformer run` torch's thread pool has been started (training) with the default wait policy: its
workers spin after each call and slow whichever model runs next in the interleaved pass (ONNX Runtime's
threads, typically; see `trimformer.measure.wait_policy`). libgomp reads the policy only at start-up, so the
run times its models in a child process started with OMP_WAIT_POLICY=PASSIVE, the way `trimformer bench` and
`trimformer report --remeasure` do. Every model is loaded from disk there anyway (`time_run`).

Usage: `time_in_fresh_process(report, recipe.measure)` (the runner's last step; the report is updated in place).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from trimformer.measure.wait_policy import VARIABLE

# What the timing pass writes over in every entry. It also fills what an entry lacks (parameter counts, as
# `measure_latency` does: where the entry's value is empty) and drops an older trimformer's timing keys.
REWRITTEN = ("latency", "weights_mb")


def time_in_fresh_process(report: dict[str, Any], section: Any) -> dict[str, Any]:
    settings = section.model_dump() if hasattr(section, "model_dump") else dict(section or {})
    if not settings.get("latency", True):
        return report
    with tempfile.TemporaryDirectory(prefix="trimformer-timing-") as tmp:
        given, timed = Path(tmp) / "report.json", Path(tmp) / "timed.json"
        given.write_text(json.dumps(report, default=str))
        env = dict(os.environ)
        env.setdefault(VARIABLE, "PASSIVE")
        code = "import sys; from trimformer.measure.fresh_process import _child; _child(*sys.argv[1:])"
        done = subprocess.run([sys.executable, "-c", code, str(given), json.dumps(settings), str(timed)], env=env)
        if done.returncode != 0:
            raise RuntimeError(f"the timing process exited with {done.returncode} (its output is above)")
        result = json.loads(timed.read_text())
    for entry, fresh in zip(report.get("models") or [], result.get("models") or []):
        for key in [k for k in entry if k not in fresh]:
            entry.pop(key)
        entry.update({k: v for k, v in fresh.items() if k in REWRITTEN or not entry.get(k)})
    report["measurement"] = result.get("measurement")
    return report


def _child(report_path: str, settings_json: str, out_path: str) -> None:
    from trimformer.measure.runtime import try_single_interop_thread

    try_single_interop_thread()  # a fresh torch: before any parallel work, as `trimformer bench` does
    from trimformer.measure.report_pass import time_run
    from trimformer.report import write_json_atomic

    report = json.loads(Path(report_path).read_text())
    time_run(report, json.loads(settings_json), progress=lambda msg: print(msg, flush=True))
    write_json_atomic(Path(out_path), report)

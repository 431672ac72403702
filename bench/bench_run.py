"""Usage: python bench/bench_run.py runs/full-demo [--rounds 7] [--threads 2] [--goals full-demo] [--from-report]

Every artefact of a finished run against its teacher, side by side from one interleaved timing pass on this
machine (the #7 measurement): accuracy, size on disk, CPU latency at batch 1 and 32, with the ratios and
their spread flags; then what distillation bought (distilled vs control row) and, with --goals, each
headline goal of the full demo checked against these numbers (PASS / MISS, never rounded up).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from trimformer.measure.report_pass import measure_latency, settings_from_report  # noqa: E402
from trimformer.report_rows import stage_ratios  # noqa: E402
from trimformer.report_table import text_table  # noqa: E402

# The goals for the full demo (held-out split, against its own fine-tuned teacher, CPU, 2 threads).
FULL_DEMO_GOALS = {
    "student_accuracy": 0.86,
    "final_accuracy": 0.85,
    "smaller": 40.0,
    "faster_b32": 50.0,
    "faster_b1": 35.0,
}


def check_goals(report: dict) -> list[str]:
    rows = [r for r in stage_ratios(report) if r.role == "stage"]
    distilled = next((r for r in rows if r.stage_type == "distill"), None)
    final = rows[-1] if rows else None
    lines = []

    def line(ok: bool, text: str) -> None:
        lines.append(f"{'PASS' if ok else 'MISS'}  {text}")

    g = FULL_DEMO_GOALS
    if distilled is not None and distilled.metric is not None:
        line(
            distilled.metric >= g["student_accuracy"],
            f"distilled student {100 * distilled.metric:.2f}% (goal >= 86.0%)",
        )
    if final is not None:
        if final.metric is not None:
            line(final.metric >= g["final_accuracy"], f"final artefact {100 * final.metric:.2f}% (goal >= 85.0%)")
        if final.size_x is not None:
            line(final.size_x >= g["smaller"], f"final artefact {final.size_x:.1f}x smaller on disk (goal >= 40x)")
        for batch, goal in (("b32", g["faster_b32"]), ("b1", g["faster_b1"])):
            cell = (final.timings.get("cpu") or {}).get(batch)
            if cell is None or cell.ratio is None:
                lines.append(f"MISS  final artefact at {batch}: no CPU ratio measured")
                continue
            note = "" if cell.ratio.supported else " (flagged: spread too wide to support the ratio)"
            line(
                cell.ratio.value >= goal and cell.ratio.supported,
                f"{cell.ratio.value:.1f}x faster at {batch} (goal >= {goal:.0f}x){note}",
            )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", help="A finished run's output folder (holds report.json)")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--goals", choices=["full-demo"], default=None)
    parser.add_argument(
        "--from-report", action="store_true", help="Use the run's own interleaved pass instead of timing again"
    )
    args = parser.parse_args()
    report = json.loads((Path(args.run) / "report.json").read_text())
    if not args.from_report:
        settings = settings_from_report(report, rounds=args.rounds, threads=args.threads)
        measure_latency(report, settings, base_dir=args.run)
    print(text_table(report))  # its notes already say what distillation bought (distilled vs control)
    if args.goals:
        print()
        for line in check_goals(report):
            print(line)


if __name__ == "__main__":
    main()

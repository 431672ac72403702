"""`trimformer bench MODEL [MODEL ...]`: time any artefacts together, the way a run's report is timed.

    trimformer bench runs/demo                                   # every model of a finished run
    trimformer bench runs/demo/finetune runs/demo/distill --threads 2 --rounds 7 --json bench.json

One interleaved pass (models alternate call by call, order rotated every round, warm-up first), the
same inputs and thread count for every runtime; ratios are against the first model and follow the
rule printed under the table. Installed into the main parser by `trimformer.cli` with
`add_bench_command(sub)`; imports nothing heavy until it runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def add_bench_command(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "bench",
        help="Time models together (interleaved rounds, same inputs and threads); ratios against the first.",
        description="MODEL: a model folder, Hub id, package:MODULE/path, or a run's OUTPUT folder (all its models).",
    )
    parser.add_argument("models", nargs="+", metavar="MODEL", help="Models to time; the first is the reference.")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 32], metavar="N", help="Default: 1 32.")
    parser.add_argument("--length", type=int, default=64, help="Tokens per row (default 64).")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for every runtime (default 2).")
    parser.add_argument("--rounds", type=int, default=5, help="Interleaved rounds (default 5).")
    parser.add_argument("--calls", type=int, default=5, help="Timed calls per model, batch and round (default 5).")
    parser.add_argument("--warmup", type=int, default=2, help="Untimed calls per model and batch size first.")
    parser.add_argument(
        "--device", choices=["cpu", "cuda", "all"], default="all", help="Where to time (all: CPU, CUDA if present)."
    )
    parser.add_argument("--json", dest="json_out", default=None, metavar="PATH", help="Also write the results here.")
    parser.set_defaults(fn=run_bench)
    return parser


def run_bench(args: argparse.Namespace) -> int:
    from trimformer.measure.runtime import try_single_interop_thread

    interop = try_single_interop_thread()  # before torch does any parallel work
    from trimformer.measure.report_pass import bench
    from trimformer.measure.timing import DEVICES, TimingSettings
    from trimformer.report import environment, write_json_atomic
    from trimformer.report_table import text_table

    settings = TimingSettings(
        batch_sizes=tuple(args.batch_sizes),
        length=args.length,
        threads=args.threads,
        rounds=args.rounds,
        calls=args.calls,
        warmup=args.warmup,
        devices=DEVICES if args.device == "all" else (args.device,),
    )
    report = bench(args.models, settings, progress=lambda msg: print(msg, file=sys.stderr, flush=True))
    report["environment"] = {**environment(), "interop_threads": interop}
    print(text_table(report))
    if args.json_out:
        write_json_atomic(Path(args.json_out), report)
        print(f"wrote {args.json_out}")
    loaded = [m for m in report["models"] if any("batches" in b for b in (m.get("latency") or {}).values())]
    if not loaded:
        print("error: no model could be timed (see the notes above)", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="trimformer")
    add_bench_command(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["bench", *(argv if argv is not None else sys.argv[1:])])
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())

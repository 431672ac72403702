"""`trimformer push` and `trimformer report` sub-commands, installed into the main parser by cli.py:

sub = parser.add_subparsers(dest="command", required=True)
add_push_command(sub)
add_report_command(sub)
args = parser.parse_args(); sys.exit(args.fn(args))
"""

from __future__ import annotations

import argparse
import sys
from typing import Any


def add_push_command(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "push",
        help="Upload one stage of a finished run (weights, card, plot, report, recipe) to the Hugging Face Hub.",
        description="Token: HF_TOKEN or `hf auth login`; endpoint: HF_ENDPOINT. Rerun the same command after a "
        "failure: files already on the Hub with the same content are skipped.",
    )
    parser.add_argument("output", help="The run's OUTPUT folder (holds report.json).")
    parser.add_argument(
        "--repo-id", default=None, help="Hub repo, e.g. me/minilm-distilled (default: recipe hub.repo_id)."
    )
    parser.add_argument(
        "--stage",
        default=None,
        help="Stage folder to publish (default: the last stage that is not a control or assistant row).",
    )
    parser.add_argument("--private", action="store_true", default=None, help="Create the repo as private.")
    parser.add_argument("--revision", default=None, help="Branch to commit to (default: hub.revision or main).")
    parser.set_defaults(fn=run_push)
    return parser


def add_report_command(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "report",
        help="Rebuild report.md, the trade-off plot and each stage's README.md model card from report.json.",
    )
    parser.add_argument("output", help="The run's OUTPUT folder (holds report.json).")
    parser.add_argument("--stage", default=None, help="Only rebuild this stage's card (default: every stage).")
    parser.add_argument(
        "--remeasure",
        action="store_true",
        help="First re-time every model of the run together (one interleaved pass, the run's settings) and "
        "update report.json; do it on a quiet machine.",
    )
    parser.set_defaults(fn=run_report)
    return parser


def run_push(args: argparse.Namespace) -> int:
    # Imported here, not at the top: `trimformer --help` installs this command without huggingface_hub.
    from trimformer.card import CardError, scrub_secrets
    from trimformer.hub.push import PushError, push_output
    from trimformer.hub.report import load_report
    from trimformer.hub.section import parse_hub_section
    from trimformer.loading import ModelReferenceError

    try:
        # report.json's recipe is already validated; secret-like keys are dropped (and never uploaded).
        hub = parse_hub_section(scrub_secrets((load_report(args.output).get("recipe") or {}).get("hub")))
        repo_id = args.repo_id or hub.repo_id
        if not repo_id:
            raise CardError("no repo id: pass --repo-id NAME or set hub.repo_id in the recipe")
        private = args.private if args.private is not None else hub.private
        stage = args.stage or hub.stage
        result = push_output(
            args.output, repo_id, stage=stage, private=private, revision=args.revision or hub.revision
        )
    except (CardError, PushError, ModelReferenceError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(result.summary())
    return 0


def run_report(args: argparse.Namespace) -> int:
    from trimformer.card import CardError
    from trimformer.hub.report import load_report, write_report_files
    from trimformer.loading import ModelReferenceError
    from trimformer.report_table import text_table

    try:
        if getattr(args, "remeasure", False):
            remeasure(args.output)
        written = write_report_files(args.output, stage=args.stage)
        print(text_table(load_report(args.output)))
    except (CardError, ModelReferenceError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for path in written:
        print(f"wrote {path}")
    return 0


def remeasure(output: str) -> None:
    """Re-time every model in OUTPUT/report.json together and write the new figures back."""
    from pathlib import Path

    from trimformer.hub.report import REPORT_JSON, load_report
    from trimformer.measure.report_pass import measure_latency, settings_from_report
    from trimformer.report import write_json_atomic

    report = load_report(output)
    measure_latency(report, settings_from_report(report), base_dir=output)
    write_json_atomic(Path(output) / REPORT_JSON, report)

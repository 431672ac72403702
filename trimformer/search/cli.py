"""`trimformer search RECIPE --budget latency_b1_ms=5 [--budget size_mb=20] [--resume] [--compare PATH]`.

Installed into the main parser by `trimformer.cli` with `add_search_command(sub)`; imports nothing heavy
until it runs. Exit codes as for `run`: 2 for bad input, including a budget no candidate can meet.
"""

from __future__ import annotations

import argparse
from typing import Any


def add_search_command(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "search",
        help="Find the most accurate student that fits a latency/size budget (recipe: teacher, data, distill stage)",
    )
    p.add_argument("recipe", help="Recipe YAML file or built-in name (e.g. demo-search)")
    p.add_argument(
        "--budget",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=(
            "latency_b<N>_ms=MS or size_mb=MB; MS/MB may be @PATH (that artefact's own figure, timed with the "
            "candidates); repeat (or comma-separate) for several at once"
        ),
    )
    p.add_argument("--resume", action="store_true", help="Continue a stopped search from OUTPUT/search.json")
    p.add_argument("--overwrite", action="store_true", help="Start again, deleting output_dir")
    p.add_argument("--compare", action="append", default=[], metavar="PATH", help="Artefact timed with the winner")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="Override a recipe field")
    p.set_defaults(fn=cmd_search)
    return p


def cmd_search(args: argparse.Namespace) -> int:
    from trimformer.errors import UserInputError
    from trimformer.recipe import load_recipe
    from trimformer.search.config import parse_budget
    from trimformer.search.run import run_search

    if args.resume and args.overwrite:
        raise UserInputError("--resume and --overwrite: choose one")
    budget = parse_budget(args.budget)
    loaded = load_recipe(args.recipe, args.set)
    data = run_search(loaded, budget, resume=args.resume, overwrite=args.overwrite, compare=args.compare)
    winner = data.get("winner") or {}
    final = winner.get("final") or {}
    print(f"winner: {winner.get('shape')} -> {final}")
    return 0

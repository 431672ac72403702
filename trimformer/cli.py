"""`trimformer` command line: run, validate, eval, recipes (and push/report from trimformer.hub).

Usage: trimformer run RECIPE|NAME [--set key.path=value ...] [--overwrite | --resume]
Works unchanged under `accelerate launch -m trimformer run ...` and `torchrun -m trimformer run ...`.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

EXIT_BAD_INPUT = 2
EXIT_BUDGET = 3  # the run worked, but a stage lost more accuracy than the recipe allows


def _quiet_libraries() -> None:
    # Tokenizers fork-safety warning once per DataLoader worker otherwise; known-harmless library log lines are
    # filtered one by one in trimformer/_quiet.py (installed by `import trimformer`), nothing globally.
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def cmd_recipes(args: argparse.Namespace) -> int:
    import yaml

    from trimformer.recipe import builtin_recipes

    for name, path in builtin_recipes().items():
        first = next((ln[1:].strip() for ln in path.read_text().splitlines() if ln.startswith("#")), "")
        description = first or (yaml.safe_load(path.read_text()) or {}).get("name", "")
        print(f"{name:<28} {description}")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from trimformer.recipe import load_recipe

    loaded = load_recipe(args.recipe, args.set)
    kinds = " -> ".join(e["type"] for e in loaded.raw["stages"])
    print(f"{loaded.source}: valid ({loaded.recipe.task}; stages: {kinds}; output: {loaded.recipe.output_dir})")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from trimformer.launch import relaunch_if_needed
    from trimformer.recipe import load_recipe

    relaunch_if_needed(sys.argv[1:])  # `accelerate launch --cpu --num_processes N` started one process only
    from trimformer.runner import run

    loaded = load_recipe(args.recipe, args.set)  # everything is checked before anything loads
    if loaded.recipe.search is not None:  # a search recipe: `run` is `search` with the recipe's budget
        from trimformer.search.run import run_search

        run_search(loaded, overwrite=args.overwrite, resume=args.resume)
        return 0
    run(loaded, overwrite=args.overwrite, resume=args.resume)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="trimformer", description="Distil, prune and quantize transformer encoders.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="Run a recipe (file or built-in name, e.g. demo)")
    p.add_argument("recipe", help="Recipe YAML file or built-in name (see `trimformer recipes`)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="Override a recipe field")
    p.add_argument("--overwrite", action="store_true", help="Replace a previous run's output_dir (all of it)")
    p.add_argument(
        "--resume",
        action="store_true",
        help="Continue the run in output_dir: skip finished stages, resume an interrupted one from its checkpoint",
    )
    p.set_defaults(fn=cmd_run)

    p = sub.add_parser("validate", help="Check a recipe without loading anything")
    p.add_argument("recipe")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    p.set_defaults(fn=cmd_validate)

    from trimformer.eval_cmd import add_eval_command

    add_eval_command(sub)

    p = sub.add_parser("recipes", help="List built-in recipes")
    p.set_defaults(fn=cmd_recipes)

    _add_optional_commands(sub)
    from trimformer.bench_cmd import add_bench_command

    add_bench_command(sub)
    from trimformer.search.cli import add_search_command

    add_search_command(sub)
    return parser


def _add_optional_commands(sub: Any) -> None:
    """push / report live in trimformer.hub (they need huggingface_hub and matplotlib)."""
    try:
        from trimformer.hub import cli as hub_cli
    except ImportError:
        return
    hub_cli.add_push_command(sub)
    hub_cli.add_report_command(sub)


def main(argv: list[str] | None = None) -> int:
    """Exit codes (trimformer.errors): 0 done, 1 internal error (a bug: traceback printed), 2 bad input (one
    line naming the field or file and the fix), 3 accuracy budget exceeded, 4 training diverged (NaN/inf loss)."""
    _quiet_libraries()
    args = build_parser().parse_args(argv)
    from trimformer.measure.wait_policy import passive_for_timing

    passive_for_timing(args)  # before torch is imported
    from trimformer import errors
    from trimformer.budget import BudgetExceeded

    try:
        return args.fn(args)
    except Exception as exc:  # noqa: BLE001 - sorted below: ours to fix vs the user's
        if os.environ.get("TRIMFORMER_DEBUG"):
            raise
        if isinstance(exc, BudgetExceeded):
            print(f"error: {errors.one_line(exc)}", file=sys.stderr)
            return errors.EXIT_BUDGET
        if isinstance(exc, errors.TrainingDiverged):
            print(f"error: {errors.one_line(exc)}", file=sys.stderr)
            return errors.EXIT_DIVERGED
        if errors.is_user_error(exc):
            print(f"error: {errors.one_line(exc)}", file=sys.stderr)
            return errors.EXIT_BAD_INPUT
        # Anything else is a bug (ours or a library's): keep the whole traceback, and a different exit code.
        import traceback

        traceback.print_exc()
        print(
            f"internal error: {type(exc).__name__}: {errors.one_line(exc)} (a bug, not your input: please report it "
            "with the traceback above)",
            file=sys.stderr,
        )
        return errors.EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())

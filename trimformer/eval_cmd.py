"""`trimformer eval MODEL --data FILE|HUB_ID`: score any trimformer artefact (or plain model) on a dataset.

    trimformer eval runs/demo/distill --data reviews.csv --label-column category        # every row
    trimformer eval runs/demo/distill --data reviews.csv --label-column category --limit 500
    trimformer eval runs/ner/distill --data ner.jsonl --task token-classification --text-column tokens \
        --label-column tags
    trimformer eval runs/demo/distill --recipe demo --held-out   # the recipe's data settings: its report's rows

Every row by default (`--limit N`: a seeded sample of N rows; `--held-out`: the fixed-seed share a run with
the same data settings held out, to reproduce its report). Labels are matched to the model's classes by name
(`config.id2label`). Installed into the main parser by `trimformer.cli`; imports nothing heavy until it runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from typing import Any

from trimformer.tasks import TASKS


def add_eval_command(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("eval", help="Evaluate a model (any trimformer artefact) on a dataset")
    p.add_argument("model", help="Model directory, Hub id or package:MODULE/path")
    p.add_argument("--data", default=None, help="Local data file (csv/tsv/json/jsonl/parquet, .gz too) or Hub id")
    p.add_argument(
        "--recipe",
        default=None,
        help="Take every data setting (file, columns, filter, dedupe, split share, length, seed) from this recipe "
        "(file or built-in name) instead of the flags below",
    )
    p.add_argument("--data-config", default=None, help="Dataset configuration name (Hub datasets)")
    p.add_argument("--split", default="train", help="Split to read (Hub datasets; default: train)")
    p.add_argument("--task", default="sequence-classification", choices=TASKS)
    p.add_argument("--limit", type=int, default=None, metavar="N", help="Score a seeded sample of N rows")
    p.add_argument(
        "--held-out",
        action="store_true",
        help="Score only the share a recipe run with these data settings holds out (its report's rows; without "
        "--recipe: the fixed-seed 10%%)",
    )
    p.add_argument("--seed", type=int, default=42, help="Seed of --limit and --held-out (a recipe's seed)")
    p.add_argument(
        "--dedupe",
        action="store_true",
        help="Drop duplicate texts first, as a recipe with data.dedupe: true (needed for --held-out to match its run)",
    )
    p.add_argument("--text-column", default="text")
    p.add_argument("--text-pair-column", default=None)
    p.add_argument("--label-column", default="label")
    p.add_argument("--max-length", type=int, default=128)
    p.set_defaults(fn=run_eval)
    return p


def run_eval(args: argparse.Namespace) -> int:
    from trimformer.errors import UserInputError
    from trimformer.references import resolve_local

    if args.limit is not None and args.limit < 1:
        raise UserInputError(f"--limit: must be 1 or more (got {args.limit})")
    if (args.data is None) == (args.recipe is None):
        raise UserInputError("eval: give --data FILE (with its column flags) or --recipe RECIPE, one of the two")
    recipe = None
    if args.recipe is not None:
        from trimformer.recipe import load_recipe

        recipe = load_recipe(args.recipe, check_files=False).recipe
        args.seed, args.task = recipe.seed, recipe.task or args.task
    # Both checked before anything loads: a missing local path is "not found", never a Hub lookup.
    resolve_local("--data", recipe.data.path if recipe else args.data, "file")
    resolve_local("model", args.model, "folder")
    from transformers import AutoTokenizer

    from trimformer import data as data_mod
    from trimformer.loading import load_model, resolve_path
    from trimformer.measure import evaluate_model

    if recipe is not None:
        from trimformer.runner import data_settings

        settings = data_settings(recipe)
        if not args.held_out:  # every row the recipe's filter and dedupe keep, not its training cap
            settings = dataclasses.replace(settings, max_train_samples=None, max_eval_samples=None)
    else:
        settings = data_mod.DataSettings(
            path=args.data,
            name=args.data_config,
            train_split=args.split,
            text_column=args.text_column,
            text_pair_column=args.text_pair_column,
            label_column=args.label_column,
            max_length=args.max_length,
            dedupe=args.dedupe,
        )
    raw = data_mod.load_raw(settings, seed=args.seed)
    rows = raw["validation"]
    if not args.held_out:
        rows = data_mod.datasets.concatenate_datasets([raw["train"], raw["validation"]])
    if args.limit is not None and args.limit < len(rows):
        rows = rows.shuffle(seed=args.seed).select(range(args.limit))
    path = resolve_path(args.model)
    model = load_model(path)
    task = _task(args.task, model.config)
    tokenizer = AutoTokenizer.from_pretrained(path)
    dataset = data_mod.tokenize(rows, task, settings, tokenizer)
    metrics = evaluate_model(model, dataset, data_mod.DistillationCollator(tokenizer, task), task)
    print(json.dumps({"model": args.model, "examples": len(dataset), **metrics}, indent=2))
    return 0


def _task(name: str, config: Any) -> Any:
    """The task as the model sees it: its classes in id order, so the file's labels map by name."""
    from trimformer.tasks import TaskSpec

    if name == "masked-lm":
        return TaskSpec(name)
    if getattr(config, "problem_type", None) == "regression":
        return TaskSpec(name, 1, (), regression=True)
    names = tuple(str(config.id2label[i]) for i in range(config.num_labels))
    return TaskSpec(name, config.num_labels, names)

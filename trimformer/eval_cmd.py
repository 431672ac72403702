"""`trimformer eval MODEL --data FILE|HUB_ID`: score any trimformer artefact (or plain model) on a dataset.

    trimformer eval runs/demo/distill --data reviews.csv --label-column category        # every row
    trimformer eval runs/demo/distill --data reviews.csv --label-column category --limit 500
    trimformer eval runs/ner/distill --data ner.jsonl --task token-classification --text-column tokens \
        --label-column tags
    trimformer eval runs/demo/distill --recipe demo --held-out   # the recipe's data settings: its report's rows
    trimformer eval runs/full-demo/distill --recipe full-demo --held-out --against runs/full-demo/finetune

Every row by default (`--limit N`: a seeded sample of N rows; `--held-out`: the fixed-seed share a run with
the same data settings held out, to reproduce its report; `--training-share`: the rest, the rows it trained on).
`--against TEACHER` scores a second model (its own tokenizer) on the same rows and prints how often the two
predict the same class; with `--held-out` and then `--training-share` it shows how far a student follows its
teacher beyond the text it trained on. Labels are matched to the model's classes by name (`config.id2label`).
Installed into the main parser by `trimformer.cli`; imports nothing heavy until it runs.
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
    share = p.add_mutually_exclusive_group()
    share.add_argument(
        "--held-out",
        action="store_true",
        help="Score only the share a recipe run with these data settings holds out (its report's rows; without "
        "--recipe: the fixed-seed 10%%)",
    )
    share.add_argument(
        "--training-share",
        action="store_true",
        help="Score only the rows such a run trains on (everything --held-out leaves out)",
    )
    p.add_argument(
        "--against",
        default=None,
        metavar="MODEL",
        help="A second model (e.g. the teacher) scored on the same rows with its own tokenizer; prints how often "
        "the two predict the same class (sequence-classification)",
    )
    p.add_argument(
        "--seed", type=int, default=42, help="Seed of --limit and --held-out (with --recipe: the recipe's own)"
    )
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
    from trimformer.loading import load_model, resolve_path

    if args.against is not None:
        resolve_local("--against", args.against, "folder")
        if args.task != "sequence-classification":
            raise UserInputError(
                f"--against: agreement compares one class per row (sequence-classification); this is {args.task}"
            )
        from transformers import AutoConfig

        configs = [AutoConfig.from_pretrained(resolve_path(m)) for m in (args.model, args.against)]
        if any(getattr(c, "problem_type", None) == "regression" for c in configs):
            raise UserInputError("--against: agreement compares predicted classes; a regression model has none")
        names = [set(c.id2label.values()) for c in configs]
        if names[0] != names[1]:
            raise UserInputError(
                f"--against: the two models name their classes differently ({sorted(names[0])} vs "
                f"{sorted(names[1])}); agreement needs the same label names in both configs' id2label"
            )
    from transformers import AutoTokenizer

    from trimformer import data as data_mod
    from trimformer.measure import metrics_of, model_outputs

    if recipe is not None:
        from trimformer.runner import data_settings

        settings = data_settings(recipe)
        if not (args.held_out or args.training_share):  # every row the filter and dedupe keep, not a training cap
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
    if args.held_out or args.training_share:
        rows = raw["validation"] if args.held_out else raw["train"]
    else:
        rows = data_mod.datasets.concatenate_datasets([raw["train"], raw["validation"]])
    if args.limit is not None and args.limit < len(rows):
        rows = rows.shuffle(seed=args.seed).select(range(args.limit))

    def score(name: str) -> tuple[dict, list[str] | None]:
        path = resolve_path(name)
        model = load_model(path)
        task = _task(args.task, model.config)
        tokenizer = AutoTokenizer.from_pretrained(path)
        dataset = data_mod.tokenize(rows, task, settings, tokenizer)
        outputs = model_outputs(model, dataset, data_mod.DistillationCollator(tokenizer, task), task)
        classes = [task.label_names[i] for i in outputs.logits.argmax(-1)] if args.against else None
        return {"model": name, "examples": len(dataset), **metrics_of(outputs, task)}, classes

    result, classes = score(args.model)
    if args.against is not None:
        other, other_classes = score(args.against)
        result["against"] = other
        result["agreement"] = sum(a == b for a, b in zip(classes, other_classes)) / max(1, len(classes))
    print(json.dumps(result, indent=2))
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

"""The winner becomes a normal run: a recipe is written for it and `trimformer.runner.run` trains, saves, reloads,
measures, reports and writes the cards like any run. `OUTPUT/winner.yaml` reruns it.

Its stages: the recipe's full distillation of the chosen teacher layers at full width, then head and FFN pruning
to the winner's shape, each scored on that trained student and followed by a recovery distillation
(`search.recovery_steps`), then vocabulary pruning and int8-cpu. Train first, prune after: pruning an untrained
cut (what the rungs do, to rank shapes cheaply) scores importance on weights that have not learnt the task, and
on the demo that cost 0.9 points (78.61% vs 79.47% at the same latency).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from trimformer.search.space import Shape


def winner_recipe(
    raw: dict[str, Any],
    shape: Shape,
    out_dir: Path,
    batch_sizes: list[int],
    eval_text: bool,
    recovery_steps: int = 150,
) -> dict:
    recipe = copy.deepcopy(raw)
    recipe.pop("search", None)
    recipe["name"] = f"{raw.get('name', 'run')}-winner"
    recipe["output_dir"] = str(out_dir)
    recipe["student"] = {"init": "layers", "layers": list(shape.layers)}
    distill = next(dict(e) for e in raw["stages"] if e.get("type") == "distill")
    distill.setdefault("control", False)  # the search compared candidates already; a control row doubles training
    distill.pop("assistant", None)  # sized for the recipe's student: it need not hold the winner's layers
    pruned = shape.heads_keep < 1 or shape.ffn_keep < 1
    stages: list[dict[str, Any]] = [{**distill, "save": not pruned} if pruned else distill]
    recovery = {"training": {"max_steps": recovery_steps}}
    if shape.heads_keep < 1:
        amount = round(1 - shape.heads_keep, 6)
        stages.append(
            {"type": "prune_heads", "amount": amount, "scope": "global", "recovery": recovery, "save": False}
        )
    if shape.ffn_keep < 1:
        amount = round(1 - shape.ffn_keep, 6)
        stages.append({"type": "prune_ffn", "amount": amount, "scope": "global", "recovery": recovery, "save": False})
    if pruned and not shape.vocab and not shape.int8:
        stages[-1]["save"] = True  # the run's artefact: its last stage
    if shape.vocab:
        stages.append({"type": "prune_vocab", "include_eval_text": eval_text, "save": not shape.int8})
    if shape.int8:
        stages.append({"type": "quantize", "method": "int8-cpu"})
    recipe["stages"] = stages
    measure = dict(recipe.get("measure") or {})
    measure["batch_sizes"] = sorted(set(measure.get("batch_sizes") or [1, 32]) | set(batch_sizes))
    recipe["measure"] = measure
    return recipe


def run_winner(recipe: dict[str, Any], source: str, path: Path) -> dict[str, Any]:
    """Validate and run the winner's recipe (written to `path` first); returns its report."""
    from trimformer.recipe.load import validate
    from trimformer.runner import run

    path.write_text(
        f"# The search's winner, trained and measured as a normal run: trimformer run {path}\n"
        + yaml.safe_dump(recipe, sort_keys=False)
    )
    loaded = validate(recipe, f"{source} (search winner, {path.name})")
    return run(loaded, overwrite=True)


def final_entry(report: dict[str, Any]) -> dict[str, Any]:
    """The winner's artefact: the last saved stage of its run."""
    return [m for m in report["models"] if m.get("role") == "stage"][-1]


def figures_of(entry: dict[str, Any], batch_sizes: list[int]) -> dict[str, float | None]:
    cpu = (entry.get("latency") or {}).get("cpu") or {}
    out: dict[str, float | None] = {"size_mb": entry.get("size_mb")}
    for b in batch_sizes:
        stats = (cpu.get("batches") or {}).get(f"b{b}") or {}
        out[f"latency_b{b}_ms"] = stats.get("median_ms")
    return out

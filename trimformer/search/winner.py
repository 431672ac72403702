"""The winner becomes a normal run: a recipe is written for it (student = the chosen teacher layers; stages =
head/FFN pruning, the recipe's full distillation, vocabulary pruning, int8-cpu) and `trimformer.runner.run`
trains, saves, reloads, measures, reports and writes the cards like any run. `OUTPUT/winner.yaml` reruns it.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from trimformer.search.space import Shape


def winner_recipe(raw: dict[str, Any], shape: Shape, out_dir: Path, batch_sizes: list[int], eval_text: bool) -> dict:
    recipe = copy.deepcopy(raw)
    recipe.pop("search", None)
    recipe["name"] = f"{raw.get('name', 'run')}-winner"
    recipe["output_dir"] = str(out_dir)
    recipe["student"] = {"init": "layers", "layers": list(shape.layers)}
    distill = next(dict(e) for e in raw["stages"] if e.get("type") == "distill")
    distill.setdefault("control", False)  # the search compared candidates already; a control row doubles training
    stages: list[dict[str, Any]] = []
    if shape.heads_keep < 1:
        stages.append(
            {"type": "prune_heads", "amount": round(1 - shape.heads_keep, 6), "scope": "global", "save": False}
        )
    if shape.ffn_keep < 1:
        stages.append({"type": "prune_ffn", "amount": round(1 - shape.ffn_keep, 6), "scope": "global", "save": False})
    stages.append(distill)
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

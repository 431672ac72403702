"""Model card for one stage of a run, built from `report.json` with huggingface_hub's `ModelCard`.

    card = build_card(report, stage="distill", repo_id="me/minilm-distilled", output_dir="OUTPUT")
    card.save("OUTPUT/distill/README.md")

Metadata follows the Hub's model-card spec: `base_model` only when the teacher is a Hub id,
`base_model_relation` from the four values the Hub accepts (adapter, merge, quantized, finetune),
`model-index` from the measured metrics. The body is rendered from `model_cards/default.md`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:  # imported where a card is built: recipe validation imports CardError from here
    from huggingface_hub import EvalResult, ModelCard

from trimformer.card_lineage import made_from, root_ref, teacher_line
from trimformer.card_loading import (
    adapter_base,
    artefact_kind,
    artefact_note,
    is_adapter,
    is_hub_id,
    load_note,
    load_snippet,
)
from trimformer.errors import UserInputError
from trimformer.report_rows import FRACTION_METRICS, main_metric, metric_value, stage_ratios, stages_of
from trimformer.report_table import markdown_table

TEMPLATE_NAME = "default.md"
RERUN_COMMAND = "trimformer run recipe.yaml"
PIPELINE_TAGS = {
    "sequence-classification": "text-classification",
    "token-classification": "token-classification",
    "masked-lm": "fill-mask",
}
# Stage type keyword -> Hub tag. Matched as substrings so "prune_heads", "quantize_int8", ... all map.
STAGE_TAGS = {"distill": "distillation", "prune": "pruning", "quant": "quantization", "lora": "lora"}
_SECRET_KEYS = re.compile(r"token|secret|password|api_key", re.IGNORECASE)


class CardError(UserInputError):
    """A report that cannot be turned into a card; the message names the field and the fix."""


def select_stage(report: dict[str, Any], stage: str | None) -> dict[str, Any]:
    """The report entry of `stage` (default: the last saved stage that is not a control or assistant row: a
    labels-only control is a yardstick for the distilled student and an assistant a step towards it, never what a
    run means to publish)."""
    stages = stages_of(report)
    if not stages:
        raise CardError("report.json: 'models' has no stage entries; run the recipe to completion first")
    if stage is None:
        products = [m for m in stages if m.get("role") not in ("control", "assistant")]
        return (products or stages)[-1]
    for model in stages + [m for m in report.get("models") or [] if m.get("role") == "teacher"]:
        if model.get("name") == stage:
            return model
    known = ", ".join(str(m.get("name")) for m in stages)
    raise CardError(f"stage '{stage}' is not in report.json (known: {known}); pass --stage with one of them")


def resolve_artefact(model: dict[str, Any], output_dir: str | Path | None) -> Path | None:
    """The stage folder on disk: the report's path, or OUTPUT/<basename> when the run folder was moved."""
    raw = model.get("path")
    candidates = [Path(raw)] if raw else []
    if output_dir is not None:
        candidates.append(Path(output_dir) / Path(raw or str(model.get("name", ""))).name)
    return next((p for p in candidates if p.is_dir()), None)


def scrub_secrets(value: Any) -> Any:
    """Drop token-like keys at any depth: a recipe may carry `hub.token`; it must never reach a card."""
    if isinstance(value, dict):
        return {k: scrub_secrets(v) for k, v in value.items() if not _SECRET_KEYS.search(str(k))}
    if isinstance(value, list):
        return [scrub_secrets(v) for v in value]
    return value


def _stage_tags(types: list[str]) -> list[str]:
    tags = ["trimformer", "model-compression"]
    for stage_type in types:
        tags += [tag for key, tag in STAGE_TAGS.items() if key in stage_type.lower()]
    return list(dict.fromkeys(tags))


def _relation(types: list[str], adapter: bool) -> str:
    if adapter:
        return "adapter"
    if types and all("quant" in t.lower() for t in types):
        return "quantized"
    return "finetune"  # any training or pruning changed the weights


def _recipe_stages_until(report: dict[str, Any], model: dict[str, Any]) -> list[dict[str, Any]]:
    """Recipe stages that produced `model`: up to the one named like it, else the k-th stage of its type
    (repeated types get numbered folder names)."""
    stages = [s for s in (report.get("recipe") or {}).get("stages") or [] if isinstance(s, dict)]
    for i, stage in enumerate(stages):
        if stage.get("name", stage.get("type")) == model.get("name"):
            return stages[: i + 1]
    same_type = [m for m in report.get("models") or [] if m.get("stage_type") == model.get("stage_type")]
    positions = [i for i, s in enumerate(stages) if s.get("type") == model.get("stage_type")]
    k = next((n for n, m in enumerate(same_type) if m is model), len(positions))
    return stages[: positions[k] + 1] if k < len(positions) else stages


def _settings(stage: dict[str, Any]) -> str:
    parts = []
    for key, value in stage.items():
        if key in ("type", "name") or value in (None, {}, []):
            continue
        text = json.dumps(value, default=str) if isinstance(value, dict | list) else str(value)
        parts.append(f"`{key}={text if len(text) <= 80 else text[:77] + '...'}`")
    return ", ".join(parts)


def _dataset(recipe: dict[str, Any]) -> tuple[str | None, str, str | None, str | None]:
    """(hub dataset id or None, pretty name, config, split) from recipe.data."""
    data = recipe.get("data") or {}
    path, name = data.get("path"), data.get("name")
    split = data.get("eval_split") or data.get("validation_split") or data.get("split")
    hub_id = path if is_hub_id(path) else None
    pretty = " / ".join(str(x) for x in (path and Path(str(path)).name, name) if x) or "local data"
    return hub_id, pretty, (name if hub_id else None), split


def _eval_results(report: dict[str, Any], model: dict[str, Any], pipeline_tag: str) -> list[EvalResult]:
    from huggingface_hub import EvalResult

    hub_id, pretty, config, split = _dataset(report.get("recipe") or {})
    results = []
    for key, value in (model.get("metrics") or {}).items():
        if not isinstance(value, int | float) or isinstance(value, bool) or _is_bookkeeping(key):
            continue
        results.append(
            EvalResult(
                task_type=pipeline_tag,
                dataset_type=hub_id or re.sub(r"[^\w.-]+", "_", pretty).strip("_") or "local",
                dataset_name=pretty,
                dataset_config=config,
                dataset_split=split,
                metric_type=key.removeprefix("eval_"),
                metric_value=round(float(value), 6),
            )
        )
    return results


def _is_bookkeeping(key: str) -> bool:
    return any(word in key for word in ("runtime", "per_second", "epoch", "steps"))


def _eval_md(report: dict[str, Any], model: dict[str, Any]) -> str:
    recipe = report.get("recipe") or {}
    _, pretty, _, split = _dataset(recipe)
    env = report.get("environment") or {}
    metric = main_metric(report)
    value = metric_value(model, metric)
    data = recipe.get("data") or {}
    if not split and isinstance(data.get("eval_fraction"), int | float):
        held_out = f"a fixed-seed {data['eval_fraction']:.0%} hold-out of `{data.get('train_split', 'train')}`"
    else:
        held_out = f"split `{split}`" if split else ""
    lines = [
        f"- Data: {pretty}{f' ({held_out})' if held_out else ''}; main metric `{metric}`"
        f"{f' = {value:.4f}' if value is not None else ''}.",
        "- Every model was saved, reloaded from disk and then measured, so the numbers describe the files "
        "in this repository, not the in-memory model.",
        "- Latency: forward pass at batch 1 and batch 32 on "
        + ", ".join(f"{k}={v}" for k, v in env.items() if isinstance(v, str | int | float))
        + ".",
    ]
    details = info_md(model.get("info") or {})
    if details:
        lines.append(f"- Artefact: {details}.")
    return "\n".join(lines)


def info_md(info: dict[str, Any]) -> str:
    """A stage's `info` in words: scalars as `key=value`, one level of mappings inline, the loss history left
    to `loss_table` (a dump of a list of dicts reads as noise)."""
    parts = []
    for key, value in info.items():
        if key == "train_loss_history" or value in (None, [], {}):
            continue
        if isinstance(value, dict):
            inner = ", ".join(f"{k} {_short(v)}" for k, v in value.items() if _flat(v))
            parts.append(f"{key}: {inner}" if inner else key)
        else:
            parts.append(f"{key}={_short(value)}")
    return "; ".join(parts)


def _flat(value: Any) -> bool:
    """A scalar or a list of scalars: short enough to read inline."""
    items = value if isinstance(value, list) else [value]
    return not any(isinstance(v, dict | list) for v in items)


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        text = ", ".join(_short(v) for v in value[:8]) + (", ..." if len(value) > 8 else "")
        return f"[{text}]"
    return str(value)


def loss_table(history: Any, max_rows: int = 10) -> str:
    """The training loss as a small markdown table (at most `max_rows` rows, evenly spaced, the last included)."""
    rows = [h for h in history or [] if isinstance(h, dict)]
    if not rows:
        return ""
    if len(rows) > max_rows:
        step = (len(rows) - 1) / (max_rows - 1)
        rows = [rows[round(i * step)] for i in range(max_rows)]
    terms = sorted({k for r in rows for k in r if k.startswith("loss")}, key=lambda k: (k != "loss", k))
    columns = [c for c in ("step", "epoch") if any(c in r for r in rows)] + terms
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for r in rows:
        cells = [_short(r[c]) if c in r else "–" for c in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _limitations(kind: str, adapter: bool, types: list[str], model: dict[str, Any]) -> list[str]:
    items = [
        "Measured on one dataset and one machine: re-check accuracy and latency on your data and hardware.",
        "A compressed model inherits the teacher's biases and failure modes and may amplify them on rare inputs.",
    ]
    if kind == "trimformer":
        items.append(
            "The architecture was changed in ways plain transformers cannot rebuild: load it with trimformer."
        )
    if adapter:
        items.append("This is an adapter: it needs its base model and the `peft` library.")
    if any("quant" in t.lower() for t in types):
        runtime = (model.get("info") or {}).get("runtime")
        items.append(
            f"Quantized weights{f' (runtime: {runtime})' if runtime else ''}: "
            "speed-ups depend on the CPU/GPU kernels available."
        )
    return items


def find_template() -> Path:
    here = Path(__file__).resolve().parent
    for candidate in (here / "_data" / "model_cards" / TEMPLATE_NAME, here.parent / "model_cards" / TEMPLATE_NAME):
        if candidate.is_file():
            return candidate
    raise CardError(f"model card template {TEMPLATE_NAME} not found; reinstall trimformer (pip install -e .)")


def build_card(
    report: dict[str, Any],
    stage: str | None = None,
    repo_id: str | None = None,
    *,
    output_dir: str | Path | None = None,
    plot_file: str | None = "tradeoff.png",
    recipe_file: str | None = "recipe.yaml",
) -> ModelCard:
    """Card for `stage` (default: last). `repo_id` goes into the load code; without it the local folder does.

    `plot_file` and `recipe_file` are paths relative to the README, files that travel with it (beside it in the
    stage folder, and in the pushed repository); None leaves the link out.
    """
    from huggingface_hub import ModelCard, ModelCardData

    model = select_stage(report, stage)
    recipe = scrub_secrets(report.get("recipe") or {})
    task = str(report.get("task") or recipe.get("task") or "sequence-classification")
    folder = resolve_artefact(model, output_dir)
    kind, adapter = artefact_kind(folder), is_adapter(folder)
    recipe_stages = _recipe_stages_until(report, model)
    types = [str(s.get("type", "")) for s in recipe_stages] or [str(model.get("stage_type") or "")]
    teacher_ref = (recipe.get("teacher") or {}).get("model")
    root = root_ref(report, model)
    base = adapter_base(folder, root) if adapter else (root if is_hub_id(root) else None)
    pipeline_tag = PIPELINE_TAGS.get(task, "feature-extraction")
    hub = recipe.get("hub") or {}
    name = (repo_id or "").split("/")[-1] or f"{recipe.get('name', 'trimformer')}-{model.get('name')}"
    metrics = [main_metric(report)] + [
        k for k in (model.get("metrics") or {}) if k in FRACTION_METRICS | {"perplexity"} and k != main_metric(report)
    ]
    data = ModelCardData(
        base_model=base,
        datasets=[_dataset(recipe)[0]] if _dataset(recipe)[0] else None,
        library_name="peft" if adapter else "transformers",
        license=hub.get("license"),
        metrics=metrics,
        model_name=name,
        pipeline_tag=pipeline_tag,
        tags=_stage_tags(types) + (["peft"] if adapter else []),
        eval_results=_eval_results(report, model, pipeline_tag) or None,
        **({"base_model_relation": _relation(types, adapter)} if base else {}),
    )
    ref = repo_id or (str(folder) if folder else str(model.get("path", ".")))
    stages = [{"title": str(s.get("name") or s.get("type")), "settings": _settings(s)} for s in recipe_stages]
    return ModelCard.from_template(
        data,
        template_path=str(find_template()),
        model_id=repo_id or name,
        summary=_summary(report, model, task, types),
        made_from=made_from(report, model),
        teacher_ref=teacher_line(report, teacher_ref),
        is_teacher=model.get("role") == "teacher",
        loss_md=loss_table((model.get("info") or {}).get("train_loss_history")),
        stages=stages,
        stage_name=f"{model.get('stage_type')} (the teacher)" if model.get("role") == "teacher" else model.get("name"),
        artefact_note=artefact_note(kind, adapter),
        table_md=markdown_table(report),
        main_metric=main_metric(report),
        plot_file=plot_file,
        load_note=load_note(kind),
        load_code=load_snippet(kind, task, ref, base),
        eval_md=_eval_md(report, model),
        limitations=_limitations(kind, adapter, types, model)[: 1 if model.get("role") == "teacher" else None],
        recipe_yaml=yaml.safe_dump(recipe, sort_keys=False, allow_unicode=True).rstrip(),
        rerun_command=RERUN_COMMAND,
        recipe_file=recipe_file,
    )


def _summary(report: dict[str, Any], model: dict[str, Any], task: str, types: list[str]) -> str:
    source = made_from(report, model)
    if model.get("role") == "teacher":
        value = metric_value(model, main_metric(report))
        score = f"{main_metric(report)} {value:.4f}" if value is not None else "see the evaluation below"
        return f"A {task} model fine-tuned by trimformer from {source}: the teacher of this run ({score})."
    what = ", ".join(dict.fromkeys(t for t in types if t)) or "compression"
    return (
        f"A compressed {task} model produced by trimformer ({what}) from {source}. "
        f"Stage `{model.get('name')}`: {_headline(report, model)}"
    )


def _headline(report: dict[str, Any], model: dict[str, Any]) -> str:
    row = next((r for r in stage_ratios(report) if r.name == model.get("name") and r.role != "teacher"), None)
    if row is None:
        return "see the table below."
    bits = []
    if row.size_x is not None:
        bits.append(f"{row.size_x:.2f}× smaller")
    if row.speed_b32_x is not None:
        bits.append(f"{row.speed_b32_x:.2f}× faster at batch 32")
    if row.metric_pct is not None:
        bits.append(f"{row.metric_pct:.1f}% of the teacher's {main_metric(report)}")
    return (", ".join(bits) or "see the table below") + "."

"""Files derived from `OUTPUT/report.json`: report.md, the trade-off plot, the model cards.

    write_report_files("OUTPUT")        # after the runner writes report.json, or `trimformer report OUTPUT`
    write_publish_files(report, "distill", "me/model", tmp_dir, "OUTPUT")   # what `push` uploads

Everything here is rebuilt from the stored measurements only, so it can be regenerated at any time.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import yaml

from trimformer.card import CardError, build_card, scrub_secrets, select_stage
from trimformer.plot import PLOT_FILE, plot_tradeoffs
from trimformer.report_rows import stages_of
from trimformer.report_table import render_report_md

REPORT_JSON = "report.json"
REPORT_MD = "report.md"
RECIPE_YAML = "recipe.yaml"


def load_report(output_dir: str | Path) -> dict[str, Any]:
    path = Path(output_dir) / REPORT_JSON
    if not path.is_file():
        raise CardError(f"{path} not found: point at a finished run's OUTPUT folder (it writes report.json)")
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise CardError(f"{path} is not valid JSON ({exc}); rerun the recipe to rewrite it") from exc
    if not isinstance(report, dict) or not isinstance(report.get("models"), list):
        raise CardError(f"{path}: expected an object with a 'models' list; rerun the recipe to rewrite it")
    return report


def card_models(report: dict[str, Any], output_dir: Path) -> list[dict[str, Any]]:
    """Every model this run saved in OUTPUT: its stages, controls, and the teacher when a finetune stage trained
    it here (a teacher read from elsewhere is not this run's to describe)."""
    out = output_dir.resolve()
    teachers = [m for m in report.get("models") or [] if m.get("role") == "teacher" and _trained_here(m, out)]
    return teachers + stages_of(report)


def _trained_here(teacher: dict[str, Any], out: Path) -> bool:
    """The teacher's folder is in OUTPUT: at its recorded path, or, for a teacher a finetune stage trained,
    at OUTPUT/<folder name> (a run folder moved or copied elsewhere keeps its relative layout, not its paths)."""
    if not teacher.get("path"):
        return False
    path = Path(str(teacher["path"]))
    if path.resolve().parent == out:
        return True
    return teacher.get("stage_type") == "finetune" and (out / path.name).is_dir()


def write_report_files(output_dir: str | Path, stage: str | None = None) -> list[Path]:
    """(Re)write OUTPUT/report.md, OUTPUT/tradeoff.png and, in every saved model's folder (or only `stage`'s),
    README.md with the recipe.yaml and tradeoff.png it links: a stage folder is pushed or copied on its own.
    Returns the written paths."""
    output_dir = Path(output_dir)
    report = load_report(output_dir)
    plot = plot_tradeoffs(report, output_dir / PLOT_FILE).path
    written = [plot]
    (output_dir / REPORT_MD).write_text(render_report_md(report, PLOT_FILE), encoding="utf-8")
    written.append(output_dir / REPORT_MD)
    recipe = recipe_yaml(report, output_dir)
    names = [stage] if stage else [str(m.get("name")) for m in card_models(report, output_dir)]
    for name in names:
        model = select_stage(report, name)
        folder = output_dir / Path(str(model.get("path") or name)).name
        if not folder.is_dir():
            continue  # stage ran with save: false; nothing to describe
        shutil.copyfile(plot, folder / PLOT_FILE)
        (folder / RECIPE_YAML).write_text(recipe, encoding="utf-8")
        build_card(report, name, None, output_dir=output_dir).save(folder / "README.md")
        written += [folder / "README.md", folder / RECIPE_YAML, folder / PLOT_FILE]
    return written


def recipe_yaml(report: dict[str, Any], output_dir: Path) -> str:
    """The recipe as the user wrote it (OUTPUT/recipe.yaml) when it holds no secret, else the scrubbed dump."""
    original = output_dir / RECIPE_YAML
    if original.is_file():
        text = original.read_text(encoding="utf-8")
        try:
            parsed = yaml.safe_load(text)
        except yaml.YAMLError:
            parsed = None
        if parsed is not None and scrub_secrets(parsed) == parsed:
            return text
    return yaml.safe_dump(scrub_secrets(report.get("recipe") or {}), sort_keys=False, allow_unicode=True)


def write_publish_files(
    report: dict[str, Any], stage: str, repo_id: str | None, dest: Path, output_dir: Path
) -> dict[str, Path]:
    """Write the generated files of a Hub upload into `dest` (a temp dir): README.md, the plot,
    report.json (secrets scrubbed), report.md, recipe.yaml. Returns {path_in_repo: local path}."""
    dest.mkdir(parents=True, exist_ok=True)
    public = {**report, "recipe": scrub_secrets(report.get("recipe") or {})}
    files = {
        PLOT_FILE: plot_tradeoffs(public, dest / PLOT_FILE).path,
        REPORT_JSON: dest / REPORT_JSON,
        REPORT_MD: dest / REPORT_MD,
        RECIPE_YAML: dest / RECIPE_YAML,
        "README.md": dest / "README.md",
    }
    files[REPORT_JSON].write_text(json.dumps(public, indent=2, default=str) + "\n", encoding="utf-8")
    files[REPORT_MD].write_text(render_report_md(public, PLOT_FILE), encoding="utf-8")
    files[RECIPE_YAML].write_text(recipe_yaml(report, output_dir), encoding="utf-8")
    build_card(public, stage, repo_id, output_dir=output_dir, plot_file=PLOT_FILE).save(files["README.md"])
    return files

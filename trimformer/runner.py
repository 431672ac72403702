"""Run a validated recipe: load teacher and data, run each stage, save -> reload -> measure each
artefact, write OUTPUT/report.json and print the comparison table.

Under `accelerate launch` / `torchrun` every process runs the stages (training is distributed);
only the main process writes files and measures, on the whole eval set.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from transformers import AutoTokenizer, set_seed

from trimformer import data as data_mod
from trimformer import resume as resume_mod
from trimformer.artefact.io import save_artefact
from trimformer.budget import budget_record, enforce_budget
from trimformer.distributed import is_main_process, wait_for_everyone
from trimformer.loading import load_model, resolve_path
from trimformer.measure import measure
from trimformer.measure.fresh_process import time_in_fresh_process
from trimformer.recipe.load import LoadedRecipe
from trimformer.report import environment, format_table, write_json_atomic
from trimformer.stages.base import RunState

REPORT = "report.json"


def data_settings(recipe: Any) -> data_mod.DataSettings:
    fields = recipe.data.model_dump(exclude={"regression"})
    return data_mod.DataSettings(**fields)


def build_state(loaded: LoadedRecipe) -> RunState:
    recipe = loaded.recipe
    set_seed(recipe.seed)
    settings = data_settings(recipe)
    raw = data_mod.load_raw(settings, recipe.seed)
    task = data_mod.infer_task(recipe.task, raw, settings, recipe.data.regression)
    teacher_path = resolve_path(recipe.teacher.model)
    dtype_kwargs = {"dtype": recipe.teacher.dtype} if recipe.teacher.dtype else {}
    remote = {"trust_remote_code": recipe.trust_remote_code}  # off unless the recipe turns it on
    teacher = task.auto_class.from_pretrained(teacher_path, **task.model_kwargs(), **dtype_kwargs, **remote)
    teacher_tokenizer = AutoTokenizer.from_pretrained(teacher_path, **remote)
    # The student reads its own source's tokenizer: a pretrained checkpoint's, the model its layers are cut
    # from, or (by default) the teacher's.
    tokenizer = teacher_tokenizer
    if recipe.student.model and recipe.student.init in ("pretrained", "layers"):
        tokenizer = AutoTokenizer.from_pretrained(resolve_path(recipe.student.model), **remote)
    own = data_mod.teacher_needs_own_ids(tokenizer, teacher_tokenizer, recipe.teacher.own_tokenizer)
    if own and recipe.task != "sequence-classification":
        raise ValueError(
            f"teacher.own_tokenizer: only sequence classification lets the teacher tokenize for itself; "
            f"the {recipe.task} student must share the teacher's tokenizer"
        )
    task_data = data_mod.prepare(raw, task, settings, tokenizer, teacher_tokenizer, recipe.teacher.own_tokenizer)
    from trimformer.stages.distill import build_student

    return RunState(
        task=task,
        output_dir=Path(recipe.output_dir),
        tokenizer=tokenizer,
        teacher=teacher.eval(),
        teacher_tokenizer=teacher_tokenizer,
        data=task_data,
        training=dict(recipe.training),
        seed=recipe.seed,
        recipe=recipe,
        build_student=build_student,
    )


def remote_code(state: RunState) -> dict[str, bool]:
    """`trust_remote_code` for every load of the run's models: the recipe's setting, False without a recipe."""
    return {"trust_remote_code": bool(getattr(state.recipe, "trust_remote_code", False))}


def save_stage(model: Any, tokenizer: Any, out_dir: Path) -> None:
    """Write into a temp folder, then swap it in: an interrupted save never leaves half a checkpoint."""
    tmp = out_dir.with_name(f".{out_dir.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_artefact(model, tokenizer, tmp)
    if out_dir.exists():
        old = out_dir.with_name(f".{out_dir.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        out_dir.rename(old)
        tmp.rename(out_dir)
        shutil.rmtree(old, ignore_errors=True)
    else:
        tmp.rename(out_dir)


def measure_saved(
    state: RunState, path: Path | str, model: Any = None, teacher_side: bool = False, saved_from: Any = None
) -> dict:
    """Reload the artefact the way a user would (unless `model` is given) and measure it on the
    eval set tokenized by the artefact's own tokenizer. With `saved_from` (the in-memory model that was
    saved), also record the largest logit difference between it and the reload."""
    remote = remote_code(state)
    if model is None:
        model = load_model(str(path), state.task.auto_class, **remote)
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path), **remote)
    except (OSError, ValueError):
        tokenizer = state.teacher_tokenizer if teacher_side else state.tokenizer
    settings = state.data.settings
    evaluation = data_mod.tokenize(state.data.raw_eval, state.task, settings, tokenizer)
    collator = data_mod.DistillationCollator(tokenizer, state.task)
    local = Path(str(path)).exists()
    # Metrics, params and sizes now; latency for every model together after the stages (`time_run`).
    artefact = path if local else None
    entry = measure(model, state.task, evaluation, collator, artefact=artefact, max_length=settings.max_length)
    if saved_from is not None and len(evaluation):
        from trimformer.artefact.verify import max_logit_difference

        rows = [evaluation[i] for i in range(min(16, len(evaluation)))]
        batch = {k: v for k, v in collator(rows).items() if k in ("input_ids", "attention_mask", "token_type_ids")}
        entry["reload_max_diff"] = max_logit_difference(saved_from, model, batch)
    return entry


def publish(out: Path, loaded: LoadedRecipe) -> None:
    """report.md, the trade-off plot and a model card per stage; then the `hub:` push if set."""
    from trimformer.hub.report import write_report_files
    from trimformer.hub.section import push_after_run

    write_report_files(out)
    result = push_after_run(out, loaded.raw.get("hub"))
    if result is not None:
        print(result.summary(), flush=True)


def run(loaded: LoadedRecipe, overwrite: bool = False, resume: bool = False) -> dict[str, Any]:
    """Run every stage. `overwrite` replaces a previous run's folder (moved aside first, deleted once this run
    has finished); `resume` skips the stages a previous run finished with the same settings and inputs and
    continues an interrupted stage from its last Trainer checkpoint (`trimformer.resume`)."""
    recipe = loaded.recipe
    main = is_main_process()
    out = Path(recipe.output_dir)
    replace = resume_mod.check_output_dir(out, overwrite, resume) if main else False
    wait_for_everyone()
    state = build_state(loaded)  # data and models load (or fail on bad input) before anything is written
    state.resume = resume
    replaced = None
    if main:
        replaced = resume_mod.move_aside(out) if replace else None
        resume_mod.mark_output(out)
    report: dict[str, Any] = {
        "recipe": loaded.raw,
        "recipe_source": loaded.source,
        "task": state.task.name,
        "main_metric": state.task.main_metric,
        "labels": list(state.task.label_names),
        "environment": environment(),
        "models": [],
    }
    first = loaded.stages[0]
    teacher_trained_first = getattr(first, "target", None) == "teacher"
    if main and not teacher_trained_first:
        entry = measure_saved(state, resolve_path(recipe.teacher.model), model=state.teacher, teacher_side=True)
        report["models"].append({"name": "teacher", "role": "teacher", "path": recipe.teacher.model, **entry})
        write_json_atomic(out / REPORT, report)
    student_input = "teacher"  # what the first student stage starts from
    if recipe.student.init == "pretrained":
        student_input = "student"
        if main:
            # The student the user brought is the baseline every later stage is compared with.
            entry = measure_saved(state, resolve_path(recipe.student.model), model=state.student())
            report["models"].append({"name": "student", "role": "input", "path": recipe.student.model, **entry})
            write_json_atomic(out / REPORT, report)
    plan = list(zip(loaded.stages, loaded.stage_dir_names(), loaded.raw["stages"]))
    fingerprints = stage_fingerprints(loaded)
    done = finished_prefix(plan, fingerprints, out) if resume else {}
    for index, (stage, name, entry) in enumerate(plan):
        stage_dir = out / name
        if index in done:
            student_input = skip_stage(state, report, done[index], stage_dir, student_input, name, main)
            continue
        if main:
            print(f"\n=== stage {name} ({entry['type']}) ===", flush=True)
        state.fingerprint = fingerprints[index]
        result = state.run_stage(entry["type"], stage, name)
        is_teacher = result.role == "teacher"
        if is_teacher:
            stage_input = "teacher"
        else:
            stage_input, student_input = student_input, name
        wait_for_everyone()
        if not stage.save or not main:
            continue
        save_stage(result.model, result.tokenizer, stage_dir)
        measured = measure_saved(state, stage_dir, teacher_side=is_teacher, saved_from=result.model)
        record = {
            "name": "teacher" if is_teacher else name,
            "role": "teacher" if is_teacher else "stage",
            "stage_type": entry["type"],
            "input": stage_input,
            "path": str(stage_dir),
            "info": result.info,
            **measured,
        }
        report["models"].append(record)
        if not is_teacher:
            teacher_entry = next((m for m in report["models"] if m["role"] == "teacher"), None)
            record["budget"] = budget_record(
                record, teacher_entry, report["main_metric"], stage.max_drop, recipe.budget
            )
        records = [record]
        for key, extra in result.extras.items():
            extra_dir = out / f"{name}-{key}"
            save_stage(extra.model, extra.tokenizer, extra_dir)
            measured = measure_saved(state, extra_dir, saved_from=extra.model)
            records.append(
                {
                    "name": f"{name}-{key}",
                    "role": extra.role,
                    "stage_type": entry["type"],
                    "input": stage_input,
                    "path": str(extra_dir),
                    "info": extra.info,
                    **measured,
                }
            )
            report["models"].append(records[-1])
        write_json_atomic(out / REPORT, report)
        # Written last: a stage counts as done for --resume only once its model, extras and report are on disk.
        resume_mod.write_completion(stage_dir, fingerprints[index], records)
        resume_mod.release_work_dirs(out / ".work", fingerprints[index])  # its checkpoints are no longer needed
        enforce_budget(record, report["main_metric"], recipe.budget)  # after the report is safely written
    wait_for_everyone()
    if main:
        shutil.rmtree(out / ".work", ignore_errors=True)
        time_in_fresh_process(report, recipe.measure)  # torch's threads here spin: see fresh_process.py
        write_json_atomic(out / REPORT, report)
        print("\n" + format_table(report), flush=True)
        publish(out, loaded)
        print(f"\nreport: {out / REPORT}", flush=True)
        if replaced is not None:
            shutil.rmtree(replaced, ignore_errors=True)  # the new run is complete: the old one can go
    return report


def stage_fingerprints(loaded: LoadedRecipe) -> list[str]:
    """One per stage, each chained to the one before (see trimformer.resume)."""
    current = resume_mod.run_fingerprint(loaded.raw)
    out = []
    for entry in loaded.raw["stages"]:
        current = resume_mod.stage_fingerprint(current, entry)
        out.append(current)
    return out


def finished_prefix(plan: list[tuple[Any, str, dict]], fingerprints: list[str], out: Path) -> dict[int, list]:
    """The stages --resume may skip: up to the last one with a matching completion record. A stage before it
    without one (save: false) is skipped too, its effect is inside the later saved model; except one that
    trains the teacher, whose model could not be restored: the run goes on from there."""
    records = {}
    for index, (stage, name, _) in enumerate(plan):
        if stage.save:
            found = resume_mod.read_completion(out / name, fingerprints[index])
            if found:
                records[index] = found
    last = max(records, default=-1)
    for index in range(last + 1):
        if index not in records and getattr(plan[index][0], "target", None) == "teacher":
            last = index - 1
            break
    return {i: records.get(i, []) for i in range(last + 1)}


def skip_stage(
    state: RunState, report: dict, records: list[dict], stage_dir: Path, student_input: str, name: str, main: bool
) -> str:
    """A stage finished by an earlier run: its saved model becomes the state's, its report entries return."""
    if main:
        print(f"\n=== stage {name}: finished by an earlier run, skipped (--resume) ===", flush=True)
    if not records:
        return student_input
    record = records[0]
    is_teacher = record.get("role") == "teacher"
    model = load_model(str(stage_dir), state.task.auto_class, **remote_code(state))
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(stage_dir), **remote_code(state))
    except (OSError, ValueError):
        tokenizer = state.teacher_tokenizer if is_teacher else state.tokenizer
    from trimformer.stages.base import StageResult

    state.apply(StageResult(model, tokenizer, role="teacher" if is_teacher else "student"))
    if main:
        report["models"].extend(records)
        write_json_atomic(stage_dir.parent / REPORT, report)
        if not is_teacher:
            enforce_budget(record, report["main_metric"], state.recipe.budget)
    return student_input if is_teacher else name

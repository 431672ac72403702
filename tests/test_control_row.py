"""Every distillation carries its control row (the same student, labels only, same optimizer steps), and the
report flags a distilled student — or a teacher — that does not beat it."""

import json

from test_cli_e2e import write_recipe

from trimformer.cli import main
from trimformer.report_table import control_verdicts, markdown_table


def _report(teacher: float, distilled: float, control: float, n: int = 1000) -> dict:
    row = lambda name, role, acc, **kw: {"name": name, "role": role, "metrics": {"accuracy": acc}, **kw}  # noqa: E731
    return {
        "main_metric": "accuracy",
        "models": [
            row("teacher", "teacher", teacher, eval_examples=n),
            row("distill", "stage", distilled),
            row("distill-control", "control", control, info={"control_of": "distill"}),
        ],
    }


def test_a_real_gain_is_stated_as_one():
    (line,) = control_verdicts(_report(0.89, 0.86, 0.82))
    assert line.startswith("distill beats its control distill-control") and "+4.00 points" in line


def test_a_distilled_student_that_loses_to_its_control_is_flagged():
    lines = control_verdicts(_report(0.7429, 0.7463, 0.7603))
    assert lines[0].startswith("⚠ distill did not beat its control") and "-1.40 points" in lines[0]
    assert lines[1].startswith("⚠ the teacher (74.29) does not beat that control (76.03) either")
    assert "⚠ distill did not beat its control" in markdown_table(_report(0.7429, 0.7463, 0.7603))


def test_a_gain_inside_sampling_noise_is_not_a_win():
    (line,) = control_verdicts(_report(0.85, 0.791, 0.790, n=1281))
    assert line.startswith("⚠ distill is within noise of its control")


def test_the_runner_trains_and_measures_the_control(tiny_run):
    stages = [
        {"type": "finetune", "training": {"num_train_epochs": 3}},
        {"type": "distill", "teacher_cache": True, "augment": {"n_variants": 1}, "training": {"num_train_epochs": 2}},
    ]
    recipe = write_recipe(tiny_run, stages=stages)
    assert main(["run", str(recipe)]) == 0
    report = json.loads((tiny_run / "out" / "report.json").read_text())
    models = {m["name"]: m for m in report["models"]}
    control, distilled = models["distill-control"], models["distill"]
    assert control["role"] == "control" and control["info"]["control_of"] == "distill"
    assert control["info"]["training"]["optimizer_steps"] == distilled["info"]["training"]["optimizer_steps"]
    assert (tiny_run / "out" / "distill-control" / "model.safetensors").exists()
    assert any("its control distill-control" in line for line in control_verdicts(report))

"""The two long pipelines the README promises, run by the recipe runner on a tiny model: every stage is saved
in one stacked artefact, reloads to the in-memory model (checked by the runner itself), and reproduces its
reported accuracy in a fresh process."""

import json
import subprocess
import sys
import textwrap

import pytest
from test_cli_e2e import write_recipe

from trimformer.artefact.verify import TOLERANCE
from trimformer.cli import main

SHORT = {"max_steps": 6}
PIPELINES = {
    "int8": [
        {"type": "prune_heads", "amount": 0.25, "recovery": {"training": SHORT}},
        {"type": "prune_ffn", "amount": 0.5, "scope": "global", "recovery": {"training": SHORT}},
        {"type": "prune_vocab", "include_eval_text": True},
        {"type": "lowrank", "target_compression": 0.5, "min_rank": 4, "recovery": True, "training": SHORT},
        {"type": "quantize", "method": "int8-cpu"},
    ],
    "qlora": [
        {"type": "prune_heads", "amount": 0.25, "recovery": {"training": SHORT}},
        {"type": "lora", "qlora": True, "r": 4, "training": SHORT},
        {"type": "merge"},
        {"type": "quantize", "method": "bnb-nf4"},
    ],
}
KINDS = {
    "int8": ["prune_heads", "prune_ffn", "prune_vocab", "lowrank", "onnx-int8"],
    "qlora": ["prune_heads", "bnb"],
}
FRESH = textwrap.dedent(
    """
    import json, sys
    from trimformer import data as D
    from trimformer.loading import load_model
    from trimformer.measure import evaluate_model
    from transformers import AutoTokenizer
    report = json.load(open(sys.argv[1]))
    settings = D.DataSettings(path=sys.argv[2], max_length=16)
    raw = D.load_raw(settings, seed=42)
    task = D.infer_task("sequence-classification", raw, settings, None)
    out = {}
    for m in report["models"]:
        if m["role"] != "stage":
            continue
        tok = AutoTokenizer.from_pretrained(m["path"])
        ds = D.tokenize(raw["validation"], task, settings, tok)
        out[m["name"]] = evaluate_model(load_model(m["path"]), ds, D.DistillationCollator(tok, task), task)["accuracy"]
    print(json.dumps(out))
    """
)


@pytest.mark.parametrize("pipeline", list(PIPELINES))
def test_pipeline_stacks_in_one_artefact_and_reloads_exactly(tiny_run, pipeline):
    stages = [{"type": "finetune", "training": {"num_train_epochs": 3}}]
    stages += [{"type": "distill", "control": False, "training": {"num_train_epochs": 2}}, *PIPELINES[pipeline]]
    assert main(["run", str(write_recipe(tiny_run, stages=stages, measure={"latency": False}))]) == 0
    report = json.loads((tiny_run / "out" / "report.json").read_text())
    rows = [m for m in report["models"] if m["role"] == "stage"]
    assert all(m["reload_max_diff"] <= TOLERANCE for m in rows), [(m["name"], m["reload_max_diff"]) for m in rows]
    final = json.loads((tiny_run / "out" / rows[-1]["name"] / "config.json").read_text())["trimformer"]
    assert [t["kind"] for t in final["transforms"]] == KINDS[pipeline]
    data = str(tiny_run / "data.csv.gz")
    fresh = subprocess.run(
        [sys.executable, "-c", FRESH, str(tiny_run / "out" / "report.json"), data],
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    )
    accuracy = json.loads(fresh.stdout.strip().splitlines()[-1])
    assert accuracy == {m["name"]: m["metrics"]["accuracy"] for m in rows}

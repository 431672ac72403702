"""Pruning, quantization, low-rank and LoRA stages chained by the recipe runner on a tiny model:
every stage is saved, reloaded the way a user would, measured, and lands in report.json."""

import json

import torch
import yaml

from trimformer.cli import main
from trimformer.loading import load_model


def run(root, stages):
    recipe = {
        "output_dir": str(root / "out"),
        "data": {"path": str(root / "data.csv.gz"), "max_length": 16},
        "teacher": {"model": str(root / "teacher")},
        "student": {"init": "layers", "layers": [0, 2]},
        "training": {"per_device_train_batch_size": 16, "learning_rate": 2e-3, "logging_steps": 5},
        "stages": [
            {"type": "finetune", "training": {"num_train_epochs": 3}},
            {"type": "distill", "control": False, "training": {"num_train_epochs": 3}},
            *stages,
        ],
        "measure": {"repeats": 1, "threads": 1},
    }
    (root / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    assert main(["run", str(root / "recipe.yaml")]) == 0
    return json.loads((root / "out" / "report.json").read_text())


def by_name(report):
    return {m["name"]: m for m in report["models"]}


def test_prune_then_quantize_chain(tiny_run):
    report = run(
        tiny_run,
        [
            {"type": "prune_heads", "amount": 0.5, "recovery": {"training": {"max_steps": 10}}},
            {"type": "prune_ffn", "amount": 0.5},
            {"type": "prune_vocab"},
            {"type": "quantize", "method": "int8-cpu"},
        ],
    )
    models = by_name(report)
    assert list(models) == ["teacher", "distill", "prune_heads", "prune_ffn", "prune_vocab", "quantize"]
    assert models["prune_heads"]["params"] < models["distill"]["params"]
    assert models["prune_ffn"]["params"] < models["prune_heads"]["params"]
    assert models["prune_vocab"]["size_mb"] <= models["prune_ffn"]["size_mb"]
    assert models["quantize"]["size_mb"] < models["prune_vocab"]["size_mb"]
    assert models["quantize"]["info"]["runtime"]
    for name in ("prune_heads", "prune_ffn", "prune_vocab"):
        assert models[name]["metrics"]["accuracy"] >= 0.8, (name, models[name]["metrics"])
    # Vocabulary pruning keeps outputs on covered text: same accuracy as the stage before it.
    assert models["prune_vocab"]["metrics"]["accuracy"] == models["prune_ffn"]["metrics"]["accuracy"]
    # The per-layer-shaped checkpoint reloads through trimformer's loader.
    model = load_model(models["prune_ffn"]["path"])
    heads = [layer.attention.self.num_attention_heads for layer in model.bert.encoder.layer]
    assert sum(heads) < 2 * 4
    assert (tiny_run / "out" / "report.md").exists() and (tiny_run / "out" / "tradeoff.png").exists()
    assert (tiny_run / "out" / "prune_vocab" / "README.md").exists()


def test_lora_merge_lowrank_chain(tiny_run):
    report = run(
        tiny_run,
        [
            {"type": "lora", "r": 4, "training": {"max_steps": 10}},
            {"type": "merge"},
            # 64-wide layers break even at rank 31: a target of half the parameters really factors them.
            {"type": "lowrank", "target_compression": 0.5},
        ],
    )
    models = by_name(report)
    assert list(models) == ["teacher", "distill", "lora", "merge", "lowrank"]
    ranks = models["lowrank"]["info"]["ranks"]
    assert ranks and all(r <= 31 for r in ranks.values()), ranks
    assert models["lowrank"]["params"] < models["merge"]["params"]
    merged = load_model(models["merge"]["path"]).eval()
    ids = torch.tensor([[2, 5, 20, 3]])
    with torch.no_grad():
        assert merged(input_ids=ids).logits.shape == (1, 2)
    assert abs(models["merge"]["metrics"]["accuracy"] - models["lora"]["metrics"]["accuracy"]) <= 0.05
    assert [
        t["kind"]
        for t in json.loads((tiny_run / "out" / "lowrank" / "config.json").read_text())["trimformer"]["transforms"]
    ] == ["lowrank"]

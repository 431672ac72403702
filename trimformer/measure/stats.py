"""The one rule for latency figures and speed ratios (printed under every table that shows them).

A model's figure for one device and batch size is the median over rounds of its per-round median call
time; its spread is (max − min) / median of those per-round medians.

A speed ratio A/B is the median of the paired call ratios A[r][c] / B[r][c]: call c of round r of both
models ran back to back (models alternate call by call), so load that comes and goes hits both. It is
*supported* when at least MIN_ROUNDS rounds were timed and the per-round ratios (each round's median
paired ratio) spread by at most NOISE_LIMIT; otherwise tables mark it ⚠ instead of printing a
confident number.

Why pairs of calls: on a 2-core machine with a third process busy, a call's time varies up to 10×. The
median of 35 paired ratios of two copies of one model stayed within 9% of 1.0 over every 7-round window
of a 30-round record; the median of 7 per-round ratios strayed by up to 27% (bench/bench_measure.py).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

NOISE_LIMIT = 0.20  # per-round ratios within about ±10% of their median
MIN_ROUNDS = 3
FLAG = "⚠"

RULE = (
    "Latency: median over rounds of each round's median call time, ± how far the rounds spread "
    "((max − min) / median). Speed ratio: median of the paired call "
    "ratios (the two models ran call after call, in one pass, on the same device with the same threads). "
    f"A ratio is marked {FLAG} (not supported) when the per-round ratios spread by more than {NOISE_LIMIT:.0%} "
    f"((max − min) / median) or fewer than {MIN_ROUNDS} rounds were timed."
)


def relative_spread(values: list[float]) -> float | None:
    """(max − min) / median, or None for fewer than two values."""
    if len(values) < 2:
        return None
    mid = statistics.median(values)
    return (max(values) - min(values)) / mid if mid > 0 else None


def summarize(rounds_ms: list[float]) -> dict[str, float | None]:
    """{median_ms, spread} of one model's per-round medians."""
    spread = relative_spread(rounds_ms)
    return {
        "median_ms": round(statistics.median(rounds_ms), 4) if rounds_ms else None,
        "spread": None if spread is None else round(spread, 4),
    }


@dataclass(frozen=True)
class Ratio:
    """reference / model (> 1 means the model is faster); `why` says why it is not supported."""

    value: float
    spread: float | None
    supported: bool
    why: str | None = None


def paired_ratio(reference_calls: list[list[float]], calls: list[list[float]]) -> Ratio | None:
    """Median of reference[r][c] / model[r][c] over every round r and call c, judged by the rule above."""
    if not reference_calls or len(reference_calls) != len(calls):
        return None
    per_round, pairs = [], []
    for ref_round, round_ in zip(reference_calls, calls):
        ratios = [r / m for r, m in zip(ref_round, round_) if r > 0 and m > 0]
        if ratios:
            per_round.append(statistics.median(ratios))
            pairs += ratios
    if not pairs:
        return None
    value, spread = statistics.median(pairs), relative_spread(per_round)
    if len(per_round) < MIN_ROUNDS:
        return Ratio(value, spread, False, f"only {len(per_round)} round(s)")
    if spread is not None and spread > NOISE_LIMIT:
        return Ratio(value, spread, False, f"rounds disagree by {min(spread, 1.0):.0%}" + ("+" if spread > 1 else ""))
    return Ratio(value, spread, True)


def unpaired_ratio(reference_ms: float, ms: float, why: str) -> Ratio:
    """A ratio of two figures without calls to pair (older reports): shown, never supported."""
    return Ratio(reference_ms / ms, None, False, why)

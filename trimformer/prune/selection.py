"""Turn importance scores into "which units go": a global or per-layer amount with a floor per layer."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from trimformer.errors import UserInputError


def amount_to_count(amount: float | int, total: int, field: str) -> int:
    """`amount` < 1 is a fraction of `total`, an int >= 1 a count."""
    if isinstance(amount, bool) or amount < 0:
        raise UserInputError(f"{field}={amount!r}: use a fraction in [0, 1) or a whole count >= 1")
    if amount < 1:
        return int(round(amount * total))
    if float(amount) != int(amount):
        raise UserInputError(f"{field}={amount!r}: counts must be whole numbers (or give a fraction < 1)")
    return int(amount)


def select_prune(
    scores: Sequence[torch.Tensor],
    amount: float | int,
    scope: str = "global",
    min_keep: int = 1,
    unit: str = "heads",
    field: str = "amount",
    already: Sequence[Sequence[int]] | None = None,
) -> list[list[int]]:
    """Indices to remove per layer, lowest scores first.

    scope="global": `amount` of all units across layers; scope="per_layer": `amount` in each layer.
    Every layer keeps at least `min_keep` units. `already` lists units that are gone (masked) and
    count towards the amount (used by gradual pruning)."""
    if scope not in ("global", "per_layer"):
        raise UserInputError(f"scope={scope!r}: use 'global' or 'per_layer'")
    if min_keep < 1:
        raise UserInputError(f"min_{unit}_per_layer={min_keep}: every layer must keep at least 1 of its {unit}")
    already = [set(a) for a in already] if already is not None else [set() for _ in scores]
    sizes = [len(s) for s in scores]
    if min(sizes) < min_keep:
        raise UserInputError(f"min_{unit}_per_layer={min_keep} exceeds the {min(sizes)} {unit} of the smallest layer")
    chosen: list[list[int]] = [sorted(a) for a in already]
    if scope == "per_layer":
        for i, s in enumerate(scores):
            want = amount_to_count(amount, sizes[i], field)
            if want > sizes[i] - min_keep:
                raise UserInputError(
                    f"{field}={amount}: would leave layer {i} {sizes[i] - want} {unit}, fewer than the minimum "
                    f"{min_keep}; lower {field} or min_{unit}_per_layer"
                )
            extra = want - len(already[i])
            order = [j for j in torch.argsort(s).tolist() if j not in already[i]]
            chosen[i] = sorted(already[i] | set(order[: max(extra, 0)]))
        return chosen
    total = sum(sizes)
    want = amount_to_count(amount, total, field)
    room = sum(n - min_keep for n in sizes)
    if want > room:
        raise UserInputError(
            f"{field}={amount}: asks for {want} of {total} {unit} but only {room} can go while keeping "
            f"min_{unit}_per_layer={min_keep} in each layer; lower {field} or the minimum"
        )
    extra = want - sum(len(a) for a in already)
    candidates = [(float(s[j]), i, j) for i, s in enumerate(scores) for j in range(len(s)) if j not in already[i]]
    candidates.sort()
    removed = [set(a) for a in already]
    for _, i, j in candidates:
        if extra <= 0:
            break
        if sizes[i] - len(removed[i]) > min_keep:
            removed[i].add(j)
            extra -= 1
    return [sorted(r) for r in removed]

"""The search space: which teacher layers, how many heads and FFN neurons kept, vocabulary pruning, int8.

A `Shape` is one candidate. Its `trainable` part (layers, heads, FFN) decides what training does; vocabulary
pruning and int8 are applied after training, so every variant of one trainable shape shares its training.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass
from typing import Any

from trimformer.errors import UserInputError
from trimformer.search.config import SearchSection


@dataclass(frozen=True)
class Shape:
    layers: tuple[int, ...]
    heads_keep: float
    ffn_keep: float
    vocab: bool
    int8: bool

    @property
    def key(self) -> str:
        """A stable id (also a folder name) for search.json and resume."""
        layers = "-".join(map(str, self.layers))
        return f"L{layers}_h{self.heads_keep:g}_f{self.ffn_keep:g}_v{int(self.vocab)}_q{int(self.int8)}"

    @property
    def trainable(self) -> tuple[tuple[int, ...], float, float]:
        return (self.layers, self.heads_keep, self.ffn_keep)

    @property
    def depth(self) -> int:
        return len(self.layers)

    def lossiness(self) -> int:
        """Post-training transforms that may cost accuracy: fewer is preferred between otherwise equal shapes."""
        return int(self.vocab) + 2 * int(self.int8)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "layers": list(self.layers)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Shape:
        return cls(
            tuple(data["layers"]), float(data["heads_keep"]), float(data["ffn_keep"]), data["vocab"], data["int8"]
        )

    def describe(self) -> str:
        q = ", int8" if self.int8 else ""
        v = ", vocab pruned" if self.vocab else ""
        return f"layers {list(self.layers)}, heads {self.heads_keep:.0%}, FFN {self.ffn_keep:.0%}{v}{q}"


def layer_choices(total: int, depth: int, patterns: list[str]) -> list[tuple[int, ...]]:
    """Teacher layer sets of `depth` layers out of `total`, one per pattern (duplicates dropped)."""
    out: list[tuple[int, ...]] = []
    for pattern in patterns:
        if pattern == "bottom":
            layers = tuple(range(depth))
        elif pattern == "top":
            layers = tuple(sorted({round((i + 1) * total / depth) - 1 for i in range(depth)}))
        else:  # spread, the way student.num_layers picks them
            layers = tuple(int(i * total / depth) for i in range(depth))
        if len(layers) == depth and layers not in out:
            out.append(layers)
    return out


def enumerate_space(section: SearchSection, teacher_layers: int) -> list[Shape]:
    """Every candidate, smallest first (depth, heads, FFN, then variants)."""
    if section.layer_sets is not None:
        bad = [s for s in section.layer_sets if max(s) >= teacher_layers]
        if bad:
            raise UserInputError(f"search.layer_sets {bad}: the teacher has layers 0..{teacher_layers - 1}")
        sets = [tuple(sorted(s)) for s in section.layer_sets]
    else:
        depths = section.depths or list(range(1, teacher_layers + 1))
        too_deep = [d for d in depths if d > teacher_layers]
        if too_deep:
            raise UserInputError(f"search.depths {too_deep}: the teacher has {teacher_layers} layers")
        sets = [s for d in sorted(set(depths)) for s in layer_choices(teacher_layers, d, section.layer_patterns)]
    shapes = [
        Shape(layers, h, f, v, q)
        for layers, h, f, v, q in itertools.product(
            sets, sorted(set(section.heads_keep)), sorted(set(section.ffn_keep)), section.vocab, section.int8
        )
    ]
    return sorted(shapes, key=lambda s: (s.depth, s.heads_keep, s.ffn_keep, s.layers, s.vocab, s.int8))


def smallest(shapes: list[Shape]) -> list[Shape]:
    """The smallest shape of each (vocab, int8) variant: what an impossible budget is checked against."""
    out: dict[tuple[bool, bool], Shape] = {}
    for s in shapes:
        best = out.get((s.vocab, s.int8))
        if best is None or (s.depth, s.heads_keep, s.ffn_keep) < (best.depth, best.heads_keep, best.ffn_keep):
            out[(s.vocab, s.int8)] = s
    return list(out.values())


def dominates(big: Shape, small: Shape) -> bool:
    """`big` holds everything `small` does (its layers, at least its heads and FFN share) with no lossier
    post-training transform: trained the same way it should be at least as accurate, so `small` need not be tried."""
    return (
        big != small
        and set(small.layers) <= set(big.layers)
        and big.heads_keep >= small.heads_keep
        and big.ffn_keep >= small.ffn_keep
        and big.vocab <= small.vocab
        and big.int8 <= small.int8
    )


def undominated(shapes: list[Shape]) -> list[Shape]:
    return [s for s in shapes if not any(dominates(other, s) for other in shapes)]

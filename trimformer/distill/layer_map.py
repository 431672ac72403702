"""Which student layer learns from which teacher layer.

Indices are into `hidden_states` as transformers returns them: 0 is the embedding output,
i is the output of layer i. A map is a list of (student_index, teacher_index) pairs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from trimformer.errors import UserInputError


def build_layer_map(spec: Any, student_layers: int, teacher_layers: int) -> list[tuple[int, int]]:
    """`uniform`: student layer i <- teacher layer round(i * T/S) (embeddings map to embeddings);
    `last-k`: student's layers align with the teacher's last S layers; or explicit pairs."""
    if spec == "uniform":
        step = teacher_layers / student_layers
        return [(i, round(i * step)) for i in range(student_layers + 1)]
    if spec == "last-k":
        offset = teacher_layers - student_layers
        return [(0, 0)] + [(i, i + offset) for i in range(1, student_layers + 1)]
    if isinstance(spec, Sequence) and not isinstance(spec, str):
        pairs = [tuple(int(x) for x in pair) for pair in spec]
        for s, t in pairs:
            if len((s, t)) != 2 or not 0 <= s <= student_layers or not 0 <= t <= teacher_layers:
                raise UserInputError(
                    f"layer_map pair [{s}, {t}] is out of range: student has 0..{student_layers}, "
                    f"teacher 0..{teacher_layers} (0 = embeddings)"
                )
        return pairs  # type: ignore[return-value]
    raise UserInputError(f"layer_map must be 'uniform', 'last-k' or a list of [student, teacher] pairs (got {spec!r})")

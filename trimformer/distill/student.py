"""Ways to get a student: cut from the teacher's layers (DistilBERT), a smaller random config, or
an existing checkpoint."""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from typing import Any

from torch import nn

from trimformer.errors import UserInputError

_LAYER_KEY = re.compile(r"(\.layer\.)(\d+)(\.)")


def student_from_teacher_layers(teacher: nn.Module, layers: Sequence[int]) -> nn.Module:
    """A copy of `teacher` that keeps only `layers` (embeddings, pooler and head included).

    DistilBERT initialised its student from every other teacher layer; keeping e.g. 0,2,4 of 6
    starts the student close to the teacher instead of from noise.
    """
    total = teacher.config.num_hidden_layers
    layers = list(layers)
    if not layers:
        raise UserInputError("student.layers is empty: list the teacher layers to keep, e.g. [0, 2, 4]")
    bad = [i for i in layers if not 0 <= i < total]
    if bad:
        raise UserInputError(f"student.layers {bad} out of range: the teacher has layers 0..{total - 1}")
    if len(set(layers)) != len(layers):
        raise UserInputError(f"student.layers {layers} has duplicates: list each teacher layer once")
    config = copy.deepcopy(teacher.config)
    config.num_hidden_layers = len(layers)
    student = type(teacher)(config)
    new_index = {old: new for new, old in enumerate(layers)}
    state = {}
    for key, value in teacher.state_dict().items():
        match = _LAYER_KEY.search(key)
        if match is None:
            state[key] = value
            continue
        old = int(match.group(2))
        if old in new_index:
            state[key[: match.start(2)] + str(new_index[old]) + key[match.end(2) :]] = value
    missing, unexpected = student.load_state_dict(state, strict=False)
    if unexpected or [k for k in missing if "position_ids" not in k]:
        raise UserInputError(
            f"cannot cut {type(teacher).__name__} by layers (missing {missing[:3]}, unexpected {unexpected[:3]}); "
            "use student.init: random or pretrained"
        )
    return student.to(next(teacher.parameters()).dtype)


def random_student(teacher_config: Any, model_cls: Any, overrides: dict[str, Any]) -> nn.Module:
    """A randomly initialised model with the teacher's config changed by `overrides`
    (e.g. num_hidden_layers, hidden_size, num_attention_heads, intermediate_size)."""
    config = copy.deepcopy(teacher_config)
    for key, value in overrides.items():
        if not hasattr(config, key):
            raise UserInputError(f"student.config.{key}: {type(config).__name__} has no such field")
        setattr(config, key, value)
    if config.hidden_size % config.num_attention_heads:
        raise UserInputError(
            f"student.config: hidden_size {config.hidden_size} is not a multiple of "
            f"num_attention_heads {config.num_attention_heads}"
        )
    return model_cls.from_config(config)

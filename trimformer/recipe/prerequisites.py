"""Checks of the recipe as a whole that need no file: what a stage needs from the stages before it,
folder names that stay inside output_dir and do not collide, and an output_dir that can be created.

(Stage order — what a stage needs of the model and what earlier stages took away, merge without lora
included — is `trimformer.artefact.capabilities`, checked by `recipe.load.check_stage_order`.)"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from trimformer.errors import UserInputError


def check_names(names: list[str]) -> None:
    """Stage folders (given `name`s and numbered defaults together) must not collide."""
    seen: dict[str, int] = {}
    for index, name in enumerate(names):
        key = name.lower()  # case-insensitive file systems would merge them
        if key in seen:
            raise UserInputError(
                f"stages[{index}].name: '{name}' is also the folder of stages[{seen[key]}]; give each stage its "
                "own name"
            )
        seen[key] = index


def check_tokenizer_option(recipe: Any) -> None:
    if recipe.teacher.own_tokenizer and recipe.task != "sequence-classification":
        raise UserInputError(
            f"teacher.own_tokenizer: only sequence classification lets the teacher tokenize for itself; the "
            f"{recipe.task} student must share the teacher's tokenizer (remove the setting)"
        )


def check_teacher_cache(recipe: Any, stages: list[Any]) -> None:
    """Masked LM draws a new mask each step: logits cached once would be for another mask (teacher_cache.py)."""
    for index, stage in enumerate(stages):
        if getattr(stage, "teacher_cache", False) and recipe.task == "masked-lm":
            raise UserInputError(
                f"stages[{index}].teacher_cache: masked-lm draws a new mask every step, so cached teacher logits "
                "would be for another mask than the student sees; set teacher_cache: false"
            )
        if getattr(stage, "teacher_cache", False) and getattr(stage, "alpha_embedding", 0) > 0:
            if recipe.task != "sequence-classification":
                raise UserInputError(
                    f"stages[{index}].alpha_embedding: cached embeddings are one per sentence, {recipe.task} "
                    "compares tokens; set teacher_cache: false or alpha_embedding: 0"
                )


def check_output_dir(output_dir: str) -> None:
    """output_dir must be a folder we could create: not a file, not under a file, and writable."""
    path = Path(output_dir).expanduser()
    if path.exists() and not path.is_dir():
        raise UserInputError(f"output_dir: {output_dir} is a file; choose a folder (it will hold one per stage)")
    parent = path
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if parent.exists() and not parent.is_dir():
        raise UserInputError(f"output_dir: {parent} is a file, so {output_dir} cannot be created; choose a folder")
    if parent.exists() and not os.access(parent, os.W_OK | os.X_OK):
        raise UserInputError(f"output_dir: no permission to write in {parent}; choose a folder you can write to")

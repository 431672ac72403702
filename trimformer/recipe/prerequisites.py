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


def check_assistant(recipe: Any, stages: list[Any], types: list[str]) -> None:
    """A teacher assistant is a deeper cut of the student's source model that the student's layers come from:
    it needs `student.init: layers`, must hold those layers, and only the stage that first trains the student
    (after teacher fine-tuning) can build it — later the student is no longer the raw cut."""
    for index, stage in enumerate(stages):
        section = getattr(stage, "assistant", None)
        if section is None:
            continue
        where = f"stages[{index}].assistant"
        if recipe.student.init != "layers":
            raise UserInputError(
                f"{where}: needs student.init: layers (the student is cut from the assistant's layers); "
                f"student.init is {recipe.student.init}"
            )
        if recipe.student.layers is not None:  # num_layers: checked once the source model's depth is read
            check_assistant_holds(where, section.layers, recipe.student.layers)
        if any(t != "finetune" for t in types[:index]):
            raise UserInputError(
                f"{where}: only the first stage that trains the student can use an assistant (stages before it "
                "other than teacher fine-tuning change the student); move this distill stage first"
            )


def check_assistant_holds(where: str, assistant: list[int], student: list[int]) -> None:
    """The assistant keeps every student layer, and more: otherwise it is the student itself."""
    missing = [i for i in student if i not in assistant]
    if missing:
        raise UserInputError(f"{where}.layers: {assistant} lacks the student's layers {missing}; add them")
    if len(assistant) <= len(student):
        raise UserInputError(
            f"{where}.layers: {assistant} keeps no more layers than the student ({sorted(student)}); "
            "an assistant is a deeper cut: add layers"
        )

"""Checks of a distill stage's teacher assistant (`assistant:`), before anything trains: the structure of the
recipe first (`check_assistant`), then, once the source model's config is read, its depth
(`check_assistant_layers`). `check_assistant_holds` is shared with the stage, which checks stages built in Python."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from trimformer.errors import UserInputError

if TYPE_CHECKING:
    from trimformer.recipe.model_checks import ModelFacts


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


def check_assistant_layers(
    recipe: Any, stages: list[Any], teacher: ModelFacts | None, student: ModelFacts | None
) -> None:
    """A distill stage's assistant.layers must exist in the model the student is cut from, and hold the
    student's layers (with student.num_layers these are known only now, from the source model's depth)."""
    from trimformer.stages.distill import student_layers

    source, whose = (student, "student.model") if recipe.student.model else (teacher, "teacher")
    total = source.get("num_hidden_layers") if source is not None else None
    if not total or recipe.student.init != "layers":  # another init: check_assistant has refused it already
        return
    for index, stage in enumerate(stages):
        section = getattr(stage, "assistant", None)
        if section is None:
            continue
        bad = [i for i in section.layers if i >= total]
        if bad:
            raise UserInputError(
                f"stages[{index}].assistant.layers: {bad} out of range; the {whose} ({source.ref}) has layers "
                f"0..{total - 1}"
            )
        check_assistant_holds(f"stages[{index}].assistant", section.layers, student_layers(recipe.student, total))

"""Which failures are the user's to fix and which are ours, and the exit code each gets.

- `UserInputError` (exit 2): a bad recipe, data file or model reference. One line naming the field or
  file and the fix; raised before anything is written whenever it can be known up front.
- `BudgetExceeded` (exit 3, `trimformer.budget`): the run worked but a stage lost too much accuracy.
- `TrainingDiverged` (exit 4): a loss term became NaN/inf. Not bad input as such (the same recipe may
  train with another learning rate or seed); the run stops at that step, keeping what it saved.
- Anything else (exit 1) is a bug in trimformer or a library: the traceback is printed, never hidden
  behind a one-line "bad input" message.
"""

from __future__ import annotations

EXIT_INTERNAL = 1
EXIT_BAD_INPUT = 2
EXIT_BUDGET = 3
EXIT_DIVERGED = 4


class UserInputError(ValueError):
    """Bad input; str(err) is the one line shown to the user: the field or file, what is wrong, the fix.

    A ValueError so that code written before this class existed (`except ValueError`) still catches it."""

    exit_code = EXIT_BAD_INPUT

    def __init__(self, message: str = ""):
        # Messages quote user input (keys, values, file names), which may hold line breaks: keep one line.
        super().__init__(str(message).replace("\r", "\\r").replace("\n", "\\n"))


class TrainingDiverged(RuntimeError):
    """A loss term stopped being finite; the message names the step, the term and what to try."""

    exit_code = EXIT_DIVERGED


def is_user_error(exc: BaseException) -> bool:
    return isinstance(exc, UserInputError)


def one_line(exc: BaseException) -> str:
    """The first line of the message (messages are written as one line; this guards against a stray newline)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__

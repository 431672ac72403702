"""Known-harmless third-party noise, silenced at its source with filters scoped to one logger and one message.

    from trimformer._quiet import install
    install()        # idempotent; `import trimformer` calls it

Why: on a CPU machine every command used to open with five lines of alarming but meaningless output
(optional GPU kernels that fail to load, a torch deprecation inside torchao, a kernel that cannot be fetched
offline), and loading a model with a fresh task head printed a MISSING table. Nothing here changes a
logger's level, the root logger or the global warning filters: any other record from the same libraries,
a MISSING weight outside a task head included, still shows.
"""

from __future__ import annotations

import logging
import re
import warnings

# logger name -> message starts that are noise on every machine we run on (and why).
KNOWN_NOISE: dict[str, tuple[str, ...]] = {
    # torchao ships CUDA-only kernels (.so) and logs a warning for each one a CPU machine cannot load.
    "torchao": ("Failed to load ",),
    # torchao registers Enums with torch's pytree, deprecated in torch 2.13; nothing a user can change.
    "torch.utils._pytree": ("%s is an Enum subclass and is now natively supported",),
    # bitsandbytes looks for an optional CPU 4-bit kernel on the Hub; offline it falls back to its own code.
    "bitsandbytes.backends.cpu.ops": ("Failed to load CPU gemm_4bit_forward",),
    "kernels._internals.hf_hub": ("Skipping publisher trust check",),
}
# Modules a task head is made of (BERT/MiniLM/MPNet `classifier`, DistilBERT `pre_classifier`, RoBERTa
# `classifier.dense`/`out_proj`, token classification `classifier`, GPT-style `score`, QA `qa_outputs`).
HEAD_PREFIXES = ("classifier.", "pre_classifier.", "score.", "qa_outputs.")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_installed = False


class _DropKnown(logging.Filter):
    def __init__(self, starts: tuple[str, ...]) -> None:
        super().__init__()
        self.starts = starts

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.starts)


class _NewHeadOneLine(logging.Filter):
    """transformers' LOAD REPORT for a checkpoint without the task head (expected: the head is new and the
    next training stage learns it) becomes one plain line; any other report passes unchanged."""

    def filter(self, record: logging.LogRecord) -> bool:
        line = new_head_line(str(record.msg)) if "LOAD REPORT" in str(record.msg) else None
        if line is not None:
            record.msg, record.args = line, None
        return True


def new_head_line(report: str) -> str | None:
    """The one line for a report whose only rows are MISSING task-head weights, else None."""
    text = _ANSI.sub("", report)
    first, _, rest = text.partition("\n")
    model = first.split(" LOAD REPORT", 1)[0].strip()
    table = rest.split("\n\nNotes:", 1)[0].splitlines()[2:]  # skip the header and its rule
    rows = [[cell.strip() for cell in row.split("|")] for row in table if row.strip()]
    if not rows or any(len(r) < 2 or r[1] != "MISSING" or not r[0].startswith(HEAD_PREFIXES) for r in rows):
        return None
    keys = ", ".join(r[0] for r in rows)
    return f"{model}: new task head ({keys}), initialised randomly; training learns it"


def install() -> None:
    """Add the filters (once per process)."""
    global _installed
    if _installed:
        return
    _installed = True
    for name, starts in KNOWN_NOISE.items():
        logging.getLogger(name).addFilter(_DropKnown(starts))
    logging.getLogger("transformers.modeling_utils").addFilter(_NewHeadOneLine())
    # A DataLoader asked to pin memory on a machine without an accelerator says so once per loader; pinning
    # is simply skipped there (transformers' dataloader_pin_memory defaults to True).
    warnings.filterwarnings("ignore", message="'pin_memory' argument is set as true but no accelerator is found")

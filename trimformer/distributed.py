"""Which process writes. Read from the launcher's environment (torchrun / accelerate launch set
RANK) because the process group only exists once the first TrainingArguments is built."""

from __future__ import annotations

import os

import torch


def is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def wait_for_everyone() -> None:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()

"""Which process writes, how many there are, and the CPU (gloo) case transformers does not detect.

Read from the launcher's environment (torchrun / accelerate launch set RANK and WORLD_SIZE) because the
process group only exists once the first TrainingArguments is built.
"""

from __future__ import annotations

import os

import torch


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    return rank() == 0


def needs_cpu_backend() -> bool:
    """Several processes but no GPU: TrainingArguments must be told `use_cpu`, else transformers 5.x treats
    each torchrun process as a lone one (ParallelMode.NOT_PARALLEL) and every process trains on all the data."""
    return world_size() > 1 and not torch.cuda.is_available()


def wait_for_everyone() -> None:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()

"""`accelerate launch --cpu --num_processes N` starts ONE process: accelerate leaves multi-CPU to mpirun and
only sets MASTER_ADDR. Left alone, the user asked for N workers and silently got one. We notice that case and
start the N processes ourselves with torch's own launcher (torchrun), which accelerate's state then reads.

Usage: called first thing by `trimformer.cli.main`; a no-op everywhere else.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from trimformer.errors import UserInputError

RELAUNCHED = "TRIMFORMER_RELAUNCHED"


def _truthy(value: str | None) -> bool:
    return str(value).lower() in ("1", "true", "yes")


def requested_cpu_processes() -> int | None:
    """N when this process was started by `accelerate launch --cpu --num_processes N` (N > 1) and is alone."""
    env = os.environ
    if "WORLD_SIZE" in env or "RANK" in env or env.get(RELAUNCHED):
        return None
    if not (_truthy(env.get("ACCELERATE_USE_CPU")) and env.get("MASTER_ADDR")):
        return None  # accelerate sets MASTER_ADDR for the simple launcher only when N > 1
    try:
        parent = Path(f"/proc/{os.getppid()}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        parent = []
    text = " ".join(parent)
    if "accelerate" not in text:
        return None
    found = re.search(r"--num_processes[ =](\d+)", text)
    if found is None:
        raise UserInputError(
            "accelerate launch --cpu started one process for several; run `torchrun --nproc_per_node N -m "
            "trimformer run ...` or `accelerate launch --config_file recipes/accelerate/multi-cpu.yaml ...`"
        )
    count = int(found.group(1))
    return count if count > 1 else None


def relaunch_if_needed(argv: list[str]) -> None:
    """Replace this process by torchrun starting `count` copies of the same command (never returns then)."""
    count = requested_cpu_processes()
    if count is None:
        return
    port = os.environ.get("MASTER_PORT", "29500")
    os.environ[RELAUNCHED] = "1"
    command = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={count}"]
    command += [f"--master_port={port}", "-m", "trimformer", *argv]
    print(f"accelerate launch --cpu started one process; starting {count} with torchrun", file=sys.stderr, flush=True)
    os.execv(sys.executable, command)

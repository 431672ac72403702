"""`accelerate launch --cpu --num_processes N` starts one process; trimformer notices and asks for N."""

import subprocess
import sys
import time
from pathlib import Path

import pytest

from trimformer import launch
from trimformer.errors import UserInputError


@pytest.fixture
def fake_accelerate_parent(monkeypatch, request):
    """A parent process whose command line reads like accelerate's, and the env its simple launcher sets."""
    args = ["accelerate", "launch", "--cpu", *getattr(request, "param", [])]
    parent = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", *args])
    cmdline = Path(f"/proc/{parent.pid}/cmdline")
    deadline = time.time() + 30
    while b"accelerate" not in cmdline.read_bytes() and time.time() < deadline:
        time.sleep(0.01)  # until the child has exec'd (before that it shows pytest's own command line)
    monkeypatch.setattr(launch.os, "getppid", lambda: parent.pid)
    for key in ("WORLD_SIZE", "RANK", launch.RELAUNCHED):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("ACCELERATE_USE_CPU", "True")
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    yield parent
    parent.kill()
    parent.wait()


def test_accelerate_cpu_without_process_count_is_refused(fake_accelerate_parent):
    with pytest.raises(UserInputError, match="torchrun --nproc_per_node"):
        launch.requested_cpu_processes()


@pytest.mark.parametrize("fake_accelerate_parent", [["--num_processes", "2"]], indirect=True)
def test_process_count_read_and_only_when_alone(fake_accelerate_parent, monkeypatch):
    assert launch.requested_cpu_processes() == 2
    monkeypatch.setenv("WORLD_SIZE", "2")  # started by torchrun (or already relaunched): nothing to do
    assert launch.requested_cpu_processes() is None
    monkeypatch.delenv("WORLD_SIZE")
    monkeypatch.delenv("MASTER_ADDR")  # accelerate sets it only for N > 1
    assert launch.requested_cpu_processes() is None

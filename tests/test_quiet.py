"""The CLI starts fast and prints nothing but its own messages.

Measured on the shared 2-core dev machine (load ~5): `--help` 0.1 s, `recipes` 0.4 s, `validate demo` 1.4 s
(before: 8.7 s, 10 s, 11 s). The assertion that keeps them fast is that none of them imports torch or
transformers; the time bound below is only a generous backstop against a regression that slips past it.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from trimformer import _quiet

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "transformers", "datasets", "huggingface_hub.hf_api", "pandas")
COMMANDS = {"help": ["--help"], "recipes": ["recipes"], "validate": ["validate", "demo"]}


def _python(code: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_light_commands_import_nothing_heavy_and_print_nothing_on_stderr(name):
    argv = COMMANDS[name]
    heavy = HEAVY if name != "validate" else HEAVY[:-1]  # validate reads the demo's csv with pandas
    code = (
        "import sys\nfrom trimformer.cli import main\n"
        f"try:\n    code = main({argv!r})\nexcept SystemExit as exc:\n    code = exc.code\n"
        f"loaded = [m for m in {heavy!r} if m in sys.modules]\n"
        "print('LOADED', loaded, 'EXIT', code)"
    )
    start = time.perf_counter()
    done = _python(code)
    elapsed = time.perf_counter() - start
    assert done.stderr == "", done.stderr
    assert "LOADED [] EXIT 0" in done.stdout, done.stdout[-500:]
    assert elapsed < 30, f"{name} took {elapsed:.1f} s"


def test_importing_the_trainer_prints_nothing():
    """torchao, bitsandbytes and torch's pytree used to print five lines when peft was imported on a CPU machine."""
    done = _python("import trimformer, trimformer.trainer, trimformer.quant.bnb, trimformer.quant.torchao_int8")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stderr == "", done.stderr


def _record(name: str, msg: str, *args) -> logging.LogRecord:
    return logging.LogRecord(name, logging.WARNING, __file__, 1, msg, args, None)


def test_known_noise_is_dropped_and_other_records_of_the_same_logger_kept():
    _quiet.install()
    torchao = logging.getLogger("torchao")
    assert not torchao.filter(_record("torchao", "Failed to load /x/_C_mxfp8.so: Could not load this library"))
    assert torchao.filter(_record("torchao", "Int8 weights look wrong"))
    pytree = logging.getLogger("torch.utils._pytree")
    assert not pytree.filter(_record("torch.utils._pytree", _quiet.KNOWN_NOISE["torch.utils._pytree"][0] + " ..."))


REPORT = (
    "\x1b[1mBertForSequenceClassification LOAD REPORT\x1b[0m from: /m\n"
    "Key               | Status  | \n------------------+---------+-\n"
    "{rows}\n\nNotes:\n- MISSING:\tthose params were newly initialized because missing from the checkpoint."
)


def test_a_new_head_report_becomes_one_line():
    rows = "classifier.bias   | \x1b[31mMISSING\x1b[0m | \nclassifier.weight | MISSING | "
    line = _quiet.new_head_line(REPORT.format(rows=rows))
    assert line == (
        "BertForSequenceClassification: new task head (classifier.bias, classifier.weight), initialised randomly; "
        "training learns it"
    )


@pytest.mark.parametrize(
    "rows",
    [
        "bert.encoder.layer.0.output.dense.weight | MISSING | ",  # a missing body weight matters
        "classifier.bias | UNEXPECTED | ",
        "classifier.weight | MISMATCH | Reinit due to size mismatch",
    ],
)
def test_reports_that_matter_pass_unchanged(rows):
    assert _quiet.new_head_line(REPORT.format(rows=rows)) is None
    record = _record("transformers.modeling_utils", REPORT.format(rows=rows))
    assert logging.getLogger("transformers.modeling_utils").filter(record)
    assert "LOAD REPORT" in record.getMessage()

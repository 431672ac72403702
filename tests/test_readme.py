"""The README's code blocks run as written, so the docs cannot drift from the code.

In a scratch folder that stands in for a repository after `make demo` and `make full-demo` (tiny random models
at runs/demo/finetune and runs/demo/distill and the same under runs/full-demo, a tiny reviews.csv), every
```python block is executed unchanged, in order, in one namespace, and every command of the ```bash blocks is
run through `trimformer.cli.main`, except the ones listed in SKIPPED with the reason. The ```yaml recipe is saved
as my.yaml, the name the text gives it.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pandas as pd
import pytest
import tiny

from trimformer.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"
LABELS = {"id2label": {0: "rotten", 1: "fresh"}, "label2id": {"rotten": 0, "fresh": 1}}
SKIPPED = {
    ("trimformer", "run"): "trains for minutes; the runner end to end is tests/test_cli_e2e.py",
    ("trimformer", "report"): "needs a finished run; tests/test_card.py and test_report_table.py",
    ("trimformer", "push"): "needs the Hub; tests/test_hub_push.py runs it against a loopback server",
    ("trimformer", "bench"): "times every model for minutes; tests/test_bench.py runs it on tiny models",
    ("trimformer", "search"): "trains candidates for minutes; tests/test_search.py runs it on a tiny model",
    ("accelerate", "launch"): "starts several processes; tests/test_multiprocess.py and test_launch.py",
    ("torchrun", "--nproc_per_node"): "starts several processes; tests/test_multiprocess.py",
}


def fenced(lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```", README.read_text(), flags=re.S | re.M)


@pytest.fixture(scope="module")
def after_demo(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("fresh-clone")
    for run in ("demo", "full-demo"):  # the full demo's eval commands read the recipe's own data
        for stage, layers in (("finetune", 6), ("distill", 3)):
            folder = root / "runs" / run / stage
            tiny.tiny_bert(0, layers=layers, hidden=32, **LABELS).save_pretrained(folder)
            tiny.make_tokenizer().save_pretrained(folder)
    rows = [
        {"category": {"neg": "rotten", "pos": "fresh"}[r["label"]], "text": r["text"]} for r in tiny.sentiment_rows(60)
    ]
    pd.DataFrame(rows).to_csv(root / "reviews.csv", index=False)
    (root / "my.yaml").write_text(fenced("yaml")[0])
    return root


def test_the_readme_has_the_blocks_this_test_runs():
    assert len(fenced("python")) >= 1 and len(fenced("bash")) >= 1 and len(fenced("yaml")) == 1
    assert "Saved as `my.yaml`" in README.read_text()


def test_python_blocks_run_as_written(after_demo, monkeypatch, capsys):
    from transformers import AutoModelForSequenceClassification

    monkeypatch.chdir(after_demo)
    namespace: dict = {}
    for block in fenced("python"):
        exec(compile(block, str(README), "exec"), namespace)  # noqa: S102 - our own README
    printed = capsys.readouterr().out
    assert "'accuracy'" in printed, printed[-2000:]
    # The promise under the example: plain transformers refuses the head-pruned student, pointing at trimformer.
    with pytest.raises(OSError, match=r"load it with trimformer\.load_model"):
        AutoModelForSequenceClassification.from_pretrained("runs/python/student")


def _commands() -> list[list[str]]:
    lines = [ln.split("#", 1)[0].strip() for block in fenced("bash") for ln in block.splitlines()]
    return [shlex.split(ln) for ln in lines if ln]


def test_every_shell_command_runs_or_says_why_not():
    for argv in _commands():
        if tuple(argv[:2]) not in SKIPPED:
            assert argv[0] == "trimformer", argv


@pytest.mark.parametrize("argv", [a for a in _commands() if tuple(a[:2]) not in SKIPPED], ids=lambda a: a[1])
def test_shell_commands_run_as_written(after_demo, monkeypatch, capsys, argv):
    monkeypatch.chdir(after_demo)
    code = main(argv[1:])
    captured = capsys.readouterr()
    assert code == 0, captured.err[-2000:]

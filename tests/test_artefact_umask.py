"""Saved weights get the user's umask like every other file (safetensors alone would write them 0600)."""

import os
import stat

import tiny

from trimformer import compress_, save_artefact
from trimformer.prune import HeadPruneConfig


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_weights_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        plain = save_artefact(tiny.tiny_bert(0, layers=1), tiny.make_tokenizer(), tmp_path / "plain")
        pruned = compress_(tiny.tiny_bert(0, layers=1), HeadPruneConfig(heads={0: [0]}))
        transformed = save_artefact(pruned, tiny.make_tokenizer(), tmp_path / "pruned")
    finally:
        os.umask(old)
    for folder in (plain, transformed):
        assert _mode(folder / "model.safetensors") == 0o644
        assert _mode(folder / "model.safetensors") == _mode(folder / "config.json")

"""`trimformer validate` checks `training:` keys against a snapshot of DistillationConfig's fields (importing
TrainingArguments takes seconds); the snapshot must be what the live class says, and a stale one is ignored."""

import json

from trimformer.recipe import training


def test_snapshot_is_current():
    assert training.SNAPSHOT.read_text() == training.snapshot_text(), (
        "stale snapshot: run `python -m trimformer.recipe.training` and commit trimformer/recipe/training_fields.json"
    )


def test_snapshot_decodes_to_the_live_kinds():
    snapshot, live = training._read_snapshot(), training.live_training_fields()
    assert snapshot is not None and snapshot.keys() == live.keys()
    for name, facts in live.items():
        got = snapshot[name]
        assert got.default_is_none == facts.default_is_none, name
        assert [training._encode(k) for k in got.kinds] == [training._encode(k) for k in facts.kinds], name


def test_a_snapshot_from_another_transformers_is_ignored(tmp_path, monkeypatch):
    data = json.loads(training.SNAPSHOT.read_text())
    stale = tmp_path / "training_fields.json"
    stale.write_text(json.dumps({**data, "transformers": "0.0.1"}))
    monkeypatch.setattr(training, "SNAPSHOT", stale)
    assert training._read_snapshot() is None

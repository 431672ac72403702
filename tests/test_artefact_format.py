"""The artefact format: a transform log replayed shape by shape, one strict safetensors load, old files still
load, nothing unsafe or global happens on the way."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest
import torch
from conftest_prune import batch, logits, tiny_model
from safetensors.torch import load_file, save_file
from transformers import AutoModelForSequenceClassification

from trimformer.artefact.io import save_artefact
from trimformer.artefact.log import get_log
from trimformer.compress import compress_
from trimformer.loading import load_model
from trimformer.prune import FFNPruneConfig, HeadPruneConfig, LayerDropConfig
from trimformer.quant import LowRankConfig, OnnxInt8Config, TorchDynamicInt8Config

ROOT = Path(__file__).resolve().parents[1]


def _stacked():
    model = tiny_model("bert")
    compress_(model, HeadPruneConfig(heads={0: [0], 2: [1, 2]}))
    compress_(model, LayerDropConfig(layers=[1]))
    compress_(model, FFNPruneConfig(amount=0.5, scope="global", importance="magnitude"))
    compress_(model, LowRankConfig(target_compression=0.5, min_rank=2))
    return model


def test_log_records_every_transform_and_the_base_config(tmp_path):
    model = _stacked()
    log = get_log(model)
    assert log.kinds == ["prune_heads", "prune_layers", "prune_ffn", "lowrank"]
    assert log.base["num_hidden_layers"] == 3 and model.config.num_hidden_layers == 2
    assert log.transforms[0]["config"]["heads"] == {"0": [0], "2": [1, 2]}  # the technique config, as given
    save_artefact(model, None, tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())["trimformer"]
    assert saved["format"] == 2 and [t["kind"] for t in saved["transforms"]] == log.kinds
    b = batch()
    reloaded = load_model(str(tmp_path))
    assert torch.equal(logits(reloaded, b), logits(model, b))
    assert get_log(reloaded).kinds == log.kinds  # a reloaded artefact can be transformed further


@pytest.mark.parametrize("tamper", ["missing", "unexpected"])
def test_load_is_strict(tmp_path, tamper):
    save_artefact(_stacked(), None, tmp_path)
    state = load_file(tmp_path / "model.safetensors")
    if tamper == "missing":
        state.pop(next(k for k in state if k.endswith("attention.output.LayerNorm.weight")))
    else:
        state["bert.encoder.layer.0.extra.weight"] = torch.zeros(2)
    save_file(state, tmp_path / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(ValueError, match=f"{'missing' if tamper == 'missing' else 'unexpected'}"):
        load_model(str(tmp_path))


def test_plain_transformers_stops_with_the_trimformer_sentence(tmp_path):
    save_artefact(_stacked(), None, tmp_path)
    with pytest.raises(OSError, match=r"load it with trimformer\.load_model"):
        AutoModelForSequenceClassification.from_pretrained(tmp_path)


def test_lowrank_refuses_before_changing_anything():
    model = tiny_model("bert")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match="not dense Linear layers"):
        compress_(model, LowRankConfig(ranks={"bert.encoder.layer.0.attention.self.query": 4, "bert.nowhere": 2}))
    after = model.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    assert get_log(model).empty


def test_order_is_checked_before_a_technique_touches_the_model():
    model = compress_(tiny_model("bert"), LowRankConfig(target_compression=0.5, min_rank=2))
    with pytest.raises(ValueError, match="cannot apply after lowrank"):
        compress_(model, HeadPruneConfig(amount=0.25, importance="magnitude"))


def test_onnx_export_leaves_the_callers_model_and_logging_alone():
    model = tiny_model("bert").to(torch.float64)
    root = logging.getLogger()
    level, handlers, filters = root.level, list(root.handlers), list(root.filters)
    compress_(model, OnnxInt8Config())
    assert next(model.parameters()).dtype == torch.float64  # not converted in place
    assert get_log(model).empty  # the OrtModel carries the log, not the caller's model
    assert (root.level, root.handlers, root.filters) == (level, handlers, filters)


def test_no_pickles_are_loaded_by_default():
    """torch.load with weights_only=False appears only behind the explicit allow_pickle path for 0.1 files."""
    hits = []
    for path in (ROOT / "trimformer").rglob("*.py"):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"torch\.load\(", line):
                hits.append(f"{path.relative_to(ROOT)}:{n}")
    assert len(hits) == 1 and hits[0].startswith("trimformer/artefact/legacy.py:"), hits


# -- artefacts written by trimformer 0.1 (format 1) ----------------------------------------------------------


def _write_format1(model, folder: Path, record: dict) -> None:
    model.save_pretrained(folder)
    config = json.loads((folder / "config.json").read_text())
    config["trimformer"] = record
    (folder / "config.json").write_text(json.dumps(config))


def test_format1_pruned_checkpoint_still_loads(tmp_path):
    model = tiny_model("bert")
    compress_(model, HeadPruneConfig(heads={0: [0], 2: [1, 2]}))
    compress_(model, FFNPruneConfig(amount=0.5, scope="global", importance="magnitude"))
    adapter_heads = [layer.attention.self.num_attention_heads for layer in model.bert.encoder.layer]
    widths = [layer.intermediate.dense.out_features for layer in model.bert.encoder.layer]
    model.config.trimformer = None
    model.config.intermediate_size = max(widths)
    record = {"kind": "pruned", "heads_per_layer": adapter_heads, "intermediate_per_layer": widths}
    _write_format1(model, tmp_path, record)
    b = batch()
    assert torch.equal(logits(load_model(str(tmp_path)), b), logits(model, b))


def test_format1_torch_int8_pickle_is_refused_unless_allowed(tmp_path):
    model = tiny_model("bert")
    (tmp_path / "quantized_state.pt").write_bytes(b"not opened")
    _write_format1(model, tmp_path, {"kind": "torch-dynamic-int8", "embedding_modules": []})
    with pytest.raises(ValueError, match="allow_pickle=True"):
        load_model(str(tmp_path))


def test_int8_artefacts_hold_no_pickle(tmp_path):
    save_artefact(compress_(tiny_model("bert"), TorchDynamicInt8Config()), None, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "model.safetensors"]


def test_trainer_save_model_writes_the_artefact_format(tmp_path):
    from trimformer.config import DistillationConfig
    from trimformer.trainer import DistillationTrainer

    model = compress_(tiny_model("bert"), HeadPruneConfig(heads={1: [0, 1]}))
    args = DistillationConfig(str(tmp_path / "work"), alpha_task=1.0, alpha_kd=0.0, report_to=[], use_cpu=True)
    DistillationTrainer(model=model, args=args).save_model(str(tmp_path / "saved"))
    b = batch()
    assert torch.equal(logits(load_model(str(tmp_path / "saved")), b), logits(model, b))

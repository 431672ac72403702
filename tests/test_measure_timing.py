"""The interleaved timing pass: every model in every round and call, rotated order, one thread count for
every runtime, and the rule that judges ratios."""

import pytest
import tiny
import torch

from trimformer.measure import TimingSettings, time_interleaved
from trimformer.measure.stats import NOISE_LIMIT, paired_ratio, relative_spread

SETTINGS = {"batch_sizes": (1, 4), "length": 16, "threads": 1, "rounds": 3, "calls": 2, "warmup": 1}
SETTINGS["devices"] = ("cpu",)


class Recorder(torch.nn.Module):
    """A model that writes its name down each time it is called."""

    def __init__(self, name: str, log: list) -> None:
        super().__init__()
        self.name, self.log = name, log
        self.linear = torch.nn.Linear(4, 4)

    def forward(self, input_ids, attention_mask=None):
        self.log.append((self.name, input_ids.shape[0]))
        return self.linear(torch.ones(input_ids.shape[0], 4))


def test_every_model_is_timed_in_every_round_and_call():
    out = time_interleaved({"a": tiny.tiny_bert(0), "b": tiny.tiny_bert(1)}, TimingSettings(**SETTINGS))
    for name in "ab":
        block = out[name]["cpu"]
        assert block["runtime"] == "torch" and block["threads"] == 1 and block["dtype"] == "float32"
        for key in ("b1", "b4"):
            cell = block["batches"][key]
            assert len(cell["calls_ms"]) == 3 and all(len(c) == 2 for c in cell["calls_ms"])
            assert len(cell["rounds_ms"]) == 3 and cell["median_ms"] > 0 and cell["spread"] >= 0
    assert "cuda" not in out["a"] or torch.cuda.is_available()


def test_models_alternate_call_by_call_in_rotated_order():
    log: list = []
    models = {n: Recorder(n, log) for n in "abc"}
    time_interleaved(models, TimingSettings(**{**SETTINGS, "batch_sizes": (2,), "warmup": 1}))
    timed = [name for name, _ in log[3:]]  # after one warm-up call each
    per_round = 2 * 3  # calls × models
    rounds = [timed[i : i + per_round] for i in range(0, len(timed), per_round)]
    assert rounds == [list("abcabc"), list("bcabca"), list("cabcab")]


def test_onnx_runtime_gets_the_same_threads_as_torch():
    from trimformer.quant.onnx_int8 import quantize_onnx_int8

    ort = quantize_onnx_int8(tiny.tiny_bert(0))  # num_threads unset: ORT would take every core
    out = time_interleaved({"torch": tiny.tiny_bert(0), "ort": ort}, TimingSettings(**{**SETTINGS, "threads": 2}))
    assert out["ort"]["cpu"]["runtime"] == "onnxruntime"
    assert out["ort"]["cpu"]["threads"] == out["torch"]["cpu"]["threads"] == 2
    assert out["ort"]["cpu"]["interop_threads"] == 1


def test_a_model_that_fails_is_reported_not_fatal():
    class Broken(torch.nn.Module):
        def forward(self, **_):
            raise RuntimeError("no kernel for this")

    out = time_interleaved({"ok": tiny.tiny_bert(0), "broken": Broken()}, TimingSettings(**SETTINGS))
    assert "batches" in out["ok"]["cpu"]
    assert out["broken"]["cpu"]["skipped"].startswith("failed on cpu: RuntimeError: no kernel")


def test_settings_reject_bad_values_with_the_field_name():
    with pytest.raises(ValueError, match="measure.rounds"):
        TimingSettings(rounds=0)
    with pytest.raises(ValueError, match="measure.devices"):
        TimingSettings(devices=("tpu",))


def test_paired_ratio_rule():
    steady = [[10.0, 10.0]] * 5
    half = [[5.0, 5.0]] * 5
    ratio = paired_ratio(steady, half)
    assert ratio.value == pytest.approx(2.0) and ratio.supported and ratio.spread == 0.0
    # A round where load hit only one model moves that round's ratio; the median of pairs resists it.
    noisy = [[5.0, 5.0]] * 4 + [[20.0, 20.0]]
    assert paired_ratio(steady, noisy).value == pytest.approx(2.0)
    assert not paired_ratio(steady, noisy).supported  # but the rounds disagree: flagged
    assert relative_spread([1.0, 1.5, 2.0]) > NOISE_LIMIT
    assert not paired_ratio(steady[:2], half[:2]).supported  # too few rounds
    assert paired_ratio(steady, half[:3]) is None  # not from the same pass

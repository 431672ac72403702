"""A machine with a GPU, faked: every ratio is between two figures from the same device; a model that
cannot run on a device shows "–" and why."""

import pytest
import tiny
import torch

from trimformer.measure import TimingSettings, runtime, time_interleaved, timing
from trimformer.measure.runtime import BNB_ON_CPU, ORT_ON_CUDA, why_not
from trimformer.measure.stats import paired_ratio
from trimformer.report_rows import stage_ratios
from trimformer.report_table import markdown_table, render_report_md, text_table


def _block(ms_by_batch, device_name="cpu"):
    batches = {b: {"median_ms": ms, "calls_ms": [[ms, ms]] * 5} for b, ms in ms_by_batch.items()}
    return {"runtime": "torch", "threads": 8, "device_name": device_name, "batches": batches}


def test_issue_case_cpu_teacher_is_never_divided_by_a_cuda_row():
    """The H200 report: teacher 170 ms on CPU and 2.0 ms on CUDA at b32; bnb-nf4 5.4 ms on CUDA only.
    It printed 170 / 5.4 = 31.38× faster; the only honest ratio is CUDA against CUDA."""
    report = {
        "main_metric": "accuracy",
        "measurement": {"batch_sizes": [32], "threads": 8, "rounds": 5, "calls": 2, "length": 64},
        "models": [
            {
                "name": "teacher",
                "role": "teacher",
                "metrics": {"accuracy": 0.9},
                "latency": {"cpu": _block({"b32": 170.0}), "cuda": _block({"b32": 2.0}, "NVIDIA H200")},
            },
            {
                "name": "bnb-nf4",
                "role": "stage",
                "metrics": {"accuracy": 0.89},
                "latency": {"cpu": {"skipped": BNB_ON_CPU}, "cuda": _block({"b32": 5.4}, "NVIDIA H200")},
            },
        ],
    }
    _, nf4 = stage_ratios(report)
    assert nf4.timings["cpu"]["b32"].ms is None and nf4.timings["cpu"]["b32"].ratio is None
    assert nf4.timings["cuda"]["b32"].ratio.value == pytest.approx(2.0 / 5.4)
    md = markdown_table(report)
    assert "31.38" not in md and "0.37×" in md
    assert f"– bnb-nf4 on CPU: {BNB_ON_CPU}." in md
    assert "CUDA (NVIDIA H200)" in render_report_md(report)


def test_legacy_report_with_cuda_rows_keeps_devices_apart():
    """An older report.json: a bnb row timed on cuda:0 under `latency_ms`, the teacher's GPU figures under
    `latency_ms_cuda`."""
    report = {
        "main_metric": "accuracy",
        "models": [
            {
                "name": "teacher",
                "role": "teacher",
                "metrics": {"accuracy": 0.9},
                "device": "cpu",
                "threads": 1,
                "latency_ms": {"b32": 170.0},
                "latency_ms_cuda": {"b32": 2.0},
            },
            {
                "name": "nf4",
                "role": "stage",
                "metrics": {"accuracy": 0.89},
                "device": "cuda:0",
                "threads": 1,
                "latency_ms": {"b32": 5.4},
            },
        ],
    }
    _, nf4 = stage_ratios(report)
    assert nf4.timings["cpu"]["b32"].ratio is None
    assert nf4.timings["cuda"]["b32"].ratio.value == pytest.approx(2.0 / 5.4)
    assert "31.38" not in text_table(report)


class FakeNf4(torch.nn.Module):
    """Looks like a bitsandbytes 4-bit model to the runtime checks; runs as a plain tiny BERT."""

    is_loaded_in_4bit = True

    def __init__(self) -> None:
        super().__init__()
        self.inner = tiny.tiny_bert(2)
        self.config = self.inner.config

    def forward(self, **inputs):
        return self.inner(**inputs)


def test_fake_gpu_machine_times_each_model_where_it_runs(monkeypatch):
    from trimformer.quant.onnx_int8 import quantize_onnx_int8

    monkeypatch.setattr(runtime, "cuda_available", lambda: True)
    monkeypatch.setattr(timing, "torch_device", lambda name: torch.device("cpu"))  # "cuda" runs on the CPU here
    models = {
        "teacher": tiny.tiny_bert(0, layers=4),
        "student": tiny.tiny_bert(1, layers=2),
        "nf4": FakeNf4(),
        "int8-cpu": quantize_onnx_int8(tiny.tiny_bert(1, layers=2)),
    }
    assert why_not(models["nf4"], "cpu") == BNB_ON_CPU and why_not(models["int8-cpu"], "cuda") == ORT_ON_CUDA
    settings = TimingSettings(batch_sizes=(1, 4), length=16, threads=1, rounds=3, calls=2, warmup=1)
    blocks = time_interleaved(models, settings)
    assert blocks["nf4"]["cpu"] == {"skipped": BNB_ON_CPU} and "batches" in blocks["nf4"]["cuda"]
    assert blocks["int8-cpu"]["cuda"] == {"skipped": ORT_ON_CUDA} and "batches" in blocks["int8-cpu"]["cpu"]
    report = {
        "main_metric": "accuracy",
        "measurement": settings.to_dict(),
        "models": [
            {"name": name, "role": "teacher" if name == "teacher" else "stage", "latency": blocks[name]}
            for name in models
        ],
    }
    rows = {row.name: row for row in stage_ratios(report)}
    for name, row in rows.items():
        for device, cells in row.timings.items():
            for batch, cell in cells.items():
                block = blocks[name][device]
                if "skipped" in block:
                    assert cell.ms is None and cell.ratio is None and cell.why_missing == block["skipped"]
                    continue
                teacher = blocks["teacher"][device]["batches"][batch]["calls_ms"]
                expected = paired_ratio(teacher, block["batches"][batch]["calls_ms"])
                assert cell.ratio.value == pytest.approx(expected.value)  # same device, same pass: never mixed
    md = markdown_table(report)
    assert f"– nf4 on CPU: {BNB_ON_CPU}." in md and f"– int8-cpu on CUDA: {ORT_ON_CUDA}." in md
    assert "| CUDA b4 ms | CUDA b4 × |" in md

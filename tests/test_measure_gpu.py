"""Measurement on a CUDA machine (run by scripts/gpu_check.sh; skipped without CUDA): metrics on the GPU,
CPU and CUDA latency in separate columns, bitsandbytes timed on CUDA only, ONNX Runtime on CPU only."""

from __future__ import annotations

import pytest
import torch
from test_measure_eval import _mlm_data
from test_quant_common import trained_tiny_bert

from trimformer.measure import TimingSettings, measure, time_interleaved
from trimformer.measure.runtime import BNB_ON_CPU, ORT_ON_CUDA
from trimformer.measure.stats import paired_ratio
from trimformer.report_rows import stage_ratios

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]


def test_metrics_run_on_the_gpu_and_the_model_goes_back():
    import tiny
    from transformers import BertForMaskedLM

    ds, collator, task = _mlm_data()
    model = BertForMaskedLM(tiny.bert_config(layers=1)).eval()
    on_gpu = measure(model, task, ds, collator)
    assert on_gpu["eval_device"].startswith("cuda")
    assert next(model.parameters()).device.type == "cpu"  # placed for the evaluation, then put back
    on_cpu = measure(model, task, ds, collator, device="cpu")
    assert on_gpu["metrics"]["perplexity"] == pytest.approx(on_cpu["metrics"]["perplexity"], rel=1e-3)


def test_timing_pass_keeps_cpu_and_cuda_apart():
    from trimformer.compress import compress_
    from trimformer.quant import BnbConfig
    from trimformer.quant.onnx_int8 import quantize_onnx_int8

    models = {
        "teacher": trained_tiny_bert(),
        "nf4": compress_(trained_tiny_bert(), BnbConfig(bits=4, compute_dtype="bfloat16")),
        "int8-cpu": quantize_onnx_int8(trained_tiny_bert()),
    }
    settings = TimingSettings(batch_sizes=(1, 8), length=16, threads=2, rounds=3, calls=3, warmup=2)
    blocks = time_interleaved(models, settings)
    assert {"cpu", "cuda"} <= set(blocks["teacher"]) and all("batches" in b for b in blocks["teacher"].values())
    assert blocks["teacher"]["cuda"]["device_name"] == torch.cuda.get_device_name()
    assert blocks["nf4"]["cpu"] == {"skipped": BNB_ON_CPU}
    assert blocks["nf4"]["cuda"]["runtime"] == "bitsandbytes" and blocks["nf4"]["cuda"]["peak_mb"]["b8"] > 0
    assert blocks["int8-cpu"]["cuda"] == {"skipped": ORT_ON_CUDA} and "batches" in blocks["int8-cpu"]["cpu"]
    report = {
        "main_metric": "accuracy",
        "measurement": settings.to_dict(),
        "models": [
            {"name": name, "role": "teacher" if name == "teacher" else "stage", "latency": blocks[name]}
            for name in models
        ],
    }
    nf4 = next(r for r in stage_ratios(report) if r.name == "nf4")
    expected = paired_ratio(*(blocks[n]["cuda"]["batches"]["b8"]["calls_ms"] for n in ("teacher", "nf4")))
    assert nf4.timings["cuda"]["b8"].ratio.value == pytest.approx(expected.value)
    assert nf4.timings["cpu"]["b8"].ratio is None

"""CUDA-only quantization paths (run by scripts/gpu_check.sh; skipped without CUDA)."""

from __future__ import annotations

import pytest
import torch
from test_quant_common import accuracy, eval_batch, synthetic, trained_tiny_bert

from trimformer.compress import compress_
from trimformer.quant import BnbConfig, LoraAdapterConfig, merge_lora

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]


def _cuda(batch):
    return {k: v.cuda() for k, v in batch.items()}


@pytest.mark.parametrize("cfg", [BnbConfig(bits=8), BnbConfig(bits=4, compute_dtype="bfloat16")], ids=["8bit", "nf4"])
def test_bnb_on_cuda_keeps_accuracy(cfg):
    batch = eval_batch()
    base = accuracy(trained_tiny_bert(), batch)
    q = compress_(trained_tiny_bert(), cfg)
    assert next(q.parameters()).is_cuda
    assert 100 * (base - accuracy(q, _cuda(batch))) <= 2.0


def test_qlora_trains_on_cuda_and_merges():
    model = compress_(
        trained_tiny_bert(), LoraAdapterConfig(dropout=0.0, qlora=True, bnb=BnbConfig(compute_dtype="bfloat16"))
    )
    data = _cuda(synthetic(256, seed=5))
    data["labels"] = 1 - data["labels"]
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=5e-3)
    losses = []
    model.train()
    for step in range(30):
        idx = torch.arange(step * 16, step * 16 + 16, device="cuda") % 256
        loss = model(**{k: v[idx] for k, v in data.items()}).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert sum(losses[-5:]) < sum(losses[:5]) / 2
    model.eval()
    batch = _cuda(eval_batch())
    with torch.no_grad():
        adapted = model(input_ids=batch["input_ids"]).logits.float()
        merged = merge_lora(model, requantize=False)
        torch.testing.assert_close(merged(input_ids=batch["input_ids"]).logits.float(), adapted, atol=5e-2, rtol=5e-2)

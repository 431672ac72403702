"""A recipe's `bf16: true` trains with CPU autocast where there is no accelerator (the full demo's teacher)."""

import pytest
import torch

from trimformer.config import DistillationConfig


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only path")
def test_bf16_without_accelerator_trains_on_cpu(tmp_path):
    args = DistillationConfig(output_dir=str(tmp_path), bf16=True, report_to=[])
    assert args.use_cpu and args.bf16
    assert args.device.type == "cpu"

"""bitsandbytes 8-bit / NF4 / FP4 on CPU: accuracy near fp32, save -> reload equal, weights shrink."""

from __future__ import annotations

import pytest
import torch
from test_quant_common import accuracy, eval_batch, logits_of, trained_tiny_bert
from transformers import BertForSequenceClassification

from trimformer.artefact.io import save_artefact
from trimformer.artefact.log import get_log
from trimformer.compress import compress_
from trimformer.loading import load_model
from trimformer.quant import BnbConfig
from trimformer.quant._artefact import linear_weight_bytes

CASES = [  # (config, max accuracy drop in points, min shrink of Linear weight bytes)
    (BnbConfig(bits=8), 1.0, 3.5),
    (BnbConfig(bits=4, quant_type="nf4"), 2.0, 6.0),
    (BnbConfig(bits=4, quant_type="fp4", double_quant=False), 3.0, 6.0),
]


@pytest.mark.parametrize("cfg,tolerance,shrink", CASES, ids=[c[0].method for c in CASES])
def test_bnb_accuracy_reload_and_size(tmp_path, cfg, tolerance, shrink):
    batch = eval_batch()
    fp32 = trained_tiny_bert()
    base_acc, base_bytes = accuracy(fp32, batch), linear_weight_bytes(fp32)
    quantized = compress_(fp32, cfg)
    assert getattr(quantized, "is_loaded_in_4bit" if cfg.bits == 4 else "is_loaded_in_8bit")
    assert 100 * (base_acc - accuracy(quantized, batch)) <= tolerance
    assert base_bytes / linear_weight_bytes(quantized) >= shrink
    save_artefact(quantized, None, tmp_path)
    before = logits_of(quantized, batch)
    torch.testing.assert_close(logits_of(load_model(str(tmp_path)), batch), before, atol=1e-5, rtol=0)
    # Plain transformers loads it too (quantization_config is written); on CPU it picks bitsandbytes' bf16
    # repacked 4-bit kernel, which trimformer avoids, so its logits differ slightly (seen: <= 0.05).
    plain = BertForSequenceClassification.from_pretrained(tmp_path)
    torch.testing.assert_close(logits_of(plain, batch), before, atol=0.1 if cfg.bits == 4 else 1e-5, rtol=0)
    assert (logits_of(plain, batch).argmax(-1) == before.argmax(-1)).float().mean() > 0.97


def test_bnb_config_rejects_bad_values():
    with pytest.raises(ValueError, match="quant_type"):
        BnbConfig(quant_type="int4")
    with pytest.raises(ValueError, match="bits"):
        BnbConfig(bits=3)


def test_bnb_keeps_classifier_float():
    quantized = compress_(trained_tiny_bert(), BnbConfig(bits=4))
    assert type(quantized.classifier) is torch.nn.Linear
    entry = get_log(quantized).last("bnb")
    assert entry["config"]["double_quant"] and "bert.encoder.layer.0.attention.self.query" in entry["modules"]
    assert not any(name.endswith("classifier") for name in entry["modules"])

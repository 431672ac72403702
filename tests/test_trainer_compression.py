"""The Python face: DistillationTrainer(compression=[...]) applies the same techniques as recipe stages."""

import tiny
import torch

from trimformer import data as D
from trimformer.config import DistillationConfig
from trimformer.prune import HeadPruneConfig
from trimformer.trainer import DistillationTrainer

COMMON = dict(report_to=[], use_cpu=True, save_strategy="no", disable_tqdm=True, seed=0)


def test_compression_configs_prune_before_training(tmp_path):
    tok = tiny.make_tokenizer()
    raw = D.datasets.DatasetDict(train=tiny.sentiment_dataset(64), validation=tiny.sentiment_dataset(16, 1))
    s = D.DataSettings(path="mem", max_length=16)
    task = D.infer_task("sequence-classification", raw, s, None)
    data = D.prepare(raw, task, s, tok)
    student = tiny.tiny_bert(1, layers=2, heads=4)
    before = sum(p.numel() for p in student.parameters())
    args = DistillationConfig(tmp_path, max_steps=2, per_device_train_batch_size=8, **COMMON)
    trainer = DistillationTrainer(
        model=student,
        teacher_model=tiny.tiny_bert(2),
        args=args,
        train_dataset=data.train,
        data_collator=data.collator,
        processing_class=tok,
        compression=[HeadPruneConfig(amount=0.5, importance="taylor")],
    )
    trainer.train()
    heads = [layer.attention.self.num_attention_heads for layer in trainer.model.bert.encoder.layer]
    assert sum(heads) == 4  # half of 2 x 4 heads removed physically
    assert sum(p.numel() for p in trainer.model.parameters()) < before
    with torch.no_grad():
        out = trainer.model(
            **{k: v for k, v in data.collator([data.eval[0]]).items() if k in ("input_ids", "attention_mask")}
        )
    assert out.logits.shape == (1, 2)

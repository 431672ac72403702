"""DistillationTrainer behaviour a user relies on."""

import copy

import numpy as np
import pytest
import tiny
import torch
from transformers import Trainer, TrainingArguments

from trimformer import data as D
from trimformer.config import DistillationConfig
from trimformer.distill.student import student_from_teacher_layers
from trimformer.measure import evaluate_model
from trimformer.trainer import DistillationTrainer

COMMON = dict(report_to=[], use_cpu=True, save_strategy="no", disable_tqdm=True, seed=0, data_seed=0)


def task_data(n_train=256, n_eval=128):
    tok = tiny.make_tokenizer()
    raw = D.datasets.DatasetDict(train=tiny.sentiment_dataset(n_train), validation=tiny.sentiment_dataset(n_eval, 1))
    s = D.DataSettings(path="mem", max_length=16)
    task = D.infer_task("sequence-classification", raw, s, None)
    return D.prepare(raw, task, s, tok), tok, task


def trainer_loss(trainer, batch):
    trainer.model.train()
    with torch.no_grad():
        return trainer.compute_loss(trainer.model, batch).item()


def cached_distiller(args, teacher, dataset, collator, tok) -> DistillationTrainer:
    """A one-layer tiny student learning from `teacher`, set up as the teacher-cache tests need."""
    return DistillationTrainer(
        model=tiny.tiny_bert(1),
        teacher_model=teacher,
        args=args,
        train_dataset=dataset,
        data_collator=collator,
        processing_class=tok,
    )


def test_task_only_loss_equals_plain_trainer(tmp_path):
    data, tok, _ = task_data()
    batch = data.collator([data.train[i] for i in range(8)])
    student = tiny.tiny_bert(1)
    args = DistillationConfig(tmp_path, alpha_task=1.0, alpha_kd=0.0, **COMMON)
    ours = DistillationTrainer(model=copy.deepcopy(student), teacher_model=tiny.tiny_bert(2), args=args)
    plain = Trainer(model=copy.deepcopy(student), args=TrainingArguments(tmp_path, **COMMON))
    plain_batch = {k: v for k, v in batch.items() if k != "example_id"}
    plain.model.train()
    with torch.no_grad():
        expected = plain.compute_loss(plain.model, plain_batch).item()
    assert abs(trainer_loss(ours, batch) - expected) < 1e-6


def test_kd_term_inside_trainer_matches_manual(tmp_path):
    data, tok, _ = task_data()
    batch = data.collator([data.train[i] for i in range(8)])
    student, teacher = tiny.tiny_bert(1), tiny.tiny_bert(2)
    args = DistillationConfig(tmp_path, alpha_task=0.0, alpha_kd=1.0, temperature=3.0, **COMMON)
    trainer = DistillationTrainer(model=student, teacher_model=teacher, args=args)
    inputs = {k: v for k, v in batch.items() if k not in ("labels", "example_id")}
    with torch.no_grad():
        s = student.train()(**inputs).logits
        t = teacher(**inputs).logits
    p_t = torch.softmax(t / 3, -1)
    manual = (p_t * (torch.log_softmax(t / 3, -1) - torch.log_softmax(s / 3, -1))).sum(-1).mean() * 9
    assert abs(trainer_loss(trainer, batch) - manual.item()) < 1e-5


def test_logit_mse_kd_term_matches_manual(tmp_path):
    data, tok, _ = task_data()
    batch = data.collator([data.train[i] for i in range(8)])
    student, teacher = tiny.tiny_bert(1), tiny.tiny_bert(2)
    args = DistillationConfig(tmp_path, alpha_task=0.0, alpha_kd=1.0, kd_loss="mse", **COMMON)
    trainer = DistillationTrainer(model=student, teacher_model=teacher, args=args)
    inputs = {k: v for k, v in batch.items() if k not in ("labels", "example_id")}
    with torch.no_grad():
        s = student.train()(**inputs).logits
        t = teacher(**inputs).logits
    assert abs(trainer_loss(trainer, batch) - ((s - t) ** 2).mean().item()) < 1e-6
    with pytest.raises(ValueError, match="kd_loss"):
        DistillationConfig(tmp_path, kd_loss="l1", **COMMON)


def test_gradient_accumulation_matches_large_batch(tmp_path):
    data, tok, _ = task_data(n_train=64)
    teacher = tiny.tiny_bert(2)

    def run(batch_size, accumulation):
        args = DistillationConfig(
            tmp_path / f"b{batch_size}",
            per_device_train_batch_size=batch_size,
            gradient_accumulation_steps=accumulation,
            max_steps=2,
            learning_rate=1e-3,
            logging_steps=1,
            alpha_task=0.5,
            alpha_kd=0.5,
            **COMMON,
        )
        trainer = DistillationTrainer(
            model=tiny.tiny_bert(1),
            teacher_model=teacher,
            args=args,
            train_dataset=data.train,
            data_collator=data.collator,
        )
        trainer.train()
        losses = [e["loss"] for e in trainer.state.log_history if "loss" in e]
        return losses, trainer.model

    big, m_big = run(32, 1)
    small, m_small = run(8, 4)
    assert np.allclose(big, small, rtol=1e-4, atol=1e-5), (big, small)
    for p, q in zip(m_big.parameters(), m_small.parameters()):
        assert torch.allclose(p, q, atol=1e-4)


def test_distillation_raises_student_accuracy(tmp_path):
    data, tok, task = task_data(n_train=512)
    torch.manual_seed(0)
    teacher = tiny.tiny_bert(0, layers=2, hidden=64)
    fit = DistillationConfig(
        tmp_path / "t",
        num_train_epochs=6,
        learning_rate=2e-3,
        alpha_task=1.0,
        alpha_kd=0.0,
        per_device_train_batch_size=32,
        **COMMON,
    )
    DistillationTrainer(model=teacher, args=fit, train_dataset=data.train, data_collator=data.collator).train()
    teacher_acc = evaluate_model(teacher, data.eval, data.collator, task)["accuracy"]
    assert teacher_acc > 0.9
    student = student_from_teacher_layers(tiny.tiny_bert(5, layers=2, hidden=64), [0])
    before = evaluate_model(student, data.eval, data.collator, task)["accuracy"]
    args = DistillationConfig(
        tmp_path / "s",
        num_train_epochs=6,
        learning_rate=2e-3,
        alpha_task=0.5,
        alpha_kd=0.5,
        alpha_hidden=0.5,
        per_device_train_batch_size=32,
        **COMMON,
    )
    DistillationTrainer(
        model=student, teacher_model=teacher, args=args, train_dataset=data.train, data_collator=data.collator
    ).train()
    after = evaluate_model(student, data.eval, data.collator, task)["accuracy"]
    assert after > before + 0.2 and after > 0.85, (before, after)


def test_teacher_cache_is_aligned_by_example(tmp_path):
    data, tok, _ = task_data(n_train=64)
    teacher = tiny.tiny_bert(2)
    args = DistillationConfig(
        tmp_path,
        teacher_cache=True,
        max_steps=1,
        per_device_train_batch_size=8,
        train_sampling_strategy="group_by_length",
        **COMMON,
    )
    trainer = cached_distiller(args, teacher, data.train, data.collator, tok)
    trainer.train()
    files = list((tmp_path / ".teacher_cache").glob("logits-*.safetensors"))
    assert len(files) == 1
    for batch in trainer.get_train_dataloader():
        live = teacher(**{k: v for k, v in batch.items() if k not in ("labels", "example_id")}).logits
        assert torch.allclose(trainer._cache.lookup(batch["example_id"]), live, atol=1e-5)
        break
    # Different teacher weights -> a different cache file, never stale logits.
    changed = tiny.tiny_bert(3)
    args2 = DistillationConfig(tmp_path, teacher_cache=True, max_steps=1, **COMMON)
    cached_distiller(args2, changed, data.train, data.collator, tok).train()
    assert len(list((tmp_path / ".teacher_cache").glob("logits-*.safetensors"))) == 2


def test_teacher_cache_labels_only_text_no_earlier_file_holds(tmp_path):
    """More augmented copies or a larger split: the examples an earlier cache file holds are not relabelled."""
    data, tok, _ = task_data(n_train=64)
    teacher = tiny.tiny_bert(2).eval()
    seen: list[int] = []

    class Counting(torch.nn.Module):  # the teacher, counting the examples it is run on
        def __init__(self):
            super().__init__()
            self.inner, self.config = teacher, teacher.config

        def forward(self, **kw):
            seen.append(kw["input_ids"].shape[0])
            return self.inner(**kw)

    def build(dataset):
        args = DistillationConfig(tmp_path, teacher_cache=True, max_steps=1, **COMMON)
        trainer = cached_distiller(args, Counting(), dataset, data.collator, tok)
        return trainer._build_cache()

    first = data.train.select(range(40))
    build(first)
    assert sum(seen) == 40
    seen.clear()
    # The whole set with other example ids (shifted by 1000): 40 rows are known by content, 24 are new.
    bigger = data.train.map(lambda row: {"example_id": row["example_id"] + 1000})
    cache = build(bigger)
    assert sum(seen) == 24
    assert len(list((tmp_path / ".teacher_cache").glob("logits-*.safetensors"))) == 2
    batch = data.collator([bigger[i] for i in range(64)])
    with torch.no_grad():
        live = teacher(**{k: v for k, v in batch.items() if k not in ("labels", "example_id")}).logits
    assert torch.allclose(cache.lookup(batch["example_id"]), live, atol=1e-5)
    seen.clear()
    build(bigger)  # the same data again: its own file, no teacher call at all
    assert seen == []


def test_embedding_matching_cached_equals_live_and_pulls_student_to_teacher(tmp_path):
    """alpha_embedding: a student 32 wide learns, through a projection, the mean-pooled last layer of a teacher
    64 wide; the cached rows give the same loss as the live teacher, and training lowers the term."""
    data, tok, _ = task_data(n_train=64)
    teacher = tiny.tiny_bert(2, hidden=64)
    batch = data.collator([data.train[i] for i in range(8)])

    def trainer(cache, out, steps=1, bf16=False):
        args = DistillationConfig(
            tmp_path / out,
            alpha_task=0.0,
            alpha_kd=0.0,
            alpha_embedding=1.0,
            teacher_cache=cache,
            max_steps=steps,
            bf16=bf16,
            learning_rate=5e-3,
            logging_steps=1,
            per_device_train_batch_size=8,
            **COMMON,
        )
        torch.manual_seed(0)  # the same projection in every trainer
        return cached_distiller(args, teacher, data.train, data.collator, tok)

    live, cached = trainer(False, "live"), trainer(True, "cached")
    cached._cache = cached._build_cache()
    assert cached._cache.logits.shape == (64, 2 + 64)  # the logits, then the 64-wide embedding
    assert abs(trainer_loss(live, batch) - trainer_loss(cached, batch)) < 1e-5
    long = trainer(True, "cached", steps=40, bf16=True)  # bf16 autocast, as the full demo trains
    long.train()
    terms = [e["loss_embedding"] for e in long.state.log_history if "loss_embedding" in e]
    assert terms[-1] < 0.5 * terms[0], terms


def test_unlabelled_examples_learn_from_teacher_only(tmp_path):
    data, tok, _ = task_data(n_train=16)
    batch = data.collator([data.train[i] for i in range(4)])
    batch["labels"][:] = -100
    args = DistillationConfig(tmp_path, alpha_task=1.0, alpha_kd=1.0, **COMMON)
    student, teacher = tiny.tiny_bert(1), tiny.tiny_bert(2)
    trainer = DistillationTrainer(model=student, teacher_model=teacher, args=args)
    trainer.model.train()
    loss = trainer.compute_loss(trainer.model, batch)
    assert loss.item() > 0 and set(trainer._terms) == {"task", "kd"} and trainer._terms["task"] == [0.0]


def test_config_rejects_bad_settings(tmp_path):
    with pytest.raises(ValueError, match="temperature"):
        DistillationConfig(tmp_path, temperature=0, **COMMON)
    with pytest.raises(ValueError, match="teacher_cache"):
        DistillationConfig(tmp_path, teacher_cache=True, alpha_hidden=1.0, **COMMON)

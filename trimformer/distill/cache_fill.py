"""Filling a DistillationTrainer's teacher-logit cache: reuse what earlier files hold, run the teacher over the
rest (each process a strided share, longest first), gather the shares, write one file.

Usage: `cache = fill_teacher_cache(trainer)` (DistillationTrainer.train does this when `teacher_cache` is on).
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from trimformer.distill.teacher_cache import (
    TeacherLogitCache,
    cache_family,
    cache_key,
    check_cacheable,
    content_fingerprint,
    example_keys,
    example_shape,
    known_rows,
    longest_first,
    model_fingerprint,
)


def fill_teacher_cache(trainer: Any) -> TeacherLogitCache:
    """Each process runs the teacher over its own share of the training set; the shares are gathered so
    every process holds all the logits, and the main process writes the file a later run reuses."""
    dataset = trainer.train_dataset
    if "example_id" not in dataset.column_names:
        raise ValueError("teacher_cache needs an 'example_id' column in train_dataset (trimformer.load_data adds it)")
    task = trainer._task_name()
    embedding = trainer.args.alpha_embedding > 0
    check_cacheable(task, getattr(trainer.processing_class, "padding_side", "right"), embedding)
    teacher = trainer.accelerator.unwrap_model(trainer.teacher)
    num_labels = int(getattr(teacher.config, "num_labels", 1) or 1)
    # With alpha_embedding a row is the logits followed by the teacher's sentence embedding.
    width = num_labels + (int(teacher.config.hidden_size) if embedding else 0)
    shape = example_shape(task, width, dataset)
    max_length = getattr(trainer.processing_class, "model_max_length", None)
    precision = (
        "bf16" if trainer.args.bf16 else "fp16" if trainer.args.fp16 else str(trainer.args.teacher_dtype or "fp32")
    )
    if embedding:
        precision += "+embedding"  # another kind of row: never mixed with logits-only files
    teacher_fp = model_fingerprint(teacher)
    key = cache_key(content_fingerprint(dataset), teacher_fp, max_length, precision)
    family = cache_family(teacher_fp, max_length, precision)
    cache_dir = Path(trainer.args.teacher_cache_dir or Path(trainer.args.output_dir) / ".teacher_cache")
    path = cache_dir / f"logits-{key}.safetensors"
    if path.exists():  # this very dataset was labelled before: nothing to match, sort or run
        return TeacherLogitCache.load(path)
    num = int(max(dataset["example_id"])) + 1
    example_ids = np.asarray(dataset["example_id"], dtype=np.int64)
    keys = example_keys(dataset)
    known = known_rows(cache_dir, family, shape)
    hit = [i for i, k in enumerate(keys.tolist()) if k in known]
    prefilled = None
    if hit:
        rows = torch.stack([known[int(keys[i])] for i in hit])
        prefilled = (torch.from_numpy(example_ids[hit]), rows)
    todo = longest_first(dataset, [i for i, k in enumerate(keys.tolist()) if k not in known])
    world, rank = trainer.accelerator.num_processes, trainer.accelerator.process_index
    # Every process's share spans short and long examples alike (strided), each batch the longest first.
    share = dataset.select(todo[rank::world])
    loader = DataLoader(share, batch_size=trainer.args.per_device_eval_batch_size, collate_fn=trainer.data_collator)
    by_id = torch.zeros(num, dtype=torch.int64)
    by_id[torch.from_numpy(example_ids)] = torch.from_numpy(keys)

    def run(batch):
        # The same autocast as training, so cached and live teacher logits are one computation.
        with trainer.autocast_smart_context_manager(), trainer.accelerator.autocast():
            out = trainer._teacher_forward(batch, want_hidden=False, want_attn=False, want_embedding=embedding)
        return torch.cat([out.logits.float(), out.embedding], dim=-1) if embedding else out.logits

    cache = TeacherLogitCache.build(
        run,
        loader,
        num,
        shape,
        path,
        show_progress=trainer.accelerator.is_main_process,
        gather=partial(_gather_rows, trainer.accelerator, trainer.args.device) if world > 1 and todo else None,
        write=trainer.accelerator.is_main_process,
        prefilled=prefilled,
        keys=by_id,
        family=family,
    )
    trainer.accelerator.wait_for_everyone()  # the file is complete before any process goes on
    return cache


def _gather_rows(
    accelerator: Any, device: Any, ids: torch.Tensor, rows: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Every process's (example ids, logits), joined; shares may differ in length."""
    ids = accelerator.pad_across_processes(ids.to(device), dim=0, pad_index=-1)
    rows = accelerator.pad_across_processes(rows.to(device), dim=0)
    ids, rows = accelerator.gather(ids).cpu(), accelerator.gather(rows).cpu()
    keep = ids >= 0
    return ids[keep], rows[keep]

"""Teacher-logit cache: run the teacher once over the training set, reuse its logits afterwards.

Keyed by example (the `example_id` column), never by batch position: shuffling, length grouping and
multi-process sharding all reorder batches. The file name is a hash of the data fingerprint, the
teacher's weights and the max length, so changing any of them recomputes instead of reusing stale
logits.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from tqdm.auto import tqdm


def model_fingerprint(model: nn.Module) -> str:
    """Cheap but weight-sensitive: name, shape and two moments of every tensor, plus the config."""
    h = hashlib.sha256(model.config.to_json_string().encode() if hasattr(model, "config") else b"")
    with torch.no_grad():
        for name, p in model.state_dict().items():
            x = p.detach().float()
            h.update(f"{name}{tuple(x.shape)}{x.sum().item():.6e}{x.abs().sum().item():.6e}".encode())
    return h.hexdigest()[:16]


def cache_key(data_fingerprint: str, teacher_fp: str, max_length: int | None) -> str:
    return hashlib.sha256(f"{data_fingerprint}|{teacher_fp}|{max_length}".encode()).hexdigest()[:20]


class TeacherLogitCache:
    def __init__(self, logits: torch.Tensor, filled: torch.Tensor):
        self.logits = logits
        self.filled = filled

    def lookup(self, example_ids: torch.Tensor) -> torch.Tensor:
        ids = example_ids.long().cpu()
        if not bool(self.filled[ids].all()):
            raise KeyError("teacher cache has no logits for some example_id; the cache is stale")
        return self.logits[ids]

    @classmethod
    def build(
        cls,
        run_teacher,  # callable(batch) -> logits tensor
        dataloader,
        num_examples: int,
        path: Path | None = None,
        show_progress: bool = True,
    ) -> TeacherLogitCache:
        if path is not None and path.exists():
            stored = load_file(str(path))
            return cls(stored["logits"], stored["filled"].bool())
        logits: torch.Tensor | None = None
        filled = torch.zeros(num_examples, dtype=torch.bool)
        for batch in tqdm(dataloader, desc="teacher cache", disable=not show_progress):
            out = run_teacher(batch).detach().float().cpu()
            if logits is None:
                logits = torch.zeros((num_examples, *out.shape[1:]), dtype=torch.float32)
            ids = batch["example_id"].long().cpu()
            logits[ids] = out
            filled[ids] = True
        if logits is None:
            raise ValueError("teacher cache: the training set is empty")
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            save_file({"logits": logits, "filled": filled.to(torch.uint8)}, str(tmp))
            tmp.replace(path)  # atomic: a crash never leaves a half-written cache
        return cls(logits, filled)

"""Teacher-logit cache: run the teacher once over the training set, reuse its logits afterwards.

Keyed by example (the `example_id` column), never by batch position: shuffling, length grouping and
multi-process sharding all reorder batches. The file name is a hash of the examples' token ids (content,
not the dataset's length), the teacher's weights, the precision and the max length, so changing any of
them recomputes instead of reusing stale logits.

A new dataset that shares text with an earlier one (more augmented copies, another seed's split) reuses
the earlier files' rows: each file stores one key per example (a hash of the ids the models see) and its
"family" (teacher, precision, max length); only examples no file of the same family holds go through the
teacher, longest first, so batches pad little.

Buffers are sized from what the task says, not from the first batch: (examples, labels) for a sentence,
(examples, longest sequence, labels) for token classification (batches are padded to their own longest,
so a later batch may be longer than the first). Masked LM cannot be cached: the collator draws a new mask
every step, so logits computed once would belong to another mask than the student sees.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn
from tqdm.auto import tqdm

from trimformer.errors import UserInputError

# The columns that decide what the teacher sees (the teacher's own ids when it tokenizes for itself).
ID_COLUMNS = ("input_ids", "token_type_ids", "teacher_input_ids", "teacher_token_type_ids")


def model_fingerprint(model: nn.Module) -> str:
    """Cheap but weight-sensitive: name, shape and two moments of every tensor, plus the config."""
    h = hashlib.sha256(model.config.to_json_string().encode() if hasattr(model, "config") else b"")
    with torch.no_grad():
        for name, p in model.state_dict().items():
            x = p.detach().float()
            h.update(f"{name}{tuple(x.shape)}{x.sum().item():.6e}{x.abs().sum().item():.6e}".encode())
    return h.hexdigest()[:16]


def content_fingerprint(dataset) -> str:
    """A hash of every example's id and token ids: two datasets of the same length but other text differ."""
    columns = ["example_id", *(c for c in ID_COLUMNS if c in dataset.column_names)]
    h = hashlib.sha256("|".join(columns).encode())
    for batch in dataset.select_columns(columns).iter(batch_size=1024):
        for row in zip(*(batch[c] for c in columns)):
            for value in row:
                ids = np.asarray(value, dtype=np.int64).ravel()
                h.update(len(ids).to_bytes(4, "little") + ids.tobytes())
    return h.hexdigest()[:20]


def cache_key(data_fingerprint: str, teacher_fp: str, max_length: int | None, precision: str = "fp32") -> str:
    return hashlib.sha256(f"{data_fingerprint}|{teacher_fp}|{max_length}|{precision}".encode()).hexdigest()[:20]


def cache_family(teacher_fp: str, max_length: int | None, precision: str = "fp32") -> str:
    """What must match for one file's rows to serve another dataset: the teacher, its precision, the length."""
    return hashlib.sha256(f"{teacher_fp}|{max_length}|{precision}".encode()).hexdigest()[:20]


def example_keys(dataset) -> np.ndarray:
    """One key per row (int64, in row order) from the token ids the models see, not the example id: the same
    text tokenized the same way has the same key in any dataset."""
    columns = [c for c in ID_COLUMNS if c in dataset.column_names]
    keys = np.empty(len(dataset), dtype=np.int64)
    i = 0
    for batch in dataset.select_columns(columns).iter(batch_size=1024):
        for row in zip(*(batch[c] for c in columns)):
            h = hashlib.blake2b(digest_size=8)
            for value in row:
                ids = np.asarray(value, dtype=np.int64).ravel()
                h.update(len(ids).to_bytes(4, "little") + ids.tobytes())
            keys[i] = int.from_bytes(h.digest(), "little") >> 1  # non-negative: 0 marks "no key" in a file
            i += 1
    return keys


def known_rows(folder: Path, family: str, shape: tuple[int, ...]) -> dict[int, torch.Tensor]:
    """key -> logits row from every cache file in `folder` of this family and example shape."""
    from safetensors import safe_open

    known: dict[int, torch.Tensor] = {}
    for path in sorted(folder.glob("logits-*.safetensors")) if folder.is_dir() else []:
        with safe_open(str(path), framework="pt") as f:
            if (f.metadata() or {}).get("family") != family or "keys" not in f.keys():
                continue
            keys, logits, filled = f.get_tensor("keys"), f.get_tensor("logits"), f.get_tensor("filled").bool()
        if tuple(logits.shape[1:]) != tuple(shape):
            continue
        for key, row in zip(keys[filled].tolist(), logits[filled]):
            known[key] = row
    return known


def check_cacheable(task: str | None, padding_side: str | None = "right", embedding: bool = False) -> None:
    """Refuse, in one line, the tasks whose teacher outputs cannot be computed once and looked up later
    (`embedding`: the rows also hold the teacher's sentence embedding, see alpha_embedding)."""
    if task == "masked-lm":
        raise UserInputError(
            "teacher_cache: masked-lm draws a new mask every step, so cached teacher logits would be for another "
            "mask than the student sees; set teacher_cache: false"
        )
    if task == "token-classification" and padding_side == "left":
        raise UserInputError(
            "teacher_cache: token-classification logits are looked up by position, which needs right padding; "
            "set teacher_cache: false or a tokenizer with padding_side right"
        )
    if embedding and task not in (None, "sequence-classification"):
        raise UserInputError(
            f"teacher_cache with alpha_embedding: cached embeddings are per sentence, {task} needs them per token; "
            "set teacher_cache false"
        )


def example_shape(task: str | None, num_labels: int, dataset) -> tuple[int, ...]:
    """One example's logits: (labels,) for a sentence, (longest sequence in the data, labels) per token."""
    if task == "token-classification":
        longest = max((len(ids) for ids in dataset["input_ids"]), default=0)
        return (longest, num_labels)
    return (num_labels,)


def longest_first(dataset, indices: list[int]) -> list[int]:
    """`indices` ordered by how many tokens the teacher reads, longest first: batches of similar length pad
    little (reviews average 27 tokens where a random batch of 64 pads to ~55), and the first batch shows at
    once whether the longest fit in memory."""
    column = "teacher_input_ids" if "teacher_input_ids" in dataset.column_names else "input_ids"
    if column not in dataset.column_names or not indices:
        return list(indices)
    lengths = [len(ids) for ids in dataset.select(indices)[column]]
    return [i for _, i in sorted(zip(lengths, indices), key=lambda pair: -pair[0])]


class TeacherLogitCache:
    def __init__(self, logits: torch.Tensor, filled: torch.Tensor):
        self.logits = logits
        self.filled = filled

    def lookup(self, example_ids: torch.Tensor, length: int | None = None) -> torch.Tensor:
        """The cached logits of these examples; per-token logits cut to the batch's padded `length`."""
        ids = example_ids.long().cpu()
        if not bool(self.filled[ids].all()):
            raise KeyError("teacher cache has no logits for some example_id; the cache is stale")
        out = self.logits[ids]
        if out.dim() == 3 and length is not None:
            out = out[:, :length]
        return out

    @classmethod
    def load(cls, path: Path) -> TeacherLogitCache:
        stored = load_file(str(path))
        return cls(stored["logits"], stored["filled"].bool())

    @classmethod
    def build(
        cls,
        run_teacher: Callable[[dict], torch.Tensor],
        dataloader,
        num_examples: int,
        shape: tuple[int, ...],
        path: Path | None = None,
        show_progress: bool = True,
        gather: Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]] | None = None,
        write: bool = True,
        prefilled: tuple[torch.Tensor, torch.Tensor] | None = None,
        keys: torch.Tensor | None = None,
        family: str | None = None,
    ) -> TeacherLogitCache:
        """Run the teacher over `dataloader` (this process's share); `gather` joins every process's rows so
        each holds the whole cache; the file at `path` is reused when it exists and written when `write`.
        `prefilled` = (example ids, rows) already known (from files of the same family); `keys` (one per
        example id) and `family` are stored so later datasets can reuse this file's rows."""
        if path is not None and path.exists():
            return cls.load(path)
        rows: list[torch.Tensor] = []
        ids: list[torch.Tensor] = []
        desc = f"teacher cache ({len(prefilled[0])} reused)" if prefilled is not None else "teacher cache"
        for batch in tqdm(dataloader, desc=desc, disable=not show_progress):
            out = run_teacher(batch).detach().float().cpu()
            if tuple(out.shape[2:]) != tuple(shape[1:]) or out.shape[1] > shape[0]:
                raise ValueError(f"internal: teacher logits {tuple(out.shape)} do not fit the cache's {shape}")
            if out.dim() == 3:  # per token: pad to the longest sequence in the data
                out = torch.nn.functional.pad(out, (0, 0, 0, shape[0] - out.shape[1]))
            rows.append(out)
            ids.append(batch["example_id"].long().cpu())
        local_ids = torch.cat(ids) if ids else torch.zeros(0, dtype=torch.long)
        local = torch.cat(rows) if rows else torch.zeros((0, *shape))
        all_ids, all_rows = gather(local_ids, local) if gather is not None else (local_ids, local)
        if prefilled is not None:
            all_ids, all_rows = torch.cat([prefilled[0], all_ids]), torch.cat([prefilled[1], all_rows])
        if len(all_ids) == 0:
            raise ValueError("teacher cache: the training set is empty")
        logits = torch.zeros((num_examples, *shape), dtype=torch.float32)
        filled = torch.zeros(num_examples, dtype=torch.bool)
        logits[all_ids] = all_rows
        filled[all_ids] = True
        if path is not None and write:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tensors = {"logits": logits, "filled": filled.to(torch.uint8)}
            if keys is not None:
                tensors["keys"] = keys.to(torch.int64)
            save_file(tensors, str(tmp), metadata={"family": family} if family else None)
            tmp.replace(path)  # atomic: a crash never leaves a half-written cache
        return cls(logits, filled)

"""Rewrite a fast (tokenizers-backed) tokenizer so that it only knows the kept tokens, in new-id order.

WordPiece (BERT): drop the other vocab entries; a word that needed a dropped piece becomes [UNK].
BPE (RoBERTa, GPT-2 byte level): a dropped token would break the merges that build kept tokens, so
we also keep every token's merge ancestors and the single-character alphabet, and keep only merges
whose result is kept. On the corpus the merge sequence is then unchanged (each merge it applied is
still there and still the lowest-ranked one available); other words fall back to smaller pieces.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from trimformer.errors import UserInputError

SUPPORTED = ("WordPiece", "BPE")


def _backend_json(tokenizer: Any) -> dict:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise UserInputError(
            f"vocabulary pruning needs a fast (tokenizers-backed) tokenizer, got {type(tokenizer).__name__}; "
            "load it with AutoTokenizer.from_pretrained(..., use_fast=True)"
        )
    data = json.loads(backend.to_str())
    kind = data["model"]["type"]
    if kind not in SUPPORTED:
        raise UserInputError(f"vocabulary pruning supports {' and '.join(SUPPORTED)} tokenizers, not {kind}")
    return data


def _merge_pairs(model: dict) -> list[tuple[str, str]]:
    return [tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m) for m in model.get("merges", [])]


def complete_keep_set(tokenizer: Any, keep: Iterable[int]) -> set[int]:
    """`keep` plus what the tokenizer needs to still produce those tokens (BPE ancestors, alphabet)."""
    data = _backend_json(tokenizer)
    keep = set(int(i) for i in keep)
    keep |= {t["id"] for t in data.get("added_tokens", [])}
    model = data["model"]
    vocab: dict[str, int] = model["vocab"]
    unk = model.get("unk_token")
    if unk is not None and unk in vocab:
        keep.add(vocab[unk])
    if model["type"] != "BPE":
        return keep
    id_to_tok = {i: t for t, i in vocab.items()}
    parents = {a + b: (a, b) for a, b in _merge_pairs(model)}
    keep |= {i for t, i in vocab.items() if len(t) == 1}  # the alphabet (bytes for byte-level BPE)
    stack = [id_to_tok[i] for i in keep if i in id_to_tok]
    while stack:
        for part in parents.get(stack.pop(), ()):
            if part in vocab and vocab[part] not in keep:
                keep.add(vocab[part])
                stack.append(part)
    return keep


def _remap_ids(node: Any, old_to_new: dict[int, int]) -> Any:
    """Remap token ids inside post-processor JSON (TemplateProcessing `ids`, Roberta/Bert `sep`/`cls`)."""
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            if k == "ids" and isinstance(v, list):
                out[k] = [old_to_new[i] for i in v]
            elif k in ("sep", "cls") and isinstance(v, list) and len(v) == 2 and isinstance(v[1], int):
                out[k] = [v[0], old_to_new[v[1]]]
            else:
                out[k] = _remap_ids(v, old_to_new)
        return out
    if isinstance(node, list):
        return [_remap_ids(v, old_to_new) for v in node]
    return node


def remap_tokenizer(tokenizer: Any, keep_sorted: list[int]) -> Any:
    """A new tokenizer of the same class whose id `n` is old id `keep_sorted[n]`; it saves and reloads
    as a normal Hugging Face tokenizer (we round-trip it through save_pretrained ourselves)."""
    from transformers import AutoTokenizer

    data = _backend_json(tokenizer)
    old_to_new = {old: new for new, old in enumerate(keep_sorted)}
    model = data["model"]
    model["vocab"] = {t: old_to_new[i] for t, i in model["vocab"].items() if i in old_to_new}
    if model["type"] == "BPE":
        vocab = model["vocab"]
        pairs = [(a, b) for a, b in _merge_pairs(model) if a in vocab and b in vocab and a + b in vocab]
        as_strings = model.get("merges") and isinstance(model["merges"][0], str)
        model["merges"] = [f"{a} {b}" for a, b in pairs] if as_strings else [[a, b] for a, b in pairs]
    for token in data.get("added_tokens", []):
        token["id"] = old_to_new[token["id"]]
    data["post_processor"] = _remap_ids(data.get("post_processor"), old_to_new)
    with tempfile.TemporaryDirectory() as tmp:
        tokenizer.save_pretrained(tmp)
        folder = Path(tmp)
        (folder / "tokenizer.json").write_text(json.dumps(data, ensure_ascii=False))
        _rewrite_slow_files(folder, model)
        new = AutoTokenizer.from_pretrained(tmp)
        new.name_or_path = tokenizer.name_or_path
    return new


def _rewrite_slow_files(folder: Path, model: dict) -> None:
    # Keep any slow-tokenizer vocab files consistent with tokenizer.json (new-id order).
    ordered = [t for t, _ in sorted(model["vocab"].items(), key=lambda kv: kv[1])]
    if (folder / "vocab.txt").exists():
        (folder / "vocab.txt").write_text("\n".join(ordered) + "\n", encoding="utf-8")
    if (folder / "vocab.json").exists():
        (folder / "vocab.json").write_text(json.dumps(model["vocab"], ensure_ascii=False), encoding="utf-8")
    if (folder / "merges.txt").exists() and model["type"] == "BPE":
        merges = [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]
        (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")

"""How a stage's artefact loads: which loader it needs (plain transformers, trimformer's, PEFT) and the exact
code a model card shows to load and run it.

    kind = artefact_kind(folder)                      # "transformers" | "trimformer" | "adapter"
    code = load_snippet(kind, "sequence-classification", "me/minilm-distilled")
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from trimformer.loading import PACKAGE_PREFIX

AUTO_CLASSES = {
    "sequence-classification": "AutoModelForSequenceClassification",
    "token-classification": "AutoModelForTokenClassification",
    "masked-lm": "AutoModelForMaskedLM",
}
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
_DATA_FILE = re.compile(r"\.(csv|tsv|json|jsonl|parquet|arrow|txt|bz2|gz|xz|zip)$", re.IGNORECASE)


def is_hub_id(ref: Any) -> bool:
    """True for `bert-base-uncased` / `org/name`; False for local paths and `package:` references."""
    if not isinstance(ref, str) or ref.startswith((PACKAGE_PREFIX, ".", "/", "~")) or Path(ref).expanduser().exists():
        return False
    return bool(_HUB_ID.match(ref)) and not _DATA_FILE.search(ref)


def artefact_kind(folder: Path | None) -> str:
    """How to load it: 'trimformer' (config.trimformer set, e.g. LoRA saved with its base), 'adapter' (a bare
    PEFT folder) or 'transformers'."""
    if folder is None:
        return "transformers"
    if isinstance(read_json(folder / "config.json").get("trimformer"), dict):
        return "trimformer"
    return "adapter" if is_adapter(folder) else "transformers"


def is_adapter(folder: Path | None) -> bool:
    return folder is not None and (folder / "adapter_config.json").is_file()


def read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def load_snippet(kind: str, task: str, ref: str, base_ref: str | None = None) -> str:
    """The exact code to load and run the artefact (`ref` = repo id or local folder)."""
    auto = AUTO_CLASSES.get(task, "AutoModel")
    example = {
        "masked-lm": 'inputs = tokenizer(f"The movie was {tokenizer.mask_token}.", return_tensors="pt")',
    }.get(task, 'inputs = tokenizer(["A gripping, beautifully shot film."], return_tensors="pt")')
    run = ["with torch.no_grad():", "    logits = model(**inputs).logits", "print(logits.argmax(-1))"]
    if kind == "adapter":
        base = base_ref or "BASE_MODEL_PATH  # the base model this adapter was trained on"
        head = [
            "import torch",
            "from peft import PeftModel",
            f"from transformers import {auto}, AutoTokenizer",
            "",
            f'base = {auto}.from_pretrained("{base}")' if base_ref else f"base = {auto}.from_pretrained({base})",
            f'model = PeftModel.from_pretrained(base, "{ref}").eval()',
            f'tokenizer = AutoTokenizer.from_pretrained("{ref}")',
        ]
    elif kind == "trimformer":
        hub = is_hub_id(ref)
        head = [
            "import torch",
            *(["from huggingface_hub import snapshot_download"] if hub else []),
            "from transformers import AutoTokenizer",
            "from trimformer.loading import load_model",
            "",
            f'path = snapshot_download("{ref}")' if hub else f'path = "{ref}"',
            "model = load_model(path).eval()",
            "tokenizer = AutoTokenizer.from_pretrained(path)",
        ]
    else:
        head = [
            "import torch",
            f"from transformers import {auto}, AutoTokenizer",
            "",
            f'model = {auto}.from_pretrained("{ref}").eval()',
            f'tokenizer = AutoTokenizer.from_pretrained("{ref}")',
        ]
    return "\n".join(head + [example] + run)


def adapter_base(folder: Path | None, teacher_ref: Any) -> str | None:
    """Hub id of the model an adapter applies to (adapter_config first, then the teacher)."""
    config = read_json(folder / "adapter_config.json") if folder else {}
    for ref in (config.get("base_model_name_or_path"), teacher_ref):
        if is_hub_id(ref):
            return ref
    return None


def artefact_note(kind: str, adapter: bool) -> str | None:
    if adapter and kind == "trimformer":
        return "a PEFT adapter saved together with its base weights"
    return {"adapter": "a PEFT adapter", "trimformer": "needs trimformer's loader"}.get(kind)


def load_note(kind: str) -> str:
    return {
        "trimformer": "Needs `pip install trimformer`: the config's `trimformer` entry tells its loader how to "
        "rebuild the changed layers.",
        "adapter": "Needs `pip install peft`; the adapter is applied on top of its base model.",
    }.get(kind, "Plain transformers, no trimformer needed.")

"""search.json: every candidate with what is known of it, written after each step so `--resume` can go on.

log = SearchLog.open(path, key, resume=True)   # refuses another search's file
log.candidate(shape)["measured"] = {...}; log.save()
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from trimformer.errors import UserInputError
from trimformer.report import write_json_atomic
from trimformer.search.space import Shape

FILE = "search.json"


def settings_key(*parts: Any) -> str:
    """What must match for a search to be resumed: the space, the schedule, the budget, the recipe."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class SearchLog:
    def __init__(self, path: Path, data: dict[str, Any]):
        self.path, self.data = path, data

    @classmethod
    def open(cls, path: Path, key: str, resume: bool, header: dict[str, Any]) -> SearchLog:
        if resume and path.is_file():
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("settings_key") != key:
                raise UserInputError(
                    f"--resume: {path} was written by a search with other settings (recipe, search section or "
                    "budget); rerun with the same ones, or pass --overwrite to start again"
                )
            data["resumed"] = data.get("resumed", 0) + 1
            return cls(path, data)
        data = {"version": 1, "settings_key": key, **header, "status": "started", "candidates": {}, "trainables": {}}
        return cls(path, data)

    def candidate(self, shape: Shape) -> dict[str, Any]:
        return self.data["candidates"].setdefault(shape.key, {"shape": shape.to_dict(), "rungs": {}})

    def trainable(self, shape: Shape) -> dict[str, Any]:
        key = "_".join(shape.key.split("_")[:3])  # layers, heads, FFN
        return self.data["trainables"].setdefault(key, {"steps": 0, "checkpoint": None, "key": key})

    def measured(self, shape: Shape) -> dict[str, float] | None:
        return self.data["candidates"].get(shape.key, {}).get("measured")

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self.path, self.data)

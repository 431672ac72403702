"""Is a data or model reference a local path or a Hub id?

A path that exists locally is always local. A string that does not exist but looks like a path (a file
extension such as .csv, a leading ./ ../ / ~, a backslash, two or more slashes, or a first folder that
exists here) is a missing local file: it gets "file not found" at validate time instead of a Hub lookup
that fails much later (and, offline, with a long traceback). Anything else (`glue`, `owner/name`) is a Hub id.
"""

from __future__ import annotations

import os
from pathlib import Path

from trimformer.errors import UserInputError

PACKAGE_PREFIX = "package:"
FILE_SUFFIXES = {
    ".csv", ".tsv", ".json", ".jsonl", ".parquet", ".txt", ".arrow",
    ".gz", ".bz2", ".xz", ".zst", ".zip",
    ".safetensors", ".bin", ".pt", ".pth", ".onnx", ".yaml", ".yml",
}  # fmt: skip


def looks_like_path(ref: str) -> bool:
    if ref.startswith((".", "/", "~")) or "\\" in ref or ref.count("/") >= 2:
        return True
    if any(s.lower() in FILE_SUFFIXES for s in Path(ref).suffixes):
        return True
    first, sep, _ = ref.partition("/")
    return bool(sep) and Path(first).expanduser().is_dir()


def is_hub_id(ref: str) -> bool:
    """Neither an existing path, a package: reference, nor something that looks like a path."""
    if ref.startswith(PACKAGE_PREFIX):
        return False
    return not Path(ref).expanduser().exists() and not looks_like_path(ref)


def local_path(field: str, ref: str, what: str = "file") -> Path | None:
    """The local path `ref` names, or None for a Hub id. A path-like `ref` that does not exist raises
    UserInputError (`what` is "file" for data, "folder" for models). `package:` references must have
    been resolved by the caller (`trimformer.loading.resolve_path`)."""
    path = Path(ref).expanduser()
    if path.exists():
        return path
    if not looks_like_path(ref):
        return None
    hub = "Hub dataset id" if what == "file" else "Hub model id"
    where = "" if path.is_absolute() else f" (looked in {os.getcwd()})"
    raise UserInputError(
        f"{field}: {what} not found: {ref}{where}; fix the path, or if you meant a {hub}, write it as "
        "name or owner/name without a file extension"
    )


def resolve_local(field: str, ref: str, what: str = "file") -> Path | None:
    """`local_path` after expanding `package:MODULE/path` references (whose errors name `field`)."""
    if ref.startswith(PACKAGE_PREFIX):
        from trimformer.loading import ModelReferenceError, resolve_path

        try:
            return Path(resolve_path(ref))
        except ModelReferenceError as exc:
            raise UserInputError(f"{field}: {exc}") from None
    return local_path(field, ref, what)

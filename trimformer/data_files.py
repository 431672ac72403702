"""Read a local data file into a pandas DataFrame, turning every way a file can be unreadable into one
line naming the file and the fix (pandas reads every compression by extension; datasets' csv builder
does not). Light on purpose: `trimformer validate` reads data files through here without torch."""

from __future__ import annotations

import bz2
import gzip
import lzma
from pathlib import Path
from typing import Any

from trimformer.errors import UserInputError

LOCAL_FORMATS = {".csv": "csv", ".tsv": "tsv", ".json": "json", ".jsonl": "jsonl", ".parquet": "parquet"}
COMPRESSIONS = (".bz2", ".gz", ".xz", ".zst", ".zip")
_OPENERS = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}


def local_format(path: str) -> str | None:
    p = Path(path)
    suffixes = [s.lower() for s in p.suffixes]
    while suffixes and suffixes[-1] in COMPRESSIONS:
        suffixes.pop()
    return LOCAL_FORMATS.get(suffixes[-1]) if suffixes else None


def read_frame(path: str | Path, field: str = "data.path") -> Any:
    """The file as a DataFrame; UserInputError (naming `field` and the file) when it cannot be one."""
    import pandas as pd

    path = Path(path)
    if path.is_dir():
        raise UserInputError(
            f"{field}: {path} is a folder; point at one data file (.csv/.tsv/.json/.jsonl/.parquet, optionally .gz)"
        )
    if not path.is_file():
        raise UserInputError(f"{field}: file not found: {path}; fix the path")
    fmt = local_format(str(path))
    if fmt is None:
        raise UserInputError(
            f"{field}: {path}: unknown file type; use .csv/.tsv/.json/.jsonl/.parquet (optionally .gz/.bz2/.xz)"
        )
    try:
        if fmt in ("csv", "tsv"):
            frame = pd.read_csv(path, sep="\t" if fmt == "tsv" else ",")
        elif fmt in ("json", "jsonl"):
            frame = _read_json(pd, path, fmt)
        else:
            frame = pd.read_parquet(path)
    except UnicodeDecodeError as exc:
        where = _bad_byte(path, exc)
        raise UserInputError(f"{field}: {path} is not UTF-8 text ({where}); re-save it as UTF-8") from None
    except pd.errors.EmptyDataError:
        raise UserInputError(f"{field}: {path} is empty (no header, no rows); give a file with a header row") from None
    except pd.errors.ParserError as exc:
        detail = str(exc).strip().splitlines()[-1].replace("Error tokenizing data. C error: ", "")
        raise UserInputError(
            f"{field}: {path} is not a well-formed {fmt.upper()} file ({detail}); every row needs as many fields as "
            "the header (quote text that holds the separator)"
        ) from None
    except (ValueError, OSError, EOFError) as exc:  # bad JSON, truncated archive, not a parquet file, ...
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserInputError(f"{field}: {path} cannot be read as {fmt} ({detail[:160]}); check the file") from None
    if len(frame.columns) == 0:
        raise UserInputError(f"{field}: {path} has no columns; give a file with a header row")
    return _normalise(frame)


def _read_json(pd: Any, path: Path, fmt: str) -> Any:
    lines = fmt == "jsonl" or None
    frame = pd.read_json(path, lines=lines)
    if not isinstance(frame, pd.DataFrame):
        raise ValueError("expected a list of records, one object per example")
    return frame


def _bad_byte(path: Path, exc: UnicodeDecodeError) -> str:
    """Where the first non-UTF-8 byte is, counted in the (decompressed) file, not in pandas' read chunk."""
    suffix = path.suffix.lower()
    opener = _OPENERS.get(suffix, None if suffix in COMPRESSIONS else open)
    try:
        if opener is None:
            raise OSError(suffix)
        with opener(path, "rb") as handle:
            raw = handle.read()
        raw.decode("utf-8")
    except UnicodeDecodeError as full:
        line = raw.count(b"\n", 0, full.start) + 1
        return f"byte 0x{raw[full.start]:02x} on line {line}"
    except OSError:
        pass
    return f"byte 0x{exc.object[exc.start]:02x}"


def _normalise(frame: Any) -> Any:
    """Undo two pandas habits that would change what a column means:
    - an integer column with empty cells becomes float (1.0, NaN): keep it integer, the blanks missing;
    - a JSON column mixing numbers and text stays mixed (arrow cannot store it): make it text, so the
      label checks can say "mixes numbers and text" instead of arrow failing on conversion."""
    for column in frame.columns:
        series = frame[column]
        if series.dtype.kind == "f" and series.isna().any():
            present = series.dropna()
            if len(present) and (present == present.round()).all() and present.abs().max() < 2**53:
                frame[column] = series.astype("Int64")
        elif series.dtype == object:
            present = [v for v in series if v is not None and not _is_nan(v)]
            kinds = {type(v) for v in present}
            if len(kinds) > 1 and not any(isinstance(v, (list, dict)) for v in present):
                frame[column] = series.map(lambda v: v if v is None or _is_nan(v) else str(v))
    return frame


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and value != value

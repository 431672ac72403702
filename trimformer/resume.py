"""Resume and overwrite: what a run may reuse from, or remove in, its output folder.

- Every output folder trimformer writes carries MARKER, so `--overwrite` can tell its own folders from a user's
  and never deletes a folder it did not make.
- Each finished stage writes COMPLETION into its folder: a fingerprint of everything that decides its result
  (the stage's settings, the run's data/teacher/student/training settings, the digests of the local files
  they name, and the fingerprint of the stage before it, so a changed early stage invalidates every later
  one) plus the report entries it produced. `trimformer run --resume` skips a stage whose record matches.
- A stage interrupted mid-training resumes from its newest complete Trainer checkpoint in OUT/.work/<stage>.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

from trimformer.errors import UserInputError

MARKER = ".trimformer-output"
COMPLETION = ".trimformer-stage.json"


def mark_output(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text(json.dumps({"written_by": "trimformer"}) + "\n")


def is_trimformer_output(out: Path) -> bool:
    # report.json: a run; search.json: a budget search (trimformer.search.store.FILE).
    return any((out / name).exists() for name in (MARKER, "report.json", "search.json"))


def check_output_dir(out: Path, overwrite: bool, resume: bool) -> bool:
    """May this run use `out`? True when an earlier run's folder is to be replaced (`move_aside`). Changes
    nothing on disk: a run refused for bad input afterwards has written nothing."""
    if overwrite and resume:
        raise UserInputError("--overwrite and --resume contradict each other; pass one of them")
    if not out.exists() or not any(out.iterdir()):
        return False
    if resume:
        if not is_trimformer_output(out):
            raise UserInputError(f"--resume: {out} holds no trimformer run (no {MARKER}); run without --resume")
        return False
    if not overwrite:
        raise UserInputError(
            f"output_dir {out} already holds files; pass --resume to continue that run, --overwrite to replace "
            "it, or choose another folder with --set output_dir=..."
        )
    if not is_trimformer_output(out):
        raise UserInputError(
            f"--overwrite: {out} holds files trimformer did not write (no {MARKER}, report.json or search.json); "
            "it is never deleted: choose another output_dir or empty it yourself"
        )
    return True


def move_aside(out: Path) -> Path:
    """Rename the earlier run's folder; the caller deletes it once the new run has finished, so a run that
    fails leaves the previous results recoverable."""
    old = out.with_name(f".{out.name}.replaced")
    if old.exists():
        shutil.rmtree(old)
    out.rename(old)
    return old


def _file_digest(path: Path) -> str:
    """Name, size and modification time of each file under a local path: cheap, and any edit changes it."""
    if not path.exists():
        return ""
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    h = hashlib.sha256()
    for f in files:
        stat = f.stat()
        h.update(f"{f.relative_to(path) if f != path else f.name}|{stat.st_size}|{stat.st_mtime_ns}".encode())
    return h.hexdigest()


def run_fingerprint(raw: dict[str, Any]) -> str:
    """The parts of the recipe every stage depends on, with digests of the local files they name."""
    keys = ("task", "seed", "data", "teacher", "student", "training", "trust_remote_code")
    base = {k: raw.get(k) for k in keys}
    files = {}
    for section, field in (("data", "path"), ("data", "unlabeled_path"), ("teacher", "model"), ("student", "model")):
        ref = (raw.get(section) or {}).get(field)
        if isinstance(ref, str) and Path(ref).expanduser().exists():
            files[f"{section}.{field}"] = _file_digest(Path(ref).expanduser())
    blob = json.dumps({"base": base, "files": files}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def stage_fingerprint(previous: str, entry: dict[str, Any]) -> str:
    blob = json.dumps({"previous": previous, "stage": entry}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def write_completion(stage_dir: Path, fingerprint: str, records: list[dict[str, Any]]) -> None:
    tmp = stage_dir / f"{COMPLETION}.tmp"
    tmp.write_text(json.dumps({"fingerprint": fingerprint, "records": records}, indent=1, default=str))
    os.replace(tmp, stage_dir / COMPLETION)  # written last, atomically: its presence means the stage is done


def read_completion(stage_dir: Path, fingerprint: str) -> list[dict[str, Any]] | None:
    """The stage's report entries when it finished with these very settings and inputs, else None."""
    try:
        record = json.loads((stage_dir / COMPLETION).read_text())
    except (OSError, ValueError):
        return None
    if record.get("fingerprint") != fingerprint:
        return None
    return record.get("records")


STAMP = ".stage-fingerprint"


def claim_work_dir(work_dir: Path, fingerprint: str, resume: bool) -> str | None:
    """The checkpoint to resume this stage's training from, when resuming and the folder's checkpoints were
    made with the same settings (a stamp holds the stage fingerprint); otherwise None, and the main process
    empties the folder so no stale checkpoint of another configuration is ever read."""
    from trimformer.distributed import is_main_process

    stamp = work_dir / STAMP
    same = stamp.exists() and stamp.read_text().strip() == fingerprint
    checkpoint = last_checkpoint(work_dir) if resume and same else None
    if checkpoint is None and is_main_process():
        shutil.rmtree(work_dir, ignore_errors=True)
        work_dir.mkdir(parents=True)
        stamp.write_text(fingerprint + "\n")
    return checkpoint


def release_work_dirs(work_root: Path, fingerprint: str) -> None:
    """Delete the checkpoint folders of a finished stage (every folder stamped with its fingerprint)."""
    for stamp in work_root.glob(f"*/{STAMP}"):
        if stamp.read_text().strip() == fingerprint:
            shutil.rmtree(stamp.parent, ignore_errors=True)


def last_checkpoint(work_dir: Path) -> str | None:
    """The newest complete Trainer checkpoint (trainer_state.json is written last) under work_dir."""
    if not work_dir.is_dir():
        return None
    done = [p for p in work_dir.glob("checkpoint-*") if (p / "trainer_state.json").exists()]
    done = [p for p in done if p.name.split("-")[-1].isdigit()]
    if not done:
        return None
    return str(max(done, key=lambda p: int(p.name.split("-")[-1])))

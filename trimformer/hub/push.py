"""Publish one stage of a run to the Hugging Face Hub.

    result = push_output("OUTPUT", "me/minilm-distilled")          # last stage, public
    print(result.uploaded, result.skipped)

What goes up: the stage's files (weights, config, tokenizer, or the PEFT adapter), a model card
generated from report.json as README.md, the trade-off plot, report.json / report.md and recipe.yaml.
OUTPUT is only read: generated files are written to a temp dir, artefact files are uploaded from where
they are. Files already on the remote with the same content (sha256 for LFS files, git blob id for
the rest) are skipped, so a failed push is retried by running the same command again. Weights go in a
first commit and the card/report in a second, so a retry after a late failure skips the weights.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from huggingface_hub import CommitOperationAdd, HfApi, ModelCard, constants, get_token
from huggingface_hub.errors import HTTPError, RevisionNotFoundError

from trimformer.card import CardError, resolve_artefact, select_stage
from trimformer.hub.report import load_report, write_publish_files

logger = logging.getLogger("trimformer.hub")

# Large binary files: committed first so a retry after a later failure finds them on the remote.
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".onnx", ".gguf", ".h5", ".msgpack")
# Never uploaded from a stage folder: training leftovers and files we regenerate.
SKIP_NAMES = {"README.md", "training_args.bin", "trainer_state.json", "optimizer.pt", "scheduler.pt", "rng_state.pth"}
SKIP_DIRS = ("checkpoint-", "runs", ".")


class PushError(RuntimeError):
    """A push that did not complete; the message is one line and ends with the command to retry."""


@dataclass
class PushResult:
    repo_id: str
    revision: str
    url: str
    stage: str
    uploaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # already on the remote with the same content
    commits: list[str] = field(default_factory=list)

    def summary(self) -> str:
        lines = [f"pushed stage '{self.stage}' to {self.url} ({len(self.uploaded)} uploaded)"]
        if self.skipped:
            lines.append(f"skipped {len(self.skipped)} unchanged: {', '.join(self.skipped)}")
        return "\n".join(lines)


def retry_command(output_dir: Path | str, repo_id: str, stage: str, private: bool, revision: str) -> str:
    cmd = f"trimformer push {output_dir} --repo-id {repo_id} --stage {stage}"
    return cmd + (" --private" if private else "") + (f" --revision {revision}" if revision != "main" else "")


def stage_files(folder: Path) -> dict[str, Path]:
    """{path_in_repo: local file} for the artefact folder, without training leftovers."""
    files = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if not path.is_file() or path.name in SKIP_NAMES or any(p.startswith(SKIP_DIRS) for p in rel.parts[:-1]):
            continue
        if rel.name.startswith("."):
            continue
        files[rel.as_posix()] = path
    return files


def file_hashes(path: Path) -> tuple[str, str]:
    """(sha256, git blob sha1): what the Hub reports for LFS and regular files respectively."""
    size = path.stat().st_size
    sha256, sha1 = hashlib.sha256(), hashlib.sha1(b"blob %d\0" % size)
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            sha256.update(chunk)
            sha1.update(chunk)
    return sha256.hexdigest(), sha1.hexdigest()


def remote_hashes(api: HfApi, repo_id: str, revision: str) -> dict[str, set[str]]:
    """{path: {lfs sha256, git blob id}} of the files on the remote branch (empty if the branch is new)."""
    try:
        entries = list(api.list_repo_tree(repo_id, recursive=True, revision=revision))
    except RevisionNotFoundError:
        return {}
    out = {}
    for entry in entries:
        if getattr(entry, "blob_id", None) is None:
            continue  # a folder
        lfs = getattr(entry, "lfs", None)
        out[entry.path] = {entry.blob_id} | ({lfs.sha256} if lfs is not None else set())
    return out


def _validate_card(api: HfApi, readme: Path) -> None:
    """huggingface_hub's own check (`ModelCard.validate`, the Hub's validate-yaml) before any byte of weights goes
    up. It asks `constants.ENDPOINT` only: pushing to another endpoint given in Python, the commit's own check
    on the README is the one that applies."""
    if api.endpoint.rstrip("/") != constants.ENDPOINT.rstrip("/"):
        return
    try:
        ModelCard(readme.read_text(encoding="utf-8")).validate(repo_type="model")
    except ValueError as exc:
        raise CardError(
            f"the Hub rejected the generated card's metadata ({_card_errors(exc)}); fix the recipe's hub: section"
        ) from None


def _card_errors(exc: ValueError) -> str:
    """The Hub answers a rejected card with JSON `{"errors": [{"message": ...}]}`; ModelCard.validate passes it
    on as the error's text."""
    try:
        return "; ".join(e.get("message", "") for e in json.loads(str(exc)).get("errors", [])) or _one_line(exc)
    except (ValueError, AttributeError):
        return _one_line(exc)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def push_output(
    output_dir: str | Path,
    repo_id: str,
    stage: str | None = None,
    private: bool = False,
    token: str | None = None,
    endpoint: str | None = None,
    revision: str = "main",
) -> PushResult:
    """Upload stage `stage` (default: the last one in report.json) of the run in `output_dir` to `repo_id`.

    `token` defaults to HF_TOKEN / the stored login; `endpoint` to HF_ENDPOINT. Raises `PushError`
    (one line, with the command to retry) when the upload fails; OUTPUT is never modified.
    """
    output_dir = Path(output_dir)
    report = load_report(output_dir)
    model = select_stage(report, stage)
    stage_name = str(model.get("name"))
    folder = resolve_artefact(model, output_dir)
    if folder is None:
        raise CardError(
            f"stage '{stage_name}': folder {model.get('path')} not found; it may have run with save: false"
        )
    if token is None and get_token() is None:
        raise PushError("no Hugging Face token: run `hf auth login` or set HF_TOKEN, then run the push again")
    endpoint = endpoint or os.environ.get("HF_ENDPOINT") or None
    api = HfApi(endpoint=endpoint.rstrip("/") if endpoint else None, token=token)
    retry = retry_command(output_dir, repo_id, stage_name, private, revision)
    result = PushResult(repo_id=repo_id, revision=revision, url="", stage=stage_name)
    with tempfile.TemporaryDirectory(prefix="trimformer-push-") as tmp:
        generated = write_publish_files(report, stage_name, repo_id, Path(tmp), output_dir)
        upload = {**stage_files(folder), **generated}  # generated README.md replaces any local one
        try:
            _validate_card(api, generated["README.md"])
            _push(api, upload, result, private, revision)
        except CardError:
            raise
        except (HTTPError, OSError, RuntimeError, ValueError) as exc:
            done = f"{len(result.uploaded)} file(s) committed, " if result.uploaded else ""
            raise PushError(
                f"push to {repo_id} failed: {_one_line(exc)} — {done}local output untouched; "
                f"retry (unchanged files are skipped): {retry}"
            ) from exc
    return result


def _push(api: HfApi, upload: dict[str, Path], result: PushResult, private: bool, revision: str) -> None:
    repo_url = api.create_repo(result.repo_id, private=private, exist_ok=True, repo_type="model")
    repo_id = repo_url.repo_id or result.repo_id
    result.repo_id, result.url = repo_id, str(repo_url)
    if revision != "main":
        api.create_branch(repo_id, branch=revision, exist_ok=True)
    remote = remote_hashes(api, repo_id, revision)
    pending = {}
    for path_in_repo, local in upload.items():
        if remote.get(path_in_repo, set()) & set(file_hashes(local)):
            result.skipped.append(path_in_repo)
        else:
            pending[path_in_repo] = local
    weights = {p: f for p, f in pending.items() if p.endswith(WEIGHT_SUFFIXES)}
    rest = {p: f for p, f in pending.items() if p not in weights}
    for message, group in (
        (f"Upload {result.stage} weights", weights),
        (f"Upload {result.stage} card and report", rest),
    ):
        if not group:
            continue
        operations = [CommitOperationAdd(path_in_repo=p, path_or_fileobj=str(f)) for p, f in sorted(group.items())]
        info = api.create_commit(repo_id, operations, commit_message=message, revision=revision)
        result.commits.append(info.oid)
        result.uploaded += sorted(group)
        logger.info("committed %d file(s) to %s: %s", len(group), repo_id, info.commit_url)

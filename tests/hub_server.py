"""A small in-memory Hub-protocol server for tests, driven by the real huggingface_hub client.

It implements our reading of the endpoints listed in /work/shared/notes/hub-protocol.md (repo create,
validate-yaml, preupload, LFS batch + PUT, NDJSON commit, tree, paths-info, model info, resolve). It
tests our publishing code against that reading, not against the real Hub.

    server = HubServer().start()      # http://127.0.0.1:PORT
    server.fail("commit", times=1, after=1)  # the 2nd commit answers 500 once
    server.stop()
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import yaml

LFS_EXTENSIONS = (".safetensors", ".bin", ".pt", ".pth", ".onnx", ".png", ".jpg", ".msgpack", ".h5", ".zip")
LFS_SIZE = 10 * 1024 * 1024
# Values the Hub documents for `base_model_relation`.
BASE_MODEL_RELATIONS = {"adapter", "merge", "quantized", "finetune"}
REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$|^[A-Za-z0-9][\w.-]*$")
USER = "tester"
DUMMY_TOKEN = "hf_dummyTestToken0123456789"
RECIPE_SECRET = "hf_secretFromTheRecipe42"


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class StoredFile:
    data: bytes
    lfs: bool

    def entry(self, path: str) -> dict[str, Any]:
        if not self.lfs:
            return {"type": "file", "path": path, "size": len(self.data), "oid": git_blob_sha1(self.data)}
        sha = hashlib.sha256(self.data).hexdigest()
        pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha}\nsize {len(self.data)}\n".encode()
        return {
            "type": "file",
            "path": path,
            "size": len(self.data),
            "oid": git_blob_sha1(pointer),
            "lfs": {"oid": sha, "size": len(self.data), "pointerSize": len(pointer)},
        }

    @property
    def etag(self) -> str:
        return hashlib.sha256(self.data).hexdigest() if self.lfs else git_blob_sha1(self.data)


@dataclass
class Repo:
    repo_id: str
    private: bool = False
    # commit sha -> snapshot of files; "main" points at the last one.
    commits: list[tuple[str, dict[str, StoredFile]]] = field(default_factory=list)

    def snapshot(self, rev: str) -> dict[str, StoredFile] | None:
        if rev == "main":
            return self.commits[-1][1]
        return next((files for sha, files in self.commits if sha == rev), None)

    @property
    def head(self) -> str:
        return self.commits[-1][0]


def validate_metadata(content: str) -> list[str]:
    """Our reading of the Hub's README metadata checks; returns error messages."""
    match = re.match(r"^---\s*\n(.*?)\n---\s*\n", content, re.DOTALL)
    if not match:
        return []
    try:
        meta = yaml.safe_load(match.group(1)) or {}
    except yaml.YAMLError as exc:
        return [f"YAML parse error: {exc}"]
    if not isinstance(meta, dict):
        return ["metadata must be a YAML mapping"]
    errors = []
    for key in ("tags", "datasets", "metrics", "language"):
        value = meta.get(key)
        if value is not None and not (isinstance(value, str) or _str_list(value)):
            errors.append(f'"{key}" must be a string or a list of strings')
    for key in ("license", "pipeline_tag", "library_name"):
        if key in meta and not isinstance(meta[key], str):
            errors.append(f'"{key}" must be a string')
    base = meta.get("base_model")
    bases = [base] if isinstance(base, str) else base
    if base is not None and not (_str_list(bases) and all(REPO_ID.match(b) for b in bases)):
        errors.append('"base_model" must be a Hub model id or a list of them')
    relation = meta.get("base_model_relation")
    if relation is not None and relation not in BASE_MODEL_RELATIONS:
        errors.append(f'"base_model_relation" must be one of {sorted(BASE_MODEL_RELATIONS)}')
    if relation is not None and base is None:
        errors.append('"base_model_relation" needs "base_model"')
    errors += _model_index_errors(meta.get("model-index"))
    return errors


def _str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _model_index_errors(index: Any) -> list[str]:
    if index is None:
        return []
    if not isinstance(index, list) or not all(isinstance(m, dict) and isinstance(m.get("name"), str) for m in index):
        return ['"model-index" must be a list of {name, results}']
    errors = []
    for model in index:
        for result in model.get("results") or []:
            task, dataset, metrics = result.get("task"), result.get("dataset"), result.get("metrics")
            if not (isinstance(task, dict) and isinstance(task.get("type"), str)):
                errors.append('"model-index" result needs task.type')
            if not (isinstance(dataset, dict) and all(isinstance(dataset.get(k), str) for k in ("type", "name"))):
                errors.append('"model-index" result needs dataset.type and dataset.name')
            if not isinstance(metrics, list) or not all(
                isinstance(m, dict) and isinstance(m.get("type"), str) and "value" in m for m in metrics
            ):
                errors.append('"model-index" metrics need type and value')
    return errors


class HubServer:
    def __init__(self) -> None:
        self.repos: dict[str, Repo] = {}
        self.lfs_store: dict[str, bytes] = {}
        self.requests: list[tuple[str, str]] = []  # (method, path) of every request
        self.auth_headers: set[str] = set()
        self._failures: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None

    # -- lifecycle --------------------------------------------------------------------------------
    def start(self) -> HubServer:
        server = self

        class Handler(_Handler):
            hub = server

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def fail(self, kind: str, times: int = 1, after: int = 0, status: int = 500) -> None:
        """Answer `status` to `times` requests of `kind` ("commit", "lfs_put", "preupload", "lfs_batch") after
        letting `after` of them through."""
        self._failures.append({"kind": kind, "times": times, "after": after, "status": status})

    def _should_fail(self, kind: str) -> int | None:
        with self._lock:
            for rule in self._failures:
                if rule["kind"] != kind or rule["times"] <= 0:
                    continue
                if rule["after"] > 0:
                    rule["after"] -= 1
                    return None
                rule["times"] -= 1
                return rule["status"]
        return None

    def count(self, method: str, pattern: str) -> int:
        return sum(1 for m, p in self.requests if m == method and re.search(pattern, p))

    def all_stored_bytes(self) -> list[tuple[str, bytes]]:
        """Every byte the server holds: committed files of every commit, and LFS objects."""
        out = [(f"lfs:{oid}", data) for oid, data in self.lfs_store.items()]
        for repo in self.repos.values():
            for sha, files in repo.commits:
                out += [(f"{repo.repo_id}@{sha}:{path}", f.data) for path, f in files.items()]
        return out


class _Handler(BaseHTTPRequestHandler):
    hub: HubServer
    protocol_version = "HTTP/1.1"  # keep-alive, as the client expects

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        pass

    # -- plumbing -----------------------------------------------------------------------------------
    def _body(self) -> bytes:
        # Read every body fully (chunked or sized), or keep-alive connections break.
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, body: Any = b"", headers: dict[str, str] | None = None, head: bool = False) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        is_json = not isinstance(body, bytes)
        self.send_header("Content-Type", "application/json" if is_json else "application/octet-stream")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if not head:
            self.wfile.write(data)

    def _error(self, status: int, message: str, code: str | None = None, head: bool = False) -> None:
        self._send(
            status, {"error": message}, {"X-Error-Code": code, "X-Error-Message": message} if code else None, head
        )

    def _dispatch(self, method: str) -> None:
        body = self._body()
        split = urlsplit(self.path)
        path, query = unquote(split.path), parse_qs(split.query)
        self.hub.requests.append((method, path))
        if auth := self.headers.get("Authorization"):
            self.hub.auth_headers.add(auth)
        try:
            self._route(method, path, query, body)
        except Exception as exc:  # a server bug must show up as an HTTP error, not a hung client
            self._error(500, f"test server error: {exc!r}")

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    # -- routes -------------------------------------------------------------------------------------
    def _route(self, method: str, path: str, query: dict[str, list[str]], body: bytes) -> None:
        hub = self.hub
        if method == "GET" and path == "/api/whoami-v2":
            return self._send(200, {"type": "user", "name": USER, "orgs": [], "auth": {"type": "access_token"}})
        if method == "POST" and path == "/api/validate-yaml":
            errors = validate_metadata(json.loads(body or b"{}").get("content", ""))
            return self._send(400 if errors else 200, {"errors": [{"message": e} for e in errors], "warnings": []})
        if method == "POST" and path == "/api/repos/create":
            return self._create(json.loads(body))
        if method == "DELETE" and path == "/api/repos/delete":
            payload = json.loads(body)
            hub.repos.pop(f"{payload.get('organization') or USER}/{payload['name']}", None)
            return self._send(200, {})
        if method == "PUT" and path.startswith("/__lfs/"):
            return self._lfs_put(path.rsplit("/", 1)[1], body)
        if m := re.match(r"^/(.+)\.git/info/lfs/objects/batch$", path):
            return self._lfs_batch(m.group(1), json.loads(body))
        if m := re.match(r"^/api/models/([^/]+/[^/]+)/(preupload|commit|tree|paths-info)/([^/]+)(?:/(.*))?$", path):
            repo = hub.repos.get(m.group(1))
            if repo is None:
                return self._error(404, "Repository not found", "RepoNotFound", method == "HEAD")
            action, rev, sub = m.group(2), m.group(3), m.group(4)
            handler = {"preupload": self._preupload, "commit": self._commit, "tree": self._tree}.get(action)
            if action == "paths-info":
                return self._paths_info(repo, rev, parse_qs(body.decode()) or json.loads(body or b"{}"))
            return handler(repo, rev, body if action != "tree" else (sub, query))
        if m := re.match(r"^/api/models/([^/]+/[^/]+)(?:/revision/([^/]+))?$", path):
            return self._model_info(m.group(1), m.group(2) or "main")
        if m := re.match(r"^/([^/]+/[^/]+)/resolve/([^/]+)/(.+)$", path):
            return self._resolve(m.group(1), m.group(2), m.group(3), head=method == "HEAD")
        return self._error(404, f"no route for {method} {path}", "EntryNotFound", method == "HEAD")

    def _create(self, payload: dict[str, Any]) -> None:
        repo_id = f"{payload.get('organization') or USER}/{payload['name']}"
        url = f"{self.hub.url}/{repo_id}"
        if repo_id in self.hub.repos:
            # The 409 must carry `url`, or create_repo(exist_ok=True) crashes.
            return self._send(409, {"error": "You already created this model repo", "url": url})
        repo = Repo(repo_id, private=payload.get("visibility") == "private" or bool(payload.get("private")))
        initial = {".gitattributes": StoredFile(b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n", False)}
        repo.commits.append((hashlib.sha1(f"init {repo_id} {time.time()}".encode()).hexdigest(), initial))
        self.hub.repos[repo_id] = repo
        self._send(200, {"url": url, "name": repo_id, "id": repo_id})

    def _preupload(self, repo: Repo, rev: str, body: bytes) -> None:
        if status := self.hub._should_fail("preupload"):
            return self._error(status, "injected preupload failure")
        files = repo.snapshot(rev) or {}
        out = []
        for item in json.loads(body)["files"]:
            lfs = item["path"].endswith(LFS_EXTENSIONS) or item["size"] >= LFS_SIZE
            remote = files.get(item["path"])
            oid = None
            if remote is not None and remote.lfs == lfs:
                oid = remote.etag  # sha256 for LFS, git blob sha1 for regular files, like the Hub
            out.append(
                {"path": item["path"], "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False, "oid": oid}
            )
        self._send(200, {"files": out, "commitOid": repo.head})

    def _lfs_batch(self, repo_id: str, payload: dict[str, Any]) -> None:
        if repo_id not in self.hub.repos:
            return self._error(404, "Repository not found", "RepoNotFound")
        if status := self.hub._should_fail("lfs_batch"):
            return self._error(status, "injected batch failure")
        objects = []
        for obj in payload["objects"]:
            entry = {"oid": obj["oid"], "size": obj["size"], "authenticated": True}
            if obj["oid"] not in self.hub.lfs_store:  # already stored: no actions, the client skips the PUT
                entry["actions"] = {"upload": {"href": f"{self.hub.url}/__lfs/{obj['oid']}", "expires_in": 3600}}
            objects.append(entry)
        self._send(200, {"transfer": "basic", "objects": objects, "hash_algo": "sha256"})

    def _lfs_put(self, oid: str, body: bytes) -> None:
        if status := self.hub._should_fail("lfs_put"):
            return self._error(status, "injected upload failure")
        if hashlib.sha256(body).hexdigest() != oid:
            return self._error(400, "sha256 mismatch")
        self.hub.lfs_store[oid] = body
        self._send(200, b"")

    def _commit(self, repo: Repo, rev: str, body: bytes) -> None:
        if status := self.hub._should_fail("commit"):
            return self._error(status, "injected commit failure")
        if rev != "main":
            return self._error(404, f"Revision {rev} not found", "RevisionNotFound")
        files = dict(repo.snapshot("main"))
        lines = [json.loads(line) for line in body.splitlines() if line.strip()]
        header = lines[0]["value"] if lines and lines[0]["key"] == "header" else {}
        for op in lines[1:]:
            value = op["value"]
            if op["key"] == "file":
                files[value["path"]] = StoredFile(base64.b64decode(value["content"]), lfs=False)
            elif op["key"] == "lfsFile":
                data = self.hub.lfs_store.get(value["oid"])
                if data is None:
                    return self._error(422, f"LFS object {value['oid']} was never uploaded")
                files[value["path"]] = StoredFile(data, lfs=True)
            elif op["key"] == "deletedFile":
                files.pop(value["path"], None)
            elif op["key"] == "deletedFolder":
                files = {p: f for p, f in files.items() if not p.startswith(value["path"].rstrip("/") + "/")}
        sha = hashlib.sha1(f"{repo.head}{header.get('summary')}{time.time()}{len(body)}".encode()).hexdigest()
        repo.commits.append((sha, files))
        self._send(200, {"commitUrl": f"{self.hub.url}/{repo.repo_id}/commit/{sha}", "commitOid": sha})

    def _tree(self, repo: Repo, rev: str, arg: tuple[str | None, dict[str, list[str]]]) -> None:
        sub, query = arg
        files = repo.snapshot(rev)
        if files is None:
            return self._error(404, f"Revision {rev} not found", "RevisionNotFound")
        recursive = query.get("recursive", ["False"])[0].lower() == "true"
        prefix = f"{sub.strip('/')}/" if sub else ""
        entries, folders = [], set()
        for path in sorted(files):
            if not path.startswith(prefix):
                continue
            rest = path[len(prefix) :]
            if "/" in rest:
                parts = rest.split("/")
                depth = range(1, len(parts)) if recursive else range(1, 2)
                folders.update(prefix + "/".join(parts[:i]) for i in depth)
                if not recursive:
                    continue
            entries.append(files[path].entry(path))
        entries += [{"type": "directory", "path": f, "oid": git_blob_sha1(f.encode()), "size": 0} for f in folders]
        self._send(200, entries)

    def _paths_info(self, repo: Repo, rev: str, form: dict[str, Any]) -> None:
        files = repo.snapshot(rev) or {}
        paths = form.get("paths") or []
        self._send(200, [files[p].entry(p) for p in paths if p in files])

    def _model_info(self, repo_id: str, rev: str) -> None:
        repo = self.hub.repos.get(repo_id)
        if repo is None:
            return self._error(404, "Repository not found", "RepoNotFound")
        files = repo.snapshot(rev)
        if files is None:
            return self._error(404, f"Revision {rev} not found", "RevisionNotFound")
        siblings = []
        for path, stored in sorted(files.items()):
            entry = stored.entry(path)
            sibling = {"rfilename": path, "size": entry["size"], "blobId": entry["oid"]}
            if "lfs" in entry:
                sibling["lfs"] = {"sha256": entry["lfs"]["oid"], "size": entry["size"], "pointerSize": 130}
            siblings.append(sibling)
        card = {}
        if "README.md" in files:
            match = re.match(r"^---\s*\n(.*?)\n---", files["README.md"].data.decode(), re.DOTALL)
            card = (yaml.safe_load(match.group(1)) if match else None) or {}
        sha = repo.head if rev == "main" else rev
        self._send(200, {"id": repo_id, "sha": sha, "private": repo.private, "siblings": siblings, "cardData": card})

    def _resolve(self, repo_id: str, rev: str, path: str, head: bool) -> None:
        repo = self.hub.repos.get(repo_id)
        if repo is None:
            return self._error(404, "Repository not found", "RepoNotFound", head)
        files = repo.snapshot(rev)
        if files is None:
            return self._error(404, f"Revision {rev} not found", "RevisionNotFound", head)
        stored = files.get(path)
        sha = repo.head if rev == "main" else rev
        if stored is None:
            return self._error(404, f"Entry {path} not found", "EntryNotFound", head)
        etag = f'"{stored.etag}"'
        headers = {"X-Repo-Commit": sha, "ETag": etag, "X-Linked-Etag": etag, "X-Linked-Size": str(len(stored.data))}
        self._send(200, stored.data, headers, head)


@pytest.fixture(name="hub")
def hub_fixture(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory):
    """A running HubServer with the real huggingface_hub client pointed at it.

    huggingface_hub reads HF_ENDPOINT / HF_HUB_DISABLE_XET / HF_HUB_OFFLINE into `constants` at import time,
    and an earlier test module may already have imported it (the port is only known now anyway), so the env
    vars are set *and* the constants, which the client reads at call time as `constants.X`, are patched.
    """
    from huggingface_hub import constants, hf_api

    server = HubServer().start()
    cache = tmp_path_factory.mktemp("hf_cache")
    for key, value in {
        "HF_ENDPOINT": server.url,
        "HF_TOKEN": DUMMY_TOKEN,
        "HF_HUB_DISABLE_XET": "1",
        "HF_HUB_OFFLINE": "0",
        "TRANSFORMERS_OFFLINE": "0",
        "HF_HUB_DISABLE_TELEMETRY": "1",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(constants, "ENDPOINT", server.url)
    monkeypatch.setattr(
        constants, "HUGGINGFACE_CO_URL_TEMPLATE", server.url + "/{repo_id}/resolve/{revision}/{filename}"
    )
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    # Module-level helpers (`huggingface_hub.file_exists`, used by peft) go through one HfApi made at import.
    monkeypatch.setattr(hf_api.api, "endpoint", server.url)
    yield server
    server.stop()


def sample_report(output_dir: Path, teacher_ref: str = "prajjwal1/bert-tiny", stage_types=("distill",)) -> dict:
    """A hand-made report.json for OUTPUT/<stage> folders (teacher in OUTPUT/finetune); secrets in the
    recipe's hub section must never reach an uploaded file."""
    stages = [{"type": t, "temperature": 2.0} if t == "distill" else {"type": t} for t in stage_types]
    models = [
        {
            "name": "teacher",
            "role": "teacher",
            "stage_type": "finetune",
            "path": str(output_dir / "finetune"),
            "metrics": {"accuracy": 0.80, "f1": 0.79},
            "params": 1000,
            "size_mb": 4.0,
            "latency_ms": {"b1": 2.0, "b32": 40.0},
            "info": {},
        }
    ]
    for i, t in enumerate(stage_types):
        models.append(
            {
                "name": t,
                "role": "stage",
                "stage_type": t,
                "input": stage_types[i - 1] if i else "teacher",
                "path": str(output_dir / t),
                "metrics": {"accuracy": 0.78 - 0.01 * i, "eval_runtime": 1.5},
                "params": 500,
                "size_mb": 2.0 / (i + 1),
                "latency_ms": {"b1_p50": 1.0, "b1_p95": 1.4, "b32": 20.0 / (i + 1)},
                "info": {"runtime": "pytorch"},
            }
        )
    return {
        "recipe": {
            "name": "tiny-test",
            "task": "sequence-classification",
            "data": {"path": "rotten_tomatoes", "name": None},
            "teacher": {"model": teacher_ref},
            "stages": stages,
            "hub": {"repo_id": "tester/tiny", "license": "apache-2.0", "token": RECIPE_SECRET},
        },
        "task": "sequence-classification",
        "main_metric": "accuracy",
        "environment": {"torch": "2.x", "transformers": "5.x", "device": "cpu", "threads": 2},
        "models": models,
    }

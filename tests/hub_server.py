"""A small Hugging Face Hub-compatible HTTP server for tests.

The real ``huggingface_hub`` client and ``datasets`` talk to it over HTTP on 127.0.0.1, so tests exercise the
same routes, payloads, headers and error codes as against huggingface.co, without network access.
Standard library only.

Storage model: every repo has branches and tags pointing at commits; a commit is an immutable snapshot
``{path: entry}`` plus parent, message, author and date. File contents live once on disk, addressed by sha256.
An entry records the file's size, whether it is stored through LFS, and its git ``oid`` (the git blob sha1 of the
content for regular files, of the LFS pointer for LFS files), as the Hub reports them.

One lock guards all state; each request is dispatched while holding it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import re
import secrets
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import parse_qs, unquote, urlsplit

logger = logging.getLogger(__name__)

PLURAL_TO_TYPE = {"models": "model", "datasets": "dataset", "spaces": "space"}
URL_PREFIXES = {"model": "", "dataset": "datasets/", "space": "spaces/"}

# Like the Hub: big files, binary files and the usual binary formats go through LFS.
LFS_SIZE_THRESHOLD = 10 * 1024 * 1024
LFS_SUFFIXES = (
    ".7z", ".arrow", ".bin", ".bz2", ".ckpt", ".gguf", ".gz", ".h5", ".joblib", ".msgpack", ".npy", ".npz",
    ".onnx", ".parquet", ".pb", ".pickle", ".pkl", ".pt", ".pth", ".safetensors", ".tar", ".tflite", ".xz",
    ".zip", ".zst",
)
GITATTRIBUTES = "".join(f"*{suffix} filter=lfs diff=lfs merge=lfs -text\n" for suffix in LFS_SUFFIXES)
MAIN = "main"
_SHA1_RE = re.compile(r"^[0-9a-f]{40}$")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class HubError(Exception):
    """An HTTP error answered the way the Hub does: JSON body plus X-Error-Code / X-Error-Message headers."""

    def __init__(self, status: int, message: str, code: str | None = None, headers: dict | None = None, **extra):
        super().__init__(message)
        self.status, self.message, self.code = status, message, code
        self.headers = dict(headers or {})
        self.extra = extra  # more JSON body fields


@dataclass
class Response:
    status: int = 200
    body: Any = None  # dict/list -> JSON, bytes -> raw
    headers: dict = field(default_factory=dict)


@dataclass
class Request:
    method: str
    path: str
    segs: list[str]
    query: dict[str, list[str]]
    headers: Any
    body: bytes

    def param(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def flag(self, name: str) -> bool:
        return (self.param(name) or "").lower() in ("1", "true", "yes")

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"{}")
        except ValueError as err:
            raise HubError(400, f"Invalid JSON body: {err}") from None


@dataclass
class Identity:
    token: str
    name: str
    orgs: tuple[str, ...]
    write: bool

    @property
    def namespaces(self) -> set[str]:
        return {self.name, *self.orgs}


@dataclass
class FailRule:
    remaining: int
    status: int
    methods: set[str]
    path_contains: str
    after: bool = False  # the request is carried out, then its answer is replaced by the error (a lost answer)


# --------------------------------------------------------------------------------------------- helpers


def git_blob_sha1(data: bytes) -> str:
    """The git object id of a blob, as the Hub reports for regular files."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def lfs_pointer(sha256: str, size: int) -> bytes:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


def now_iso() -> str:
    """Dates in the one format huggingface_hub's parse_datetime accepts."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def looks_binary(sample: bytes, total_size: int) -> bool:
    """Binary if the sample has NUL bytes or is not UTF-8 (a multi-byte char cut at the sample end is fine)."""
    if b"\0" in sample:
        return True
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as err:
        cut_at_end = err.start >= len(sample) - 3 and total_size > len(sample)
        return not cut_at_end
    return False


def upload_mode(path: str, size: int, sample: bytes) -> str:
    """The Hub's rule of thumb for choosing between a regular git blob and LFS."""
    if size == 0:
        return "regular"
    if size > LFS_SIZE_THRESHOLD or path.lower().endswith(LFS_SUFFIXES) or looks_binary(sample, size):
        return "lfs"
    return "regular"


def validate_repo_path(path: Any) -> str:
    if not isinstance(path, str) or not path or path.startswith("/") or path.endswith("/"):
        raise HubError(400, f"Invalid path: {path!r}")
    parts = path.split("/")
    if any(part in ("", ".", "..") for part in parts) or parts[0] == ".git":
        raise HubError(400, f"Invalid path: {path!r}")
    return path


def normalize_repo_type(repo_type: str | None) -> str:
    repo_type = repo_type or "model"
    repo_type = PLURAL_TO_TYPE.get(repo_type, repo_type)
    if repo_type not in URL_PREFIXES:
        raise ValueError(f"Unknown repo type {repo_type!r}")
    return repo_type


def repo_not_found(identity: Identity | None) -> HubError:
    """Like the Hub: anonymous callers get 401, authenticated ones 404; both carry RepoNotFound."""
    status = 401 if identity is None else 404
    return HubError(status, "Repository not found", code="RepoNotFound")


def revision_not_found(rev: str) -> HubError:
    return HubError(404, f"Invalid rev id: {rev}", code="RevisionNotFound")


# --------------------------------------------------------------------------------------------- server


class HubServer:
    """In-process Hub lookalike. ``start()`` serves on 127.0.0.1 in a daemon thread; ``url`` is then set."""

    def __init__(self, root: Path, port: int = 0):
        self.root = Path(root)
        self.port = port
        self.url: str | None = None
        self.requests: list[tuple[str, str]] = []
        self.unknown_routes: list[tuple[str, str]] = []
        self.injected_failures = 0
        self._lock = threading.RLock()
        self._tokens: dict[str, Identity] = {}
        self._repos: dict[tuple[str, str], dict] = {}
        self._failures: list[FailRule] = []
        self._pending_uploads: dict[str, str] = {}  # upload token -> sha256
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        (self.root / "blobs").mkdir(parents=True, exist_ok=True)
        self._load_state()

    # ---------------------------------------------------------------- public API for tests

    def start(self) -> "HubServer":
        self._httpd = ThreadingHTTPServer(("127.0.0.1", self.port), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.hub = self  # type: ignore[attr-defined]
        self.port = self._httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="hub-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def add_user(self, name: str, token: str, orgs: Iterable[str] = ()) -> None:
        """The token may write to the user's namespace and to each org."""
        with self._lock:
            self._tokens[token] = Identity(token=token, name=name, orgs=tuple(orgs), write=True)

    def add_read_only_token(self, token: str) -> None:
        """A valid token with no write rights anywhere (and no access to private repos)."""
        with self._lock:
            self._tokens[token] = Identity(token=token, name=f"reader-{len(self._tokens)}", orgs=(), write=False)

    def set_gated(self, repo_type: str, repo_id: str, allowed_tokens: Iterable[str] = ()) -> None:
        """File downloads then need one of `allowed_tokens` (or write rights on the repo), else GatedRepo."""
        with self._lock:
            repo = self._repo_or_raise(repo_type, repo_id)
            repo["gated"] = "auto"
            repo["allowed_tokens"] = sorted(set(allowed_tokens))
            self._save_state()

    def fail_next(self, n: int, status: int = 503, methods=("POST", "PUT"), path_contains: str = "",
                  lose_answer: bool = False) -> None:
        """Answer the next `n` matching requests with `status` (transient failures for retry tests). With
        `lose_answer`, each request is carried out first and only its answer is lost (a gateway timeout after the
        commit landed): the client sees the error, the server keeps what the request did."""
        with self._lock:
            self._failures.append(FailRule(n, status, {m.upper() for m in methods}, path_contains, lose_answer))

    def clear_failures(self) -> None:
        """Stop injecting failures (ends an outage that `fail_next` started)."""
        with self._lock:
            self._failures.clear()

    def has_object(self, sha256: str) -> bool:
        """Whether LFS storage holds this object (an upload reached the server)."""
        with self._lock:
            return self._has_blob(sha256)

    def commits(self, repo_type: str, repo_id: str, branch: str = MAIN) -> list[str]:
        """Commit shas reachable from `branch`, newest first."""
        with self._lock:
            repo = self._repo_or_raise(repo_type, repo_id)
            head = repo["branches"].get(branch)
            if head is None:
                raise KeyError(f"No branch {branch!r} in {repo_type} {repo_id}")
            return [sha for sha, _ in self._history(repo, head)]

    # ---------------------------------------------------------------- persistence

    def _state_path(self) -> Path:
        return self.root / "state.json"

    def _load_state(self) -> None:
        path = self._state_path()
        if path.exists():
            data = json.loads(path.read_text())
            self._repos = {(r["type"], r["id"]): r for r in data["repos"]}

    def _save_state(self) -> None:
        tmp = self._state_path().with_suffix(".tmp")
        tmp.write_text(json.dumps({"repos": list(self._repos.values())}))
        os.replace(tmp, self._state_path())

    def _blob_path(self, sha256: str) -> Path:
        return self.root / "blobs" / sha256[:2] / sha256

    def _store_blob(self, data: bytes) -> str:
        sha256 = hashlib.sha256(data).hexdigest()
        path = self._blob_path(sha256)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f"{sha256}.{secrets.token_hex(4)}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, path)
        return sha256

    def _has_blob(self, sha256: str) -> bool:
        return bool(_SHA256_RE.match(sha256)) and self._blob_path(sha256).exists()

    def _read_blob(self, sha256: str) -> bytes:
        return self._blob_path(sha256).read_bytes()

    # ---------------------------------------------------------------- request entry point

    def handle(self, method: str, raw_path: str, headers, body: bytes) -> Response:
        """Log, maybe inject a failure, then dispatch. Never raises."""
        split = urlsplit(raw_path)
        with self._lock:
            self.requests.append((method, split.path))
            injected = self._take_failure(method, split.path, after=False)
            if injected is not None:
                return self._error_response(HubError(injected, f"Injected failure ({injected})"))
            req = Request(
                method=method,
                path=split.path,
                segs=[unquote(s) for s in split.path.strip("/").split("/")] if split.path.strip("/") else [],
                query=parse_qs(split.query, keep_blank_values=True),
                headers=headers,
                body=body,
            )
            try:
                response = self._dispatch(req)
            except HubError as err:
                return self._error_response(err)
            except Exception as err:  # a bug here should show up as a 500, not a hung client
                logger.exception("hub server error on %s %s", method, raw_path)
                return self._error_response(HubError(500, f"Internal error: {err!r}"))
            lost = self._take_failure(method, split.path, after=True) if response.status < 400 else None
            if lost is not None:
                return self._error_response(HubError(lost, f"Injected failure after the request was done ({lost})"))
            return response

    def _take_failure(self, method: str, path: str, after: bool) -> int | None:
        for rule in self._failures:
            if (rule.remaining > 0 and rule.after == after and method in rule.methods
                    and rule.path_contains in path):
                rule.remaining -= 1
                self.injected_failures += 1
                return rule.status
        return None

    @staticmethod
    def _error_response(err: HubError) -> Response:
        one_line = " ".join(err.message.split()).encode("ascii", "replace").decode()
        headers = {"X-Error-Message": one_line, **err.headers}
        if err.code:
            headers["X-Error-Code"] = err.code
        return Response(err.status, {"error": err.message, **err.extra}, headers)

    # ---------------------------------------------------------------- routing

    def _dispatch(self, req: Request) -> Response:
        s, m = req.segs, req.method
        if s[:1] == ["api"]:
            return self._dispatch_api(req, s[1:])
        if s[-4:] == ["info", "lfs", "objects", "batch"] and m == "POST":
            repo_type, repo_id = self._split_repo_prefix(s[:-4], git_suffix=True)
            return self._lfs_batch(req, repo_type, repo_id)
        if len(s) == 2 and s[0] == "_lfs-upload" and m == "PUT":
            return self._lfs_put(req, s[1])
        resolved = self._match_resolve(s)
        if resolved is not None and m in ("GET", "HEAD"):
            return self._resolve_file(req, *resolved)
        return self._unknown(req)

    def _dispatch_api(self, req: Request, s: list[str]) -> Response:
        m = req.method
        simple = {
            ("GET", ("whoami-v2",)): self._whoami,
            ("POST", ("repos", "create")): self._create_repo,
            ("DELETE", ("repos", "delete")): self._delete_repo,
            ("POST", ("validate-yaml",)): self._validate_yaml,
            ("GET", ("agent-harnesses",)): self._agent_harnesses,
        }
        if (m, tuple(s)) in simple:
            return simple[(m, tuple(s))](req)
        if len(s) < 3 or s[0] not in PLURAL_TO_TYPE:
            return self._unknown(req)
        repo_type, repo_id, rest = PLURAL_TO_TYPE[s[0]], f"{s[1]}/{s[2]}", s[3:]
        key = (m, rest[0] if rest else "")
        if key == ("GET", "") and not rest:
            return self._repo_info(req, repo_type, repo_id, None)
        if key == ("GET", "revision") and len(rest) == 2:
            return self._repo_info(req, repo_type, repo_id, rest[1])
        if key == ("GET", "refs") and len(rest) == 1:
            return self._list_refs(req, repo_type, repo_id)
        if key == ("GET", "commits") and len(rest) == 2:
            return self._list_commits(req, repo_type, repo_id, rest[1])
        if key == ("GET", "tree") and len(rest) >= 2:
            return self._list_tree(req, repo_type, repo_id, rest[1], "/".join(rest[2:]).strip("/"))
        if key == ("POST", "paths-info") and len(rest) == 2:
            return self._paths_info(req, repo_type, repo_id, rest[1])
        if key == ("POST", "preupload") and len(rest) == 2:
            return self._preupload(req, repo_type, repo_id, rest[1])
        if key == ("POST", "commit") and len(rest) == 2:
            return self._commit(req, repo_type, repo_id, rest[1])
        if key == ("POST", "tag") and len(rest) == 2:
            return self._create_tag(req, repo_type, repo_id, rest[1])
        if key == ("DELETE", "tag") and len(rest) == 2:
            return self._delete_tag(req, repo_type, repo_id, rest[1])
        if key == ("POST", "branch") and len(rest) == 2:
            return self._create_branch(req, repo_type, repo_id, rest[1])
        if key == ("DELETE", "branch") and len(rest) == 2:
            return self._delete_branch(req, repo_type, repo_id, rest[1])
        if key == ("PUT", "settings") and len(rest) == 1:
            return self._update_settings(req, repo_type, repo_id)
        if key == ("GET", "discussions") and len(rest) == 1:
            return self._list_discussions(req, repo_type, repo_id)
        if key == ("GET", "discussions") and len(rest) == 2:
            return self._discussion_details(req, repo_type, repo_id, rest[1])
        return self._unknown(req)

    def _unknown(self, req: Request) -> Response:
        """Unimplemented routes are logged so a test run shows what the clients wanted."""
        self.unknown_routes.append((req.method, req.path))
        logger.warning("hub server: unknown route %s %s", req.method, req.path)
        return self._error_response(HubError(404, f"Unknown route {req.method} {req.path}"))

    @staticmethod
    def _split_repo_prefix(segs: list[str], git_suffix: bool = False) -> tuple[str, str]:
        """['datasets', ns, name] -> ('dataset', 'ns/name'); [ns, name] -> ('model', 'ns/name')."""
        if len(segs) == 3 and segs[0] in ("datasets", "spaces"):
            repo_type, segs = PLURAL_TO_TYPE[segs[0]], segs[1:]
        elif len(segs) == 2:
            repo_type = "model"
        else:
            raise HubError(404, "Repository not found", code="RepoNotFound")
        name = segs[1][: -len(".git")] if git_suffix and segs[1].endswith(".git") else segs[1]
        return repo_type, f"{segs[0]}/{name}"

    @staticmethod
    def _match_resolve(s: list[str]) -> tuple[str, str, str, str] | None:
        """Match /{prefix}{ns}/{name}/resolve/{rev}/{path} -> (repo_type, repo_id, rev, path)."""
        offset = 1 if s[:1] in (["datasets"], ["spaces"]) else 0
        if len(s) >= offset + 5 and s[offset + 2] == "resolve":
            repo_type = PLURAL_TO_TYPE[s[0]] if offset else "model"
            return repo_type, f"{s[offset]}/{s[offset + 1]}", s[offset + 3], "/".join(s[offset + 4 :])
        return None

    # ---------------------------------------------------------------- auth and lookups

    def _identity(self, req: Request) -> Identity | None:
        auth = req.headers.get("Authorization") or ""
        if not auth.lower().startswith("bearer "):
            return None
        token = auth[len("bearer ") :].strip()
        if not token:
            return None
        identity = self._tokens.get(token)
        if identity is None:
            # This exact message makes huggingface_hub report a plain 401 instead of RepositoryNotFound.
            raise HubError(401, "Invalid credentials in Authorization header")
        return identity

    def _repo_or_raise(self, repo_type: str, repo_id: str) -> dict:
        repo = self._repos.get((normalize_repo_type(repo_type), repo_id))
        if repo is None:
            raise KeyError(f"No {repo_type} repo {repo_id!r}")
        return repo

    def _readable_repo(self, req: Request, repo_type: str, repo_id: str) -> tuple[dict, Identity | None]:
        identity = self._identity(req)
        repo = self._repos.get((repo_type, repo_id))
        if repo is None:
            raise repo_not_found(identity)
        if repo["private"] and not (identity and repo_id.split("/")[0] in identity.namespaces):
            raise repo_not_found(identity)
        return repo, identity

    def _writable_repo(self, req: Request, repo_type: str, repo_id: str) -> tuple[dict, Identity]:
        identity = self._require_identity(req)
        repo, _ = self._readable_repo(req, repo_type, repo_id)
        self._require_write(identity, repo_id.split("/")[0])
        return repo, identity

    def _require_identity(self, req: Request) -> Identity:
        identity = self._identity(req)
        if identity is None:
            raise HubError(401, "You must be authenticated to perform this action")
        return identity

    @staticmethod
    def _require_write(identity: Identity, namespace: str) -> None:
        if not identity.write or namespace not in identity.namespaces:
            raise HubError(403, f"You don't have the rights to write to the namespace '{namespace}'")

    def _check_gate(self, repo: dict, identity: Identity | None) -> None:
        """The Hub gates file contents only; metadata and listings stay visible."""
        if not repo.get("gated"):
            return
        if identity and (identity.token in repo.get("allowed_tokens", []) or (
            identity.write and repo["id"].split("/")[0] in identity.namespaces
        )):
            return
        status = 401 if identity is None else 403
        raise HubError(status, f"Access to {repo['id']} is restricted. You must have access to it.", code="GatedRepo")

    def _resolve_rev(self, repo: dict, rev: str) -> str:
        """Branch, tag, pull request (refs/pr/N), full sha, or a unique sha prefix of at least 7 characters."""
        pr = re.fullmatch(r"refs/pr/(\d+)", rev)
        if pr and pr[1] in repo.get("prs", {}):
            return repo["prs"][pr[1]]["sha"]
        for prefix, refs in (("refs/heads/", repo["branches"]), ("refs/tags/", repo["tags"])):
            name = rev[len(prefix) :] if rev.startswith(prefix) else rev
            if name in refs:
                return refs[name]
        if _SHA1_RE.match(rev) and rev in repo["commits"]:
            return rev
        if re.fullmatch(r"[0-9a-f]{7,39}", rev):
            matches = [sha for sha in repo["commits"] if sha.startswith(rev)]
            if len(matches) == 1:
                return matches[0]
        raise revision_not_found(rev)

    def _history(self, repo: dict, sha: str) -> Iterable[tuple[str, dict]]:
        while sha is not None:
            commit = repo["commits"][sha]
            yield sha, commit
            sha = commit["parent"]

    # ---------------------------------------------------------------- tree helpers

    @staticmethod
    def _dir_oid(files: dict, directory: str) -> str | None:
        prefix = directory + "/" if directory else ""
        listing = sorted((p, e["oid"]) for p, e in files.items() if p.startswith(prefix))
        if not listing:
            return None
        return hashlib.sha1(json.dumps(listing).encode()).hexdigest()

    @staticmethod
    def _directories(files: dict) -> set[str]:
        dirs = set()
        for path in files:
            parts = path.split("/")[:-1]
            dirs.update("/".join(parts[: i + 1]) for i in range(len(parts)))
        return dirs

    def _last_commit(self, repo: dict, sha: str, path: str, is_dir: bool) -> dict:
        """The newest commit (from `sha` back) that changed `path`, shaped like the Hub's `lastCommit`."""

        def signature(files: dict):
            return self._dir_oid(files, path) if is_dir else (files.get(path) or {}).get("oid")

        found_sha, found = sha, repo["commits"][sha]
        for csha, commit in self._history(repo, sha):
            parent = commit["parent"]
            found_sha, found = csha, commit
            if parent is None or signature(commit["files"]) != signature(repo["commits"][parent]["files"]):
                break
        return {"id": found_sha, "title": found["title"], "date": found["date"]}

    def _file_entry_json(self, repo, sha, path, entry, expand) -> dict:
        out = {"type": "file", "oid": entry["oid"], "size": entry["size"], "path": path}
        if entry["lfs"]:
            pointer = lfs_pointer(entry["sha256"], entry["size"])
            out["lfs"] = {"oid": entry["sha256"], "size": entry["size"], "pointerSize": len(pointer)}
        if expand:
            out["lastCommit"] = self._last_commit(repo, sha, path, is_dir=False)
        return out

    def _dir_entry_json(self, repo, sha, files, path, expand) -> dict:
        out = {"type": "directory", "oid": self._dir_oid(files, path), "size": 0, "path": path}
        if expand:
            out["lastCommit"] = self._last_commit(repo, sha, path, is_dir=True)
        return out

    # ---------------------------------------------------------------- routes: account and repos

    def _whoami(self, req: Request) -> Response:
        identity = self._identity(req)
        if identity is None:
            raise HubError(401, "Invalid username or password.")
        role = "write" if identity.write else "read"
        return Response(
            body={
                "type": "user",
                "id": hashlib.sha1(identity.name.encode()).hexdigest()[:24],
                "name": identity.name,
                "fullname": identity.name,
                "orgs": [{"type": "org", "name": org, "roleInOrg": "write"} for org in identity.orgs],
                "auth": {"type": "access_token", "accessToken": {"displayName": "test-token", "role": role}},
            }
        )

    def _create_repo(self, req: Request) -> Response:
        identity = self._require_identity(req)
        payload = req.json()
        repo_type = payload.get("type") or "model"
        if repo_type not in URL_PREFIXES:
            raise HubError(400, f"Invalid repo type {repo_type!r}")
        name, namespace = payload.get("name"), payload.get("organization") or identity.name
        if not isinstance(name, str) or not _NAME_RE.match(name) or not _NAME_RE.match(namespace):
            raise HubError(400, f"Invalid repo name {namespace}/{name}")
        self._require_write(identity, namespace)
        repo_id = f"{namespace}/{name}"
        url = f"{self.url}/{URL_PREFIXES[repo_type]}{repo_id}"
        if (repo_type, repo_id) in self._repos:
            # create_repo(exist_ok=True) reads `url` from this 409 body.
            raise HubError(409, f"You already created this {repo_type} repo: {repo_id}", url=url)
        private = payload.get("private")
        if payload.get("visibility") is not None:
            private = payload["visibility"] != "public"
        repo = {
            "type": repo_type, "id": repo_id, "private": bool(private), "gated": False, "allowed_tokens": [],
            "sdk": payload.get("sdk"), "created_at": now_iso(), "branches": {}, "tags": {}, "commits": {},
        }
        initial = {".gitattributes": self._entry_for(GITATTRIBUTES.encode(), lfs=False)}
        repo["branches"][MAIN] = self._new_commit(repo, None, initial, "initial commit", "", identity.name)
        self._repos[(repo_type, repo_id)] = repo
        self._save_state()
        return Response(body={"url": url, "name": repo_id, "id": repo_id})

    def _delete_repo(self, req: Request) -> Response:
        identity = self._require_identity(req)
        payload = req.json()
        repo_type = payload.get("type") or "model"
        repo_id = f"{payload.get('organization') or identity.name}/{payload.get('name')}"
        self._writable_repo(req, repo_type, repo_id)
        del self._repos[(repo_type, repo_id)]
        self._save_state()
        return Response(body={})

    def _update_settings(self, req: Request, repo_type: str, repo_id: str) -> Response:
        repo, _ = self._writable_repo(req, repo_type, repo_id)
        payload = req.json()
        if "private" in payload:
            repo["private"] = bool(payload["private"])
        if "gated" in payload:
            repo["gated"] = payload["gated"] or False
        self._save_state()
        return Response(body={})

    def _agent_harnesses(self, req: Request) -> Response:
        """huggingface_hub fetches this registry to tag its user agent; an empty one detects nothing."""
        return Response(body={"standardEnvVars": [], "harnesses": {}})

    def _validate_yaml(self, req: Request) -> Response:
        """Only catches an unterminated front-matter block (no YAML parser in the stdlib)."""
        content = req.json().get("content") or ""
        lines = content.splitlines()
        if lines and lines[0].strip() == "---" and not any(line.strip() == "---" for line in lines[1:]):
            return Response(400, {"errors": [{"message": "Unterminated YAML front matter"}], "warnings": []})
        return Response(body={"errors": [], "warnings": []})

    # ---------------------------------------------------------------- routes: reads

    def _repo_info(self, req: Request, repo_type: str, repo_id: str, rev: str | None) -> Response:
        repo, _ = self._readable_repo(req, repo_type, repo_id)
        sha = self._resolve_rev(repo, rev or MAIN)
        commit = repo["commits"][sha]
        blobs = req.flag("blobs")
        siblings = []
        for path, entry in sorted(commit["files"].items()):
            sibling: dict = {"rfilename": path}
            if blobs:
                sibling.update(size=entry["size"], blobId=entry["oid"])
                if entry["lfs"]:
                    pointer_size = len(lfs_pointer(entry["sha256"], entry["size"]))
                    sibling["lfs"] = {"size": entry["size"], "sha256": entry["sha256"], "pointerSize": pointer_size}
            siblings.append(sibling)
        body = {
            "_id": hashlib.sha1(f"{repo_type}/{repo_id}".encode()).hexdigest()[:24],
            "id": repo_id,
            "author": repo_id.split("/")[0],
            "sha": sha,
            "private": repo["private"],
            "gated": repo.get("gated") or False,
            "disabled": False,
            "createdAt": repo["created_at"],
            "lastModified": commit["date"],
            "likes": 0,
            "downloads": 0,
            "tags": [],
            "siblings": siblings,
            "usedStorage": sum(e["size"] for e in commit["files"].values()),
        }
        if repo_type == "space":
            body["sdk"] = repo.get("sdk")
        return Response(body=body)

    def _list_refs(self, req: Request, repo_type: str, repo_id: str) -> Response:
        repo, _ = self._readable_repo(req, repo_type, repo_id)

        def refs(kind: str, mapping: dict) -> list:
            return [{"name": n, "ref": f"refs/{kind}/{n}", "targetCommit": sha} for n, sha in sorted(mapping.items())]

        body = {"branches": refs("heads", repo["branches"]), "converts": [], "tags": refs("tags", repo["tags"])}
        if req.param("include_prs"):
            body["pullRequests"] = [{"name": n, "ref": f"refs/pr/{n}", "targetCommit": pr["sha"]}
                                    for n, pr in sorted(repo.get("prs", {}).items(), key=lambda item: int(item[0]))]
        return Response(body=body)

    # Pull requests are the only discussions here: a commit with create_pr opens one (title: the commit summary;
    # description, its first comment: the commit description), as on the Hub.
    DISCUSSIONS_PER_PAGE = 50
    STATUS_FILTERS = {"open": ("open", "draft"), "closed": ("closed", "merged")}

    def _discussion_json(self, repo_type: str, repo_id: str, number: str, pr: dict) -> dict:
        return {"num": int(number), "title": pr["title"], "status": pr.get("status", "open"),
                "createdAt": pr.get("createdAt", now_iso()), "isPullRequest": True,
                "author": {"name": pr.get("author", "deleted")}, "repo": {"name": repo_id, "type": repo_type},
                "numComments": 1, "pinned": False}

    def _list_discussions(self, req: Request, repo_type: str, repo_id: str) -> Response:
        repo, _ = self._readable_repo(req, repo_type, repo_id)
        kind, status, author = req.param("type", "all"), req.param("status", "all"), req.param("author")
        if kind not in ("all", "discussion", "pull_request") or status not in ("all", "open", "closed"):
            raise HubError(400, f"Invalid filter type={kind!r} status={status!r}")
        found = [self._discussion_json(repo_type, repo_id, n, pr)
                 for n, pr in sorted(repo.get("prs", {}).items(), key=lambda item: -int(item[0]))]  # newest first
        found = [d for d in found if kind != "discussion"
                 and (status == "all" or d["status"] in self.STATUS_FILTERS[status])
                 and (author is None or d["author"]["name"] == author)]
        start = int(req.param("p", "0") or 0) * self.DISCUSSIONS_PER_PAGE
        page = found[start:start + self.DISCUSSIONS_PER_PAGE]
        return Response(body={"discussions": page, "count": len(found), "start": start,
                              "numClosedDiscussions": sum(d["status"] in ("closed", "merged") for d in found)})

    def _discussion_details(self, req: Request, repo_type: str, repo_id: str, number: str) -> Response:
        repo, _ = self._readable_repo(req, repo_type, repo_id)
        pr = repo.get("prs", {}).get(number)
        if pr is None:
            raise HubError(404, "Discussion not found")
        author = {"name": pr.get("author", "deleted")}
        created = pr.get("createdAt", now_iso())
        comment = {"id": f"{number}-comment", "type": "comment", "createdAt": created, "author": author,
                   "data": {"edited": False, "hidden": False, "numEdits": 0, "editors": [], "reactions": [],
                            "latest": {"raw": pr.get("description", ""), "html": "", "updatedAt": created}}}
        commit = {"id": f"{number}-commit", "type": "commit", "createdAt": created, "author": author,
                  "data": {"subject": pr["title"], "oid": pr["sha"]}}
        body = {**self._discussion_json(repo_type, repo_id, number, pr), "events": [comment, commit],
                "changes": {"base": f"refs/heads/{pr['base']}"}, "filesWithConflicts": [], "diff": ""}
        return Response(body=body)

    def _list_commits(self, req: Request, repo_type: str, repo_id: str, rev: str) -> Response:
        repo, _ = self._readable_repo(req, repo_type, repo_id)
        formatted = "formatted" in req.query.get("expand[]", [])
        out = []
        for sha, commit in self._history(repo, self._resolve_rev(repo, rev)):
            item = {
                "id": sha,
                "title": commit["title"],
                "message": commit["message"],
                "date": commit["date"],
                "authors": [{"user": commit["author"]}],
            }
            if formatted:
                item["formatted"] = {"title": commit["title"], "message": commit["message"]}
            out.append(item)
        return Response(body=out)

    def _list_tree(self, req: Request, repo_type: str, repo_id: str, rev: str, path: str) -> Response:
        repo, _ = self._readable_repo(req, repo_type, repo_id)
        sha = self._resolve_rev(repo, rev)
        files = repo["commits"][sha]["files"]
        dirs = self._directories(files)
        if path and path not in dirs:
            raise HubError(404, f"Path {path} not found (or not a directory)", code="EntryNotFound")
        recursive, expand = req.flag("recursive"), req.flag("expand")
        prefix = path + "/" if path else ""

        def wanted(p: str) -> bool:
            return p.startswith(prefix) and (recursive or "/" not in p[len(prefix) :])

        out = [self._dir_entry_json(repo, sha, files, d, expand) for d in sorted(dirs) if wanted(d)]
        out += [self._file_entry_json(repo, sha, p, e, expand) for p, e in sorted(files.items()) if wanted(p)]
        return Response(body=out)

    def _paths_info(self, req: Request, repo_type: str, repo_id: str, rev: str) -> Response:
        repo, _ = self._readable_repo(req, repo_type, repo_id)
        sha = self._resolve_rev(repo, rev)
        files = repo["commits"][sha]["files"]
        content_type = req.headers.get("Content-Type") or ""
        if "json" in content_type:
            payload = req.json()
            paths, expand = payload.get("paths") or [], bool(payload.get("expand"))
        else:
            form = parse_qs(req.body.decode(), keep_blank_values=True)
            paths, expand = form.get("paths", []), (form.get("expand") or [""])[0].lower() in ("1", "true")
        dirs = self._directories(files)
        out = []
        for path in paths:
            path = path.strip("/")
            if path in files:
                out.append(self._file_entry_json(repo, sha, path, files[path], expand))
            elif path in dirs:
                out.append(self._dir_entry_json(repo, sha, files, path, expand))
        return Response(body=out)

    def _resolve_file(self, req: Request, repo_type: str, repo_id: str, rev: str, path: str) -> Response:
        repo, identity = self._readable_repo(req, repo_type, repo_id)
        self._check_gate(repo, identity)
        sha = self._resolve_rev(repo, rev)
        entry = repo["commits"][sha]["files"].get(path)
        if entry is None:
            # X-Repo-Commit lets the client cache the file's absence for this commit.
            raise HubError(404, f"Entry not found: {path}", code="EntryNotFound", headers={"X-Repo-Commit": sha})
        data = self._read_blob(entry["sha256"])
        headers = {
            "X-Repo-Commit": sha,
            "ETag": f'"{entry["oid"]}"',
            "Accept-Ranges": "bytes",
            "Content-Type": "application/octet-stream",
        }
        if entry["lfs"]:
            headers["X-Linked-Etag"] = f'"{entry["sha256"]}"'
            headers["X-Linked-Size"] = str(entry["size"])
        byte_range = req.headers.get("Range")
        if not byte_range:
            return Response(200, data, headers)
        start, end = self._parse_range(byte_range, len(data))
        headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
        return Response(206, data[start : end + 1], headers)

    @staticmethod
    def _parse_range(header: str, size: int) -> tuple[int, int]:
        """Single 'bytes=a-b', 'bytes=a-' or 'bytes=-n' range, inclusive; 416 when unsatisfiable."""
        unsatisfiable = HubError(416, "Range not satisfiable", headers={"Content-Range": f"bytes */{size}"})
        match = re.fullmatch(r"\s*bytes=(\d*)-(\d*)\s*", header)
        if not match or match.groups() == ("", ""):
            raise unsatisfiable
        first, last = match.groups()
        if first == "":
            start, end = max(size - int(last), 0), size - 1
        else:
            start = int(first)
            end = min(int(last), size - 1) if last else size - 1
        if start >= size or start > end:
            raise unsatisfiable
        return start, end

    # ---------------------------------------------------------------- routes: writes

    def _preupload(self, req: Request, repo_type: str, repo_id: str, rev: str) -> Response:
        repo, _ = self._writable_repo(req, repo_type, repo_id)
        sha = self._resolve_rev(repo, rev)
        files = repo["commits"][sha]["files"]
        out = []
        for item in req.json().get("files") or []:
            path = validate_repo_path(item.get("path"))
            sample = base64.b64decode(item.get("sample") or "")
            existing = files.get(path)
            # The client compares this oid with its own: sha256 for LFS files, git sha1 otherwise.
            oid = None if existing is None else (existing["sha256"] if existing["lfs"] else existing["oid"])
            mode = upload_mode(path, int(item.get("size") or 0), sample)
            out.append({"path": path, "uploadMode": mode, "shouldIgnore": False, "oid": oid})
        return Response(body={"files": out, "commitOid": sha})

    def _lfs_batch(self, req: Request, repo_type: str, repo_id: str) -> Response:
        self._writable_repo(req, repo_type, repo_id)
        payload = req.json()
        if payload.get("operation") != "upload":
            raise HubError(400, "Only the upload operation is supported")
        objects = []
        for obj in payload.get("objects") or []:
            oid, size = obj.get("oid"), obj.get("size")
            item = {"oid": oid, "size": size}
            if not isinstance(oid, str) or not _SHA256_RE.match(oid) or not isinstance(size, int):
                item = {"oid": str(oid), "size": size if isinstance(size, int) else 0}
                item["error"] = {"code": 422, "message": "Invalid oid or size"}
            elif self._has_blob(oid):
                if self._blob_path(oid).stat().st_size != size:
                    item["error"] = {"code": 422, "message": "Size does not match the stored object"}
                # else: no "actions" => the client skips the upload
            else:
                upload_token = secrets.token_urlsafe(16)
                self._pending_uploads[upload_token] = oid
                item["authenticated"] = True
                item["actions"] = {"upload": {"href": f"{self.url}/_lfs-upload/{oid}?upload_token={upload_token}"}}
            objects.append(item)
        return Response(
            body={"transfer": "basic", "objects": objects, "hash_algo": "sha256"},
            headers={"Content-Type": "application/vnd.git-lfs+json"},
        )

    def _lfs_put(self, req: Request, oid: str) -> Response:
        """The pre-signed upload URL handed out by the batch endpoint (no auth header, like S3)."""
        upload_token = req.param("upload_token") or ""
        if self._pending_uploads.get(upload_token) != oid:
            raise HubError(403, "Invalid or expired upload URL")
        if hashlib.sha256(req.body).hexdigest() != oid:
            raise HubError(400, "Uploaded content does not match its sha256")
        self._store_blob(req.body)
        del self._pending_uploads[upload_token]
        return Response(body={}, headers={"ETag": f'"{oid}"'})

    def _entry_for(self, data: bytes, lfs: bool) -> dict:
        sha256 = self._store_blob(data)
        oid = git_blob_sha1(lfs_pointer(sha256, len(data)) if lfs else data)
        return {"sha256": sha256, "size": len(data), "lfs": lfs, "oid": oid}

    def _new_commit(self, repo, parent, files, title, message, author) -> str:
        sha = hashlib.sha1(
            json.dumps([parent, sorted(files.items()), title, message, author, secrets.token_hex(8)]).encode()
        ).hexdigest()
        repo["commits"][sha] = {
            "parent": parent, "files": files, "title": title, "message": message, "author": author, "date": now_iso(),
        }
        return sha

    def _commit(self, req: Request, repo_type: str, repo_id: str, rev: str) -> Response:
        repo, identity = self._writable_repo(req, repo_type, repo_id)
        header, operations = self._parse_ndjson(req.body)
        if rev not in repo["branches"]:
            if rev in repo["tags"] or rev in repo["commits"]:
                raise HubError(400, f"Invalid rev id: {rev} is not a branch")
            raise revision_not_found(rev)
        head = repo["branches"][rev]
        parent_commit = header.get("parentCommit")
        create_pr = req.flag("create_pr")
        if create_pr and parent_commit:  # like the Hub: the pull request starts from parentCommit
            head = self._resolve_rev(repo, parent_commit)
        elif parent_commit and parent_commit != head:
            raise HubError(412, "A commit has happened since. Please refresh and try again.")
        title = (header.get("summary") or "").strip()
        if not title:
            raise HubError(400, "Commit summary is required")
        files = dict(repo["commits"][head]["files"])
        for key, value in operations:
            self._apply_operation(files, key, value)
        self._check_no_file_dir_clash(files)
        sha = self._new_commit(repo, head, files, title, header.get("description") or "", identity.name)
        pr_url = None
        if create_pr:  # the commit goes to a new ref refs/pr/N; the branch does not move
            prs = repo.setdefault("prs", {})
            number = str(len(prs) + 1)
            prs[number] = {"sha": sha, "base": rev, "title": title, "description": header.get("description") or "",
                           "author": identity.name, "createdAt": now_iso(), "status": "open"}
            pr_url = f"{self.url}/{URL_PREFIXES[repo_type]}{repo_id}/discussions/{number}"
        else:
            repo["branches"][rev] = sha
        self._save_state()
        commit_url = f"{self.url}/{URL_PREFIXES[repo_type]}{repo_id}/commit/{sha}"
        return Response(body={"commitUrl": commit_url, "commitOid": sha, "success": True, "pullRequestUrl": pr_url})

    @staticmethod
    def _parse_ndjson(body: bytes) -> tuple[dict, list[tuple[str, dict]]]:
        items = []
        for line in body.decode("utf-8", errors="strict").splitlines():
            if line.strip():
                try:
                    item = json.loads(line)
                except ValueError:
                    raise HubError(400, "Commit body must be NDJSON") from None
                if not isinstance(item, dict) or not isinstance(item.get("value"), dict):
                    raise HubError(400, f"Malformed commit line: {line[:200]}")
                items.append((item.get("key"), item["value"]))
        if not items or items[0][0] != "header":
            raise HubError(400, "The first commit line must be the header")
        return items[0][1], items[1:]

    def _apply_operation(self, files: dict, key: str, value: dict) -> None:
        if key == "file":
            path = validate_repo_path(value.get("path"))
            content = value.get("content") or ""
            data = base64.b64decode(content) if value.get("encoding") == "base64" else content.encode()
            if upload_mode(path, len(data), data[:512]) == "lfs":
                raise HubError(400, f"Your push was rejected because {path} must be stored with LFS")
            files[path] = self._entry_for(data, lfs=False)
        elif key == "lfsFile":
            path, oid = validate_repo_path(value.get("path")), value.get("oid")
            if value.get("algo", "sha256") != "sha256" or not isinstance(oid, str) or not self._has_blob(oid):
                raise HubError(400, f"LFS object {oid} for {path} was never uploaded")
            size = self._blob_path(oid).stat().st_size
            if value.get("size") is not None and value["size"] != size:
                raise HubError(400, f"Size of {path} does not match the uploaded LFS object")
            pointer = lfs_pointer(oid, size)
            files[path] = {"sha256": oid, "size": size, "lfs": True, "oid": git_blob_sha1(pointer)}
        elif key == "deletedFile":
            path = validate_repo_path(value.get("path"))
            if path not in files:
                raise HubError(404, f"A file with this name doesn't exist: {path}", code="EntryNotFound")
            del files[path]
        elif key == "deletedFolder":
            folder = str(value.get("path") or "").strip("/")
            doomed = [p for p in files if not folder or p.startswith(folder + "/")]
            if not doomed:
                raise HubError(404, f"A folder with this name doesn't exist: {folder}", code="EntryNotFound")
            for path in doomed:
                del files[path]
        else:
            raise HubError(400, f"Unsupported commit operation {key!r}")

    def _check_no_file_dir_clash(self, files: dict) -> None:
        clash = self._directories(files) & set(files)
        if clash:
            raise HubError(400, f"Paths used both as file and folder: {sorted(clash)}")

    def _create_tag(self, req: Request, repo_type: str, repo_id: str, rev: str) -> Response:
        repo, _ = self._writable_repo(req, repo_type, repo_id)
        tag = req.json().get("tag")
        if not isinstance(tag, str) or not tag or tag.startswith("refs/") or " " in tag:
            raise HubError(400, f"Invalid tag name {tag!r}")
        sha = self._resolve_rev(repo, rev)
        if tag in repo["tags"]:
            raise HubError(409, f"Tag {tag} already exists")
        repo["tags"][tag] = sha
        self._save_state()
        return Response(body={"name": tag, "targetCommit": sha})

    def _delete_tag(self, req: Request, repo_type: str, repo_id: str, tag: str) -> Response:
        repo, _ = self._writable_repo(req, repo_type, repo_id)
        if tag not in repo["tags"]:
            raise revision_not_found(tag)
        del repo["tags"][tag]
        self._save_state()
        return Response(body={})

    def _create_branch(self, req: Request, repo_type: str, repo_id: str, branch: str) -> Response:
        repo, _ = self._writable_repo(req, repo_type, repo_id)
        if not branch or branch.startswith("refs/") or " " in branch or ".." in branch:
            raise HubError(400, f"Invalid branch name {branch!r}")
        start = self._resolve_rev(repo, req.json().get("startingPoint") or MAIN)
        if branch in repo["branches"]:
            raise HubError(409, f"Branch {branch} already exists")
        repo["branches"][branch] = start
        self._save_state()
        return Response(body={"name": branch, "targetCommit": start})

    def _delete_branch(self, req: Request, repo_type: str, repo_id: str, branch: str) -> Response:
        repo, _ = self._writable_repo(req, repo_type, repo_id)
        if branch == MAIN:
            raise HubError(403, "Cannot delete the default branch")
        if branch not in repo["branches"]:
            raise revision_not_found(branch)
        del repo["branches"][branch]
        self._save_state()
        return Response(body={})


# --------------------------------------------------------------------------------------------- HTTP layer


class _Handler(BaseHTTPRequestHandler):
    """Reads the whole body (Content-Length or chunked), lets HubServer answer, writes the response."""

    protocol_version = "HTTP/1.1"
    server_version = "HalaTestHub/1.0"

    def do_GET(self):
        self._serve()

    do_HEAD = do_POST = do_PUT = do_DELETE = do_GET

    def log_message(self, format, *args):  # keep pytest output clean; HubServer.requests has the log
        pass

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _serve(self) -> None:
        hub: HubServer = self.server.hub  # type: ignore[attr-defined]
        body = self._read_body()
        response = hub.handle(self.command, self.path, self.headers, body)
        headers = dict(response.headers)
        if isinstance(response.body, (bytes, bytearray)):
            payload = bytes(response.body)
        else:
            payload = json.dumps(response.body if response.body is not None else {}).encode()
            headers.setdefault("Content-Type", "application/json")
        self.send_response(response.status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

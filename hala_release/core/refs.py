"""Refs: the one way every stage names its inputs, and pins them so an artifact can be traced back.

A ref is either a Hub repo (`org/name`, `org/name@rev`, `hf://datasets/org/name@rev[/path]`) or a local
folder (`./data`, `/abs/path`, `~/x`). Resolving a Hub ref fetches a snapshot and pins the commit sha;
resolving a folder pins a content hash. Parsing of `hf://` URIs is huggingface_hub's own.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from hala_release.core.errors import HalaError, UsageError, describe_hub_error

RepoType = Literal["model", "dataset", "space"]
REPO_TYPES: tuple[str, ...] = ("model", "dataset", "space")
# Folders and files that never belong to an artifact's content (caches, VCS, our own temp dirs).
IGNORED_NAMES = frozenset({".git", ".cache", "__pycache__", ".DS_Store", ".ipynb_checkpoints"})


@dataclass(frozen=True)
class Ref:
    """A parsed, not yet resolved, input name."""

    text: str
    repo_type: str
    repo_id: str | None = None
    revision: str | None = None
    path_in_repo: str = ""
    local_path: Path | None = None

    @property
    def is_local(self) -> bool:
        return self.local_path is not None

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class ResolvedRef:
    """A ref with the folder that holds its content and the pin that identifies that content exactly."""

    ref: Ref
    path: Path
    pin: str  # a 40-hex commit sha for Hub refs, "sha256:<hex>" for local folders

    @property
    def hub_id(self) -> str | None:
        """The Hub repo id, for card metadata (`base_model`, `datasets`); None for a local folder."""
        return self.ref.repo_id

    def provenance(self) -> dict:
        """The record stored in every downstream provenance file."""
        ref = self.ref
        if ref.is_local:
            return {"ref": ref.text, "source": "local", "repo_type": ref.repo_type,
                    "path": str(ref.local_path), "pin": self.pin}
        record = {"ref": ref.text, "source": "hub", "repo_type": ref.repo_type, "repo_id": ref.repo_id,
                  "revision": ref.revision or "main", "pin": self.pin}
        if ref.path_in_repo:
            record["path_in_repo"] = ref.path_in_repo
        return record


def _looks_local(text: str) -> bool:
    if text.startswith((".", "/", "~")) or text.startswith("file://"):
        return True
    # A bare name that exists on disk is a folder, never a Hub id: local wins, as with `datasets`.
    return os.path.exists(text)


def parse_ref(text: str, repo_type: str = "model") -> Ref:
    """Parse a ref; `repo_type` is the default when the text does not say (stages know what they read)."""
    from huggingface_hub import parse_hf_uri
    from huggingface_hub.errors import HfUriError

    if repo_type not in REPO_TYPES:
        raise ValueError(f"repo_type must be one of {REPO_TYPES}, got {repo_type!r}")
    raw = (text or "").strip()
    if not raw:
        raise UsageError("empty ref: pass a Hub repo id like org/name[@revision] or a local folder like ./data")
    if _looks_local(raw):
        path = Path(raw.removeprefix("file://")).expanduser().resolve()
        return Ref(text=raw, repo_type=repo_type, local_path=path)

    uri = raw if raw.startswith("hf://") else f"hf://{repo_type}s/{raw}"
    try:
        parsed = parse_hf_uri(uri)
    except HfUriError as err:
        raise UsageError(
            f"malformed ref {raw!r}: {err.msg} Use org/name, org/name@revision, "
            f"hf://datasets/org/name@revision or a local folder such as ./data"
        ) from None
    if parsed.type not in REPO_TYPES:
        raise UsageError(f"ref {raw!r} names a {parsed.type}; hala-release reads models, datasets and spaces")
    _validate_hub_id(parsed.id, raw)
    if not raw.startswith("hf://") and parsed.path_in_repo:
        # "org/name/extra" is almost always a typo for a local path or a wrong id.
        raise UsageError(
            f"malformed ref {raw!r}: a Hub id has exactly one '/'. For a folder write ./{raw}; "
            f"for a file inside a repo write hf://{repo_type}s/{parsed.id}/{parsed.path_in_repo}"
        )
    return Ref(text=raw, repo_type=parsed.type, repo_id=parsed.id, revision=parsed.revision,
               path_in_repo=parsed.path_in_repo)


def _validate_hub_id(repo_id: str, raw: str) -> None:
    """The library's own repo-id rules, checked here so a bad id never reaches an HTTP call."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError as err:
        raise UsageError(f"malformed ref {raw!r}: {err} Use org/name, org/name@revision, "
                         f"hf://datasets/org/name@revision or a local folder such as ./data") from None


def check_repo_id(repo_id: str, option: str = "--repo-id") -> str:
    """A repo id to write to or name in a card, checked up front: `org/name` by huggingface_hub's own rules."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    text = (repo_id or "").strip()
    problem = None if text.count("/") == 1 else "it needs exactly one '/' between the owner and the name"
    if problem is None:
        try:
            validate_repo_id(text)
        except HFValidationError as err:
            problem = str(err).rstrip(".")
    if problem:
        raise UsageError(f"{option} {repo_id!r} is not a Hub repo id ({problem}): pass org/name, e.g. my-org/hala-350m "
                         f"(letters, digits, '-', '_', '.')")
    return text


def folder_content_hash(folder: Path) -> str:
    """Hash of every file's relative path and bytes, so a local input is pinned by what it contains."""
    return combined_hash(content_hashes(folder))


def content_hashes(folder: Path) -> dict[str, str]:
    """Relative path -> SHA-256 of each content file (the per-file pins behind `folder_content_hash`).
    Files unchanged since they were last hashed come from the pin cache, so re-pinning big weights reads nothing."""
    from hala_release.core.pin_cache import PinCache

    folder = Path(folder)
    with PinCache() as cache:
        return {file.relative_to(folder).as_posix(): cache.sha256(file, file_sha256)
                for file in iter_content_files(folder)}


def cached_file_sha256(path: Path) -> str:
    """`file_sha256` through the pin cache (a recipe file, a single-file input)."""
    from hala_release.core.pin_cache import PinCache

    with PinCache() as cache:
        return cache.sha256(Path(path), file_sha256)


def combined_hash(hashes: dict[str, str]) -> str:
    """One pin for a set of files, from their relative paths and SHA-256s (path order, as `Path` sorts)."""
    from pathlib import PurePosixPath

    digest = hashlib.sha256()
    for rel in sorted(hashes, key=PurePosixPath):
        digest.update(rel.encode() + b"\0")
        digest.update(hashes[rel].encode() + b"\n")
    return "sha256:" + digest.hexdigest()


def iter_content_files(folder: Path):
    """Files that make up an artifact's content (skips caches, VCS folders and hidden temp folders)."""
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if d not in IGNORED_NAMES and not d.startswith(".hala-")]
        for name in files:
            if name not in IGNORED_NAMES:
                yield Path(root) / name


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, read in blocks (model weights do not fit in memory twice)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def resolve(ref: Ref | str, repo_type: str = "model", *, token: str | None = None,
            allow_patterns: list[str] | None = None, cache_dir: str | Path | None = None) -> ResolvedRef:
    """Fetch (or locate) a ref's content and pin it. Errors are one line and name the fix."""
    if isinstance(ref, str):
        ref = parse_ref(ref, repo_type)
    if ref.is_local:
        path = ref.local_path
        if not path.exists():
            raise HalaError(f"local folder {ref.text!r} does not exist ({path}); check the path or pass a Hub id org/name")
        if not path.is_dir():
            raise HalaError(f"{ref.text!r} is a file; pass the folder that contains it")
        return ResolvedRef(ref=ref, path=path, pin=folder_content_hash(path))
    return _resolve_hub(ref, token=token, allow_patterns=allow_patterns, cache_dir=cache_dir)


def _resolve_hub(ref: Ref, *, token, allow_patterns, cache_dir) -> ResolvedRef:
    from huggingface_hub import HfApi, snapshot_download

    from hala_release.core.disk_space import check_room, explain_full_disk

    with hub_errors(ref):
        info = HfApi(token=token).repo_info(ref.repo_id, repo_type=ref.repo_type, revision=ref.revision,
                                            files_metadata=True)
        patterns = allow_patterns
        if ref.path_in_repo:
            patterns = [f"{ref.path_in_repo}/**", ref.path_in_repo]
        cache, need = download_need(ref, info, patterns, cache_dir)
        with explain_full_disk(cache, f"downloading {ref.text}", "the files already downloaded stay in the Hub "
                               "cache; free space there (or set HF_HOME to a disk with room), then rerun the same "
                               "command to resume"):
            check_room(need, fix="set HF_HOME to a disk with room")
            # Download by sha, not by branch name, so the files match the pin even if the branch moves meanwhile.
            folder = snapshot_download(ref.repo_id, repo_type=ref.repo_type, revision=info.sha, token=token,
                                       allow_patterns=patterns, cache_dir=cache_dir)
    path = Path(folder) / ref.path_in_repo if ref.path_in_repo else Path(folder)
    return ResolvedRef(ref=ref, path=path, pin=info.sha)


def download_need(ref: Ref, info, patterns: list[str] | None, cache_dir: str | Path | None):
    """The Hub cache folder, and the bytes of the files a download still has to fetch into it (the repo listing
    gives their sizes; files of the same commit already in the cache cost nothing)."""
    from huggingface_hub import constants
    from huggingface_hub.file_download import repo_folder_name
    from huggingface_hub.utils import filter_repo_objects

    from hala_release.core.disk_space import SpaceNeed

    cache = Path(cache_dir or constants.HF_HUB_CACHE)
    snapshot = cache / repo_folder_name(repo_id=ref.repo_id, repo_type=ref.repo_type) / "snapshots" / info.sha
    siblings = {sibling.rfilename: sibling.size or 0 for sibling in info.siblings or []}
    wanted = filter_repo_objects(list(siblings), allow_patterns=patterns)
    missing = sum(siblings[name] for name in wanted if not (snapshot / name).exists())
    return cache, SpaceNeed(f"downloading {ref.text}", cache, missing, missing)


class hub_errors:
    """Context manager turning huggingface_hub exceptions into one-line HalaErrors that name the fix."""

    def __init__(self, ref: Ref | None = None, *, repo_id: str | None = None, repo_type: str = "model",
                 revision: str | None = None, action: str = "read"):
        self.repo_id = ref.repo_id if ref else repo_id
        self.repo_type = ref.repo_type if ref else repo_type
        self.revision = (ref.revision if ref else revision) or "main"
        self.action = action

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc is None or isinstance(exc, HalaError):
            return False
        message = describe_hub_error(exc, self.repo_id, self.repo_type, self.revision, self.action)
        if message is None:
            return False
        raise HalaError(message) from None

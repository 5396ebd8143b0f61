"""Publishing: one artifact folder becomes one Hub commit (plus an optional tag), or nothing at all.

Why not `upload_folder`: we also need to delete remote files the artifact no longer has, to refuse a
push that would move an existing tag *before* anything is written, to retry a failed commit safely
(`parent_commit` makes a retried commit fail rather than apply twice), and to render the card with the repo
id it is being published under. The commit itself is huggingface_hub's `create_commit`.

Big artifacts: large files are uploaded first, a few at a time (`preupload_lfs_files`), each batch retried on its
own; the Hub's LFS/Xet storage skips objects it already holds, so rerunning a killed push sends only what is
missing. Only then does the one commit land, so the branch never shows a half-uploaded artifact. Each file is
hashed at most once per push: the hash computed to diff against the remote is handed to the upload.
"""

from __future__ import annotations

import hashlib
import logging
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TypeVar

from hala_release.artifacts.build import record_origin
from hala_release.artifacts.card import CARD_FILE, check_card_text, render_card
from hala_release.core.errors import HalaError, UsageError
from hala_release.core.provenance import read_provenance
from hala_release.core.refs import check_repo_id, file_sha256, hub_errors, iter_content_files
from hala_release.hub.pull_requests import find_open_pr, pr_marker, with_marker

log = logging.getLogger(__name__)
T = TypeVar("T")

RETRY_STATUSES = {429, 500, 502, 503, 504}
MAX_RETRIES = 5
BASE_WAIT_SECONDS = 1.0  # doubles per retry: 1, 2, 4, 8, 16 s
KEEP_REMOTE = {".gitattributes"}  # the Hub's own file; never delete it
SPACE_SDKS = {"gradio", "streamlit", "docker", "static"}
UPLOAD_BATCH_FILES = 4  # files per upload round: a failure retries only its round, and progress is logged per round


@dataclass
class PushResult:
    repo_id: str
    repo_type: str
    revision: str  # the pinned commit sha now at the head of the branch (of the pull request, with create_pr)
    commit_url: str | None
    created_commit: bool
    tag: str | None
    changed_files: list[str]
    deleted_files: list[str]
    pr_url: str | None = None  # the pull request the commit opened (create_pr)

    @property
    def pr_revision(self) -> str | None:
        """The pull request's ref, refs/pr/N: a revision to download or pin before it is merged."""
        return f"refs/pr/{self.pr_url.rstrip('/').rsplit('/', 1)[-1]}" if self.pr_url else None


def push_artifact(folder: Path | str, repo_id: str, repo_type: str, *, tag: str | None = None,
                  private: bool = False, branch: str = "main", token: str | None = None,
                  commit_message: str | None = None, commit_description: str | None = None,
                  create_pr: bool = False, max_retries: int | None = None,
                  base_wait: float | None = None) -> PushResult:
    """Publish an artifact folder as a single commit on `branch`, then tag it; with `create_pr`, as a single commit
    in a new pull request against `branch` (as `hf upload --create-pr`), which leaves the branch as it was."""
    from huggingface_hub import HfApi, get_token

    repo_id = check_repo_id(repo_id)
    _check_no_tag_on_pr(repo_id, tag, create_pr)
    folder = Path(folder).expanduser().resolve()
    if not folder.is_dir():
        raise HalaError(f"{folder} is not a folder: pass the artifact folder a stage wrote")
    files = _artifact_files(folder, repo_id, repo_type)
    create_options = {"space_sdk": check_space_folder(folder)["sdk"]} if repo_type == "space" else {}
    token = token or get_token()
    if not token:
        raise HalaError("no Hugging Face token found: log in with `hf auth login` or set HF_TOKEN to a token with write access")
    api = HfApi(token=token)

    def retry(call: Callable[[], T]) -> T:
        return _with_retries(call, max_retries=MAX_RETRIES if max_retries is None else max_retries,
                             base_wait=BASE_WAIT_SECONDS if base_wait is None else base_wait)

    with hub_errors(repo_id=repo_id, repo_type=repo_type, revision=branch, action="push to"):
        retry(lambda: api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True, **create_options))
        refs = retry(lambda: api.list_repo_refs(repo_id, repo_type=repo_type))
        branches = {ref.name: ref.target_commit for ref in refs.branches}
        tags = {ref.name: ref.target_commit for ref in refs.tags}
        if branch not in branches and create_pr:
            raise HalaError(f"{repo_id} has no branch {branch!r} for a pull request to merge into: push to it "
                            f"without --create-pr first, or open the pull request against an existing branch")
        if branch not in branches:
            retry(lambda: api.create_branch(repo_id, repo_type=repo_type, branch=branch, exist_ok=True))
            branches[branch] = retry(lambda: api.repo_info(repo_id, repo_type=repo_type, revision=branch)).sha
        head = branches[branch]
        hashes: dict[str, str] = {}  # path -> sha256, each computed once per push
        changed, deleted = _diff_against(api, repo_id, repo_type, head, files, hashes)

        if tag is not None and tag in tags and (changed or deleted or tags[tag] != head):
            raise HalaError(
                f"tag {tag!r} already points at {tags[tag][:12]} in {repo_id}, and tags are never moved: choose a new "
                f"tag, or delete the old one first (`hf repo tag delete {repo_id} {tag}`)"
            )
        created = bool(changed or deleted)
        commit_url = pr_url = None
        if created:
            message = (commit_message or "").strip() or _default_message(folder)
            marker = pr_marker(files, hashes, branch) if create_pr else None  # finds this PR again after a lost answer
            description = with_marker(commit_description or "", marker) if marker else commit_description or ""
            head, commit_url, pr_url = _commit(api, repo_id, repo_type, branch, head, files, changed, deleted,
                                               (message, description), retry, hashes, marker)
        if tag is not None and tag not in tags:
            retry(lambda: api.create_tag(repo_id, repo_type=repo_type, tag=tag, revision=head,
                                         tag_message=f"hala-release: {repo_id}@{head[:12]}"))
    # Later stages reading this folder name the repo in their cards (base_model, ...); an open pull request is not
    # published yet, so the folder stays local until a push to the branch.
    if repo_type != "space" and pr_url is None:
        try:
            record_origin(folder, repo_id, repo_type, head, "pushed")
        except OSError as err:  # the push itself succeeded; only the local note is missing
            log.warning("pushed, but could not note the commit in %s (%s): stages reading the folder will treat "
                        "it as local", folder, err)
    return PushResult(repo_id, repo_type, head, commit_url, created, tag, changed, deleted, pr_url)


def publish_folder(folder: Path | str, repo_id: str, repo_type: str, *, options=None,
                   echo: Callable[[str], None] = log.info, **push_options) -> PushResult:
    """Publish a stage's artifact as it is, or first stage a dataset or model folder made elsewhere as one.

    Staging happens in a temporary folder, never in the user's: see `foreign`.
    """
    import tempfile

    from hala_release.core.disk_space import check_room, explain_full_disk
    from hala_release.hub.foreign import CardOptions, is_artifact, stage_folder, staging_need

    repo_id = check_repo_id(repo_id)
    _check_no_tag_on_pr(repo_id, push_options.get("tag"), push_options.get("create_pr", False))  # before staging
    options = options or CardOptions()
    folder = Path(folder).expanduser().resolve()
    if repo_type == "space" or is_artifact(folder) or not folder.is_dir():
        if options.given():
            raise UsageError(f"{', '.join(options.given())} describe folders made elsewhere; {folder} is a "
                             f"hala-release artifact whose card comes from its hala_provenance.json: drop the option")
        return push_artifact(folder, repo_id, repo_type, **push_options)
    temp = Path(tempfile.gettempdir())
    with tempfile.TemporaryDirectory(prefix="hala-stage-") as work:
        with explain_full_disk(temp, f"push-{repo_type}", "nothing was uploaded, and the staging folder is removed; "
                               "free space there (or set TMPDIR to a folder with room), then rerun the same command"):
            check_room(staging_need(folder, repo_type, temp), fix="set TMPDIR to a folder with room")
            staged = stage_folder(folder, repo_type, Path(work), options, echo)
        return push_artifact(staged, repo_id, repo_type, **push_options)


def _check_no_tag_on_pr(repo_id: str, tag: str | None, create_pr: bool) -> None:
    """A tag names a released commit, and a pull request's commit is not on the branch until it is merged."""
    if create_pr and tag is not None:
        raise UsageError(f"--tag {tag} cannot go with --create-pr: a pull request is not merged yet; drop --tag, and "
                         f"tag the merged commit (`hf repo tag create {repo_id} {tag}`)")


def _artifact_files(folder: Path, repo_id: str, repo_type: str) -> dict[str, bytes | Path]:
    """Path in repo -> content. Dataset and model cards are re-rendered with the repo id they go to."""
    files: dict[str, bytes | Path] = {
        path.relative_to(folder).as_posix(): path for path in iter_content_files(folder)
    }
    if repo_type == "space":
        check_space_folder(folder)
        return files
    prov = read_provenance(folder)
    if prov.card.kind != repo_type:
        raise HalaError(f"{folder} holds a {prov.card.kind} artifact: use push-{prov.card.kind}, not push-{repo_type}")
    card = render_card(prov, repo_id)
    check_card_text(card, prov.card.kind, folder)
    files[CARD_FILE] = card.encode("utf-8")
    return files


def check_space_folder(folder: Path) -> dict:
    """Validate a Space folder's README YAML locally (the Hub would reject or misconfigure it otherwise)."""
    from hala_release.artifacts.card import parse_card_metadata, validate_metadata

    readme = folder / CARD_FILE
    if not readme.exists():
        raise HalaError(f"{folder} has no README.md: a Space needs one with YAML metadata (sdk, app_file, ...)")
    meta = parse_card_metadata(readme.read_text(encoding="utf-8"))
    problems = []
    sdk = meta.get("sdk")
    if sdk not in SPACE_SDKS:
        problems.append(f"sdk must be one of {sorted(SPACE_SDKS)}, got {sdk!r}")
    if sdk in {"gradio", "streamlit"}:
        if not meta.get("sdk_version"):
            problems.append("sdk_version is missing (pin the version the app was tested with)")
        app_file = meta.get("app_file", "app.py")
        if not (folder / app_file).exists():
            problems.append(f"app_file {app_file!r} does not exist in the folder")
    if "license" in meta:
        problems.extend(p for p in validate_metadata({"license": meta["license"]}, "space") if "license" in p)
    if problems:
        raise HalaError(f"Space metadata in {readme} is not valid: " + "; ".join(problems))
    return meta


def _diff_against(api, repo_id: str, repo_type: str, head: str, files: dict[str, bytes | Path],
                  hashes: dict[str, str]) -> tuple[list[str], list[str]]:
    """Files that differ from the remote tree at `head`, and remote files the artifact no longer has."""
    from huggingface_hub.hf_api import RepoFile

    remote = {entry.path: entry for entry in api.list_repo_tree(repo_id, repo_type=repo_type, revision=head,
                                                                  recursive=True) if isinstance(entry, RepoFile)}
    changed = [path for path, content in sorted(files.items())
               if not _same_content(path, content, remote.get(path), hashes)]
    deleted = sorted(path for path in remote if path not in files and path not in KEEP_REMOTE)
    return changed, deleted


def _same_content(path: str, content: bytes | Path, remote, hashes: dict[str, str]) -> bool:
    from huggingface_hub.utils.sha import git_hash

    if remote is None:
        return False
    if remote.lfs is not None:
        if path not in hashes:
            hashes[path] = _sha256(content)
        return hashes[path] == remote.lfs.sha256
    data = content if isinstance(content, bytes) else content.read_bytes()
    return git_hash(data) == remote.blob_id


def _sha256(content: bytes | Path) -> str:
    return hashlib.sha256(content).hexdigest() if isinstance(content, bytes) else file_sha256(content)


def _commit(api, repo_id, repo_type, branch, head, files, changed, deleted, message, retry,
            hashes, marker=None) -> tuple[str, str | None, str | None]:
    """Upload what the commit needs, then create the one commit: (its sha, its URL, the pull request's URL).

    `message` is (summary, description). A retry that finds its own earlier attempt already applied counts as done:
    on the branch, the branch holds the files; with `marker` (a pull request), an open pull request's
    description carries the marker (`pull_requests`). The operations are built once and reused by every retry:
    huggingface_hub keeps on them what it uploaded and the hashes it computed (it marks an operation as used only
    once its commit succeeded).
    """
    from huggingface_hub import CommitOperationDelete
    from huggingface_hub.errors import HfHubHTTPError

    create_pr = marker is not None
    additions = [_addition(path, files[path], hashes.get(path)) for path in changed]
    _upload(api, repo_id, repo_type, branch, additions, retry, create_pr)
    hashes.update({op.path_in_repo: op.upload_info.sha256.hex() for op in additions if op.upload_info.is_hashed})
    operations = additions + [CommitOperationDelete(path_in_repo=path) for path in deleted]

    def attempt():
        if create_pr and (found := find_open_pr(api, repo_id, repo_type, branch, marker)) is not None:
            log.info("an open pull request already proposes these files (an earlier attempt's): %s", found[0])
            return found[1], None, found[0]
        try:
            info = api.create_commit(repo_id, operations, repo_type=repo_type, revision=branch,
                                     parent_commit=head, commit_message=message[0],
                                     commit_description=message[1], create_pr=create_pr)
            return info.oid, info.commit_url, info.pr_url
        except HfHubHTTPError as err:
            status = err.response.status_code if err.response is not None else None
            if status in {409, 412}:
                new_head = api.repo_info(repo_id, repo_type=repo_type, revision=branch).sha
                if new_head != head and _diff_against(api, repo_id, repo_type, new_head, files, hashes) == ([], []):
                    return new_head, None, None  # an earlier attempt landed before its answer was lost
                raise HalaError(
                    f"{repo_id}@{branch} moved while pushing (someone else committed): rerun the push"
                ) from None
            raise

    return retry(attempt)


def _addition(path: str, content: bytes | Path, sha256: str | None):
    """One add operation; a hash already computed for the diff is handed over so the file is not read again."""
    from huggingface_hub import CommitOperationAdd

    op = CommitOperationAdd(path_in_repo=path, path_or_fileobj=content if isinstance(content, bytes) else str(content))
    if sha256 is not None:
        op.upload_info.sha256 = bytes.fromhex(sha256)
    return op


def _upload(api, repo_id: str, repo_type: str, branch: str, additions: list, retry, create_pr: bool = False) -> None:
    """Upload large files in small rounds before committing; storage the Hub already has is skipped (resume)."""
    total = sum(op.upload_info.size for op in additions)
    done = 0
    for start in range(0, len(additions), UPLOAD_BATCH_FILES):
        batch = additions[start:start + UPLOAD_BATCH_FILES]
        retry(lambda: _upload_batch(api, repo_id, repo_type, branch, batch, create_pr))
        done += sum(op.upload_info.size for op in batch)
        log.info("uploaded %d/%d files (%.1f/%.1f MB)", start + len(batch), len(additions), done / 1e6, total / 1e6)


def _upload_batch(api, repo_id: str, repo_type: str, branch: str, batch: list, create_pr: bool = False) -> None:
    import httpx
    from huggingface_hub.errors import HfHubHTTPError

    try:
        api.preupload_lfs_files(repo_id, batch, repo_type=repo_type, revision=branch, create_pr=create_pr,
                                free_memory=False)
    except RuntimeError as err:  # huggingface_hub wraps a failed upload; retries need the HTTP error inside
        if isinstance(err.__cause__, (HfHubHTTPError, httpx.TransportError, ConnectionError)):
            raise err.__cause__ from None
        raise


def _with_retries(call: Callable[[], T], *, max_retries: int, base_wait: float) -> T:
    """Retry on rate limits, server errors and dropped connections, with exponential backoff and jitter."""
    import httpx
    from huggingface_hub.errors import HfHubHTTPError

    for attempt in range(max_retries + 1):
        try:
            return call()
        except HfHubHTTPError as err:
            status = err.response.status_code if err.response is not None else None
            if status not in RETRY_STATUSES or attempt == max_retries:
                raise
            wait = _retry_after(err) or base_wait * 2**attempt
        except (httpx.TransportError, ConnectionError) as err:
            if attempt == max_retries:
                raise
            wait = base_wait * 2**attempt
            status = type(err).__name__
        wait = min(wait, 60.0) * (1 + random.random() * 0.1)
        log.warning("Hub answered %s; retrying in %.1f s (%d/%d)", status, wait, attempt + 1, max_retries)
        time.sleep(wait)
    raise AssertionError("unreachable")


def _retry_after(err) -> float | None:
    value = err.response.headers.get("Retry-After") if err.response is not None else None
    try:
        return float(value) if value else None
    except ValueError:
        return None


def _default_message(folder: Path) -> str:
    from hala_release.core.provenance import PROVENANCE_FILE

    if (folder / PROVENANCE_FILE).exists():
        prov = read_provenance(folder)
        return f"hala-release {prov.tool_version}: {prov.stage} artifact ({prov.config_hash[:19]})"
    return f"hala-release: upload {folder.name}"

"""The pull request a `--create-pr` push opened, found again by a marker in its description.

A commit with `create_pr` opens a new pull request every time it is sent. When the Hub opened one but its answer
never reached us (a timeout, a dropped connection), the retry, or the user's rerun of the same command, would open
a second one proposing the same files. So each such push writes a marker into the pull request's description (the
commit description, which the Hub shows as the pull request's first comment): a hidden HTML comment with the content
hash of the files proposed and the branch they are proposed for. Before committing, the repo's open pull requests
are read, and one whose description carries the same marker is the push's own: it is reused instead.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from hala_release.core.refs import cached_file_sha256, combined_hash

MARKER = re.compile(r"<!-- hala-release push: sha256:[0-9a-f]{64} onto \S+ -->")


def pr_marker(files: dict[str, bytes | Path], hashes: dict[str, str], branch: str) -> str:
    """The marker of this content proposed for `branch`. `hashes` (path -> sha256, shared with the rest of the push)
    is filled for files not hashed yet; files on disk go through the pin cache, so a rerun reads nothing again."""
    for path, content in files.items():
        if path not in hashes:
            hashes[path] = (hashlib.sha256(content).hexdigest() if isinstance(content, bytes)
                            else cached_file_sha256(content))
    return f"<!-- hala-release push: {combined_hash({path: hashes[path] for path in files})} onto {branch} -->"


def with_marker(description: str, marker: str) -> str:
    """The pull request's description: the user's text, then the marker (hidden when the Hub renders it)."""
    text = MARKER.sub("", description or "").rstrip()
    return f"{text}\n\n{marker}" if text else marker


def find_open_pr(api, repo_id: str, repo_type: str, branch: str, marker: str) -> tuple[str, str] | None:
    """(URL, head commit) of an open pull request against `branch` whose description carries `marker`, else None."""
    for discussion in api.get_repo_discussions(repo_id, repo_type=repo_type, discussion_type="pull_request",
                                               discussion_status="open"):
        if discussion.status not in ("open", "draft"):
            continue
        details = api.get_discussion_details(repo_id, discussion.num, repo_type=repo_type)
        if details.target_branch not in (branch, f"refs/heads/{branch}"):
            continue
        description = next((event.content for event in details.events if event.type == "comment"), "")
        if marker in description:
            head = api.repo_info(repo_id, repo_type=repo_type, revision=details.git_reference).sha
            return details.url, head
    return None

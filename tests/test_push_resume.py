"""Big pushes: uploads that survive a kill and failures, one commit in the end, each file hashed once."""

import collections
import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hala_release.hub.publish import push_artifact

ROOT = Path(__file__).resolve().parents[1]
PUSH = ("import sys; from hala_release.hub.publish import push_artifact; "
        "push_artifact(sys.argv[1], sys.argv[2], 'dataset', tag='v2')")


@pytest.fixture
def work(openorca_artifact, tmp_path, hub_token, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", hub_token)
    copy = tmp_path / "artifact"
    shutil.copytree(openorca_artifact, copy)
    return copy


def _write(folder: Path, name: str, size: int = 300_000) -> str:
    """A binary file (LFS on the Hub); returns its sha256."""
    data = os.urandom(size)
    (folder / name).write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def _puts(hub) -> collections.Counter:
    """LFS uploads the server received, per object."""
    return collections.Counter(path.rsplit("/", 1)[1] for method, path in list(hub.requests)
                               if method == "PUT" and path.startswith("/_lfs-upload/"))


def test_killed_push_resumes_without_resending(work, hub):
    repo = "hala-test/resumed"
    push_artifact(work, repo, "dataset", tag="v1")
    before = hub.commits("dataset", repo)
    first, *stalled = [_write(work, f"weights-{i}.bin") for i in range(3)]
    for oid in stalled:  # an outage for every object but the first
        hub.fail_next(10_000, status=503, methods=("PUT",), path_contains=oid)
    child = subprocess.Popen([sys.executable, "-c", PUSH, str(work), repo], cwd=ROOT,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not (hub.has_object(first) and all(_puts(hub)[oid] for oid in stalled)):
            assert child.poll() is None and time.monotonic() < deadline, "the push never reached the upload"
            time.sleep(0.05)
        assert hub.commits("dataset", repo) == before  # uploading does not move the branch
    finally:
        child.kill()
        child.wait()
        hub.clear_failures()
    assert hub.commits("dataset", repo) == before and not any(hub.has_object(oid) for oid in stalled)

    sent_before = _puts(hub)
    result = push_artifact(work, repo, "dataset", tag="v2")
    sent = _puts(hub) - sent_before
    assert sent[first] == 0  # what reached the Hub before the kill is not sent again
    assert all(sent[oid] == 1 for oid in stalled)
    assert hub.commits("dataset", repo) == [result.revision, *before]  # exactly one new commit
    assert result.changed_files == ["weights-0.bin", "weights-1.bin", "weights-2.bin"]
    from huggingface_hub import HfApi

    tags = {ref.name: ref.target_commit for ref in HfApi().list_repo_refs(repo, repo_type="dataset").tags}
    assert tags["v2"] == result.revision


def test_each_file_hashed_once_and_a_failed_upload_retried(work, hub, monkeypatch):
    import huggingface_hub.lfs

    from hala_release.hub import publish

    repo = "hala-test/hash-once"
    _write(work, "a.bin")
    _write(work, "b.bin")
    push_artifact(work, repo, "dataset", tag="v1")
    before = hub.commits("dataset", repo)
    _write(work, "a.bin")  # changed, and an LFS file remotely: the diff must hash it
    new = _write(work, "c.bin")  # not on the Hub yet: hashed for the upload

    hashed = collections.Counter()
    real_file_sha256, real_sha_fileobj = publish.file_sha256, huggingface_hub.lfs.sha_fileobj

    def file_sha256(path):
        hashed[Path(path).name] += 1
        return real_file_sha256(path)

    def sha_fileobj(fileobj, *args, **kwargs):
        hashed[Path(fileobj.name).name] += 1
        return real_sha_fileobj(fileobj, *args, **kwargs)

    monkeypatch.setattr(publish, "file_sha256", file_sha256)
    monkeypatch.setattr(huggingface_hub.lfs, "sha_fileobj", sha_fileobj)
    monkeypatch.setattr(time, "sleep", lambda seconds: None)  # huggingface_hub's own backoff
    # More failures than huggingface_hub retries by itself: the push's own retry must take over.
    hub.fail_next(7, status=503, methods=("PUT",), path_contains=new)
    hub.fail_next(1, status=503, methods=("POST",), path_contains="/commit/")  # and the commit is retried
    sent_before = _puts(hub)
    try:
        result = push_artifact(work, repo, "dataset", tag="v2", base_wait=0.01)
    finally:
        hub.clear_failures()
    assert result.changed_files == ["a.bin", "c.bin"]
    assert {"a.bin", "b.bin", "c.bin"} <= set(hashed) and set(hashed.values()) == {1}, hashed
    assert (_puts(hub) - sent_before)[new] == 8  # 7 refused, then one that landed
    assert hub.commits("dataset", repo) == [result.revision, *before]

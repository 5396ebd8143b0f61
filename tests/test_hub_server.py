"""The test Hub server speaks the Hub's protocol well enough for the real huggingface_hub and datasets clients.

Each test uses its own repo names on the one session-wide server (see conftest.py).
"""

import hashlib
import os

import pytest
from huggingface_hub import (
    CommitOperationAdd,
    CommitOperationDelete,
    HfApi,
    hf_hub_download,
    snapshot_download,
)
from huggingface_hub.errors import (
    EntryNotFoundError,
    GatedRepoError,
    HfHubHTTPError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

# huggingface_hub's own LFS PUT passes a file object as `data=`, which httpx deprecates; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")

BIG = os.urandom(1536 * 1024)  # binary and > 1 MB: must travel through the LFS batch + PUT path


def add(path: str, data: bytes) -> CommitOperationAdd:
    return CommitOperationAdd(path_in_repo=path, path_or_fileobj=data)


def first_files():
    return [
        add("config.json", b'{"hidden_size": 8}\n'),
        add("nested/deep/notes.txt", "نص عربي\n".encode()),
        add("weights/model.bin", BIG),
    ]


@pytest.fixture
def api(hub, hub_token) -> HfApi:
    return HfApi(endpoint=hub.url, token=hub_token)


@pytest.fixture
def model_repo(api, request):
    """A fresh model repo: one commit of three files (one LFS) tagged v1, then a later commit on main."""
    repo_id = f"hala-test/{request.node.name.replace('_', '-')}"
    api.create_repo(repo_id)
    first = api.create_commit(repo_id, operations=first_files(), commit_message="first")
    api.create_tag(repo_id, tag="v1", revision=first.oid)
    change = [add("config.json", b'{"hidden_size": 16}\n')]
    second = api.create_commit(repo_id, operations=change, commit_message="second")
    return repo_id, first.oid, second.oid


def test_environment_points_at_the_test_server(hub):
    from huggingface_hub import constants

    assert constants.ENDPOINT == hub.url
    assert constants.HF_HUB_DISABLE_XET


def test_whoami(api, hub):
    me = api.whoami()
    assert me["name"] == "tester" and [o["name"] for o in me["orgs"]] == ["hala-test"]
    with pytest.raises(HfHubHTTPError) as err:
        HfApi(endpoint=hub.url, token="hf_not_a_token").whoami()
    assert err.value.response.status_code == 401


def test_create_repo_model_and_dataset(api, hub):
    url = api.create_repo("hala-test/created-model")
    assert url.repo_id == "hala-test/created-model" and url.repo_type == "model"
    url = api.create_repo("created-dataset", repo_type="dataset", private=True)  # namespace from the token
    assert url.repo_id == "tester/created-dataset" and url.repo_type == "dataset"
    with pytest.raises(HfHubHTTPError) as err:
        api.create_repo("hala-test/created-model")
    assert err.value.response.status_code == 409
    api.create_repo("hala-test/created-model", exist_ok=True)  # the client swallows the 409
    info = api.repo_info("tester/created-dataset", repo_type="dataset")
    assert info.private is True
    # Like the Hub, a new repo starts with one commit holding .gitattributes.
    assert api.list_repo_files("hala-test/created-model") == [".gitattributes"]
    assert len(hub.commits("model", "hala-test/created-model")) == 1
    api.delete_repo("tester/created-dataset", repo_type="dataset")
    with pytest.raises(RepositoryNotFoundError):
        api.repo_info("tester/created-dataset", repo_type="dataset")
    api.delete_repo("tester/created-dataset", repo_type="dataset", missing_ok=True)


def test_commit_uses_lfs_for_big_binary_files(api, hub, model_repo):
    repo_id, first, _ = model_repo
    methods_paths = hub.requests
    assert ("POST", f"/{repo_id}.git/info/lfs/objects/batch") in methods_paths
    assert any(m == "PUT" and p.startswith("/_lfs-upload/") for m, p in methods_paths)
    files = {f.path: f for f in api.list_repo_tree(repo_id, recursive=True, revision=first) if hasattr(f, "size")}
    assert files["weights/model.bin"].lfs is not None and files["weights/model.bin"].lfs.size == len(BIG)
    assert files["config.json"].lfs is None
    assert sorted(api.list_repo_files(repo_id)) == [
        ".gitattributes", "config.json", "nested/deep/notes.txt", "weights/model.bin",
    ]
    top = {f.path for f in api.list_repo_tree(repo_id)}
    assert top == {".gitattributes", "config.json", "nested", "weights"}
    [info] = api.get_paths_info(repo_id, ["nested/deep/notes.txt", "missing"], expand=True)
    assert info.last_commit.oid == first


def test_downloads_at_branch_tag_and_sha(api, hub, model_repo, tmp_path):
    repo_id, first, second = model_repo
    api.create_branch(repo_id, branch="dev", revision=first)

    def config_at(revision):
        path = hf_hub_download(repo_id, "config.json", revision=revision, cache_dir=tmp_path / "cache")
        return open(path, "rb").read()

    assert config_at("main") == b'{"hidden_size": 16}\n'
    assert config_at("v1") == config_at(first) == config_at("dev") == b'{"hidden_size": 8}\n'
    assert config_at(second) == b'{"hidden_size": 16}\n'
    big = hf_hub_download(repo_id, "weights/model.bin", revision="v1", cache_dir=tmp_path / "cache")
    assert open(big, "rb").read() == BIG

    for revision in ("v1", first, "dev"):
        folder = snapshot_download(repo_id, revision=revision, cache_dir=tmp_path / f"snap-{revision}")
        assert open(os.path.join(folder, "weights", "model.bin"), "rb").read() == BIG
        assert open(os.path.join(folder, "nested", "deep", "notes.txt"), "rb").read() == "نص عربي\n".encode()
    folder = snapshot_download(repo_id, revision="main", local_dir=tmp_path / "local")
    assert open(os.path.join(folder, "config.json"), "rb").read() == b'{"hidden_size": 16}\n'


def test_refs_tags_and_commits(api, model_repo):
    repo_id, first, second = model_repo
    refs = api.list_repo_refs(repo_id)
    assert {b.name: b.target_commit for b in refs.branches}["main"] == second
    assert {t.name: t.target_commit for t in refs.tags} == {"v1": first}
    assert refs.converts == []
    with pytest.raises(HfHubHTTPError) as err:
        api.create_tag(repo_id, tag="v1")
    assert err.value.response.status_code == 409
    api.create_tag(repo_id, tag="v1", exist_ok=True)
    api.create_tag(repo_id, tag="tmp", revision=second[:7])  # short shas resolve, like on the Hub
    api.delete_tag(repo_id, tag="tmp")
    with pytest.raises(RevisionNotFoundError):
        api.delete_tag(repo_id, tag="tmp")

    commits = api.list_repo_commits(repo_id)
    assert [c.commit_id for c in commits[:2]] == [second, first]
    assert [c.title for c in commits] == ["second", "first", "initial commit"]
    assert commits[0].authors == ["tester"]
    assert [c.commit_id for c in api.list_repo_commits(repo_id, revision="v1")][0] == first


def test_identical_recommit_is_skipped_client_side(api, hub, model_repo):
    """huggingface_hub compares the preupload `oid`s with its own hashes and drops unchanged files.

    When nothing is left it makes no /commit call at all (no empty commit) and returns the current head.
    """
    repo_id, _, second = model_repo
    api.create_commit(repo_id, operations=first_files(), commit_message="same files again")
    head = hub.commits("model", repo_id)[0]
    before = len(hub.requests)
    info = api.create_commit(repo_id, operations=first_files(), commit_message="no-op")
    new_requests = hub.requests[before:]
    assert info.oid == head and hub.commits("model", repo_id)[0] == head
    assert not any("/commit/" in p for _, p in new_requests)
    assert not any(p.startswith("/_lfs-upload/") for _, p in new_requests)


def test_delete_file_and_folder(api, model_repo):
    repo_id, _, _ = model_repo
    api.create_commit(
        repo_id,
        operations=[CommitOperationDelete("config.json"), CommitOperationDelete("nested/", is_folder=True)],
        commit_message="delete",
    )
    assert sorted(api.list_repo_files(repo_id)) == [".gitattributes", "weights/model.bin"]
    with pytest.raises(EntryNotFoundError):
        api.delete_file("config.json", repo_id)


def test_parent_commit_mismatch_is_rejected(api, hub, model_repo):
    repo_id, first, second = model_repo
    with pytest.raises(HfHubHTTPError) as err:
        api.create_commit(repo_id, operations=[add("x.txt", b"x")], commit_message="stale", parent_commit=first)
    assert err.value.response.status_code == 412
    assert hub.commits("model", repo_id)[0] == second
    ok = api.create_commit(repo_id, operations=[add("x.txt", b"x")], commit_message="fresh", parent_commit=second)
    assert hub.commits("model", repo_id)[0] == ok.oid


def test_writes_need_a_token_with_rights(api, hub, model_repo):
    repo_id, _, second = model_repo
    anonymous = HfApi(endpoint=hub.url, token=False)
    with pytest.raises(HfHubHTTPError) as err:
        anonymous.create_commit(repo_id, operations=[add("y.txt", b"y")], commit_message="anon")
    assert err.value.response.status_code == 401

    hub.add_read_only_token("hf_read_only")
    reader = HfApi(endpoint=hub.url, token="hf_read_only")
    assert reader.whoami()["auth"]["accessToken"]["role"] == "read"
    assert reader.list_repo_files(repo_id)  # public reads work
    with pytest.raises(HfHubHTTPError) as err:
        reader.create_commit(repo_id, operations=[add("y.txt", b"y")], commit_message="ro")
    assert err.value.response.status_code == 403
    with pytest.raises(HfHubHTTPError) as err:
        api.create_repo("someone-else/repo")
    assert err.value.response.status_code == 403
    assert hub.commits("model", repo_id)[0] == second


def test_read_errors_map_to_client_exceptions(api, hub, hub_token, model_repo, tmp_path):
    repo_id, _, _ = model_repo
    cache = tmp_path / "cache"
    with pytest.raises(RepositoryNotFoundError) as err:
        api.repo_info("hala-test/does-not-exist")
    assert type(err.value) is RepositoryNotFoundError
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download("hala-test/does-not-exist", "config.json", cache_dir=cache)
    with pytest.raises(RevisionNotFoundError):
        hf_hub_download(repo_id, "config.json", revision="no-such-branch", cache_dir=cache)
    with pytest.raises(RevisionNotFoundError):
        api.list_repo_files(repo_id, revision="no-such-branch")
    with pytest.raises(EntryNotFoundError):
        hf_hub_download(repo_id, "missing.txt", cache_dir=cache)

    api.create_repo("hala-test/private-model", private=True)
    with pytest.raises(RepositoryNotFoundError) as err:  # anonymous: 401 + RepoNotFound
        HfApi(endpoint=hub.url, token=False).repo_info("hala-test/private-model")
    assert err.value.response.status_code == 401
    hub.add_read_only_token("hf_read_only_2")
    with pytest.raises(RepositoryNotFoundError) as err:  # authenticated, no access: 404 + RepoNotFound
        HfApi(endpoint=hub.url, token="hf_read_only_2").repo_info("hala-test/private-model")
    assert err.value.response.status_code == 404
    assert api.repo_info("hala-test/private-model").private

    api.create_repo("hala-test/gated-model")
    api.upload_file(path_or_fileobj=b"secret", path_in_repo="w.txt", repo_id="hala-test/gated-model")
    hub.add_user("friend", "hf_friend", orgs=[])
    hub.set_gated("model", "hala-test/gated-model", allowed_tokens=["hf_friend"])
    with pytest.raises(GatedRepoError) as err:
        hf_hub_download("hala-test/gated-model", "w.txt", cache_dir=cache, token=False)
    assert err.value.response.status_code == 401
    with pytest.raises(GatedRepoError) as err:
        hf_hub_download("hala-test/gated-model", "w.txt", cache_dir=cache, token="hf_read_only_2")
    assert err.value.response.status_code == 403
    path = hf_hub_download("hala-test/gated-model", "w.txt", cache_dir=cache, token="hf_friend")
    assert open(path, "rb").read() == b"secret"
    assert api.repo_info("hala-test/gated-model").gated == "auto"


def test_injected_failures(api, hub, tmp_path):
    repo_id = "hala-test/flaky"
    api.create_repo(repo_id)
    head = hub.commits("model", repo_id)[0]
    # The commit POST is not retried by the client: the 503 surfaces, and nothing was committed.
    hub.fail_next(1, status=503, methods=("POST",), path_contains="/commit/")
    before = hub.injected_failures
    with pytest.raises(HfHubHTTPError) as err:
        api.upload_file(path_or_fileobj=b"a", path_in_repo="a.txt", repo_id=repo_id)
    assert err.value.response.status_code == 503
    assert hub.injected_failures == before + 1
    assert hub.commits("model", repo_id) == [head]
    # Preupload, LFS batch and LFS PUT go through the client's backoff: one 503 each is retried transparently.
    hub.fail_next(1, methods=("POST",), path_contains="/preupload/")
    hub.fail_next(1, methods=("PUT",), path_contains="/_lfs-upload/")
    fresh = os.urandom(1024 * 1024 + 1)  # an object the store has never seen, so it really is PUT
    info = api.upload_file(path_or_fileobj=fresh, path_in_repo="big.bin", repo_id=repo_id)
    assert hub.injected_failures == before + 3
    assert hub.commits("model", repo_id)[0] == info.oid
    assert api.get_paths_info(repo_id, "big.bin")[0].lfs.sha256 == hashlib.sha256(fresh).hexdigest()
    assert open(hf_hub_download(repo_id, "big.bin", cache_dir=tmp_path), "rb").read() == fresh


def test_branch_names_with_slashes(api, hub, model_repo, tmp_path):
    repo_id, first, _ = model_repo
    api.create_branch(repo_id, branch="release/1.0", revision="v1")
    info = api.upload_file(path_or_fileobj=b"r", path_in_repo="r.txt", repo_id=repo_id, revision="release/1.0")
    assert hub.commits("model", repo_id, branch="release/1.0")[:2] == [info.oid, first]
    path = hf_hub_download(repo_id, "r.txt", revision="release/1.0", cache_dir=tmp_path)
    assert open(path, "rb").read() == b"r"
    api.delete_branch(repo_id, branch="release/1.0")
    with pytest.raises(RevisionNotFoundError):
        api.list_repo_files(repo_id, revision="release/1.0")


def test_chunked_request_bodies(hub):
    """Clients may stream uploads without a Content-Length."""
    import httpx

    def body():
        yield b'{"content": "---\\nlicense: mit\\n'
        yield b'---\\n", "repoType": "model"}'

    response = httpx.post(f"{hub.url}/api/validate-yaml", content=body())
    assert response.request.headers.get("Transfer-Encoding") == "chunked"
    assert response.status_code == 200 and response.json()["errors"] == []


def test_unknown_routes_are_logged(hub):
    import httpx

    response = httpx.get(f"{hub.url}/api/not-a-route")
    assert response.status_code == 404 and "error" in response.json()
    assert ("GET", "/api/not-a-route") in hub.unknown_routes


def test_datasets_push_tag_and_load(api, hub, hub_token, tmp_path):
    from datasets import Dataset, load_dataset

    unknown_before = len(hub.unknown_routes)
    original = Dataset.from_dict({"text": ["مرحبا", "hello", "bonjour"], "label": [0, 1, 2]})
    original.push_to_hub("hala-test/ds", token=hub_token)
    api.create_tag("hala-test/ds", tag="v1", repo_type="dataset")
    # A later push must not change what v1 points at.
    Dataset.from_dict({"text": ["changed"], "label": [9]}).push_to_hub("hala-test/ds", token=hub_token)

    files = api.list_repo_files("hala-test/ds", repo_type="dataset", revision="v1")
    assert "README.md" in files and any(f.endswith(".parquet") for f in files)
    loaded = load_dataset("hala-test/ds", revision="v1", split="train", cache_dir=str(tmp_path / "ds-cache"))
    assert loaded.to_dict() == original.to_dict()
    latest = load_dataset("hala-test/ds", split="train", cache_dir=str(tmp_path / "ds-cache-2"))
    assert latest.to_dict() == {"text": ["changed"], "label": [9]}
    assert hub.unknown_routes[unknown_before:] == []  # datasets needed no route the server lacks


def test_pull_requests_are_listed_with_their_description_and_a_lost_answer_keeps_the_commit(api, hub, model_repo):
    repo_id, _, head = model_repo
    hub.fail_next(1, status=504, methods=("POST",), path_contains="/commit/", lose_answer=True)
    with pytest.raises(HfHubHTTPError) as err:  # the client hears a gateway timeout ...
        api.create_commit(repo_id, operations=[add("pr.txt", b"p")], commit_message="Propose",
                          commit_description="Why it helps.", create_pr=True)
    assert err.value.response.status_code == 504
    api.create_commit(repo_id, operations=[add("pr2.txt", b"q")], commit_message="Second", create_pr=True)
    assert hub.commits("model", repo_id)[0] == head  # pull requests leave the branch alone
    listed = list(api.get_repo_discussions(repo_id, discussion_type="pull_request", discussion_status="open"))
    assert [(d.num, d.title, d.status, d.is_pull_request, d.author) for d in listed] == [
        (2, "Second", "open", True, "tester"), (1, "Propose", "open", True, "tester")]  # ... yet the PR was opened
    assert list(api.get_repo_discussions(repo_id, discussion_status="closed")) == []
    assert list(api.get_repo_discussions(repo_id, discussion_type="discussion")) == []
    details = api.get_discussion_details(repo_id, 1)
    assert details.target_branch == "refs/heads/main" and details.git_reference == "refs/pr/1"
    assert details.events[0].content == "Why it helps."
    assert details.events[1].oid == api.repo_info(repo_id, revision="refs/pr/1").sha
    assert "pr.txt" in api.list_repo_files(repo_id, revision="refs/pr/1")

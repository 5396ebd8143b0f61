"""Publishing and pulling over HTTP with the real huggingface_hub client, against the local Hub server."""

import shutil

import pytest
from huggingface_hub import DatasetCard, HfApi, ModelCard

from hala_release.artifacts.card import card_metadata, render_card
from stage_helpers import run_cli
from hala_release.core.errors import HalaError
from hala_release.core.provenance import read_provenance
from hala_release.hub.publish import push_artifact
from hala_release.core.refs import iter_content_files, resolve


@pytest.fixture
def as_tester(hub, hub_token, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", hub_token)
    return hub_token


@pytest.fixture
def work(openorca_artifact, tmp_path):
    """A private copy of the sample dataset artifact that a test may change."""
    copy = tmp_path / "artifact"
    shutil.copytree(openorca_artifact, copy)
    return copy


def _files(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in iter_content_files(folder)}


def test_dataset_round_trip_with_tag(openorca_artifact, as_tester, hub, capsys):
    from datasets import load_dataset

    repo = "hala-test/openorca-sample"
    code, out, err = run_cli(capsys, "push-dataset", openorca_artifact, "--repo-id", repo, "--tag", "v1")
    assert code == 0, err
    commits = hub.commits("dataset", repo)
    assert len(commits) == 2  # the repo's initial commit + exactly one for the whole artifact
    assert f"pinned revision: hf://datasets/{repo}@{commits[0]}" in out
    assert f"/datasets/{repo}/commit/{commits[0]}" in out

    # Same content again: no new commit, same pin, tag untouched.
    code, out, err = run_cli(capsys, "push-dataset", openorca_artifact, "--repo-id", repo, "--tag", "v1")
    assert code == 0, err
    assert "no new commit" in out and hub.commits("dataset", repo) == commits

    pulled = resolve(f"hf://datasets/{repo}@v1")
    assert pulled.pin == commits[0] and pulled.hub_id == repo
    local, remote = _files(openorca_artifact), _files(pulled.path)
    assert set(remote) - {".gitattributes"} == set(local)
    for path, data in local.items():
        if path != "README.md":
            assert remote[path] == data, path
    # The pushed card is the same card, rendered with the repo id it now lives at.
    prov = read_provenance(openorca_artifact)
    assert remote["README.md"].decode() == render_card(prov, repo)
    meta = DatasetCard(remote["README.md"].decode()).data.to_dict()
    assert meta["license"] == "apache-2.0" and meta["configs"][0]["data_files"][0]["split"] == "train"
    assert f'load_dataset("{repo}", split="train")' in remote["README.md"].decode()

    rows = load_dataset(repo, revision="v1", split="train")
    assert rows.to_list() == load_dataset(str(openorca_artifact), split="train").to_list()


def test_model_round_trip(tiny_lfm2, as_tester, hub, capsys):
    from transformers import AutoModelForCausalLM

    repo = "hala-test/tiny-lfm2"
    assert run_cli(capsys, "push-model", tiny_lfm2, "--repo-id", repo, "--tag", "v1")[0] == 0
    assert run_cli(capsys, "push-model", tiny_lfm2, "--repo-id", repo, "--tag", "v1")[0] == 0
    assert len(hub.commits("model", repo)) == 2
    code, out, err = run_cli(capsys, "pull", f"{repo}@v1", "--output", tiny_lfm2.parent / "pulled")
    assert code == 0, err
    pulled = tiny_lfm2.parent / "pulled"
    assert f"{repo}@v1 -> {hub.commits('model', repo)[0]}" in out
    local, remote = _files(tiny_lfm2), _files(pulled)
    assert {p for p in remote if p != ".gitattributes"} == set(local)
    assert all(remote[p] == local[p] for p in local if p != "README.md")
    model = AutoModelForCausalLM.from_pretrained(pulled)
    assert model.config.model_type == "lfm2"
    pushed_meta = ModelCard.load(pulled / "README.md").data.to_dict()
    assert pushed_meta == card_metadata(read_provenance(tiny_lfm2))
    assert pushed_meta["license"] == "apache-2.0" and pushed_meta["library_name"] == "transformers"
    assert f'AutoModelForCausalLM.from_pretrained("{repo}")' in (pulled / "README.md").read_text()


def test_changes_make_one_new_commit_and_deletions_propagate(work, as_tester, hub):
    repo = "hala-test/evolving"
    (work / "extra.txt").write_text("first")
    first = push_artifact(work, repo, "dataset", tag="v1")
    (work / "extra.txt").unlink()
    (work / "notes.txt").write_text("second")
    second = push_artifact(work, repo, "dataset", tag="v2")
    assert second.created_commit and second.revision != first.revision
    assert second.changed_files == ["notes.txt"] and second.deleted_files == ["extra.txt"]
    assert len(hub.commits("dataset", repo)) == 3
    files = set(HfApi().list_repo_files(repo, repo_type="dataset", revision="v2"))
    assert "notes.txt" in files and "extra.txt" not in files
    assert "extra.txt" in HfApi().list_repo_files(repo, repo_type="dataset", revision="v1")


def test_existing_tag_is_never_moved(work, as_tester, hub, capsys):
    repo = "hala-test/tagged"
    push_artifact(work, repo, "dataset", tag="v1")
    before = hub.commits("dataset", repo)
    (work / "notes.txt").write_text("changed")
    code, _, err = run_cli(capsys, "push-dataset", work, "--repo-id", repo, "--tag", "v1")
    assert code == 1 and "tag 'v1' already points at" in err and "never moved" in err
    assert hub.commits("dataset", repo) == before  # refused before anything was written


def test_retries_transient_failures(openorca_artifact, as_tester, hub):
    repo = "hala-test/flaky"
    hub.fail_next(2, status=503, methods=("POST",), path_contains="/commit/")
    result = push_artifact(openorca_artifact, repo, "dataset", base_wait=0.01)
    assert result.created_commit and hub.injected_failures >= 2
    assert len(hub.commits("dataset", repo)) == 2


def test_persistent_server_errors_leave_the_remote_unchanged(openorca_artifact, as_tester, hub, work):
    repo = "hala-test/down"
    push_artifact(openorca_artifact, repo, "dataset")
    before = hub.commits("dataset", repo)
    (work / "notes.txt").write_text("new")
    injected = hub.injected_failures
    hub.fail_next(3, status=500, methods=("POST",), path_contains="/commit/")  # first try + 2 retries
    with pytest.raises(HalaError, match="HTTP 500"):
        push_artifact(work, repo, "dataset", max_retries=2, base_wait=0.01)
    assert hub.injected_failures == injected + 3
    assert hub.commits("dataset", repo) == before


def test_network_failure_is_one_clear_line(openorca_artifact, as_tester, monkeypatch, capsys):
    from huggingface_hub import constants

    from hala_release.hub import publish

    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")  # nothing listens on the discard port
    monkeypatch.setattr(publish, "BASE_WAIT_SECONDS", 0.01)
    code, _, err = run_cli(capsys, "push-dataset", openorca_artifact, "--repo-id", "hala-test/unreachable")
    assert code == 1 and "cannot reach http://127.0.0.1:9" in err and "check your network" in err
    assert len(err.strip().splitlines()) == 1


def test_missing_token(openorca_artifact, hub, monkeypatch, capsys):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_TOKEN_PATH", "/nonexistent/token")
    requests_before = len(hub.requests)
    code, _, err = run_cli(capsys, "push-dataset", openorca_artifact, "--repo-id", "hala-test/no-token")
    assert code == 1 and "no Hugging Face token found" in err and "hf auth login" in err
    assert len(hub.requests) == requests_before  # nothing was sent


def test_insufficient_rights(openorca_artifact, hub, monkeypatch, capsys):
    hub.add_read_only_token("hf_reader_token")
    monkeypatch.setenv("HF_TOKEN", "hf_reader_token")
    code, out, err = run_cli(capsys, "push-dataset", openorca_artifact, "--repo-id", "hala-test/not-mine")
    assert code == 1 and "may not push to" in err and len(err.strip().splitlines()) == 1
    assert "hf_reader_token" not in out + err


def test_token_never_printed_or_stored(work, as_tester, capsys, caplog):
    code, out, err = run_cli(capsys, "push-dataset", work, "--repo-id", "hala-test/secret", "--tag", "v1")
    assert code == 0
    assert as_tester not in out + err + caplog.text
    assert all(as_tester.encode() not in p.read_bytes() for p in work.rglob("*") if p.is_file())


def test_wrong_kind_and_missing_provenance(openorca_artifact, tiny_lfm2, as_tester, tmp_path, capsys):
    code, _, err = run_cli(capsys, "push-model", openorca_artifact, "--repo-id", "hala-test/x")
    assert code == 1 and "use push-dataset" in err
    (tmp_path / "plain").mkdir()
    code, _, err = run_cli(capsys, "push-model", tmp_path / "plain", "--repo-id", "hala-test/x", "--license", "mit")
    assert code == 1 and "has no config.json" in err  # a folder made elsewhere is staged, and must be a model


def test_branch_push_leaves_main_alone(openorca_artifact, as_tester, hub, work):
    repo = "hala-test/branched"
    push_artifact(openorca_artifact, repo, "dataset")
    main_before = hub.commits("dataset", repo)
    (work / "notes.txt").write_text("experiment")
    result = push_artifact(work, repo, "dataset", branch="dev")
    assert hub.commits("dataset", repo) == main_before
    assert hub.commits("dataset", repo, branch="dev")[0] == result.revision


def _space(folder, **overrides):
    meta = {"title": "HALA demo", "sdk": "gradio", "sdk_version": "6.31.0", "app_file": "app.py",
            "license": "apache-2.0", **overrides}
    folder.mkdir()
    header = "\n".join(f"{k}: {v}" for k, v in meta.items() if v is not None)
    (folder / "README.md").write_text(f"---\n{header}\n---\n\n# Demo\n")
    (folder / "app.py").write_text("print('hello')\n")
    (folder / "requirements.txt").write_text("transformers\n")
    return folder


def test_space_push_and_validation(as_tester, hub, tmp_path, capsys):
    space = _space(tmp_path / "space")
    code, out, err = run_cli(capsys, "push-space", space, "--repo-id", "hala-test/demo", "--tag", "v1")
    assert code == 0, err
    files = set(HfApi().list_repo_files("hala-test/demo", repo_type="space"))
    assert {"README.md", "app.py", "requirements.txt"} <= files
    bad = _space(tmp_path / "bad", sdk_version=None)
    code, _, err = run_cli(capsys, "push-space", bad, "--repo-id", "hala-test/demo2")
    assert code == 1 and "sdk_version is missing" in err


@pytest.mark.parametrize("ref, fragment", [
    ("hala-test/does-not-exist", "not found"),
    ("hala-test/pull-errors@no-such-branch", "revision 'no-such-branch' not found"),
])
def test_pull_errors_are_one_line(ref, fragment, openorca_artifact, as_tester, capsys):
    push_artifact(openorca_artifact, "hala-test/pull-errors", "dataset")
    capsys.readouterr()
    code, _, err = run_cli(capsys, "pull", ref, "--repo-type", "dataset")
    assert code == 1 and fragment in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_gated_and_private_repos(openorca_artifact, as_tester, hub, monkeypatch, capsys):
    push_artifact(openorca_artifact, "hala-test/gated", "dataset")
    hub.set_gated("dataset", "hala-test/gated")
    push_artifact(openorca_artifact, "hala-test/private", "dataset", private=True)
    hub.add_read_only_token("hf_outsider")
    monkeypatch.setenv("HF_TOKEN", "hf_outsider")
    code, _, err = run_cli(capsys, "pull", "hf://datasets/hala-test/gated")
    assert code == 1 and "is gated" in err and "request access" in err
    code, _, err = run_cli(capsys, "pull", "hf://datasets/hala-test/private")
    assert code == 1 and "not found" in err and "private" in err


def test_revision_and_commit_message_as_hf_upload(openorca_artifact, as_tester, hub, work, capsys):
    repo = "hala-test/hf-upload-flags"
    push_artifact(openorca_artifact, repo, "dataset")
    main_before = hub.commits("dataset", repo)
    (work / "notes.txt").write_text("experiment")
    code, out, err = run_cli(capsys, "push-dataset", work, "--repo-id", repo, "--revision", "dev",
                             "--commit-message", "Add the notes", "--commit-description", "Why: an experiment.")
    assert code == 0, err
    assert hub.commits("dataset", repo) == main_before  # only dev moved
    commit = HfApi().list_repo_commits(repo, repo_type="dataset", revision="dev")[0]
    assert commit.commit_id == hub.commits("dataset", repo, branch="dev")[0] and f"@{commit.commit_id}" in out
    assert commit.title == "Add the notes" and commit.message == "Why: an experiment."
    (work / "notes.txt").write_text("second experiment")
    code, _, err = run_cli(capsys, "push-dataset", work, "--repo-id", repo, "--branch", "exp")  # the old name
    assert code == 0, err
    assert HfApi().list_repo_commits(repo, repo_type="dataset", revision="exp")[0].title.startswith("hala-release ")


def test_create_pr_opens_a_pull_request_and_leaves_the_branch(openorca_artifact, as_tester, hub, work, capsys):
    from hala_release.artifacts.build import ORIGIN_FILE

    repo = "hala-test/with-prs"
    push_artifact(openorca_artifact, repo, "dataset")
    main_before = hub.commits("dataset", repo)
    (work / ORIGIN_FILE).unlink(missing_ok=True)  # copied from the session's artifact, which earlier tests pushed
    (work / "notes.txt").write_text("proposed")
    code, out, err = run_cli(capsys, "push-dataset", work, "--repo-id", repo, "--create-pr",
                             "--commit-message", "Propose notes")
    assert code == 0, err
    assert hub.commits("dataset", repo) == main_before
    assert f"/datasets/{repo}/discussions/1 (revision refs/pr/1)" in out and "pull request against main" in out
    api = HfApi()
    assert "notes.txt" in api.list_repo_files(repo, repo_type="dataset", revision="refs/pr/1")
    assert "notes.txt" not in api.list_repo_files(repo, repo_type="dataset")
    pr_head = api.list_repo_commits(repo, repo_type="dataset", revision="refs/pr/1")[0]
    assert pr_head.title == "Propose notes" and f"@{pr_head.commit_id}" in out
    assert not (work / ORIGIN_FILE).exists()  # not published until merged: later cards must not name the repo

    (work / "notes.txt").write_text("proposed again")
    result = push_artifact(work, repo, "dataset", create_pr=True)
    assert result.pr_revision == "refs/pr/2" and hub.commits("dataset", repo) == main_before
    refs = api.list_repo_refs(repo, repo_type="dataset", include_pull_requests=True)
    assert [ref.ref for ref in refs.pull_requests] == ["refs/pr/1", "refs/pr/2"]
    code, _, err = run_cli(capsys, "push-dataset", work, "--repo-id", repo, "--create-pr", "--revision", "nope")
    assert code == 1 and "no branch 'nope' for a pull request" in err
    assert [ref.name for ref in api.list_repo_refs(repo, repo_type="dataset").branches] == ["main"]


def test_create_pr_with_a_tag_is_refused_before_anything_is_written(openorca_artifact, as_tester, hub, capsys):
    code, out, err = run_cli(capsys, "push-dataset", openorca_artifact, "--repo-id", "hala-test/pr-tag",
                             "--create-pr", "--tag", "v1")
    assert code == 2 and "--tag v1 cannot go with --create-pr" in err and "hf repo tag create" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not HfApi().repo_exists("hala-test/pr-tag", repo_type="dataset")


def test_a_pull_request_whose_answer_was_lost_is_found_again_not_opened_twice(openorca_artifact, as_tester, hub, work,
                                                                              capsys):
    """The Hub opened the pull request but its answer never arrived: the retry, or the user's rerun, finds the pull
    request by the marker in its description instead of opening a second one."""
    from hala_release.artifacts.build import ORIGIN_FILE

    repo = "hala-test/lost-pr"
    push_artifact(openorca_artifact, repo, "dataset")
    main_before = hub.commits("dataset", repo)
    (work / ORIGIN_FILE).unlink(missing_ok=True)
    api = HfApi()

    def pull_requests():
        return [ref.ref for ref in api.list_repo_refs(repo, repo_type="dataset", include_pull_requests=True)
                .pull_requests]

    (work / "notes.txt").write_text("proposed")
    hub.fail_next(1, status=504, methods=("POST",), path_contains="/commit/", lose_answer=True)
    result = push_artifact(work, repo, "dataset", create_pr=True, commit_description="Why: notes.", base_wait=0.01)
    assert pull_requests() == ["refs/pr/1"] and result.pr_revision == "refs/pr/1"
    assert result.revision == api.repo_info(repo, repo_type="dataset", revision="refs/pr/1").sha
    description = api.get_discussion_details(repo, 1, repo_type="dataset").events[0].content
    assert description.startswith("Why: notes.\n\n<!-- hala-release push: sha256:") and description.endswith(
        " onto main -->")

    # The answer lost for good (no retries left): the push fails, yet the Hub opened pull request 2; the rerun finds it.
    (work / "notes.txt").write_text("proposed again")
    hub.fail_next(1, status=504, methods=("POST",), path_contains="/commit/", lose_answer=True)
    with pytest.raises(HalaError):
        push_artifact(work, repo, "dataset", create_pr=True, max_retries=0)
    assert pull_requests() == ["refs/pr/1", "refs/pr/2"]
    code, out, err = run_cli(capsys, "push-dataset", work, "--repo-id", repo, "--create-pr")
    assert code == 0, err
    assert f"/datasets/{repo}/discussions/2 (revision refs/pr/2)" in out
    assert pull_requests() == ["refs/pr/1", "refs/pr/2"] and hub.commits("dataset", repo) == main_before

    # Other content, or the same content for another branch, is another pull request.
    api.create_branch(repo, repo_type="dataset", branch="dev")
    assert push_artifact(work, repo, "dataset", create_pr=True, branch="dev").pr_revision == "refs/pr/3"
    (work / "notes.txt").write_text("a third proposal")
    assert push_artifact(work, repo, "dataset", create_pr=True).pr_revision == "refs/pr/4"

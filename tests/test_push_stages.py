"""Stages that publish what they built (quantize, train, merge, and train inside `pipeline run`): --create-pr opens a
pull request as the push commands do, the publishing options are checked before the stage spends its time, and a
training recipe's hub_model_revision is the branch its artifact is pushed to."""

import shutil
from pathlib import Path

import pytest
import yaml
from huggingface_hub import HfApi

from hala_release.core.provenance import read_provenance
from hala_release.pipeline.run import run_pipeline
from hala_release.stages.sample_data.run import export_sample
from stage_helpers import run_cli

TINY_SFT = Path(__file__).resolve().parents[1] / "recipes" / "train" / "tiny-sft.yaml"


@pytest.fixture
def as_tester(hub, hub_token, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", hub_token)
    return hub_token


@pytest.fixture(scope="module")
def tulu3(tmp_path_factory):
    return export_sample("tulu3", tmp_path_factory.mktemp("data") / "tulu3")


def _pull_requests(repo: str) -> list[tuple[str, str]]:
    """(ref, target branch) of each pull request of a model repo."""
    api = HfApi()
    refs = api.list_repo_refs(repo, include_pull_requests=True).pull_requests
    return [(ref.ref, api.get_discussion_details(repo, int(ref.name)).target_branch) for ref in refs]


def _train_args(tiny_lfm2, tulu3, output) -> list[str]:
    return [TINY_SFT, f"--model_name_or_path={tiny_lfm2}", f"--dataset_name={tulu3}", f"--output_dir={output}",
            "--max_steps=1", "--save_strategy=no"]


@pytest.mark.parametrize("stage", ["quantize", "merge"])
def test_quantize_and_merge_open_a_pull_request(stage, tiny_lfm2, as_tester, hub, tmp_path, capsys):
    repo = f"hala-test/ps-{stage}-pr"
    HfApi().create_repo(repo)
    main_before = hub.commits("model", repo)
    tuned = shutil.copytree(tiny_lfm2, tmp_path / "tuned", ignore=shutil.ignore_patterns(".cache"))
    args = {"quantize": ["quantize", tiny_lfm2, "--no-verify"], "merge": ["merge", tiny_lfm2, tuned]}[stage]
    code, out, err = run_cli(capsys, *args, "--output", tmp_path / "out", "--push-to-hub", repo, "--create-pr")
    assert code == 0, err
    assert f"/{repo}/discussions/1 (revision refs/pr/1)" in out and "pull request against main" in out
    assert _pull_requests(repo) == [("refs/pr/1", "refs/heads/main")]
    assert hub.commits("model", repo) == main_before  # the branch is left as it was
    files = HfApi().list_repo_files(repo, revision="refs/pr/1")
    assert "hala_provenance.json" in files and "model.safetensors" in files


def test_train_opens_a_pull_request_against_its_hub_model_revision(tiny_lfm2, tulu3, as_tester, hub, tmp_path,
                                                                   capsys):
    repo = "hala-test/ps-train-pr"
    api = HfApi()
    api.create_repo(repo)
    api.create_branch(repo, branch="dev")
    heads = {branch: hub.commits("model", repo, branch) for branch in ("main", "dev")}
    code, out, err = run_cli(capsys, "train", *_train_args(tiny_lfm2, tulu3, tmp_path / "sft"),
                             "--hub_model_revision=dev", "--push-to-hub", repo, "--create-pr")
    assert code == 0, err
    assert "pull request against dev" in out and f"/{repo}/discussions/1 (revision refs/pr/1)" in out
    assert _pull_requests(repo) == [("refs/pr/1", "refs/heads/dev")]
    assert {branch: hub.commits("model", repo, branch) for branch in heads} == heads


@pytest.mark.parametrize("argv", [
    ["quantize", "MODEL", "--output", "OUT"],
    ["merge", "MODEL", "MODEL", "--output", "OUT"],
    ["train", TINY_SFT, "--output_dir=OUT"],
])
def test_publishing_options_are_checked_before_the_stage_runs(argv, tiny_lfm2, tmp_path, capsys):
    argv = [str(tiny_lfm2) if a == "MODEL" else str(a).replace("OUT", str(tmp_path / "out")) for a in argv]
    code, _, err = run_cli(capsys, *argv, "--create-pr")
    assert code == 2 and "--create-pr opens a pull request with the pushed artifact: add --push-to-hub" in err
    code, _, err = run_cli(capsys, *argv, "--push-to-hub", "hala-test/x", "--create-pr", "--tag", "v1")
    assert code == 2 and "--tag v1 cannot go with --create-pr" in err
    code, _, err = run_cli(capsys, *argv, "--push-to-hub", "not-a-repo-id")
    assert code == 2 and "--push-to-hub 'not-a-repo-id' is not a Hub repo id" in err
    assert not (tmp_path / "out").exists() and "Traceback" not in err


def test_pipeline_pushes_a_train_artifact_to_its_hub_model_revision(tiny_lfm2, tulu3, as_tester, hub, tmp_path):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump({"name": "ps", "version": "v1", "stages": {"sft": {"uses": "train", "with": {
        "recipe": str(TINY_SFT), "model_name_or_path": str(tiny_lfm2), "dataset_name": str(tulu3), "max_steps": 1,
        "save_strategy": "no", "hub_model_revision": "dev"}}}}))
    run = run_pipeline(recipe, output_dir=tmp_path / "out", push_to_hub="hala-test")
    result = run.result("sft")
    assert read_provenance(tmp_path / "out" / "sft").config["recipe"]["hub_model_revision"] == "dev"
    assert hub.commits("model", "hala-test/ps-sft", "dev")[0] == result.revision
    assert result.revision not in hub.commits("model", "hala-test/ps-sft")  # main keeps only the repo's first commit
    assert result.hub_ref == f"hala-test/ps-sft@{result.revision}" and "pushed (branch dev)" in result.note
    tags = {t.name: t.target_commit for t in HfApi().list_repo_refs("hala-test/ps-sft").tags}
    assert tags == {"v1": result.revision}

    again = run_pipeline(recipe, output_dir=tmp_path / "out", push_to_hub="hala-test")  # nothing new to push
    assert again.result("sft").status == "skipped" and "already on the Hub (branch dev)" in again.result("sft").note
    assert hub.commits("model", "hala-test/ps-sft", "dev")[0] == result.revision

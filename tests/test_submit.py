"""`hala-release submit`: the leaderboard's request file, through the local Hub server, and each refusal."""

from __future__ import annotations

import json
import math
import re
import shutil

import pytest
from huggingface_hub import HfApi, hf_hub_download

from hala_release.hub.submit import parameter_count, params_billions
from stage_helpers import run_cli

REQUESTS = "hala-test/oall-requests"
MODEL = "hala-test/submit-lfm2"
REQUEST_KEYS = {"model", "base_model", "revision", "precision", "params", "architectures", "weight_type", "status",
                "submitted_time", "model_type", "job_id", "job_start_time", "use_chat_template", "sender", "likes",
                "license", "private"}


@pytest.fixture
def as_tester(hub, hub_token, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", hub_token)
    return hub_token


@pytest.fixture(scope="module")
def pushed(hub, hub_token, tiny_lfm2, tmp_path_factory):
    """A model artifact pushed (tag v1) and an empty requests dataset: what a submission needs on the Hub."""
    from hala_release.hub.publish import push_artifact

    folder = tmp_path_factory.mktemp("submit") / "model"
    shutil.copytree(tiny_lfm2, folder)  # push records its origin in the folder: never in the shared fixture
    result = push_artifact(folder, MODEL, "model", tag="v1", token=hub_token)
    api = HfApi(token=hub_token)
    api.create_repo(REQUESTS, repo_type="dataset")
    api.upload_file(path_or_fileobj=b"---\nlicense: apache-2.0\n---\nrequests\n", path_in_repo="README.md",
                    repo_id=REQUESTS, repo_type="dataset")
    return folder, result.revision


def _request(path: str, token: str) -> dict:
    return json.loads(open(hf_hub_download(REQUESTS, path, repo_type="dataset", token=token), encoding="utf-8").read())


def _params(folder) -> int:
    """Parameters counted from the safetensors files themselves."""
    from safetensors import safe_open

    total = 0
    for file in folder.glob("*.safetensors"):
        with safe_open(str(file), "pt") as handle:
            total += sum(math.prod(handle.get_slice(key).get_shape()) for key in handle.keys())
    return total


def test_request_file_lands_where_the_form_puts_it_in_one_commit(pushed, hub, as_tester, capsys):
    folder, sha = pushed
    before = len(hub.commits("dataset", REQUESTS))
    code, out, err = run_cli(capsys, "submit", f"{MODEL}@v1", "--leaderboard", "oall-v2", "--model-type", "chat",
                             "--precision", "bfloat16", "--requests-repo", REQUESTS)
    assert code == 0, err
    assert len(hub.commits("dataset", REQUESTS)) == before + 1
    path = "hala-test/submit-lfm2_eval_request_False_bfloat16_Original.json"
    files = HfApi(token=as_tester).list_repo_files(REQUESTS, repo_type="dataset")
    assert path in files and f"hf://datasets/{REQUESTS}/{path}" in out
    request = _request(path, as_tester)
    assert set(request) == REQUEST_KEYS
    assert request["model"] == MODEL and request["revision"] == sha  # the tag pinned to its commit
    assert (request["precision"], request["weight_type"], request["base_model"]) == ("bfloat16", "Original", "")
    assert request["status"] == "PENDING" and request["job_id"] == -1 and request["job_start_time"] is None
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", request["submitted_time"])
    assert request["model_type"] == "💬 : chat models (RLHF, DPO, IFT, ...)"
    assert request["use_chat_template"] is True  # on for chat models, as the form's toggle
    assert request["license"] == "apache-2.0" and request["private"] is False and request["sender"] == "tester"
    assert request["architectures"] == "Lfm2ForCausalLM"
    count = _params(folder)
    assert parameter_count(HfApi(token=as_tester), MODEL, "v1") == count > 0  # read from the Hub's headers
    assert request["params"] == round(count / 1e9, 3)
    assert params_billions(7_241_732_096, "bfloat16") == 7.242
    assert params_billions(7_241_732_096, "GPTQ") == pytest.approx(57.936)  # the form's size factor


def test_local_folder_submits_the_commit_it_was_pushed_as(pushed, hub, as_tester, capsys, tmp_path):
    folder, sha = pushed
    code, _, err = run_cli(capsys, "submit", folder, "--precision", "float16", "--requests-repo", REQUESTS)
    assert code == 0, err
    request = _request("hala-test/submit-lfm2_eval_request_False_float16_Original.json", as_tester)
    assert request["revision"] == sha and request["model"] == MODEL
    assert request["model_type"] == "🔶 : fine-tuned on domain-specific datasets"  # the form's default
    assert request["use_chat_template"] is False

    changed = tmp_path / "changed"
    shutil.copytree(folder, changed)
    (changed / "notes.txt").write_text("edited after the push")
    before = len(hub.commits("dataset", REQUESTS))
    code, _, err = run_cli(capsys, "submit", changed, "--requests-repo", REQUESTS)
    assert code == 1 and "is not on the Hub as it is" in err and "push-model" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert len(hub.commits("dataset", REQUESTS)) == before


def test_duplicate_queued_request_is_refused_until_it_finishes(pushed, hub, as_tester, capsys):
    argv = ("submit", MODEL, "--precision", "4bit", "--requests-repo", REQUESTS)
    assert run_cli(capsys, *argv)[0] == 0
    before = len(hub.commits("dataset", REQUESTS))
    code, _, err = run_cli(capsys, *argv)
    assert code == 1 and "already queued" in err and "PENDING" in err and "--precision" in err
    assert len(err.strip().splitlines()) == 1
    assert len(hub.commits("dataset", REQUESTS)) == before

    path = "hala-test/submit-lfm2_eval_request_False_4bit_Original.json"
    request = {**_request(path, as_tester), "status": "FINISHED"}
    HfApi(token=as_tester).upload_file(path_or_fileobj=json.dumps(request).encode(), path_in_repo=path,
                                       repo_id=REQUESTS, repo_type="dataset")
    code, _, err = run_cli(capsys, *argv)
    assert code == 0, err  # evaluated: the same commit may be queued again
    assert _request(path, as_tester)["status"] == "PENDING"


def _upload_model(repo_id: str, folder, token: str) -> None:
    api = HfApi(token=token)
    api.create_repo(repo_id)
    api.upload_folder(folder_path=str(folder), repo_id=repo_id)


def _bare_copy(tiny_lfm2, dest, card: str = "---\nlicense: mit\n---\nA model.\n"):
    shutil.copytree(tiny_lfm2, dest, ignore=shutil.ignore_patterns("README.md", "hala_provenance.json", ".cache"))
    (dest / "README.md").write_text(card)
    return dest


@pytest.mark.parametrize("case, fragment", [
    ("no-licence", "has no licence in its card"),
    ("pickle", "pickle weights (pytorch_model.bin)"),
    ("no-safetensors", "has no *.safetensors weights"),
    ("no-config", "has no config.json"),
])
def test_model_the_leaderboard_cannot_run_is_refused(case, fragment, pushed, tiny_lfm2, tmp_path, hub, as_tester,
                                                     capsys):
    folder = _bare_copy(tiny_lfm2, tmp_path / case, card="A model card without metadata.\n" if case == "no-licence"
                        else "---\nlicense: mit\n---\nA model.\n")
    if case == "pickle":
        (folder / "pytorch_model.bin").write_bytes(b"\x80\x04pickle")
    if case == "no-safetensors":
        for file in folder.glob("*.safetensors"):
            file.unlink()
    if case == "no-config":
        (folder / "config.json").unlink()
    _upload_model(f"hala-test/refused-{case}", folder, as_tester)
    capsys.readouterr()  # the upload's own progress bars
    before = len(hub.commits("dataset", REQUESTS))
    code, _, err = run_cli(capsys, "submit", f"hala-test/refused-{case}", "--requests-repo", REQUESTS)
    assert code == 1 and fragment in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert len(hub.commits("dataset", REQUESTS)) == before


def test_model_not_on_the_hub_is_refused(pushed, tiny_lfm2, tmp_path, hub, as_tester, capsys):
    code, _, err = run_cli(capsys, "submit", "hala-test/never-pushed", "--requests-repo", REQUESTS)
    assert code == 1 and "hala-test/never-pushed not found" in err
    fresh = tmp_path / "fresh"
    shutil.copytree(tiny_lfm2, fresh, ignore=shutil.ignore_patterns(".cache"))
    code, _, err = run_cli(capsys, "submit", fresh, "--requests-repo", REQUESTS)
    assert code == 1 and "is not on the Hub as it is" in err and f"push-model {fresh}" in err


def test_default_requests_repo_is_the_leaderboard_s_own(pushed, as_tester, capsys):
    code, _, err = run_cli(capsys, "submit", MODEL, "--leaderboard", "oall-v2")
    assert code == 1 and "OALL/requests_v2" in err  # the local Hub has no copy of OALL's queue


@pytest.mark.parametrize("argv, fragment", [
    (["--precision", "float64"], "float16, bfloat16, 8bit, 4bit, GPTQ"),
    (["--model-type", "instruct"], "pretrained, continuously-pretrained, fine-tuned, chat, merges"),
    (["--leaderboard", "open-llm"], "oall-v2"),
    (["--weight-type", "Adapter"], "needs --base-model"),
    (["--requests-repo", "no-slash"], "--requests-repo 'no-slash' is not a Hub repo id"),
])
def test_option_mistakes_name_the_fix(argv, fragment, hub, as_tester, capsys):
    requests = len(hub.requests)
    code, _, err = run_cli(capsys, "submit", MODEL, *argv)
    assert code != 0 and fragment in err, err
    assert "Traceback" not in err
    assert len(hub.requests) == requests  # refused before any Hub call

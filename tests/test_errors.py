"""User mistakes reach the user as one line that names the fix, never as a library traceback.

Most checks run the real `hala-release` console entry in a subprocess (the environment, including the local
Hub server's address, is inherited from conftest). Genuine bugs must still show their traceback.
"""

import subprocess
import sys

import httpx
import pytest

from hala_release.cli import main
from hala_release.core.errors import HalaError, UsageError, as_user_error


def _cli(*argv, env_extra=None, cwd=None):
    """Exit code and stderr of the real command line in a fresh process."""
    import os

    env = {**os.environ, **(env_extra or {})}
    result = subprocess.run([sys.executable, "-m", "hala_release.cli", *map(str, argv)], capture_output=True,
                            text=True, env=env, cwd=cwd, timeout=300)
    return result.returncode, result.stderr


def _one_line(err: str) -> str:
    """The one error line, which must end the output (progress bars of the work done before may precede it)."""
    assert "Traceback" not in err, err
    lines = [line for line in err.strip().splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], err
    return errors[0]


def test_push_with_a_malformed_repo_id(tiny_lfm2, hub, hub_token):
    code, err = _cli("push-model", tiny_lfm2, "--repo-id", "not a repo id", env_extra={"HF_TOKEN": hub_token})
    line = _one_line(err)
    assert code == 2 and "--repo-id" in line and "'not a repo id'" in line and "org/name" in line


@pytest.mark.parametrize("repo_id", ["just-a-name", "a..b/c", "org/name.git", "org/na me"])
def test_repo_ids_are_checked_before_anything_is_sent(repo_id, openorca_artifact, hub, hub_token, monkeypatch,
                                                      capsys):
    monkeypatch.setenv("HF_TOKEN", hub_token)
    requests = len(hub.requests)
    assert main(["push-dataset", str(openorca_artifact), "--repo-id", repo_id]) == 2
    assert "--repo-id" in capsys.readouterr().err
    assert len(hub.requests) == requests


def test_pull_of_a_missing_repo(hub):
    code, err = _cli("pull", "hala-test/never-pushed")
    line = _one_line(err)
    assert code == 1 and "not found" in line and "hf auth login" in line
    assert "HTTP Request" not in err  # httpx logs every request at INFO; the CLI keeps that out


def test_pull_with_a_bad_revision(openorca_artifact, hub, hub_token, monkeypatch):
    from hala_release.hub.publish import push_artifact

    monkeypatch.setenv("HF_TOKEN", hub_token)
    push_artifact(openorca_artifact, "hala-test/errors-rev", "dataset")
    code, err = _cli("pull", "hf://datasets/hala-test/errors-rev@no-such-tag")
    line = _one_line(err)
    assert code == 1 and "revision 'no-such-tag' not found" in line and "branch, tag or commit" in line
    assert "HTTP Request" not in err


def test_translate_from_a_missing_folder(tmp_path):
    code, err = _cli("translate", tmp_path / "nope", "--output", tmp_path / "out", "--engine", "dry-run")
    line = _one_line(err)
    assert code == 1 and "does not exist" in line and "check the path" in line


def test_pipeline_run_with_malformed_yaml(tmp_path):
    recipe = tmp_path / "broken.yaml"
    recipe.write_text("name: x\nversion: v1\nstages:\n\tteacher: {}\n")  # a tab cannot indent YAML
    code, err = _cli("pipeline", "run", recipe)
    line = _one_line(err)
    assert code == 2 and "broken.yaml" in line and "line 4" in line and "fix the file" in line


def test_train_with_malformed_yaml(tmp_path):
    recipe = tmp_path / "train.yaml"
    recipe.write_text("model_name_or_path: [x\n")
    code, err = _cli("train", recipe)
    line = _one_line(err)
    assert code == 2 and "train.yaml" in line and "line 2" in line


def test_malformed_prompt_template_yaml(openorca_artifact, tmp_path):
    template = tmp_path / "prompt.yaml"
    template.write_text("user: [unclosed\n")
    code, err = _cli("translate", openorca_artifact, "--output", tmp_path / "out", "--engine", "dry-run",
                     "--prompt-template", template)
    line = _one_line(err)
    assert code == 2 and "prompt.yaml" in line and "not valid YAML" in line


def test_output_into_a_missing_folder(openorca_artifact, tmp_path):
    target = tmp_path / "no" / "such" / "dir" / "lineage.md"
    code, err = _cli("lineage", openorca_artifact, "--output", target)
    line = _one_line(err)
    assert code == 1 and str(target) in line and "check the path" in line


def _http_error(cls, status: int, url: str = "http://hub.test/api/models/org/name/revision/main"):
    request = httpx.Request("GET", url, headers={"authorization": "Bearer hf_secret_token"})
    return cls(f"{status} error", response=httpx.Response(status, request=request))


@pytest.mark.parametrize("status, fragment", [(401, "hf auth login"), (403, "HF_TOKEN")])
def test_auth_failures_name_the_fix_and_never_the_token(status, fragment):
    from huggingface_hub.errors import HfHubHTTPError

    error = as_user_error(_http_error(HfHubHTTPError, status))
    assert isinstance(error, HalaError) and fragment in str(error)
    assert "org/name" in str(error) and "hf_secret" not in str(error)


def test_library_errors_map_to_one_line():
    import yaml
    from huggingface_hub.errors import (GatedRepoError, HFValidationError, RepositoryNotFoundError,
                                        RevisionNotFoundError)
    from pydantic import BaseModel, ValidationError

    class Options(BaseModel):
        batch_size: int

    with pytest.raises(ValidationError) as validation:
        Options(batch_size="many")
    with pytest.raises(yaml.YAMLError) as bad_yaml:
        yaml.safe_load("a: [1\n")
    cases = [
        (HFValidationError("Repo id must be in the form 'repo_name' or 'namespace/repo_name'"), "org/name"),
        (_http_error(RepositoryNotFoundError, 404), "model repo org/name not found"),
        (_http_error(RevisionNotFoundError, 404), "use a branch, tag or commit"),
        (_http_error(GatedRepoError, 403), "request access"),
        (validation.value, "batch_size"),
        (bad_yaml.value, "line 2"),
        (FileNotFoundError(2, "No such file or directory", "/no/such/file.txt"), "/no/such/file.txt"),
    ]
    for exc, fragment in cases:
        error = as_user_error(exc)
        assert isinstance(error, HalaError), exc
        assert fragment in str(error) and "\n" not in str(error), (exc, str(error))
    assert isinstance(as_user_error(validation.value), UsageError)


def test_genuine_bugs_keep_their_traceback(monkeypatch, tmp_path):
    import hala_release
    from hala_release.core import refs

    assert as_user_error(RuntimeError("bug")) is None
    assert as_user_error(KeyError("x")) is None
    assert as_user_error(FileNotFoundError("no filename: raised by our own code")) is None
    inside = FileNotFoundError(2, "No such file or directory", f"{hala_release.__path__[0]}/samples/gone.jsonl")
    assert as_user_error(inside) is None  # a file of the package itself missing is a bug, not a user mistake

    def broken(*args, **kwargs):
        raise RuntimeError("a genuine bug")

    monkeypatch.setattr(refs, "resolve", broken)
    with pytest.raises(RuntimeError, match="a genuine bug"):
        main(["pull", str(tmp_path)])

"""Refs: parsing every accepted form, one-line errors for malformed ones, and pinning local folders."""

from pathlib import Path

import pytest

from hala_release.cli import main
from hala_release.core.errors import HalaError, UsageError
from hala_release.core.refs import folder_content_hash, parse_ref, resolve


@pytest.mark.parametrize("text, repo_type, expected", [
    ("org/name", "model", ("model", "org/name", None, "")),
    ("org/name@v1", "dataset", ("dataset", "org/name", "v1", "")),
    ("org/name@" + "a" * 40, "model", ("model", "org/name", "a" * 40, "")),
    ("hf://datasets/org/name@rev", "model", ("dataset", "org/name", "rev", "")),
    ("hf://models/org/name", "dataset", ("model", "org/name", None, "")),
    ("hf://spaces/org/demo@main", "model", ("space", "org/demo", "main", "")),
    ("hf://datasets/org/name@v2/data/train.parquet", "dataset", ("dataset", "org/name", "v2", "data/train.parquet")),
])
def test_parse_hub_refs(text, repo_type, expected):
    ref = parse_ref(text, repo_type)
    assert not ref.is_local
    assert (ref.repo_type, ref.repo_id, ref.revision, ref.path_in_repo) == expected
    assert str(ref) == text


def test_parse_local_refs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    assert parse_ref("./data").local_path == tmp_path / "data"
    assert parse_ref(str(tmp_path)).local_path == tmp_path
    # A bare name that exists on disk is a folder, not a Hub id.
    assert parse_ref("data").is_local
    assert parse_ref("~/x").local_path == Path("~/x").expanduser().resolve()


@pytest.mark.parametrize("text, fragment", [
    ("", "empty ref"),
    ("   ", "empty ref"),
    ("org/name@", "Empty revision"),
    ("org/na me", "malformed ref"),
    ("org--x/name", "malformed ref"),
    ("hf://buckets/org/b", "hala-release reads models, datasets and spaces"),
    ("org/name/extra", "a Hub id has exactly one '/'"),
])
def test_malformed_refs_raise_usage_errors(text, fragment):
    with pytest.raises(UsageError) as info:
        parse_ref(text)
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)


def test_malformed_ref_on_the_cli_is_one_line_and_exit_2(capsys):
    code = main(["pull", "org/name/extra"])
    captured = capsys.readouterr()
    assert code == 2
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: malformed ref")
    assert "Traceback" not in captured.err


def test_missing_local_folder(tmp_path, capsys):
    with pytest.raises(HalaError, match="does not exist"):
        resolve(str(tmp_path / "nope"))
    assert main(["pull", str(tmp_path / "nope")]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_local_folder_is_pinned_by_content(tmp_path):
    folder = tmp_path / "artifact"
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "a.txt").write_text("one")
    (folder / "b.txt").write_text("two")
    first = resolve(str(folder))
    assert first.pin.startswith("sha256:") and first.path == folder
    assert resolve(str(folder)).pin == first.pin
    # Caches and VCS folders are not content.
    (folder / ".cache").mkdir()
    (folder / ".cache" / "x").write_text("noise")
    assert folder_content_hash(folder) == first.pin
    (folder / "data" / "a.txt").write_text("changed")
    assert folder_content_hash(folder) != first.pin
    # Renaming a file changes the pin even when bytes stay the same.
    (folder / "data" / "a.txt").write_text("one")
    (folder / "b.txt").rename(folder / "c.txt")
    assert folder_content_hash(folder) != first.pin
    assert first.hub_id is None
    record = first.provenance()
    assert record["source"] == "local" and record["pin"] == first.pin

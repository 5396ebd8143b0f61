"""`lineage`: the tree of inputs read back from provenance files, locally and from the Hub, as text, JSON or Mermaid."""

import json
import shutil
from pathlib import Path

import pytest

from hala_release.cli import main
from hala_release.hub.lineage import build_lineage, mermaid, render, text_lines
from hala_release.stages.mix.config import MixConfig
from hala_release.stages.mix.run import run_mix
from hala_release.hub.publish import push_artifact
from hala_release.core.refs import folder_content_hash
from hala_release.stages.sample_data.run import export_sample
from hala_release.stages.translate.config import TranslateConfig
from hala_release.stages.translate.run import run_translate


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _translate(source: str, output: Path) -> Path:
    run_translate(TranslateConfig(source=source, output=str(output), engine="dry-run"))
    return output


@pytest.fixture
def chain(tmp_path):
    """sample -> translate (dry-run engine) -> mix, the mix reading the translation twice."""
    sample = export_sample("openorca", tmp_path / "sample")
    translated = _translate(str(sample), tmp_path / "translated")
    mixed = tmp_path / "mixed"
    run_mix(MixConfig(translated=[str(translated), str(translated)], output=str(mixed), eval_size=2))
    return sample, translated, mixed


def test_local_tree_has_every_input_with_its_pin(chain, capsys):
    sample, translated, mixed = chain
    tree = build_lineage(str(mixed), "dataset")
    assert (tree.stage, tree.source, tree.pin) == ("mix", "local", folder_content_hash(mixed))
    assert [c.role for c in tree.children] == ["translated_0", "translated_1"]
    first = tree.children[0]
    assert (first.name, first.pin, first.stage) == (str(translated), folder_content_hash(translated), "translate")
    assert first.to_dict() == {**tree.children[1].to_dict(), "role": "translated_0"}
    source = first.children[0]
    assert (source.role, source.name, source.pin, source.stage) == ("source", str(sample), folder_content_hash(sample),
                                                                    "sample-data")
    rows = source.children[0]
    assert rows.source == "package" and rows.stage is None and rows.children == [] and rows.pin.startswith("sha256:")

    code, out, err = _run(capsys, "lineage", mixed, "--repo-type", "dataset")
    assert code == 0, err
    assert out.splitlines() == text_lines(tree)
    assert out.splitlines()[0] == f"{mixed} ({folder_content_hash(mixed)})  [mix]"
    assert f"├── translated_0: {translated} ({folder_content_hash(translated)})  [translate]" in out
    assert f"│   └── source: {sample} ({folder_content_hash(sample)})  [sample-data]" in out


def test_mermaid_draws_each_artifact_once(chain, tmp_path, capsys):
    _, translated, mixed = chain
    target = tmp_path / "lineage.md"
    code, out, err = _run(capsys, "lineage", mixed, "--repo-type", "dataset", "--format", "mermaid", "--output", target)
    assert code == 0 and f"written to {target}" in out
    text = target.read_text()
    lines = text.splitlines()
    assert lines[0] == "```mermaid" and lines[1] == "flowchart BT" and lines[-1] == "```"
    nodes = [line for line in lines if line.startswith("  n") and '["' in line]
    assert len(nodes) == 4  # mix, translate (read twice, drawn once), sample, package rows
    assert "  n1 -->|translated_0| n0" in lines and "  n1 -->|translated_1| n0" in lines
    assert "  n2 -->|source| n1" in lines and "translated<br/>translate · " in text
    assert text.strip() == mermaid(build_lineage(str(mixed), "dataset"))


def test_changed_or_missing_inputs_are_shown_not_followed(chain):
    sample, translated, mixed = chain
    (sample / "notes.txt").write_text("changed after use")
    node = build_lineage(str(translated), "dataset").children[0]
    assert node.note == "folder changed since it was used: not followed" and node.children == [] and node.stage is None
    shutil.rmtree(sample)
    node = build_lineage(str(translated), "dataset").children[0]
    assert node.note == "folder no longer exists" and node.children == []


def test_not_an_artifact_and_unknown_format(tmp_path, capsys, chain):
    (tmp_path / "plain").mkdir()
    code, _, err = _run(capsys, "lineage", tmp_path / "plain")
    assert code == 1 and "has no hala_provenance.json" in err and "Traceback" not in err
    code, _, err = _run(capsys, "lineage", chain[2], "--format", "dot")
    assert code == 2 and "unknown --format 'dot'" in err


def test_hub_tree_equals_local_tree(hub, hub_token, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("HF_TOKEN", hub_token)
    sample = export_sample("opus100-ar-en", tmp_path / "sample")
    pushed = push_artifact(sample, "hala-test/lineage-sample", "dataset", tag="v1")
    translated = _translate(f"hf://datasets/hala-test/lineage-sample@{pushed.revision}", tmp_path / "translated")
    top = push_artifact(translated, "hala-test/lineage-translated", "dataset", tag="v1")

    local = build_lineage(str(translated), "dataset")
    remote = build_lineage("hf://datasets/hala-test/lineage-translated@v1")
    assert (remote.source, remote.name, remote.pin) == ("hub", "hala-test/lineage-translated", top.revision)
    assert [c.to_dict() for c in remote.children] == [c.to_dict() for c in local.children]
    child = remote.children[0]
    assert (child.source, child.name, child.pin, child.stage) == ("hub", "hala-test/lineage-sample", pushed.revision,
                                                                  "sample-data")
    assert render(remote, "text").splitlines()[1] == (f"└── source: hala-test/lineage-sample@{pushed.revision}  "
                                                      f"[sample-data]")
    code, out, err = _run(capsys, "lineage", "hala-test/lineage-translated@v1", "--repo-type", "dataset",
                          "--format", "json")
    assert code == 0, err
    assert json.loads(out) == remote.to_dict()


def test_a_local_input_that_is_a_hub_commit_is_followed_on_the_hub(hub, hub_token, monkeypatch, tmp_path):
    """Read from a folder that had been pushed: the input record names the commit, so the lineage goes on through the
    Hub, also where the folder is gone (another machine, or cleaned up), and from the Hub itself."""
    from hala_release.core.provenance import read_provenance

    monkeypatch.setenv("HF_TOKEN", hub_token)
    sample = export_sample("opus100-ar-en", tmp_path / "sample")
    pushed = push_artifact(sample, "hala-test/lineage-local-pushed", "dataset")
    translated = _translate(str(sample), tmp_path / "translated")
    assert read_provenance(translated).inputs["source"]["hub_origin"]["revision"] == pushed.revision
    shutil.rmtree(sample)

    child = build_lineage(str(translated), "dataset").children[0]
    assert (child.source, child.name, child.pin, child.stage) == ("hub", "hala-test/lineage-local-pushed",
                                                                  pushed.revision, "sample-data")
    assert child.note == f"read as local {sample}, pushed as this commit"
    assert [grandchild.source for grandchild in child.children] == ["package"]  # followed on, from the Hub's copy
    top = push_artifact(translated, "hala-test/lineage-local-translated", "dataset")
    remote = build_lineage(f"hf://datasets/hala-test/lineage-local-translated@{top.revision}")
    assert [c.to_dict() for c in remote.children] == [child.to_dict()]


def test_a_local_input_pushed_after_it_was_read_is_followed_on_the_hub(hub, hub_token, monkeypatch, tmp_path):
    """The folder's own origin note counts while the content it noted is the content that was read."""
    from huggingface_hub import HfApi

    from hala_release.core.provenance import read_provenance

    monkeypatch.setenv("HF_TOKEN", hub_token)
    sample = export_sample("openorca", tmp_path / "sample")
    translated = _translate(str(sample), tmp_path / "translated")
    assert "hub_origin" not in read_provenance(translated).inputs["source"]
    pushed = push_artifact(sample, "hala-test/lineage-pushed-later", "dataset")
    (sample / "notes.txt").write_text("changed after it was pushed")  # the commit still holds what was read

    child = build_lineage(str(translated), "dataset").children[0]
    assert (child.source, child.name, child.pin, child.stage) == ("hub", "hala-test/lineage-pushed-later",
                                                                  pushed.revision, "sample-data")
    assert child.note == f"read as local {sample}, pushed as this commit"

    HfApi().delete_repo("hala-test/lineage-pushed-later", repo_type="dataset")  # the commit cannot be read any more
    child = build_lineage(str(translated), "dataset").children[0]
    assert (child.source, child.name, child.stage) == ("local", str(sample), None)
    assert child.note.startswith(f"its Hub commit hala-test/lineage-pushed-later@{pushed.revision[:12]} could not be "
                                 f"read (") and child.note.endswith("; folder changed since it was used: not followed")

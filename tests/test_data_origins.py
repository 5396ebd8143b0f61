"""Where an artifact's content came from, as its card tells it: who made each dataset's text and labels, per stage
(read back from the rendered card), and which Hub repo a pulled or pushed local folder stands for."""

import shutil

import pytest
from datasets import Dataset
from huggingface_hub import DatasetCard, HfApi

from hala_release.artifacts.build import ORIGIN_FILE, hub_origin
from hala_release.cli import main
from hala_release.hub.publish import push_artifact
from hala_release.core.refs import folder_content_hash, iter_content_files, resolve
from hala_release.stages.sample_data.run import export_sample, read_sample
from stage_helpers import run_cli


def _origins(folder) -> dict:
    meta = DatasetCard.load(folder / "README.md").data.to_dict()
    return {key: meta[key] for key in ("annotations_creators", "language_creators", "multilinguality")}


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    base = tmp_path_factory.mktemp("origin-samples")
    return {name: export_sample(name, base / name) for name in ("openorca", "opus100-ar-en")}


@pytest.fixture(scope="module")
def translated(samples, tmp_path_factory):
    out = tmp_path_factory.mktemp("origin-translated") / "orca-ar"
    assert main(["translate", str(samples["openorca"]), "--engine", "dry-run", "--output", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def found_pairs(tmp_path_factory):
    """A parallel corpus as a Hub source may come: data and a card that says nothing about who made it."""
    folder = tmp_path_factory.mktemp("origin-found") / "pairs"
    (folder / "data").mkdir(parents=True)
    pairs = [row for row in read_sample("opus100-ar-en") if all(text.strip() for text in row["translation"].values())]
    Dataset.from_list(pairs).to_parquet(str(folder / "data" / "train-00000-of-00001.parquet"))
    (folder / "README.md").write_text("---\nlicense: mit\nlanguage: [ar, en]\n---\n# pairs\n")
    return folder


@pytest.fixture
def as_tester(hub, hub_token, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", hub_token)
    return hub_token


def test_samples_were_written_for_the_package_and_opus_is_aligned(samples):
    assert _origins(samples["openorca"]) == {"annotations_creators": ["expert-generated"],
                                             "language_creators": ["expert-generated"],
                                             "multilinguality": ["monolingual"]}
    assert _origins(samples["opus100-ar-en"])["multilinguality"] == ["translation"]


def test_translation_keeps_the_source_text_beside_machine_translations(translated):
    assert _origins(translated) == {"annotations_creators": ["machine-generated"],
                                    "language_creators": ["expert-generated", "machine-generated"],
                                    "multilinguality": ["translation"]}


def test_judged_pairs_are_found_text_with_machine_verdicts(found_pairs, tiny_llama, tmp_path, capsys):
    out = tmp_path / "judged"
    code, _, err = run_cli(capsys, "judge", found_pairs, "--judge", tiny_llama, "--engine", "transformers",
                           "--output", out, "--threshold", "0")
    assert code == 0, err
    assert _origins(out) == {"annotations_creators": ["machine-generated"], "language_creators": ["found"],
                             "multilinguality": ["translation"]}


def test_translator_mix_of_translations_and_found_pairs(translated, found_pairs, tmp_path, capsys):
    out = tmp_path / "mix"
    code, _, err = run_cli(capsys, "mix", "--translated", translated, "--parallel", found_pairs, "--output", out)
    assert code == 0, err
    assert _origins(out) == {"annotations_creators": ["machine-generated"],
                             "language_creators": ["expert-generated", "found", "machine-generated"],
                             "multilinguality": ["translation"]}


def test_chat_mix_is_machine_text_unless_the_originals_are_kept(translated, tmp_path, capsys):
    code, _, err = run_cli(capsys, "chat-mix", "--no-language-id", "--translated", translated, "--eval-size", "4", "--output",
                           tmp_path / "ar")
    assert code == 0, err
    assert _origins(tmp_path / "ar") == {"annotations_creators": ["machine-generated"],
                                         "language_creators": ["machine-generated"],
                                         "multilinguality": ["monolingual"]}
    code, _, err = run_cli(capsys, "chat-mix", "--no-language-id", "--translated", translated, "--include-source", "--eval-size", "4",
                           "--output", tmp_path / "both")
    assert code == 0, err
    assert _origins(tmp_path / "both") == {"annotations_creators": ["machine-generated"],
                                           "language_creators": ["expert-generated", "machine-generated"],
                                           "multilinguality": ["multilingual"]}


def test_push_and_pull_record_the_commit_outside_the_content(samples, as_tester, tmp_path, capsys):
    repo = "hala-test/origin-openorca"
    work = tmp_path / "work"
    shutil.copytree(samples["openorca"], work)
    pin, files = folder_content_hash(work), set(iter_content_files(work))
    pushed = push_artifact(work, repo, "dataset")
    assert (work / ORIGIN_FILE).is_file()
    assert folder_content_hash(work) == pin and set(iter_content_files(work)) == files  # content untouched
    assert hub_origin(resolve(str(work), "dataset")) == {"repo_id": repo, "revision": pushed.revision, "how": "pushed"}
    assert hub_origin(resolve(str(work), "model")) is None  # a dataset repo never stands for a model
    assert not push_artifact(work, repo, "dataset").created_commit  # the record itself is never uploaded
    assert not any(".cache" in f for f in HfApi().list_repo_files(repo, repo_type="dataset"))

    code, out, err = run_cli(capsys, "pull", f"hf://datasets/{repo}", "--output", tmp_path / "pulled")
    assert code == 0, err
    pulled = resolve(str(tmp_path / "pulled"), "dataset")
    assert hub_origin(pulled) == {"repo_id": repo, "revision": pushed.revision, "how": "pulled"}
    code, _, err = run_cli(capsys, "translate", tmp_path / "pulled", "--engine", "dry-run", "--output",
                           tmp_path / "translated")
    assert code == 0, err
    assert DatasetCard.load(tmp_path / "translated" / "README.md").data.to_dict()["source_datasets"] == [repo]

    (tmp_path / "pulled" / "notes.txt").write_text("changed after the pull\n")
    assert hub_origin(resolve(str(tmp_path / "pulled"), "dataset")) is None  # a different artifact now
    code, _, err = run_cli(capsys, "pull", str(work), "--output", tmp_path / "local-copy")
    assert code == 0, err  # a copy of a local folder is not a pull: it keeps what the folder was (pushed), no more
    assert hub_origin(resolve(str(tmp_path / "local-copy"), "dataset"))["how"] == "pushed"

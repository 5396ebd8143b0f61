"""push-dataset / push-model on folders made elsewhere: Parquet, JSON Lines, CSV, `save_to_disk`, safetensors.

Each format is pushed to the local Hub server through the real CLI, loaded back with `datasets` (from the server)
or `transformers` (from the pulled folder), and its card and provenance are checked. The user's folder is never
changed.
"""

import hashlib
import json
import shutil

import pytest
from huggingface_hub import DatasetCard, HfApi, ModelCard, hf_hub_download

from hala_release.core.refs import folder_content_hash
from stage_helpers import run_cli

ROWS = {
    "train": [{"id": i, "question": f"question {i}", "answer": f"جواب {i}"} for i in range(7)],
    "test": [{"id": 100 + i, "question": f"held out {i}", "answer": f"مختبر {i}"} for i in range(3)],
}


@pytest.fixture
def as_tester(hub, hub_token, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", hub_token)
    return hub_token


def _sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _write_parquet(path, rows):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path)


def _write_jsonl(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")


def _write_csv(path, rows):
    import csv

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _remote_meta(repo, repo_type="dataset"):
    api = HfApi()
    card = hf_hub_download(repo, "README.md", repo_type=repo_type)
    prov = json.loads(open(hf_hub_download(repo, "hala_provenance.json", repo_type=repo_type)).read())
    files = set(api.list_repo_files(repo, repo_type=repo_type))
    cls = DatasetCard if repo_type == "dataset" else ModelCard
    return cls.load(card).data.to_dict(), prov, files


def _push_and_check_dataset(folder, repo, hub, capsys, expected_rows, *extra):
    from datasets import load_dataset

    before = folder_content_hash(folder)
    code, out, err = run_cli(capsys, "push-dataset", folder, "--repo-id", repo, "--license", "cc-by-4.0",
                             "--language", "ar", "--language", "en", "--tag", "v1", *extra)
    assert code == 0, err
    assert folder_content_hash(folder) == before  # the user's folder is read, never changed
    commits = hub.commits("dataset", repo)
    assert len(commits) == 2  # the repo's first commit + one commit for everything
    assert f"hf://datasets/{repo}@{commits[0]}" in out

    for split, rows in expected_rows.items():
        loaded = load_dataset(repo, revision="v1", split=split)
        assert loaded.to_list() == rows, split
    meta, prov, files = _remote_meta(repo)
    assert meta["license"] == "cc-by-4.0" and meta["language"] == ["ar", "en"]
    assert meta["size_categories"] == ["n<1K"]
    assert {entry["split"] for entry in meta["configs"][0]["data_files"]} == set(expected_rows)
    assert prov["stage"] == "import" and prov["card"]["splits"] == {s: len(r) for s, r in expected_rows.items()}
    assert prov["inputs"]["source"]["pin"] == before
    assert {f for f in files if f.startswith("data/")}, files

    # The same folder again: the same bytes, so no new commit and the tag stays valid.
    code, out, err = run_cli(capsys, "push-dataset", folder, "--repo-id", repo, "--license", "cc-by-4.0",
                             "--language", "ar", "--language", "en", "--tag", "v1", *extra)
    assert code == 0, err
    assert "no new commit" in out and hub.commits("dataset", repo) == commits
    return meta, prov, files


def test_parquet_folder(tmp_path, as_tester, hub, capsys):
    folder = tmp_path / "my-parquet"
    _write_parquet(folder / "train.parquet", ROWS["train"])
    _write_parquet(folder / "test.parquet", ROWS["test"])
    (folder / "notes.txt").write_text("not data")
    meta, prov, files = _push_and_check_dataset(folder, "hala-test/any-parquet", hub, capsys, ROWS)
    assert "data/train-00000-of-00001.parquet" in files and "notes.txt" not in files
    # The provenance pins every source file by its SHA-256, under the name it was published as.
    pinned = prov["inputs"]["source"]["files"]
    assert pinned["train.parquet"] == {"sha256": _sha256(folder / "train.parquet"),
                                       "published_as": "data/train-00000-of-00001.parquet"}
    assert "notes.txt" not in pinned
    assert meta["pretty_name"] == "my-parquet"


def test_json_lines_folder_with_shards(tmp_path, as_tester, hub, capsys):
    folder = tmp_path / "jsonl"
    _write_jsonl(folder / "data" / "train-00000-of-00002.jsonl", ROWS["train"][:4])
    _write_jsonl(folder / "data" / "train-00001-of-00002.jsonl", ROWS["train"][4:])
    _write_jsonl(folder / "data" / "validation-00000-of-00001.jsonl", ROWS["test"])
    expected = {"train": ROWS["train"], "validation": ROWS["test"]}
    _, prov, files = _push_and_check_dataset(folder, "hala-test/any-jsonl", hub, capsys, expected)
    assert {"data/train-00000-of-00002.jsonl", "data/train-00001-of-00002.jsonl"} <= files
    assert prov["stats"]["rows"] == 10 and prov["config"]["format"] == "json"


def test_csv_folder(tmp_path, as_tester, hub, capsys):
    folder = tmp_path / "csv"
    _write_csv(folder / "train.csv", ROWS["train"])
    _write_csv(folder / "test.csv", ROWS["test"])
    _, prov, _ = _push_and_check_dataset(folder, "hala-test/any-csv", hub, capsys, ROWS)
    assert prov["config"]["format"] == "csv"


def test_save_to_disk_dataset_dict_becomes_parquet_shards(tmp_path, as_tester, hub, capsys):
    from datasets import ClassLabel, Dataset, DatasetDict, Features, Value

    features = Features({"text": Value("string"), "label": ClassLabel(names=["bad", "good"])})
    saved = DatasetDict({
        "train": Dataset.from_dict({"text": [f"t{i}" for i in range(12)], "label": [i % 2 for i in range(12)]},
                                   features=features),
        "validation": Dataset.from_dict({"text": ["v0", "v1"], "label": [1, 0]}, features=features),
    })
    folder = tmp_path / "saved"
    saved.save_to_disk(str(folder))
    expected = {name: split.to_list() for name, split in saved.items()}
    _, prov, files = _push_and_check_dataset(folder, "hala-test/any-saved", hub, capsys, expected)
    assert {f for f in files if f.startswith("data/")} == {"data/train-00000-of-00001.parquet",
                                                           "data/validation-00000-of-00001.parquet"}
    assert not any(f.endswith(".arrow") for f in files)
    assert prov["config"]["format"] == "save_to_disk"
    from datasets import load_dataset

    assert load_dataset("hala-test/any-saved", split="train").features == features  # ClassLabel kept


def test_save_to_disk_is_sharded_by_size(tmp_path, as_tester, hub, capsys, monkeypatch):
    from datasets import Dataset

    from hala_release.hub import foreign

    monkeypatch.setattr(foreign, "MAX_SHARD_BYTES", 2_000)
    rows = [{"text": "x" * 100, "n": i} for i in range(60)]
    folder = tmp_path / "one-split"
    Dataset.from_list(rows).save_to_disk(str(folder))
    _, _, files = _push_and_check_dataset(folder, "hala-test/any-sharded", hub, capsys, {"train": rows})
    shards = sorted(f for f in files if f.startswith("data/"))
    assert len(shards) > 1 and shards[0] == f"data/train-00000-of-{len(shards):05d}.parquet"


def _foreign_model(tiny_lfm2, tmp_path):
    """A model folder as `save_pretrained` writes it elsewhere: no provenance, the tool's own README."""
    folder = tmp_path / "my-model"
    shutil.copytree(tiny_lfm2, folder)
    (folder / "hala_provenance.json").unlink()
    (folder / "README.md").write_text("# my model\n")
    return folder


def test_safetensors_model_folder(tiny_lfm2, tmp_path, as_tester, hub, capsys):
    import torch
    from transformers import AutoModelForCausalLM

    folder = _foreign_model(tiny_lfm2, tmp_path)
    before = folder_content_hash(folder)
    repo = "hala-test/any-model"
    code, out, err = run_cli(capsys, "push-model", folder, "--repo-id", repo, "--license", "mit", "--language", "ar",
                             "--base-model", "LiquidAI/LFM2-350M", "--tag", "v1")
    assert code == 0, err
    assert folder_content_hash(folder) == before
    assert len(hub.commits("model", repo)) == 2

    pulled = tmp_path / "pulled"
    assert run_cli(capsys, "pull", f"{repo}@v1", "--output", pulled)[0] == 0
    model = AutoModelForCausalLM.from_pretrained(pulled)
    original = AutoModelForCausalLM.from_pretrained(folder)
    for (name, a), (_, b) in zip(model.state_dict().items(), original.state_dict().items()):
        assert torch.equal(a, b), name
    assert (pulled / "model.safetensors").read_bytes() == (folder / "model.safetensors").read_bytes()

    meta, prov, _ = _remote_meta(repo, "model")
    assert meta["license"] == "mit" and meta["language"] == ["ar"] and meta["base_model"] == "LiquidAI/LFM2-350M"
    assert meta["library_name"] == "transformers" and meta["pipeline_tag"] == "text-generation"
    assert prov["stage"] == "import" and prov["stats"]["parameters"] == model.num_parameters()
    assert prov["inputs"]["source"]["files"]["model.safetensors"]["sha256"] == _sha256(folder / "model.safetensors")
    assert "# my model" not in (pulled / "README.md").read_text()  # the card replaces the folder's own README


def test_pickle_weights_are_refused(tiny_lfm2, tmp_path, as_tester, hub, capsys):
    folder = _foreign_model(tiny_lfm2, tmp_path)
    (folder / "model.safetensors").unlink()
    (folder / "pytorch_model.bin").write_bytes(b"\x80\x04pickle")
    requests = len(hub.requests)
    code, _, err = run_cli(capsys, "push-model", folder, "--repo-id", "hala-test/pickled", "--license", "mit")
    assert code == 1 and "pytorch_model.bin" in err and "safetensors" in err and "save_pretrained" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert len(hub.requests) == requests  # refused before anything was sent


@pytest.mark.parametrize("case, argv, fragment", [
    ("no-license", [], "pass --license"),
    ("bad-language", ["--license", "mit", "--language", "Arabic"], "unknown language code 'Arabic' (did you mean ar"),
    ("bad-license", ["--license", "my-own"], "not a Hub licence id"),
    ("mixed", ["--license", "mit"], "one format"),
    ("empty", ["--license", "mit"], "no Parquet, JSON Lines or CSV files"),
])
def test_dataset_folder_mistakes_are_one_line(case, argv, fragment, tmp_path, as_tester, hub, capsys):
    folder = tmp_path / case
    folder.mkdir()
    if case != "empty":
        _write_jsonl(folder / "train.jsonl", ROWS["train"])
    if case == "mixed":
        _write_csv(folder / "test.csv", ROWS["test"])
    requests = len(hub.requests)
    code, _, err = run_cli(capsys, "push-dataset", folder, "--repo-id", f"hala-test/{case}", *argv)
    assert code in (1, 2) and fragment in err, err
    assert len(err.strip().splitlines()) == 1
    assert len(hub.requests) == requests


def test_license_from_the_folders_own_card(tmp_path, as_tester, hub, capsys):
    folder = tmp_path / "carded"
    _write_jsonl(folder / "train.jsonl", ROWS["train"])
    (folder / "README.md").write_text("---\nlicense: odc-by\nlanguage:\n- ar\n---\n# mine\n")
    code, _, err = run_cli(capsys, "push-dataset", folder, "--repo-id", "hala-test/carded")
    assert code == 0, err
    meta, _, _ = _remote_meta("hala-test/carded")
    assert meta["license"] == "odc-by" and meta["language"] == ["ar"]


def test_card_options_are_refused_for_hala_artifacts(openorca_artifact, as_tester, capsys):
    code, _, err = run_cli(capsys, "push-dataset", openorca_artifact, "--repo-id", "hala-test/x", "--license", "mit")
    assert code == 2 and "--license" in err and "hala_provenance.json" in err


def test_a_card_with_several_configs_is_refused(tmp_path, as_tester, hub, capsys):
    folder = tmp_path / "subsets"
    _write_jsonl(folder / "ar-en" / "train.jsonl", ROWS["train"])
    _write_jsonl(folder / "de-en" / "train.jsonl", ROWS["train"])
    (folder / "README.md").write_text("---\nlicense: mit\nconfigs:\n- config_name: ar-en\n  data_files: ar-en/*\n"
                                      "- config_name: de-en\n  data_files: de-en/*\n---\n")
    code, _, err = run_cli(capsys, "push-dataset", folder, "--repo-id", "hala-test/subsets")
    assert code == 1 and "declares 2 configs" in err  # never merged silently into one split


def test_model_folder_as_a_pull_request(tiny_lfm2, tmp_path, as_tester, hub, capsys):
    """A staged folder with LFS weights goes into one pull request; the tag check comes before any staging."""
    folder = _foreign_model(tiny_lfm2, tmp_path)
    repo = "hala-test/any-model-pr"
    requests = len(hub.requests)
    code, _, err = run_cli(capsys, "push-model", folder, "--repo-id", repo, "--license", "mit", "--create-pr",
                           "--tag", "v1")
    assert code == 2 and "cannot go with --create-pr" in err and len(hub.requests) == requests
    code, out, err = run_cli(capsys, "push-model", folder, "--repo-id", repo, "--license", "mit", "--create-pr",
                             "--commit-message", "Add the weights")
    assert code == 0, err
    assert "pull request: " in out and "(revision refs/pr/1)" in out
    api = HfApi()
    assert api.list_repo_files(repo) == [".gitattributes"]  # main as the repo was created
    pr_files = {f.path: f for f in api.list_repo_tree(repo, revision="refs/pr/1")}
    assert pr_files["model.safetensors"].lfs.sha256 == _sha256(folder / "model.safetensors")
    assert api.list_repo_commits(repo, revision="refs/pr/1")[0].title == "Add the weights"


def _staged_tasks(folder, tmp_path, **options) -> list[str]:
    from hala_release.hub.foreign import CardOptions, stage_folder

    staging = tmp_path / f"staging-{len(list(tmp_path.glob('staging-*')))}"
    out = stage_folder(folder, "dataset", staging, CardOptions(license="mit", **options), echo=lambda line: None)
    return DatasetCard.load(out / "README.md").data.to_dict()["task_categories"]


def test_task_categories_from_the_readme_else_the_flag_else_text_generation(tmp_path, as_tester, hub, capsys):
    folder = tmp_path / "retrieval"
    _write_jsonl(folder / "train.jsonl", ROWS["train"])
    assert _staged_tasks(folder, tmp_path) == ["text-generation"]  # nothing said: the default
    # A Hub task outside the few hala-release's own stages use is kept as the README says it.
    (folder / "README.md").write_text("---\nlicense: mit\ntask_categories:\n- text-retrieval\n---\n# mine\n")
    assert _staged_tasks(folder, tmp_path) == ["text-retrieval"]
    assert _staged_tasks(folder, tmp_path, task_categories=("question-answering",)) == ["question-answering"]
    # Through the CLI: repeatable and comma-separated, as --language; the flag replaces the README's list.
    code, _, err = run_cli(capsys, "push-dataset", folder, "--repo-id", "hala-test/tasks", "--task-categories",
                           "translation,question-answering", "--task-categories", "translation")
    assert code == 0, err
    meta, _, _ = _remote_meta("hala-test/tasks")
    assert meta["task_categories"] == ["translation", "question-answering"]


@pytest.mark.parametrize("readme, argv, fragment", [
    (None, ["--task-categories", "translate"], "--task-categories: 'translate' is not a Hub task category; did you "
                                               "mean translation"),
    ("---\nlicense: mit\ntask_categories: [chatbots]\n---\n", [],
     "README.md task_categories: 'chatbots' is not a Hub task category; see https://huggingface.co/tasks for the "
     "list, or pass --task-categories to replace it"),
])
def test_a_task_category_the_hub_does_not_know_is_refused_in_one_line(readme, argv, fragment, tmp_path, as_tester,
                                                                      hub, capsys):
    folder = tmp_path / "data"
    _write_jsonl(folder / "train.jsonl", ROWS["train"])
    if readme:
        (folder / "README.md").write_text(readme)
    requests = len(hub.requests)
    code, _, err = run_cli(capsys, "push-dataset", folder, "--repo-id", "hala-test/bad-task", "--license", "mit",
                           *argv)
    assert code == 2 and fragment in err and len(err.strip().splitlines()) == 1, err
    assert len(hub.requests) == requests  # refused before anything was sent


def test_task_categories_flag_is_refused_for_hala_artifacts(openorca_artifact, as_tester, capsys):
    code, _, err = run_cli(capsys, "push-dataset", openorca_artifact, "--repo-id", "hala-test/x",
                           "--task-categories", "translation")
    assert code == 2 and "--task-categories" in err and "hala_provenance.json" in err

"""Artifact folders are created atomically and carry a complete provenance file."""

import json

import pytest

from hala_release.artifacts.build import build_artifact, config_hash
from hala_release.core.errors import HalaError
from hala_release.core.provenance import PROVENANCE_FILE, CardFacts, read_provenance


def _card():
    return CardFacts(kind="dataset", title="t", language=["en"], task_categories=["text-generation"])


def _write(draft, rows=3):
    from datasets import Dataset

    draft.write_splits({"train": Dataset.from_dict({"text": [f"row {i}" for i in range(rows)]})})


def test_complete_artifact_has_data_card_and_provenance(tmp_path):
    out = tmp_path / "a"
    inputs = {"source": {"ref": "./x", "source": "local", "pin": "sha256:abc"}}
    with build_artifact(out, stage="unit", config={"k": 1}, card=_card(), inputs=inputs) as draft:
        assert not out.exists()  # nothing visible until complete
        with draft.timed("write"):
            _write(draft)
        draft.stats["rows"] = 3
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "data", PROVENANCE_FILE]
    assert [p.name for p in (out / "data").iterdir()] == ["train-00000-of-00001.parquet"]
    prov = read_provenance(out)
    assert prov.stage == "unit" and prov.config == {"k": 1} and prov.config_hash == config_hash({"k": 1})
    assert prov.inputs == inputs and prov.stats == {"rows": 3}
    assert set(prov.timings) == {"write", "total"} and prov.timings["total"] >= prov.timings["write"]
    assert prov.card.splits == {"train": 3} and prov.card.sample_records[0] == {"text": "row 0"}
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".hala-")]


def test_failure_leaves_nothing_behind_and_keeps_the_old_artifact(tmp_path):
    out = tmp_path / "a"
    with build_artifact(out, stage="unit", config={"v": 1}, card=_card()) as draft:
        _write(draft)
    before = (out / PROVENANCE_FILE).read_bytes()
    with pytest.raises(RuntimeError):
        with build_artifact(out, stage="unit", config={"v": 2}, card=_card(), overwrite=True) as draft:
            _write(draft)
            raise RuntimeError("killed mid-stage")
    assert (out / PROVENANCE_FILE).read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a"]


def test_existing_output_needs_overwrite(tmp_path):
    out = tmp_path / "a"
    with build_artifact(out, stage="unit", config={"v": 1}, card=_card()) as draft:
        _write(draft)
    with pytest.raises(HalaError, match="--overwrite"):
        with build_artifact(out, stage="unit", config={"v": 2}, card=_card()):
            pass
    with build_artifact(out, stage="unit", config={"v": 2}, card=_card(), overwrite=True) as draft:
        _write(draft, rows=5)
    assert read_provenance(out).config == {"v": 2}
    assert read_provenance(out).card.splits == {"train": 5}


def test_invalid_card_aborts_the_artifact(tmp_path):
    out = tmp_path / "a"
    card = _card()
    card.license = "not-a-licence"
    with pytest.raises(HalaError, match="not a Hub licence id"):
        with build_artifact(out, stage="unit", config={}, card=card) as draft:
            _write(draft)
    assert not out.exists()


def test_unreadable_provenance_is_a_clear_error(tmp_path):
    with pytest.raises(HalaError, match="not built by hala-release"):
        read_provenance(tmp_path)
    (tmp_path / PROVENANCE_FILE).write_text(json.dumps({"stage": 1}))
    with pytest.raises(HalaError, match="not a valid provenance file"):
        read_provenance(tmp_path)


def test_config_hash_is_order_independent():
    assert config_hash({"a": 1, "b": [1, 2]}) == config_hash({"b": [1, 2], "a": 1})
    assert config_hash({"a": 1}) != config_hash({"a": 2})


def _rows(count):
    return [{"id": i, "text": f"row {i} " + "x" * (i % 50)} for i in range(count)]


def _shards(folder, split="train"):
    return sorted(p.name for p in (folder / "data").glob(f"{split}-*"))


def test_small_shard_budget_writes_several_bounded_shards_that_load_back(tmp_path):
    import fnmatch

    import pyarrow.parquet as pq
    from datasets import Dataset, load_dataset
    from huggingface_hub import DatasetCard

    out, rows = tmp_path / "a", _rows(3000)
    with build_artifact(out, stage="unit", config={}, card=_card()) as draft:
        draft.write_splits({"train": Dataset.from_list(rows), "test": Dataset.from_list(rows[:10])},
                           max_shard_bytes=40_000, max_row_group_bytes=10_000)
    names = _shards(out)
    count = len(names)
    assert count >= 3 and names == [f"train-{i:05d}-of-{count:05d}.parquet" for i in range(count)]
    assert _shards(out, "test") == ["test-00000-of-00001.parquet"]
    assert not [p for p in (out / "data").iterdir() if p.name.startswith(".")]  # no temporary shard left
    groups = [pq.ParquetFile(out / "data" / n).metadata for n in names]
    assert all(meta.num_row_groups >= 2 for meta in groups[:-1])
    assert max(meta.row_group(i).num_rows for meta in groups for i in range(meta.num_row_groups)) < 1000
    assert sum(meta.num_rows for meta in groups) == 3000
    loaded = load_dataset(str(out), split="train", cache_dir=str(tmp_path / "cache"))
    assert loaded.to_list() == rows
    configs = DatasetCard.load(out / "README.md").data.configs
    patterns = {entry["split"]: entry["path"] for entry in configs[0]["data_files"]}
    assert all(fnmatch.fnmatch(f"data/{n}", patterns["train"]) for n in names)
    assert read_provenance(out).card.splits == {"train": 3000, "test": 10}


def test_same_rows_give_the_same_bytes(tmp_path):
    from datasets import Dataset

    def build(name):
        with build_artifact(tmp_path / name, stage="unit", config={}, card=_card()) as draft:
            draft.write_splits({"train": Dataset.from_list(_rows(2000))}, max_shard_bytes=30_000,
                               max_row_group_bytes=8_000)
        return {n: (tmp_path / name / "data" / n).read_bytes() for n in _shards(tmp_path / name)}

    first, second = build("a"), build("b")
    assert len(first) >= 2 and first == second


def test_streamed_batches_are_written_as_they_come(tmp_path):
    import pyarrow as pa
    from datasets import load_dataset

    out, rows, seen = tmp_path / "a", _rows(2000), []

    def batches():
        for start in range(0, 2000, 100):
            seen.append(sorted(p.name for p in draft.path.glob("data/.*")))  # shards on disk while streaming
            yield pa.RecordBatch.from_pylist(rows[start:start + 100])

    with build_artifact(out, stage="unit", config={}, card=_card()) as draft:
        draft.write_splits({"train": batches()}, max_shard_bytes=30_000, max_row_group_bytes=8_000)
    assert len(seen[-1]) >= 2  # earlier shards were finished before the last batch was read
    assert load_dataset(str(out), split="train", cache_dir=str(tmp_path / "cache")).to_list() == rows
    prov = read_provenance(out)
    assert prov.card.splits == {"train": 2000} and prov.card.sample_records[0] == rows[0]

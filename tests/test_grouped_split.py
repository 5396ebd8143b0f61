"""The out-of-core grouped split under mix and chat-mix: same bytes per seed, spill kept in its folder, shards."""

import hashlib

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from datasets import Dataset

from hala_release.artifacts.build import build_artifact
from hala_release.core.provenance import CardFacts, read_provenance
from hala_release.executors.grouped_split import GroupedSplit, _components
from stage_helpers import run_cli, split_rows


def _pairs(folder, count):
    rows = [{"translation": {"en": f"Sentence number {i} of many.", "ar": f"الجملة رقم {i % (count // 2)}."}}
            for i in range(count)]  # every Arabic sentence twice: groups of two pairs (four examples)
    card = CardFacts(kind="dataset", title="pairs", language=["en", "ar"], license="mit", task_categories=["translation"])
    with build_artifact(folder, stage="unit", config={}, card=card) as draft:
        draft.write_splits({"train": Dataset.from_list(rows)})
    return folder


def _digests(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((folder / "data").glob("*.parquet"))}


def test_same_seed_same_bytes_across_runs(tmp_path, capsys):
    pairs = _pairs(tmp_path / "pairs", 400)
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        code, _, err = run_cli(capsys, "mix", "--parallel", pairs, "--output", tmp_path / name, "--eval-size", "30",
                               "--seed", seed)
        assert code == 0, err
    assert _digests(tmp_path / "a") == _digests(tmp_path / "b") and len(_digests(tmp_path / "a")) == 2
    assert _digests(tmp_path / "c")["train-00000-of-00001.parquet"] != _digests(tmp_path / "a")[
        "train-00000-of-00001.parquet"]
    stats = read_provenance(tmp_path / "a").stats
    # a group: two pairs sharing an Arabic sentence = 2 en-ar examples + 1 ar-en (the repeat is a duplicate)
    assert stats["groups"] == 200 and stats["largest_group"] == 3 and stats["test"] == 30
    assert not list(tmp_path.glob(".hala-work-*/grouped-split"))  # the database is gone


def test_memory_limit_set_and_spill_inside_the_work_folder(tmp_path, monkeypatch):
    seen = {}
    real_close = GroupedSplit.close

    def close(self):
        if self.con is not None:
            seen["settings"] = self.con.sql("SELECT current_setting('memory_limit'), current_setting('temp_directory'), "
                                            "current_setting('threads')").fetchall()[0]
            seen["files"] = sorted(p.name for p in self.work.rglob("*"))
        real_close(self)

    monkeypatch.setattr(GroupedSplit, "close", close)
    rng = np.random.default_rng(0)
    count = 200_000
    with GroupedSplit(tmp_path / "work", seed=1, memory_limit="64MB", threads=1) as split:
        seq = np.arange(count)
        keys = rng.integers(-2**62, 2**62, size=(count, 2))
        text = pa.array([f"row {i} " + "x" * 200 for i in range(count)])
        split.add(seq, seq, keys, {"text": text}, seq, keys)
        chosen = split.split(10)
        rows = sum(b.num_rows for b in split.batches(chosen, "train", "text, seq"))  # a sort bigger than 64MB
        assert rows == count - chosen.test
    limit, temp, threads = seen["settings"]
    assert limit.endswith(("MiB", "MB")) and float(limit.split()[0]) <= 64 and threads == 1
    assert temp.startswith(str(tmp_path / "work"))
    assert {"examples.duckdb", "examples.parquet", "links.parquet"} <= set(seen["files"])
    assert not (tmp_path / "work").exists()  # database and spill removed at the end


def test_big_split_is_written_as_bounded_shards(tmp_path):
    count = 5_000
    seq = np.arange(count)
    keys = np.stack([seq, seq], axis=1)
    with GroupedSplit(tmp_path / "work", seed=0) as split:
        split.add(seq, seq, keys, {"text": pa.array([f"example {i} " + "y" * 100 for i in range(count)])}, seq, keys)
        chosen = split.split(50)
        shards, samples = split.write(tmp_path / "data", chosen, "text", max_shard_bytes=100_000,
                                      max_row_group_bytes=20_000)
    train = shards["train"]
    assert len(train) > 3 and train[0].name == f"train-00000-of-{len(train):05d}.parquet"
    assert [p.name for p in shards["test"]] == ["test-00000-of-00001.parquet"]
    assert sum(pq.ParquetFile(p).metadata.num_rows for p in train) == count - 50 and samples
    assert all(pq.ParquetFile(p).metadata.num_row_groups >= 1 for p in train)
    assert pq.ParquetFile(train[0]).metadata.row_group(0).total_byte_size < 60_000


def test_train_sorted_a_share_at_a_time_is_the_same_order(tmp_path, monkeypatch):
    """Sorting train by key ranges (so DuckDB never sorts every chat row at once) keeps the one global order."""
    import hala_release.executors.grouped_split as grouped_split

    count = 3_000
    seq = np.arange(count)
    keys = np.stack([seq % 2_500, seq % 2_500], axis=1)  # some duplicates too
    orders = []
    for sort_rows in (10**9, 97):
        monkeypatch.setattr(grouped_split, "SORT_ROWS", sort_rows)
        with GroupedSplit(tmp_path / "work", seed=5) as split:
            split.add(seq, seq, keys, {"text": pa.array([f"row {i}" for i in range(count)])}, seq, keys)
            chosen = split.split(40)
            orders.append([row for b in split.batches(chosen, "train", "seq") for row in b.column(0).to_pylist()])
    assert orders[0] == orders[1] and len(orders[0]) == 2_500 - chosen.test
    assert orders[0] != sorted(orders[0])  # shuffled, not in input order


def test_components_join_items_through_shared_keys():
    # items 3 and 7 share node 0, 7 and 9 share node 1 (through 7's two keys); 12 and 15 share node 2
    items = np.array([3, 7, 7, 9, 12, 15])
    nodes = np.array([0, 0, 1, 1, 2, 2])
    unique, groups = _components(items, nodes)
    assert unique.tolist() == [3, 7, 9, 12, 15] and groups.tolist() == [3, 3, 3, 12, 12]


def test_mix_one_group_per_shared_sentence_through_the_cli(tmp_path, capsys):
    pairs = _pairs(tmp_path / "pairs", 40)
    code, _, err = run_cli(capsys, "mix", "--parallel", pairs, "--output", tmp_path / "m", "--eval-size", "8")
    assert code == 0, err
    test = split_rows(tmp_path / "m", "test")
    arabic = {r["messages"][1]["content"] if r["direction"] == "en-ar" else r["messages"][0]["content"].split(
        "\n\n")[1] for r in test}
    assert len(test) == 9 and len(arabic) == 3  # three whole groups of 3 (eval 8, plus one pair's worth of slack)

"""Shared chunk machinery: loading inputs never returns a stale cached copy of a rebuilt folder."""

import json
import os
import sys
from pathlib import Path

import pytest

from hala_release.executors.chunks import load_split
from hala_release.core.errors import HalaError
from hala_release.core.refs import resolve
from hala_release.stages.sample_data.run import export_sample, read_sample


def test_rebuilt_folder_of_the_same_name_is_loaded_fresh(tmp_path):
    folder = tmp_path / "data"  # `datasets` alone would key its cache on this name and the README patterns
    export_sample("lamini", folder)
    first = load_split(resolve(str(folder), "dataset"), "train")
    assert first.column_names == ["instruction", "response", "instruction_source"]
    export_sample("tulu3", folder, overwrite=True)
    second = load_split(resolve(str(folder), "dataset"), "train")
    assert second.column_names == ["id", "messages", "source"] and len(second) == len(read_sample("tulu3"))


def test_missing_split_and_limit(tmp_path):
    source = resolve(str(export_sample("lamini", tmp_path / "d")), "dataset")
    assert len(load_split(source, "train", limit=5)) == 5
    with pytest.raises(HalaError, match="cannot load split 'test'"):
        load_split(source, "test")


def test_a_plan_without_finished_chunks_is_replaced(tmp_path):
    from hala_release.executors.chunks import open_plan, work_dir_for, write_chunk

    out = tmp_path / "out"
    first = open_plan(out, {"config_hash": "a"}, rows=10, chunk_size=5)
    second = open_plan(out, {"config_hash": "b"}, rows=10, chunk_size=5)  # no chunk finished: replaced
    assert second["config_hash"] == "b" and first["work_dir"] == second["work_dir"]
    import pyarrow as pa

    write_chunk(second, 0, pa.table({"x": [1]}), {"rows": 1})
    with pytest.raises(HalaError, match="different configuration"):
        open_plan(out, {"config_hash": "c"}, rows=10, chunk_size=5)
    assert work_dir_for(out).exists()


def test_split_writers_roll_shards_by_size_and_skip_empty_splits(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq
    from datasets import load_dataset

    from hala_release.executors.chunks import SplitWriters

    folder = tmp_path / "out" / "data"
    writers = SplitWriters(folder, {"train": 2500, "rejected": 0}, max_shard_bytes=25_000, max_row_group_bytes=6_000)
    rows, on_disk = [{"id": i, "text": f"sentence {i}"} for i in range(2500)], []
    for start in range(0, 2500, 250):  # chunks arrive one by one, as `chunk_tables` yields them
        table = pa.Table.from_pylist(rows[start:start + 250])
        writers.write("train", table)
        writers.write("rejected", table.slice(0, 0))
        on_disk.append(len(list(folder.glob(".train.partial-*"))))
    shards = writers.close()
    count = len(shards["train"])
    assert count >= 3 and on_disk[-1] == count  # shards were written while chunks streamed in
    assert [p.name for p in shards["train"]] == [f"train-{i:05d}-of-{count:05d}.parquet" for i in range(count)]
    assert shards["rejected"] == [] and sorted(p.name for p in folder.iterdir()) == [p.name for p in shards["train"]]
    assert all(pq.ParquetFile(p).metadata.num_row_groups >= 2 for p in shards["train"][:-1])
    assert writers.samples == rows[:3]
    loaded = load_dataset("parquet", data_files=str(folder / "train-*.parquet"), split="train",
                          cache_dir=str(tmp_path / "cache"))
    assert loaded.to_list() == rows


def _resident_kb(paths: set[str]) -> int:
    """This process's resident kB of the mappings of `paths` (from /proc/self/smaps)."""
    total, inside = 0, False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        fields = line.split(maxsplit=5)
        if "-" in fields[0] and not fields[0].endswith(":"):
            inside = len(fields) == 6 and fields[5] in paths
        elif inside and fields[0] == "Rss:":
            total += int(fields[1])
    return total


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/smaps")
def test_release_pages_gives_back_the_mapped_split_and_keeps_it_readable(tmp_path):
    """Reading a split chunk by chunk must not leave all of it resident (RSS would grow with the split); the
    dropped pages come back from the file when read again."""
    import pyarrow.compute as pc

    from hala_release.core.refs import resolve
    from hala_release.executors.chunks import release_pages

    folder = tmp_path / "big"
    folder.mkdir()
    (folder / "rows.jsonl").write_text("".join(json.dumps({"text": f"{i} " + "x" * 400}) + "\n" for i in range(20_000)))
    dataset = load_split(resolve(str(folder), "dataset"), "train")
    paths = {os.path.realpath(entry["filename"]) for entry in dataset.cache_files}
    table = dataset.with_format("arrow")[:]
    length = pc.sum(pc.utf8_length(table.column("text"))).as_py()  # touches every page
    assert _resident_kb(paths) > 4_000
    release_pages(dataset)
    assert _resident_kb(paths) < 200
    assert pc.sum(pc.utf8_length(table.column("text"))).as_py() == length

"""Resumable chunked execution shared by the dataset stages (translate, judge).

A stage's rows are cut into numbered chunks. A finished chunk is a Parquet file (plus its stats) written
atomically into a work folder beside the output; a rerun skips finished chunks, so "resume" is "run the same
command again". A plan file pins what the chunks were made from, so chunks of another configuration or input
revision are never mixed in. Runners (one engine each) process chunks in this process, in forked workers,
or on Ray; the stage then streams the chunks, in order, into its artifact.

A finished chunk proves itself: its stats record the Parquet file's size, SHA-256 and row count. A chunk whose
file or stats are damaged (a node that died mid-copy, a flipped byte) counts as not done: a rerun or the gather
does it again after one warning line, so a damaged file never stops a run nor reaches an artifact.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import math
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol

from hala_release.core.files import DamagedFile, checked_bytes, checksum, discard_damaged, write_atomic
from hala_release.core.errors import HalaError


class Runner(Protocol):
    def run(self, index: int) -> dict[str, Any]:
        """Process chunk `index`, write it with `write_chunk`, return its stats (with a "rows" count)."""

    def close(self) -> None: ...


def work_dir_for(output: Path) -> Path:
    """Chunks live beside the output (same filesystem, so Slurm tasks and reruns find them)."""
    return output.parent / f".hala-work-{output.name}"


def open_plan(output: Path, identity: dict[str, Any], rows: int, chunk_size: int) -> dict[str, Any]:
    """Create the work folder's plan, or check that an existing one was made from the same `identity`."""
    work = work_dir_for(output)
    plan = {**identity, "rows": rows, "chunk_size": chunk_size, "chunks": math.ceil(rows / chunk_size)}
    plan_file = work / "plan.json"
    existing = json.loads(plan_file.read_text()) if plan_file.exists() else None
    if existing is not None and {k: existing.get(k) for k in plan} != plan:
        if any(work.glob("chunk-*.parquet")):
            raise HalaError(f"{work} holds chunks from a different configuration or input revision: delete it "
                            f"to start over, or rerun with the original settings to resume")
        existing = None  # nothing was finished under the old plan (e.g. a run that stopped on a typo)
    if existing is None:
        work.mkdir(parents=True, exist_ok=True)
        write_atomic(plan_file, json.dumps(plan, indent=2).encode())
    return {**plan, "work_dir": str(work)}


def chunk_bounds(plan: dict[str, Any], index: int) -> tuple[int, int]:
    start = index * plan["chunk_size"]
    return start, min(start + plan["chunk_size"], plan["rows"])


def chunk_path(plan: dict[str, Any], index: int) -> Path:
    return Path(plan["work_dir"]) / f"chunk-{index:06d}.parquet"


def chunk_done(plan: dict[str, Any], index: int) -> bool:
    """Whether chunk `index` is finished and intact; a damaged one is removed (with a warning) so it is redone."""
    path = chunk_path(plan, index)
    if not path.exists():
        return False
    try:
        _verified(path)
    except DamagedFile as err:
        discard_damaged(path, f"is damaged (it {err})", path.with_suffix(".json"), then="the chunk is done again")
        return False
    return True


def chunks_finished(plan: dict[str, Any], num_shards: int) -> int:
    """How many chunks are finished. A shard of a Slurm array counts the files: checking every other shard's chunks
    would make each task read the whole output. The gather (one shard) checks each chunk, and a damaged one then
    counts as unfinished (so it is done again)."""
    if num_shards > 1:
        return sum(chunk_path(plan, i).exists() for i in range(plan["chunks"]))
    return sum(chunk_done(plan, i) for i in range(plan["chunks"]))


_VERIFIED: dict[tuple, dict[str, Any]] = {}  # identity of both files -> the stats, for chunks this process checked


def _verified(path: Path, reread: bool = False) -> tuple[dict[str, Any], bytes | None]:
    """A chunk's stats, and its bytes when they were read to check it (None when this process already checked
    the very same file and `reread` is off). Raises DamagedFile."""
    try:
        identity = tuple((str(file), status.st_size, status.st_mtime_ns, status.st_ino)
                         for file, status in ((f, f.stat()) for f in (path, path.with_suffix(".json"))))
    except OSError:
        raise DamagedFile("has no readable stats file") from None
    if identity in _VERIFIED and not reread:
        return _VERIFIED[identity], None
    try:
        stats = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise DamagedFile("has no readable stats file") from None
    if not isinstance(stats, dict) or stats.pop("check", None) != _stats_checksum(stats):
        raise DamagedFile("has a stats file that does not match its checksum")
    data = checked_bytes(path, stats.get("file"))
    _VERIFIED[identity] = stats
    return stats, data


def shard_todo(plan: dict[str, Any], num_shards: int, shard_index: int) -> list[int]:
    """This shard's unfinished chunks (shard i takes every num_shards-th chunk)."""
    return [i for i in range(plan["chunks"]) if i % num_shards == shard_index and not chunk_done(plan, i)]


def write_chunk(plan: dict[str, Any], index: int, table, stats: dict[str, Any]) -> None:
    """Stats (with the file's size, checksum and row count) first, then the Parquet file: its existence is the
    completion marker, and the stats are what it is checked against."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    data = sink.getvalue().to_pybytes()
    record = {**stats, "file": {"bytes": len(data), "sha256": checksum(data), "rows": table.num_rows}}
    record["check"] = _stats_checksum(record)
    write_atomic(chunk_path(plan, index).with_suffix(".json"), json.dumps(record).encode())
    write_atomic(chunk_path(plan, index), data)


def _stats_checksum(stats: dict[str, Any]) -> str:
    return checksum(json.dumps(stats, sort_keys=True).encode())


def chunk_stats(plan: dict[str, Any], index: int) -> dict[str, Any]:
    """A finished chunk's stats, as checked against its file."""
    return _gathered(chunk_path(plan, index))[0]


def chunk_tables(plan: dict[str, Any]) -> Iterator:
    """Every chunk's table, in order, each checked against its stats as it is read."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    for index in range(plan["chunks"]):
        path = chunk_path(plan, index)
        stats, data = _gathered(path, reread=True)  # the bytes parsed are the bytes checked
        try:
            table = pq.read_table(pa.BufferReader(data))
        except pa.ArrowException as err:
            raise _broke(path, err) from None
        if table.num_rows != stats["file"]["rows"]:
            raise _broke(path, f"{table.num_rows} rows, {stats['file']['rows']} were written")
        yield table


def _gathered(path: Path, reread: bool = False) -> tuple[dict[str, Any], bytes | None]:
    """`_verified` for a chunk the run already counted as done: if it broke since, the gather stops (it is never
    written into the artifact) with the fix."""
    try:
        return _verified(path, reread)
    except (OSError, DamagedFile) as err:
        raise _broke(path, err) from None


def _broke(path: Path, reason) -> DamagedFile:
    return DamagedFile(f"chunk {path} broke while the artifact was assembled ({reason}): rerun the same command, "
                       f"which does it again")


def total_stats(plan: dict[str, Any], nested: str = "failures") -> tuple[Counter, Counter]:
    """Numbers summed over every chunk, and the `nested` counter (failures by reason) summed likewise."""
    totals: Counter = Counter()
    inner: Counter = Counter()
    for index in range(plan["chunks"]):
        stats = dict(chunk_stats(plan, index))
        inner.update(stats.pop(nested, {}))
        totals.update({k: v for k, v in stats.items() if isinstance(v, (int, float))})
    return totals, inner


def run_local(make_runner: Callable[[], Runner], plan: dict[str, Any], todo: list[int], *, workers: int = 1,
              desc: str = "chunks") -> None:
    """Run `todo` chunks here, or in `workers` forked processes (each builds its own runner)."""
    from tqdm.auto import tqdm

    total = sum(b - a for a, b in (chunk_bounds(plan, i) for i in todo))
    began = time.perf_counter()
    tokens = 0
    with tqdm(total=total, unit="rows", desc=desc, disable=None) as bar:
        for stats in _results(make_runner, todo, workers):
            tokens += stats.get("generated_tokens", 0)
            bar.update(stats["rows"])
            if tokens:
                bar.set_postfix(tok_s=f"{tokens / max(1e-9, time.perf_counter() - began):.0f}")


def _results(make_runner: Callable[[], Runner], todo: list[int], workers: int) -> Iterator[dict[str, Any]]:
    if workers == 1:
        runner = make_runner()
        try:
            for index in todo:
                yield runner.run(index)
        finally:
            runner.close()
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("fork")  # children share the memory-mapped dataset
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker, initargs=(make_runner,)) as pool:
        yield from pool.map(_run_in_worker, todo)


_WORKER: dict[str, Runner] = {}


def _start_worker(make_runner: Callable[[], Runner]) -> None:
    _WORKER["runner"] = make_runner()


def _run_in_worker(index: int) -> dict[str, Any]:
    return _WORKER["runner"].run(index)


def counter_delta(before: dict, after: Counter) -> dict:
    """What a counter gained during one chunk."""
    return {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)}


def load_split(source, split: str, subset: str | None = None, limit: int | None = None):
    """A split of a resolved dataset ref as a `datasets.Dataset`, with errors that name the fix.

    The Arrow cache goes in a folder named after the source's pin: `datasets` keys its cache for a folder with a
    README `configs` section on the relative file patterns, so two different folders of the same name would
    otherwise share (and silently return) one cached copy.
    """
    from datasets import config as datasets_config
    from datasets import load_dataset

    cache = Path(datasets_config.HF_DATASETS_CACHE) / "hala-release" / hashlib.sha256(source.pin.encode()).hexdigest()[:20]
    try:
        dataset = load_dataset(str(source.path), subset, split=split, cache_dir=str(cache))
    except ValueError as err:
        message = str(err).splitlines()[0]
        raise HalaError(f"cannot load split {split!r} (subset {subset!r}) from {source.ref.text}: {message}; "
                        f"check --split and --subset") from None
    give_back_memory(dataset)
    if limit is not None:
        dataset = dataset.select(range(min(limit, len(dataset))))
    if len(dataset) == 0:
        raise HalaError(f"split {split!r} of {source.ref.text} has no rows")
    return dataset


_MADV_DONTNEED = 4  # Linux: drop the pages from this process; a file mapping's pages come back from the file


def give_back_memory(dataset=None) -> None:
    """Return what a finished step no longer uses: Arrow's pooled buffers (the allocator keeps freed memory for
    reuse; converting a split to its Arrow cache leaves hundreds of MB there), the C heap's free pages, and the
    dataset's mapped pages. The stage's own work then starts from a small resident set instead of adding to it."""
    import gc

    import pyarrow as pa

    gc.collect()
    pa.default_memory_pool().release_unused()
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):  # another C library (musl): nothing to trim
            pass
    if dataset is not None:
        release_pages(dataset)


def arrow_batches(dataset, rows: int) -> Iterator:
    """Arrow tables of `rows` rows of `dataset`, in order, giving back the mapped cache pages read so far after
    each (a one-pass reader's RSS then stays flat however big the split)."""
    for table in dataset.with_format("arrow").iter(batch_size=rows):
        yield table
        release_pages(dataset)


def release_pages(dataset) -> None:
    """Give back this process's resident pages of the dataset's memory-mapped Arrow cache files.

    Reading a split chunk by chunk touches every page of its cache files, and a mapped page stays in the
    process's resident set until the kernel needs the memory: RSS then grows with the split's size (a 5M-row
    split is gigabytes). The mappings are read-only, so a dropped page is read again from the file (or the page
    cache) if a chunk is revisited: the data stay valid, only the residency goes. Linux only; elsewhere nothing.
    """
    if not sys.platform.startswith("linux"):
        return
    wanted = {os.path.realpath(entry["filename"]) for entry in getattr(dataset, "cache_files", None) or []}
    if not wanted:
        return
    madvise = ctypes.CDLL(None, use_errno=True).madvise
    madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    with open("/proc/self/maps") as maps:
        for line in maps:
            fields = line.rstrip("\n").split(maxsplit=5)
            if len(fields) == 6 and fields[5] in wanted:
                low, high = (int(address, 16) for address in fields[0].split("-"))
                madvise(low, high - low, _MADV_DONTNEED)


class SplitWriters:
    """Streams chunks into each split's Parquet shards (bounded size, named the way the Hub and `datasets` expect).

    `totals` names the splits; an empty split gets no file (an empty Parquet file cannot be read back by
    `datasets`). `limits` are `ShardedSplitWriter`'s byte budgets (tests use small ones).
    """

    def __init__(self, folder: Path, totals: dict[str, int], sample_split: str = "train", **limits: int):
        from hala_release.artifacts.shards import ShardedSplitWriter

        self.sample_split = sample_split
        self.splits = {name: ShardedSplitWriter(folder, name, **limits) for name in totals}
        self.samples: list[dict] = []

    def write(self, split: str, table) -> None:
        from hala_release.artifacts.build import SAMPLE_RECORDS, shorten_record

        if split == self.sample_split and len(self.samples) < SAMPLE_RECORDS:
            room = SAMPLE_RECORDS - len(self.samples)
            self.samples.extend(shorten_record(r) for r in table.slice(0, room).to_pylist())
        self.splits[split].write(table)

    def close(self) -> dict[str, list[Path]]:
        """Finish every split; returns each split's shard files."""
        return {name: writer.close() for name, writer in self.splits.items()}

"""Deduplicate, group, split and shuffle millions of examples in bounded memory, on DuckDB.

mix and chat-mix hold out whole groups: examples joined through a shared text (a sentence, a user turn) go to
train or test together, so no text is both trained on and tested. Kept as Python objects, that costs kilobytes a
row; here the rows live in Parquet files in a work folder beside the output, queried by DuckDB, and only the part
of the graph that can join anything is ever in memory.

The design, step by step:

- The stage streams Arrow batches in (`add`), appended to one Parquet file per table (an INSERT into DuckDB's
  own file cost more than making the rows): examples (a `seq` that orders them as the input did, the `item` they
  came from, a 128-bit dedup key as two BIGINT halves, and payload columns) and links (`item`, 128-bit text key).
  Seeded sort keys (`okey` for the train shuffle, `gkey` for the group order) come from a splitmix64 of the ids in
  numpy: deterministic, no per-row Python, independent of DuckDB's own hash.
- Dedup in SQL: the first example by `seq` of each dedup key is kept (`firsts`, a GROUP BY that spills).
- Groups are the connected components of items and text keys. A key that only one item has joins nothing, so
  only keys shared by two or more items get dense node numbers (in SQL); the (item, node) rows of those are
  fetched as numpy arrays and `scipy.sparse.csgraph.connected_components` labels them (a few bytes per link, in
  proportion to the shared part of the corpus, not to its size). A group's id is its smallest item, so labels do
  not depend on node numbering; items with no shared key are groups of their own (id = item). The shared items'
  ids go back to DuckDB as an Arrow table.
- Split: groups in seeded order (`gkey`, then id) go whole to test while it holds fewer than `eval_size`
  examples and the group fits within `eval_size + slack`; the rest is train, ordered by `okey`, then `seq`.
- Each split leaves as Arrow record batches (`to_arrow_reader`, sorted out of core) straight into the artifact's
  bounded Parquet shards (`SplitWriters`).

DuckDB runs with a memory limit, few threads and its spill files in the work folder, which is removed at the end
(also on failure). Same inputs and seed: the same rows in the same order, so the same bytes.
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

MEMORY_LIMIT = "256MB"  # DuckDB's buffer pool; what does not fit spills to the work folder
THREADS = 1
BATCH_ROWS = 10_000  # rows per record batch read back from DuckDB
SORT_ROWS = 250_000  # train rows DuckDB sorts at a time (it scans the examples once per such share)
_MASK = (1 << 64) - 1


def salt(*parts: Any) -> int:
    """A 64-bit constant from the seed and a purpose, so each sort key is its own shuffle."""
    return int.from_bytes(hashlib.blake2b("\0".join(map(str, parts)).encode(), digest_size=8).digest(), "big")


def mix64(values: "np.ndarray", salted: int) -> "np.ndarray":
    """splitmix64 of `values ^ salted` as int64: a seeded, order-free pseudo-random key per id."""
    import numpy as np

    z = values.astype(np.int64).view(np.uint64) ^ np.uint64(salted)
    with np.errstate(over="ignore"):
        z = z + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return (z ^ (z >> np.uint64(31))).view(np.int64)


def key_halves(digests: bytes | bytearray) -> "np.ndarray":
    """Concatenated 16-byte keys (blake2b digests, as `text.hash_key` makes them) as an (n, 2) int64 array."""
    import numpy as np

    return np.frombuffer(bytes(digests), dtype=">i8").astype(np.int64).reshape(-1, 2)


@dataclass
class Split:
    """What `GroupedSplit.split` chose: example counts and the group facts the cards and stats report."""

    train: int
    test: int
    groups: int
    largest_group: int
    test_groups: list[int] = field(default_factory=list, repr=False)


class GroupedSplit:
    """Examples and their text links in Parquet files under `work`, queried by DuckDB; use as a context manager."""

    def __init__(self, work: Path, seed: int, *, memory_limit: str = MEMORY_LIMIT, threads: int = THREADS):
        import duckdb

        self.work = Path(work)
        shutil.rmtree(self.work, ignore_errors=True)  # a killed run's leftovers: nothing in it is resumable
        self.work.mkdir(parents=True)
        self.seed = seed
        self.con = duckdb.connect(str(self.work / "examples.duckdb"), config={
            "memory_limit": memory_limit, "threads": threads, "temp_directory": str(self.work / "spill"),
            "preserve_insertion_order": False})
        self._writers: dict[str, Any] = {}
        self._prepared = False

    def __enter__(self) -> "GroupedSplit":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Close the database and remove the work folder with its spill files."""
        for writer in self._writers.values():
            writer.close()  # closing twice does nothing
        if self.con is not None:
            self.con.close()
            self.con = None
        shutil.rmtree(self.work, ignore_errors=True)
        try:
            self.work.parent.rmdir()  # the stage's work folder, when nothing else is in it
        except OSError:
            pass

    def add(self, seq: "np.ndarray", item: "np.ndarray", dedup: "np.ndarray", payload: dict[str, Any],
            link_items: "np.ndarray", link_keys: "np.ndarray") -> None:
        """Append a batch: examples (ids, (n, 2) dedup keys, payload columns) and the (item, (n, 2) key) links.

        Each item's links should be distinct; `seq` is unique across every batch.
        """
        import numpy as np
        import pyarrow as pa

        seq = np.asarray(seq, np.int64)
        item = np.asarray(item, np.int64)
        examples = pa.table({
            "seq": seq, "item": item, "dedup_hi": dedup[:, 0], "dedup_lo": dedup[:, 1],
            "okey": mix64(seq, salt(self.seed, "train order")), "gkey": mix64(item, salt(self.seed, "group order")),
            **payload})
        links = pa.table({"item": np.asarray(link_items, np.int64), "hi": link_keys[:, 0], "lo": link_keys[:, 1]})
        self._append("examples", examples)
        self._append("links", links)

    def _append(self, name: str, table: "pa.Table") -> None:
        """Append the batch to the table's Parquet file (an INSERT into DuckDB's own file cost more than making it)."""
        import pyarrow.parquet as pq

        writer = self._writers.get(name)
        if writer is None:
            writer = self._writers[name] = pq.ParquetWriter(self.work / f"{name}.parquet", table.schema,
                                                            compression="lz4")
        writer.write_table(table)

    @property
    def empty(self) -> bool:
        return "examples" not in self._writers

    def _views(self) -> None:
        """Close the Parquet files and make them DuckDB views, once every batch is in."""
        for name, writer in self._writers.items():
            writer.close()
            path = str(self.work / f"{name}.parquet").replace("'", "''")
            self.con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{path}')")

    def prepare(self) -> None:
        """Dedup and group, once: `firsts` holds the kept examples' seq, `item_groups` the shared items' groups."""
        if self._prepared:
            return
        if self.empty:
            raise ValueError("no examples were added")
        con = self.con
        self._views()
        con.execute("CREATE TABLE firsts AS SELECT min(seq) AS seq FROM examples GROUP BY dedup_hi, dedup_lo")
        con.execute("CREATE TABLE shared AS SELECT hi, lo, (row_number() OVER ()) - 1 AS node FROM "
                    "(SELECT hi, lo FROM links GROUP BY hi, lo HAVING count(*) > 1)")
        found = con.sql("SELECT l.item, s.node FROM links l JOIN shared s USING (hi, lo) ORDER BY l.item, s.node"
                        ).fetchnumpy()
        groups = _components(found["item"].astype("int64"), found["node"].astype("int64"))
        groups = {"item": groups[0], "grp": groups[1], "gkey": mix64(groups[1], salt(self.seed, "group order"))}
        con.register("incoming", _arrow(groups))
        con.execute("CREATE TABLE item_groups AS SELECT * FROM incoming")
        con.unregister("incoming")
        con.execute("CREATE VIEW kept AS SELECT e.* EXCLUDE (gkey), coalesce(g.grp, e.item) AS grp, "
                    "coalesce(g.gkey, e.gkey) AS gkey FROM examples e LEFT JOIN item_groups g USING (item) "
                    "WHERE e.seq IN (SELECT seq FROM firsts)")
        self._prepared = True

    def tally(self, *columns: str) -> dict[tuple, tuple[int, int]]:
        """(kept, total) examples per value of `columns` (payload columns, e.g. source and direction)."""
        self.prepare()
        names = ", ".join(f'e."{c}"' for c in columns)
        rows = self.con.sql(f"SELECT {names}, count(f.seq), count(*) FROM examples e LEFT JOIN firsts f "
                            f"USING (seq) GROUP BY ALL").fetchall()
        return {tuple(row[:-2]): (row[-2], row[-1]) for row in rows}

    def split(self, eval_size: int, slack: int = 0) -> Split:
        """Choose the test groups: seeded group order, whole groups while test is short of `eval_size` (a group
        that would take it past `eval_size + slack` stays in train, so one big group cannot swamp test)."""
        self.prepare()
        (groups, largest, total), = self.con.sql(
            "SELECT count(*), coalesce(max(n), 0), coalesce(sum(n), 0) FROM "
            "(SELECT grp, count(*) AS n FROM kept GROUP BY grp)").fetchall()
        chosen: list[int] = []
        test = 0
        if eval_size > 0:
            reader = self.con.sql("SELECT grp, gkey, count(*) AS n FROM kept GROUP BY grp, gkey "
                                  "ORDER BY gkey, grp").to_arrow_reader(BATCH_ROWS)
            for batch in reader:
                for group, size in zip(batch.column("grp").to_pylist(), batch.column("n").to_pylist()):
                    if test + size <= eval_size + slack:
                        chosen.append(group)
                        test += size
                        if test >= eval_size:
                            break
                if test >= eval_size:
                    break
            reader.close()
        return Split(train=int(total) - test, test=test, groups=int(groups), largest_group=int(largest),
                     test_groups=chosen)

    def batches(self, split: Split, name: str, projection: str, schema: "pa.Schema | None" = None):
        """The rows of split `name` ("train" or "test") as record batches, through the SQL `projection` of the
        kept examples' columns (cast to `schema` when given); test in group order, train shuffled."""
        import pyarrow as pa

        self.con.register("test_groups", pa.table({"grp": pa.array(split.test_groups, pa.int64())}))
        try:
            if name == "test":
                yield from self._sorted(f"SELECT {projection} FROM kept WHERE grp IN (SELECT grp FROM test_groups) "
                                        f"ORDER BY gkey, grp, seq", schema)
                return
            for low, high in _ranges(split.train):  # each range sorted apart: DuckDB sorts a bounded share
                yield from self._sorted(f"SELECT {projection} FROM kept WHERE grp NOT IN (SELECT grp FROM "
                                        f"test_groups) AND okey >= {low} AND okey <= {high} ORDER BY okey, seq",
                                        schema)
        finally:
            self.con.unregister("test_groups")

    def _sorted(self, query: str, schema: "pa.Schema | None"):
        reader = self.con.sql(query).to_arrow_reader(BATCH_ROWS)
        try:
            for batch in reader:
                yield batch.cast(schema) if schema is not None else batch
        finally:
            reader.close()

    def write(self, folder: Path, split: Split, projection: str, schema: "pa.Schema | None" = None,
              **limits: int) -> tuple[dict[str, list[Path]], list[dict]]:
        """Stream train (and test, when it has rows) into bounded Parquet shards; returns the shards and the card's
        sample records."""
        from hala_release.executors.chunks import SplitWriters

        totals = {"train": split.train, **({"test": split.test} if split.test else {})}
        writers = SplitWriters(folder, totals, **limits)
        for name in totals:
            for batch in self.batches(split, name, projection, schema):
                writers.write(name, batch)
        return writers.close(), writers.samples


def _ranges(rows: int) -> list[tuple[int, int]]:
    """Consecutive ranges covering every int64 `okey`, about SORT_ROWS rows each: the keys are uniform hashes,
    so sorting the ranges one after the other is the whole sort, and the payload of one range is what DuckDB sorts
    at a time (sorting every train row at once went past its memory limit with chat rows)."""
    count = max(1, -(-rows // SORT_ROWS))
    bounds = [-(1 << 63) + (index << 64) // count for index in range(count)] + [1 << 63]
    return [(low, high - 1) for low, high in zip(bounds, bounds[1:])]


def _components(items: "np.ndarray", nodes: "np.ndarray") -> tuple["np.ndarray", "np.ndarray"]:
    """(item, group id) for items that share a key with another item; rows sorted by item.

    Within an item its nodes are joined to its first one; a group's id is its smallest item.
    """
    import numpy as np

    if not len(items):
        return items, items
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    starts = np.flatnonzero(np.r_[True, items[1:] != items[:-1]])
    first = np.repeat(nodes[starts], np.diff(np.r_[starts, len(items)]))
    count = int(nodes.max()) + 1
    graph = coo_matrix((np.ones(len(nodes), np.int8), (first.astype(np.int32), nodes.astype(np.int32))),
                       shape=(count, count))
    _, labels = connected_components(graph, directed=False)
    unique_items = items[starts]
    label = labels[nodes[starts]]
    smallest = np.empty(label.max() + 1, np.int64)
    ordered, firsts = np.unique(label, return_index=True)  # unique_items is ascending: the first is the smallest
    smallest[ordered] = unique_items[firsts]
    return unique_items, smallest[label]


def _arrow(columns: dict[str, "np.ndarray"]) -> "pa.Table":
    import pyarrow as pa

    return pa.table({name: pa.array(values) for name, values in columns.items()})

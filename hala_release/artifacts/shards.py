"""Streaming Parquet writers for dataset splits: bounded shards and row groups, named as `datasets` names them.

Rows arrive as Arrow tables or record batches and leave in row groups of at most `MAX_ROW_GROUP_BYTES`
(uncompressed, as `datasets` sizes them; the Hub viewer reads one row group per page of rows) inside shards of at
most `MAX_SHARD_BYTES`. Only one row group is held in memory, never a whole split. The shard count is known only
at the end, so shards are written under temporary names and renamed to `<split>-0000i-of-0000n.parquet` on close.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

if TYPE_CHECKING:
    import pyarrow as pa

# `datasets`' own defaults (config.MAX_SHARD_SIZE "500MB" for push_to_hub, config.MAX_ROW_GROUP_SIZE "100MB").
MAX_SHARD_BYTES = 500_000_000
MAX_ROW_GROUP_BYTES = 100_000_000
BATCH_ROWS = 1_000  # rows read at a time from a whole `datasets.Dataset`


def shard_name(split: str, index: int, count: int) -> str:
    return f"{split}-{index:05d}-of-{count:05d}.parquet"


class ShardedSplitWriter:
    """One split written as numbered Parquet shards; the same tables in give the same bytes out."""

    def __init__(self, folder: Path, split: str, schema: "pa.Schema | None" = None, *,
                 max_shard_bytes: int = MAX_SHARD_BYTES, max_row_group_bytes: int = MAX_ROW_GROUP_BYTES):
        self.folder, self.split, self.schema = Path(folder), split, schema
        self.max_shard_bytes = max_shard_bytes
        self.max_group_bytes = max(1, min(max_row_group_bytes, max_shard_bytes))
        self.rows = 0
        self.paths: list[Path] = []
        self._buffer: list[pa.Table] = []
        self._buffered_bytes = 0
        self._writer: Any = None
        self._shard_bytes = 0

    def write(self, data: "pa.Table | pa.RecordBatch") -> None:
        """Buffer rows; every full row group goes to disk at once."""
        import pyarrow as pa

        table = pa.Table.from_batches([data]) if isinstance(data, pa.RecordBatch) else data
        if table.num_rows == 0:
            return
        if self.schema is None:
            self.schema = table.schema
        self._buffer.append(table)
        self._buffered_bytes += table.nbytes
        self.rows += table.num_rows
        while self._buffered_bytes >= self.max_group_bytes:
            self._flush_group(full=True)

    def close(self, keep_empty: bool = False) -> list[Path]:
        """Write what is left, then give the shards their final names. An empty split gets a file only on request."""
        while self._buffer:
            self._flush_group(full=False)
        if not self.paths and keep_empty and self.schema is not None:
            self._open_shard()
        self._close_shard()
        final = []
        for index, path in enumerate(self.paths):
            target = self.folder / shard_name(self.split, index, len(self.paths))
            path.rename(target)
            final.append(target)
        self.paths = final
        return final

    def _flush_group(self, full: bool) -> None:
        """Write one row group from the buffer: as many rows as fit the byte budget (at least one)."""
        import pyarrow as pa

        table = pa.concat_tables(self._buffer) if len(self._buffer) > 1 else self._buffer[0]
        take = table.num_rows
        if full and table.nbytes > self.max_group_bytes:
            take = max(1, table.num_rows * self.max_group_bytes // table.nbytes)
        group, rest = table.slice(0, take), table.slice(take)
        self._buffer = [rest] if rest.num_rows else []
        self._buffered_bytes = rest.nbytes if rest.num_rows else 0
        size = group.nbytes
        if self._writer is not None and self._shard_bytes and self._shard_bytes + size > self.max_shard_bytes:
            self._close_shard()
        if self._writer is None:
            self._open_shard()
        self._writer.write_table(group, row_group_size=group.num_rows)
        self._sink.drain()
        self._shard_bytes += size

    def _open_shard(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq
        from datasets import config as datasets_config

        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f".{self.split}.partial-{len(self.paths):05d}.parquet"
        self.paths.append(path)
        # As `Dataset.to_parquet` writes them: content-defined pages (Hub dedup) and a page index (viewer).
        self._sink = _SpooledFile(path)
        self._writer = pq.ParquetWriter(pa.PythonFile(self._sink, mode="w"), self.schema, write_page_index=True,
                                        use_content_defined_chunking=datasets_config.DEFAULT_CDC_OPTIONS)
        self._shard_bytes = 0

    def _close_shard(self) -> None:
        writer, self._writer = self._writer, None
        if writer is None:
            return
        try:
            writer.close()
            if not self._sink.failed:  # after a failed write the shard is lost: only its file handle is left to close
                self._sink.drain()
        finally:
            self._sink.release()


class _SpooledFile:
    """The file a ParquetWriter writes into: bytes collect in memory and reach the disk only from `drain`, between
    row groups. pyarrow (26) aborts the whole process when a write error, such as a full disk, reaches its
    content-defined page writer; written from here, a full disk is an ordinary OSError that the stage reports in
    one line. Memory holds at most one compressed row group."""

    def __init__(self, path: Path):
        self._file = open(path, "wb")
        self._pending = bytearray()
        self._position = 0
        self.closed = False
        self.failed = False

    def write(self, data) -> int:
        self._pending += data
        self._position += len(data)
        return len(data)

    def tell(self) -> int:
        return self._position

    def flush(self) -> None:
        """Nothing to do: `drain` writes, where a failure can be raised."""

    def close(self) -> None:
        self.closed = True  # pyarrow closes its side; the real file is closed by `release`

    def drain(self) -> None:
        try:
            if self._pending:
                self._file.write(self._pending)
                self._pending.clear()
            self._file.flush()
        except BaseException:
            self.failed = True
            self._file.close()  # the shard is lost anyway; an open handle would keep its blocks once it is removed
            raise

    def release(self) -> None:
        self._file.close()


def dataset_tables(dataset: Any, batch_rows: int = BATCH_ROWS) -> Iterable["pa.Table"]:
    """A `datasets.Dataset` (indices mapping applied) as Arrow tables of `batch_rows` rows, read lazily."""
    yield from dataset.with_format("arrow").iter(batch_size=batch_rows)


def write_split(folder: Path, split: str, data: Any, **limits: int) -> ShardedSplitWriter:
    """Write a `datasets.Dataset`, an Arrow table, or an iterable of tables/batches as one split's shards."""
    import pyarrow as pa

    schema = None
    if isinstance(data, (pa.Table, pa.RecordBatch)):
        batches: Iterable = [data]
    elif hasattr(data, "features") and hasattr(data, "with_format"):  # a `datasets.Dataset`
        schema, batches = data.features.arrow_schema, dataset_tables(data)
    else:
        batches = data
    writer = ShardedSplitWriter(folder, split, schema, **limits)
    try:
        for batch in batches:
            writer.write(batch)
        writer.close(keep_empty=True)
    except BaseException:
        writer._close_shard()
        raise
    return writer

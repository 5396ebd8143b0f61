"""A per-file SHA-256 cache keyed by file identity, so an unchanged 200 GB checkpoint re-pins without being read.

A file's hash is reused only while its path, size, mtime, ctime, inode and device are all as they were when it was
hashed. ctime cannot be set back by `touch -d`/`os.utime`, and a replaced file has a new inode, so a change is
noticed even when the mtime was put back. Timestamps are coarse, so a file changed in the last `RACY_NS` before
hashing is not cached (the "racy git" rule): it could change again without its timestamps moving.

The cache is a small SQLite file under `$HALA_CACHE_DIR/pins` (default `~/.cache/hala-release/pins`), in the
default rollback-journal mode (WAL needs shared memory, which network file systems lack), opened once per pin call
and never shared between threads; a busy timeout lets processes (Ray actors, accelerate ranks) pin at once. A cache
that cannot be opened or written is skipped with one warning: a pin is never wrong or failed because of it.

An upload declares each file's SHA-256 from here, and the Hub skips storage it already has under that hash: a
damaged entry would publish the wrong bytes. So each entry carries a checksum of its fields, and one that does not
match is hashed again; a cache file whose bytes are no longer a database is set aside and started again.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from pathlib import Path
from typing import Callable

from hala_release.core.files import fields_checksum, is_damaged_database, set_aside

log = logging.getLogger(__name__)

RACY_NS = 2_000_000_000  # a file changed this recently is hashed but not trusted later (timestamp granularity, NFS skew)
FLUSH_BYTES = 1 << 30  # write pending entries after hashing this much, so an interrupted cold pin keeps its work
BUSY_TIMEOUT_S = 60.0
TABLE = "files_v2"  # files_v1 had no per-entry checksum
SCHEMA = (f"CREATE TABLE IF NOT EXISTS {TABLE} (path TEXT PRIMARY KEY, size INTEGER NOT NULL, "
          "mtime_ns INTEGER NOT NULL, ctime_ns INTEGER NOT NULL, inode INTEGER NOT NULL, device INTEGER NOT NULL, "
          "sha256 TEXT NOT NULL, checksum TEXT NOT NULL)")
_warned = False


def cache_file() -> Path:
    """Where the cache lives: beside the translation cache, under $HALA_CACHE_DIR."""
    root = Path(os.environ.get("HALA_CACHE_DIR", Path.home() / ".cache" / "hala-release")).expanduser()
    return root / "pins" / "files.sqlite3"


def _identity(stat: os.stat_result) -> tuple[int, int, int, int, int]:
    return stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino, stat.st_dev


def _warn_once(err: Exception) -> None:
    global _warned
    if not _warned:
        _warned = True
        log.warning("pin cache %s unusable (%s); pinning reads every file", cache_file(), err)


def _open() -> sqlite3.Connection:
    path = cache_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    try:
        conn.execute(SCHEMA)
    except sqlite3.Error:
        conn.close()
        raise
    return conn


class PinCache:
    """One pin call's view of the cache: look up, hash what is missing, write it back in short transactions."""

    def __init__(self):
        self.conn: sqlite3.Connection | None = None
        self.pending: list[tuple] = []
        self.pending_bytes = 0

    def __enter__(self) -> PinCache:
        try:
            self.conn = _open()
        except sqlite3.DatabaseError as err:
            if not is_damaged_database(err):
                self._give_up(err)
                return self
            try:
                set_aside(cache_file(), "pin cache", err)
                self.conn = _open()
            except (OSError, sqlite3.Error) as again:
                self._give_up(again)
        except (OSError, sqlite3.Error) as err:
            self._give_up(err)
        return self

    def __exit__(self, *exc) -> None:
        self.flush()
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def sha256(self, path: Path, hasher: Callable[[Path], str]) -> str:
        """The file's SHA-256: from the cache when its identity is unchanged, else from `hasher` (then cached)."""
        key = os.path.abspath(path)
        before = os.stat(key)
        cached = self._lookup(key, _identity(before))
        if cached is not None:
            return cached
        started = time.time_ns()
        digest = hasher(path)
        after = os.stat(key)
        settled = max(after.st_mtime_ns, after.st_ctime_ns) < started - RACY_NS
        if settled and _identity(after) == _identity(before):  # not changed while it was read
            entry = (key, *_identity(after), digest)
            self.pending.append((*entry, fields_checksum(*entry)))
            self.pending_bytes += after.st_size
            if self.pending_bytes >= FLUSH_BYTES:
                self.flush()
        return digest

    def flush(self) -> None:
        """Write pending entries in one transaction (atomic: a reader sees all of them or none)."""
        entries, self.pending, self.pending_bytes = self.pending, [], 0
        if self.conn is None or not entries:
            return
        try:
            with self.conn:
                self.conn.execute("BEGIN IMMEDIATE")
                self.conn.executemany(f"INSERT OR REPLACE INTO {TABLE} VALUES (?, ?, ?, ?, ?, ?, ?, ?)", entries)
        except sqlite3.Error as err:
            self._give_up(err)

    def _lookup(self, key: str, identity: tuple) -> str | None:
        if self.conn is None:
            return None
        try:
            row = self.conn.execute(f"SELECT size, mtime_ns, ctime_ns, inode, device, sha256, checksum FROM {TABLE} "
                                    "WHERE path = ?", (key,)).fetchone()
        except sqlite3.Error as err:
            self._give_up(err)
            return None
        if row is None or tuple(row[:5]) != identity:
            return None
        if row[6] != fields_checksum(key, *row[:6]):
            log.warning("pin cache entry for %s is damaged: the file is hashed again", key)
            return None
        return row[5]

    def _give_up(self, err: Exception) -> None:
        _warn_once(err)
        if self.conn is not None:
            self.conn.close()
        self.conn = None


def entry_count() -> int:
    """How many files the cache knows (for tests and the benchmark)."""
    path = cache_file()
    if not path.exists():
        return 0
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S)
    try:
        return conn.execute(f"SELECT COUNT(*) FROM {TABLE}").fetchone()[0]
    finally:
        conn.close()

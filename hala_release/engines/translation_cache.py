"""A persistent, content-addressed cache of translations, so reruns and overlapping datasets cost nothing.

The key covers everything that decides the output: model and its pinned revision, prompt template text,
sampling parameters, language pair and the segment text. Only translations that passed the quality gates
are stored.

Many processes on many machines share one cache folder, often on NFS, where SQLite's locking (and WAL mode
entirely) cannot be trusted. So no file has two writers: each thread of each process writes its own file in
`pending/<context>/`, every reader consults the main file `translations.sqlite` plus the pending files present
(read-only; a file that cannot be read is skipped: a cache miss costs only a generation), and `merge()`, run by
the step that gathers a finished run, folds the pending files into the main file under a lock file and deletes
them. Connections are opened lazily in the thread that uses them: Ray Data calls an actor from another thread
than the one that built it, and a sqlite3 connection belongs to its thread.

Every entry carries a checksum of its key, text and token count, checked on each read and on merge: a byte a bad
disk flipped inside a translation would otherwise be copied into every dataset that hits it. A damaged entry or
file costs only its hits (one warning line names the file); a damaged pending file is removed at merge.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import re
import socket
import sqlite3
import threading
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from hala_release.core.disk_space import is_disk_full
from hala_release.core.files import fields_checksum, is_damaged_database, set_aside

MAIN_FILE = "translations.sqlite"
TABLE = "translations_v2"  # `translations` (no checksums) was the first format; its entries are no longer read
_SCHEMA = f"CREATE TABLE IF NOT EXISTS {TABLE} (key TEXT PRIMARY KEY, text TEXT, tokens INTEGER, checksum TEXT)"
_BATCH = 500  # keys per SELECT (SQLite limits the number of bound parameters)
_MAX_OPEN_READERS = 64  # pending files kept open per thread; more are opened per lookup

log = logging.getLogger(__name__)


def default_cache_dir() -> Path:
    return Path(os.environ.get("HALA_CACHE_DIR", Path.home() / ".cache" / "hala-release")).expanduser()


class TranslationCache:
    def __init__(self, folder: Path | str, context: dict):
        self.folder = Path(folder).expanduser()
        self.main_path = self.folder / MAIN_FILE
        # The context part of the key is hashed once; each lookup then hashes only the segment.
        self._prefix = hashlib.sha256(json.dumps(context, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
        self.pending_dir = self.folder / "pending" / self._prefix[:16]
        self._local = threading.local()
        self._token = uuid.uuid4().hex[:8]
        self._full = False

    def key(self, segment_text: str) -> str:
        return hashlib.sha256(f"{self._prefix}\0{segment_text}".encode()).hexdigest()

    def get_many(self, texts: list[str]) -> dict[str, tuple[str, int]]:
        """Cached (translation, tokens) for the texts that have one, from the main file and every pending file."""
        keys = {self.key(text): text for text in texts}
        found: dict[str, tuple[str, int]] = {}
        for path in self._readable_files():
            missing = [key for key in keys if keys[key] not in found]
            if not missing:
                break
            damaged = 0
            try:
                for key, text, tokens, check in self._select(path, missing):
                    if check == fields_checksum(key, text, tokens):
                        found[keys[key]] = (text, tokens)
                    else:
                        damaged += 1
            except sqlite3.Error as error:
                self._forget(path)  # being written, merged away or damaged: only hits are lost
                if is_damaged_database(error):
                    self._warn(path, f"cannot be read ({error})")
            if damaged:
                self._warn(path, f"has {damaged} damaged entr{'y' if damaged == 1 else 'ies'}")
        return found

    def _warn(self, path: Path, problem: str) -> None:
        """One line per damaged file and process: its entries are translated again."""
        warned = self._state().warned
        if path not in warned:
            warned.add(path)
            log.warning("translation cache: %s %s: those segments are translated again", path, problem)

    def put_many(self, items: dict[str, tuple[str, int]]) -> None:
        """Store translations. On a full disk the cache stops storing (one warning): the translations themselves
        are written to the chunks, and the cache is often on another filesystem than the output."""
        if self._full:
            return
        try:
            db = self._writer()
            with _transaction(db):
                db.executemany(f"INSERT OR REPLACE INTO {TABLE} VALUES (?, ?, ?, ?)",
                               [(key, text, tokens, fields_checksum(key, text, tokens))
                                for key, (text, tokens) in ((self.key(src), item) for src, item in items.items())])
        except (OSError, sqlite3.Error) as error:
            if not _disk_full(error):
                raise
            self._full = True
            log.warning("translation cache: the disk of %s is full (%s): this run stops adding to the cache; "
                        "free space there for later runs to reuse these translations", self.folder, error)

    def merge(self) -> int:
        """Fold this context's pending files into the main file and delete them; returns how many were merged.

        Run it once a run's chunks are all written (the gather step): a file still being written by a run of the
        same context elsewhere would lose its later entries (hits only, never translations)."""
        pending = sorted(self.pending_dir.glob("*.sqlite")) if self.pending_dir.is_dir() else []
        if not pending:
            return 0
        self.close()
        with _file_lock(self.folder / (MAIN_FILE + ".lock")):
            try:
                merged = _merge_files(self.main_path, pending)
            except (OSError, sqlite3.Error) as error:
                if _disk_full(error):
                    log.warning("translation cache: the disk of %s is full (%s): its pending files stay (still "
                                "read) for a later run to merge", self.folder, error)
                    return 0
                if not is_damaged_database(error):
                    raise
                set_aside(self.main_path, "translation cache", error)
                merged = _merge_files(self.main_path, pending)
        _remove_empty(self.pending_dir)
        return merged

    def close(self) -> None:
        """Close this thread's connections (those of other threads close with their thread's objects)."""
        state = self._state()
        for db in [state.writer, *state.readers.values()]:
            if db is not None:
                db.close()
        state.writer, state.writer_path, state.readers = None, None, {}

    def _state(self) -> threading.local:
        """This thread's connections; reset after a fork, whose child must not share the parent's files."""
        state = self._local
        if getattr(state, "pid", None) != os.getpid():
            state.pid, state.writer, state.writer_path, state.readers = os.getpid(), None, None, {}
            state.warned = set()
        return state

    def _writer(self) -> sqlite3.Connection:
        state = self._state()
        if state.writer is None:
            self.pending_dir.mkdir(parents=True, exist_ok=True)
            host = re.sub(r"[^A-Za-z0-9._-]", "_", socket.gethostname())
            name = f"{host}-{os.getpid()}-{threading.get_ident()}-{self._token}.sqlite"
            state.writer_path = self.pending_dir / name
            state.writer = _connect(state.writer_path)
        return state.writer

    def _readable_files(self) -> list[Path]:
        files = [self.main_path] if self.main_path.is_file() else []
        if self.pending_dir.is_dir():
            files += sorted(self.pending_dir.glob("*.sqlite"))
        state = self._state()
        for gone in set(state.readers) - set(files):
            self._forget(gone)
        return files

    def _select(self, path: Path, keys: list[str]) -> Iterator[tuple[str, str, int]]:
        state = self._state()
        db = state.writer if path == state.writer_path else state.readers.get(path)
        opened = db is None
        if opened:
            db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
            db.text_factory = _lenient_text
        try:
            for start in range(0, len(keys), _BATCH):
                batch = keys[start:start + _BATCH]
                yield from db.execute(
                    f"SELECT key, text, tokens, checksum FROM {TABLE} WHERE key IN ({','.join('?' * len(batch))})",
                    batch)
        finally:
            if opened and len(state.readers) < _MAX_OPEN_READERS:
                state.readers[path] = db
            elif opened:
                db.close()

    def _forget(self, path: Path) -> None:
        db = self._state().readers.pop(path, None)
        if db is not None:
            db.close()


def _disk_full(error: Exception) -> bool:
    return is_disk_full(error) or getattr(error, "sqlite_errorname", "") == "SQLITE_FULL"


def _connect(path: Path) -> sqlite3.Connection:
    """A read-write connection in rollback-journal mode (WAL needs shared memory, which NFS does not have)."""
    db = sqlite3.connect(path, timeout=60, isolation_level=None)
    db.execute("PRAGMA journal_mode=DELETE")  # also converts a file left in WAL mode by an older version
    db.execute(_SCHEMA)
    db.create_function("fields_checksum", 3, fields_checksum, deterministic=True)
    db.text_factory = _lenient_text
    return db


def _lenient_text(data: bytes) -> str:
    """A damaged byte can leave a stored text that is not UTF-8: it then fails its checksum like any other damage
    (instead of failing the whole read)."""
    return data.decode("utf-8", "replace")


def _merge_files(main_path: Path, pending: list[Path]) -> int:
    db = _connect(main_path)
    try:
        return sum(_merge_file(db, path) for path in pending)
    finally:
        db.close()


def _merge_file(db: sqlite3.Connection, path: Path) -> bool:
    """Copy one pending file's intact entries into the main file and delete it. A file that cannot be read now
    (locked) stays for a later merge; a damaged one, or one in the first format, is removed: only hits are lost.
    A damaged-file error after the pending file was found intact is the main file's, for `merge` to handle."""
    problem = _unusable(path)
    if problem:
        log.warning("translation cache: %s %s: removed, its segments are translated again when met", path, problem)
        path.unlink()
        return True
    try:
        db.execute("ATTACH DATABASE ? AS shard", (str(path),))
        try:
            with _transaction(db):
                db.execute(f"INSERT OR REPLACE INTO main.{TABLE} SELECT key, text, tokens, checksum FROM shard.{TABLE} "
                           f"WHERE checksum = fields_checksum(key, text, tokens)")
        finally:
            db.execute("DETACH DATABASE shard")
    except sqlite3.Error as error:
        if is_damaged_database(error):
            raise
        log.warning("translation cache: %s not merged (%s); a later run merges it", path, error)
        return False
    path.unlink()
    return True


def _unusable(path: Path) -> str | None:
    """Why a pending file can never be merged (damaged, or written in the first format); None if it can."""
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=60)
        try:
            verdict = db.execute("PRAGMA quick_check").fetchone()[0]
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        finally:
            db.close()
    except sqlite3.Error as error:
        return f"cannot be read ({error})" if is_damaged_database(error) else None
    if verdict != "ok":
        return f"is damaged ({verdict})"
    return None if TABLE in tables else "holds no entries in the current format"


@contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[None]:
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """One merger at a time per cache folder, across processes (and machines, where the filesystem locks)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _remove_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass  # another writer has started a file here

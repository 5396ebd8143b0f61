"""File primitives every layer shares: the one overwrite guard, atomic writes, self-checking work files and
staging links."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

from hala_release.core.errors import HalaError

log = logging.getLogger(__name__)
CHECKSUM_SUFFIX = ".sha256"
DAMAGED_DATABASE = frozenset({"SQLITE_CORRUPT", "SQLITE_NOTADB"})  # sqlite: the file's bytes are not a database


def prepare_output(path: Path | str, overwrite: bool, *, what: str = "output folder", fix: str = "--overwrite",
                   option: str = "--output") -> Path:
    """The absolute output path, refused when it exists and `overwrite` is off: stages call it before any slow
    work, so a forgotten --overwrite fails in a second rather than after hours."""
    output = Path(path).expanduser().resolve()
    if output.exists() and not overwrite:
        raise HalaError(f"{what} {output} already exists: pass {fix} to replace it, or choose another {option}")
    return output


def write_atomic(path: Path, data: bytes | str) -> None:
    """Replace one file all at once (temp file in the same folder, then rename): readers and a crash see the old
    or the new content, never half of it."""
    path = Path(path)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".hala-tmp-{path.name}-")
    try:
        os.fchmod(handle, 0o666 & ~_umask())  # mkstemp's 0600 would hide the file from the user's group
        with os.fdopen(handle, "wb") as out:
            out.write(data.encode("utf-8") if isinstance(data, str) else data)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    """The process's umask, read without changing it (os.umask sets it, which races with other threads)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    return 0o022


def link_file(source: Path, target: Path) -> None:
    """Stage a file without copying its bytes where the system allows (a symlink); the source is never written."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.symlink(source.resolve(), target)
    except OSError:
        shutil.copy2(source, target)


class DamagedFile(HalaError):
    """A work file that is missing its record, cannot be read, or does not match the checksum it was written with."""


def checksum(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fields_checksum(*fields: object) -> str:
    """A checksum of one stored record's fields (a cache entry), kept beside them so a damaged field is noticed."""
    return hashlib.sha256("\0".join(map(str, fields)).encode()).hexdigest()[:32]


def is_damaged_database(error: Exception) -> bool:
    """Whether sqlite refused a file because its bytes are no longer a database (not a lock or a full disk)."""
    return getattr(error, "sqlite_errorname", "") in DAMAGED_DATABASE


def set_aside(path: Path, what: str, reason: object) -> Path:
    """Rename a damaged file to `<name>.damaged-<time>` (kept for a look, never read again), with one warning, so
    its owner starts a new one."""
    path = Path(path)
    aside = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
    os.replace(path, aside)
    log.warning("%s: %s is damaged (%s): set aside as %s and started again", what, path, reason, aside.name)
    return aside


def checked_bytes(path: Path, record: dict) -> bytes:
    """The file's bytes, if they are the ones `record` ({"bytes": size, "sha256": hex}) describes; else DamagedFile.

    A node that dies mid-copy on a network filesystem leaves a truncated file, and a bad disk flips bytes: a rerun
    that trusted such a file would stop on it, or worse, put what it holds into an artifact."""
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise DamagedFile(f"cannot be read ({err.strerror or err})") from None
    if not isinstance(record, dict) or "sha256" not in record:
        raise DamagedFile("has no checksum record")
    if len(data) != record.get("bytes"):
        raise DamagedFile(f"holds {len(data)} bytes, {record.get('bytes')} were written")
    if checksum(data) != record["sha256"]:
        raise DamagedFile("does not match the checksum it was written with")
    return data


def write_checked(path: Path, data: bytes) -> None:
    """Write `data` atomically with a checksum file beside it (`<name>.sha256`), for `read_checked`.

    The checksum goes first: the data file's existence means both are complete."""
    path = Path(path)
    write_atomic(path.with_name(path.name + CHECKSUM_SUFFIX),
                 json.dumps({"bytes": len(data), "sha256": checksum(data)}))
    write_atomic(path, data)


def read_checked(path: Path) -> bytes | None:
    """A file written by `write_checked`: its bytes, or None when it is absent or damaged (then both files are
    removed, with one warning naming it, and the caller makes it again)."""
    path = Path(path)
    if not path.exists():
        return None
    sidecar = path.with_name(path.name + CHECKSUM_SUFFIX)
    try:
        record = json.loads(sidecar.read_text(encoding="utf-8"))
        return checked_bytes(path, record)
    except (OSError, ValueError, DamagedFile) as err:
        reason = err if isinstance(err, DamagedFile) else f"its checksum file {sidecar.name} is missing or damaged"
        discard_damaged(path, str(reason), sidecar)
        return None


def discard_damaged(path: Path, reason: str, *companions: Path, then: str = "it is made again") -> None:
    """Remove a damaged work file (and the files that describe it) with one warning line that names it."""
    log.warning("%s %s: %s", path, reason, then)
    for item in (path, *companions):
        Path(item).unlink(missing_ok=True)

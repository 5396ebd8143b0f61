"""Disk space, foreseen and explained: a stage estimates what it will write before its slow part and refuses to
start when that cannot fit; a disk that fills anyway stops the stage with one line (the folder, the space free,
what the run still needs, what was kept) instead of an `OSError` traceback.

Estimates are honest about their margin: a `SpaceNeed` carries the likely size and the least the stage could
plausibly write. A stage is refused only when even the least cannot fit; when only the likely size does not, it
warns and starts (a resumable stage loses nothing by trying). `HALA_IGNORE_SPACE_CHECK=1` starts it regardless, for
filesystems whose free space says little (transparent compression, quotas counted elsewhere).
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from hala_release.core.errors import HalaError

log = logging.getLogger(__name__)

IGNORE_ENV = "HALA_IGNORE_SPACE_CHECK"
FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT}


class DiskFullError(HalaError):
    """A stage ran out of disk space (or quota); the message says where, how much is free, and how to go on."""


@dataclass(frozen=True)
class SpaceNeed:
    """What a stage expects to write into one folder's filesystem before it finishes.

    `likely` is the estimate, `at_least` the smallest size the stage could plausibly write (equal to `likely` for a
    size known from file headers). `remaining` re-estimates after a failure, for stages that keep finished work."""

    what: str
    folder: Path
    likely: int
    at_least: int
    remaining: Callable[[], int] | None = None

    @property
    def rough(self) -> bool:
        return self.at_least < self.likely * 0.85


@dataclass
class _Watch:
    folder: Path | None
    need: SpaceNeed | None = None


_WATCH: ContextVar[_Watch | None] = ContextVar("hala_disk_watch", default=None)


def existing_folder(path: Path | str) -> Path:
    """The nearest folder that exists at or above `path`: where a folder still to be created will live."""
    path = Path(path).expanduser().absolute()
    while not path.is_dir() and path != path.parent:
        path = path.parent
    return path


def free_bytes(path: Path | str) -> int:
    """Bytes an unprivileged writer may still use on the filesystem holding `path` (or its nearest parent)."""
    return shutil.disk_usage(existing_folder(path)).free


def folder_bytes(folder: Path | str) -> int:
    """Bytes of every file under `folder` (links followed: a Hub cache snapshot's files are links)."""
    return sum(file.stat().st_size for file in Path(folder).rglob("*") if file.is_file())


def human_bytes(count: float) -> str:
    """1536 -> '1.5 KiB': binary units, as `df -h` counts."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(count) < 1024 or unit == "TiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    raise AssertionError("unreachable")


def check_room(need: SpaceNeed, *, fix: str = "choose another --output") -> None:
    """Log the estimate; refuse to start when even its lower end cannot fit, warn when only its likely size cannot.

    The need is remembered by the surrounding `explain_full_disk`, so a disk that fills later can say what the run
    still needs."""
    watch = _WATCH.get()
    if watch is not None:
        watch.need = need
    folder = existing_folder(need.folder)
    free = free_bytes(folder)
    size = _describe(need)
    if need.likely:
        log.info("%s: needs %s in %s, which has %s free", need.what, size, folder, human_bytes(free))
    if need.at_least > free and os.environ.get(IGNORE_ENV) != "1":
        raise HalaError(f"{need.what} needs {size} in {folder}, which has only {human_bytes(free)} free: free space "
                        f"there or {fix} (set {IGNORE_ENV}=1 to start anyway)")
    if need.likely > free:
        log.warning("%s may not fit: it likely needs %s in %s, which has %s free; it starts anyway (the estimate "
                    "allows less), and a full disk stops it saying what was kept", need.what,
                    human_bytes(need.likely), folder, human_bytes(free))


def _describe(need: SpaceNeed) -> str:
    if not need.rough:
        return f"about {human_bytes(need.likely)}"
    return f"about {human_bytes(need.likely)} (at least {human_bytes(need.at_least)}; a rough estimate)"


def is_disk_full(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in FULL_ERRNOS


@contextmanager
def explain_full_disk(folder: Path | str | None, what: str, kept: Callable[[], str] | str) -> Iterator[None]:
    """Turn a full disk (ENOSPC, or EDQUOT: over quota) inside the block into one `DiskFullError` line.

    `folder` is where the block writes (a failing open/mkdir names its own file, which wins); `kept` says what
    survives the failure and how to go on (a callable is asked after the failure, e.g. to count finished chunks).
    A `check_room` inside the block supplies the estimate of what the run still needs."""
    watch = _Watch(Path(folder) if folder is not None else None)
    token = _WATCH.set(watch)
    try:
        yield
    except OSError as exc:
        if not is_disk_full(exc):
            raise
        raise DiskFullError(full_disk_message(exc, watch.folder, what, kept, watch.need)) from exc
    finally:
        _WATCH.reset(token)


def full_disk_message(exc: OSError, folder: Path | None, what: str, kept: Callable[[], str] | str,
                      need: SpaceNeed | None) -> str:
    """The one line: where the disk filled, what is free now (after the stage's clean-up), what is still needed."""
    estimated = existing_folder(need.folder) if need is not None else None
    if exc.filename:
        place = existing_folder(Path(os.fsdecode(exc.filename)).parent)
    else:
        place = estimated or (existing_folder(folder) if folder is not None else None)
    full = "over quota" if exc.errno == errno.EDQUOT else "out of disk space"
    where = f" in {place} ({human_bytes(free_bytes(place))} free now)" if place is not None else ""
    still = ""
    if need is not None and place is not None and _same_filesystem(place, estimated):
        remaining = need.likely
        if need.remaining is not None:
            try:
                remaining = need.remaining()
            except Exception:  # noqa: BLE001 - the estimate is a courtesy; the full disk is the message
                log.debug("could not re-estimate what %s still needs", what, exc_info=True)
        still = f"; the run still needs about {human_bytes(remaining)} there"
    how = kept() if callable(kept) else kept
    return f"{what} ran {full}{where}{still}: {how}"


def _same_filesystem(one: Path, other: Path) -> bool:
    try:
        return one.stat().st_dev == other.stat().st_dev
    except OSError:
        return False

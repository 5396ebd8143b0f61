"""File primitives every layer shares: the one overwrite guard, atomic writes and staging links."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from hala_release.core.errors import HalaError


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
        with os.fdopen(handle, "wb") as out:
            out.write(data.encode("utf-8") if isinstance(data, str) else data)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def link_file(source: Path, target: Path) -> None:
    """Stage a file without copying its bytes where the system allows (a symlink); the source is never written."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.symlink(source.resolve(), target)
    except OSError:
        shutil.copy2(source, target)

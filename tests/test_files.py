"""One overwrite guard for every stage (`core.files.prepare_output`), checked before any slow work."""

from pathlib import Path

import pytest

from hala_release.core.errors import HalaError
from hala_release.core.files import prepare_output

PACKAGE = Path(__file__).resolve().parents[1] / "hala_release"


def test_prepare_output_refuses_an_existing_folder_unless_overwrite(tmp_path):
    (tmp_path / "out").mkdir()
    with pytest.raises(HalaError, match=r"output folder .*/out already exists: pass --overwrite to replace it, or "
                                        r"choose another --output"):
        prepare_output(tmp_path / "out", False)
    assert prepare_output(tmp_path / "out", True) == (tmp_path / "out").resolve()
    assert prepare_output(tmp_path / "new", False) == (tmp_path / "new").resolve()


def test_the_overwrite_message_is_written_once():
    """Stages call prepare_output instead of carrying their own copy of the check."""
    holders = sorted(str(path.relative_to(PACKAGE)) for path in PACKAGE.rglob("*.py")
                     if "already exists: pass" in path.read_text(encoding="utf-8"))
    assert holders == ["core/files.py"]


def test_eval_refuses_an_existing_output_before_reading_the_model(tmp_path):
    from hala_release.stages.eval.run import run_eval

    (tmp_path / "results").mkdir()
    with pytest.raises(HalaError, match="already exists: pass --overwrite"):
        run_eval(str(tmp_path / "no-such-model"), output=tmp_path / "results", fixtures=True)


def test_atomic_writes_get_the_mode_a_plain_write_gets(tmp_path):
    """A shared cluster's group reads the work files and artifacts: mkstemp alone makes them owner-only."""
    import os

    from hala_release.core.files import write_atomic

    previous = os.umask(0o022)
    try:
        write_atomic(tmp_path / "atomic.json", "{}")
        (tmp_path / "plain.json").write_text("{}")
    finally:
        os.umask(previous)
    assert (tmp_path / "atomic.json").stat().st_mode & 0o777 == (tmp_path / "plain.json").stat().st_mode & 0o777 == 0o644

"""Helpers shared by the stage tests: run the CLI in-process, read an artifact's split rows."""

from pathlib import Path

from hala_release.cli import main


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of `hala-release ARGV...`, run in this process."""
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def split_rows(folder: Path, split: str) -> list[dict]:
    """Rows of an artifact's split, read straight from its Parquet files (the `datasets` cache of a folder is
    keyed on its name and README patterns, so many test folders called "out" would share one cached copy)."""
    import pyarrow.parquet as pq

    files = sorted((Path(folder) / "data").glob(f"{split}-*.parquet"))
    return [row for file in files for row in pq.read_table(file).to_pylist()]

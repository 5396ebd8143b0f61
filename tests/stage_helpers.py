"""Helpers shared by the stage tests: run the CLI in-process, read an artifact's split rows."""

import logging
import warnings
from contextlib import contextmanager
from pathlib import Path

from hala_release.cli import main


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of `hala-release ARGV...`, run in this process."""
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@contextmanager
def library_notices():
    """Every message transformers logs (and every Python warning) while the block runs, as a list of strings.

    transformers' `warning_once` remembers what it said for the whole process, so its memory is cleared first: a
    notice an earlier test caused would otherwise never be logged here.
    """
    from transformers.utils import logging as transformers_logging

    seen: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record):
            seen.append(record.getMessage())

    transformers_logging.warning_once.cache_clear()
    handler = Keep(level=logging.DEBUG)
    logger = logging.getLogger("transformers")  # what transformers' own loggers propagate to
    logger.addHandler(handler)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield seen
        seen.extend(str(w.message) for w in caught)
    finally:
        logger.removeHandler(handler)


def split_rows(folder: Path, split: str) -> list[dict]:
    """Rows of an artifact's split, read straight from its Parquet files (the `datasets` cache of a folder is
    keyed on its name and README patterns, so many test folders called "out" would share one cached copy)."""
    import pyarrow.parquet as pq

    files = sorted((Path(folder) / "data").glob(f"{split}-*.parquet"))
    return [row for file in files for row in pq.read_table(file).to_pylist()]


def kill_after_chunks(argv: list[str], output: Path, chunks: int, timeout: float = 180) -> int:
    """Start `hala-release ARGV...` as a real process, SIGKILL it once `chunks` chunks of `output` are finished,
    and return how many were finished by then (the rerun that follows must complete the job)."""
    import signal
    import subprocess
    import sys
    import time

    from hala_release.executors.chunks import work_dir_for

    process = subprocess.Popen([sys.executable, "-m", "hala_release.cli", *map(str, argv)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    work = work_dir_for(Path(output))
    deadline = time.time() + timeout
    while len(list(work.glob("chunk-*.parquet"))) < chunks and time.time() < deadline and process.poll() is None:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    return len(list(work.glob("chunk-*.parquet")))


def serve_until_answered(argv: list, cwd: Path, env: dict, port: int, log: Path) -> bool:
    """Run a serving command until its port answers HTTP 200, then stop it as a user would (Ctrl-C)."""
    import signal
    import subprocess
    import time
    import urllib.request

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with log.open("w") as out:
        proc = subprocess.Popen([str(a) for a in argv], cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline, answered = time.monotonic() + 300, False
            while not answered and proc.poll() is None and time.monotonic() < deadline:
                try:
                    answered = opener.open(f"http://127.0.0.1:{port}/", timeout=5).status == 200
                except OSError:
                    time.sleep(1)
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    return answered

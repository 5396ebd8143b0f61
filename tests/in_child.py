"""Run part of a test in a child Python process, so that a crash there fails that one test.

The reason is Ray: a Ray driver whose local raylet dies (killed, or lost on a starved machine) ends its whole
process with exit status 1 at its next call to it and raises nothing, so a driver inside pytest ends the session
with no summary. Every Ray driver of the suite runs through `run_in_child` instead: the child's death becomes a
`ChildFailed` naming its exit status, Ray's last words in the driver's log and the tail of its stderr, and the
session goes on.
"""

from __future__ import annotations

import os
import pickle
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

# The child reads sys.path first (the caller's test modules must import before its function can unpickle), then
# the call; it writes ("value", result) or ("raised", traceback) beside the request, renamed into place when done.
_CHILD = """
import pickle, sys, traceback
from pathlib import Path

folder = Path(sys.argv[1])
with open(folder / "call.pkl", "rb") as call:
    sys.path[:] = pickle.load(call)
    function, args = pickle.load(call)
try:
    outcome = ("value", function(*args))
except BaseException:
    outcome = ("raised", traceback.format_exc())
(folder / "outcome.tmp").write_bytes(pickle.dumps(outcome))
(folder / "outcome.tmp").rename(folder / "outcome.pkl")
"""

STDERR_TAIL = 4000


class ChildFailed(AssertionError):
    """The child raised, died or ran out of time; the message says which, with the tail of its stderr."""


def run_in_child(function: Callable[..., Any], *args: Any, timeout: float = 900) -> tuple[Any, str, str]:
    """Call `function(*args)` (a module-level function; arguments and result picklable) in a fresh Python process;
    return its result with the child's stdout and stderr.

    The child inherits the environment conftest set up. It runs in its own session, and whatever it leaves
    running there (a Ray cluster it started, when it died before stopping it) is killed once it ends.
    """
    with tempfile.TemporaryDirectory(prefix="hala-child-") as name:
        folder = Path(name)
        with open(folder / "call.pkl", "wb") as call:
            pickle.dump(sys.path, call)
            pickle.dump((function, args), call)
        with open(folder / "stdout", "w+") as out, open(folder / "stderr", "w+") as err:
            # Files, not pipes: processes the child starts inherit its streams and may outlive it.
            started = time.time()
            child = subprocess.Popen([sys.executable, "-c", _CHILD, str(folder)], stdout=out, stderr=err,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
            try:
                status = child.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                status = None
            finally:
                _kill_session(child.pid)
                child.wait()
            out.seek(0), err.seek(0)
            stdout, stderr = out.read(), err.read()
        outcome = folder / "outcome.pkl"
        tail = f"; the end of its stderr:\n{stderr[-STDERR_TAIL:]}"
        if status is None:
            raise ChildFailed(f"{_name(function)} did not finish within {timeout:g} s{tail}")
        if not outcome.exists():
            raise ChildFailed(f"{_name(function)} ended its process ({_describe(status)}) before returning"
                              f"{_ray_driver_reason(child.pid, started)}{tail}")
        kind, value = pickle.loads(outcome.read_bytes())
        if kind == "raised":
            raise ChildFailed(f"{_name(function)} raised in the child process:\n{value}{tail}")
        return value, stdout, stderr


def run_cli_in_child(*argv: Any, timeout: float = 900) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of `hala-release ARGV...` run in a child process (see `run_in_child`)."""
    from hala_release.cli import main

    return run_in_child(main, [str(a) for a in argv], timeout=timeout)


def _kill_session(leader: int) -> None:
    try:
        os.killpg(leader, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def ray_driver_logs(pid: int, since: float) -> list[Path]:
    """Ray's logs, oldest first, of the drivers that ran in process `pid` after `since` (a driver writes one per
    session, named after its pid, under Ray's temporary folder)."""
    sessions = Path(os.environ.get("RAY_TMPDIR", "/tmp")) / "ray"
    logs = []
    for folder in sessions.glob("session_2*/logs"):
        try:  # other runs may be removing their old sessions meanwhile; a folder changed before `since` has none
            if folder.stat().st_mtime >= since:
                logs += [(log.stat().st_mtime, log) for log in folder.glob(f"python-core-driver-*_{pid}.log")]
        except OSError:
            continue
    return [log for mtime, log in sorted(logs) if mtime >= since]


def _ray_driver_reason(pid: int, since: float) -> str:
    """The warnings and errors that end Ray's log for a driver that ran as `pid`: a driver that ends its own process
    says why there (its raylet or object store gone), not on stderr. Empty when the child ran none."""
    logs = ray_driver_logs(pid, since)
    if not logs:
        return ""
    try:
        lines = logs[-1].read_text(errors="replace").splitlines()
    except OSError:
        return ""
    notable = [line for line in lines if re.match(r"\[[^\]]* [WEF] \d+ \d+\]", line)]
    return "; Ray's log for this driver ends:\n" + "\n".join(notable[-5:] or lines[-5:])


def _describe(status: int) -> str:
    if status < 0:
        return f"killed by {signal.Signals(-status).name}"
    return f"exit status {status}"


def _name(function: Callable[..., Any]) -> str:
    return f"{function.__module__}.{function.__qualname__}"

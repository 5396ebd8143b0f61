"""One pipeline stage in its own process, so everything the stage holds (GPU memory above all: vLLM does not give
it back while its process lives) is returned to the system before the next stage starts.

`pipeline run` starts `python -m hala_release.pipeline.child REQUEST RESULT` per stage. REQUEST is a JSON file
with the stage kind, its `with:` values, the output folder, the overwrite flag and the pipeline step its artifact
records; the child writes RESULT: the stage's summary, or the user error it raised (type, message, exit code), so
the parent shows the same one line and exit code as an in-process run. Anything else (a bug) is not caught here:
its traceback goes to the console on the child's stderr and the parent reports the exit code.

The child inherits the parent's environment, working directory and console, so progress lines stream as before,
and under a multi-process launcher (accelerate, torchrun) each rank's pipeline starts its own child with that
rank's RANK/WORLD_SIZE: the stage sees the same launch it would have seen in the parent.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from hala_release.core.errors import HalaError, UsageError

ERRORS = {cls.__name__: cls for cls in (HalaError, UsageError)}
GRACE_S = 10  # how long a stage has to stop by itself after Ctrl-C before it is terminated


def run_in_child(kind: str, values: dict[str, Any], output: Path, overwrite: bool, step: dict[str, Any],
                 shown_once: set[str] | None = None) -> tuple[dict[str, Any], int]:
    """Run one stage in a fresh Python process; its summary and the process id back, or its error raised here.

    `shown_once` (one set per pipeline run) holds the library notices earlier stages showed (core/notices.py): the
    child keeps them off the console, and adds those it shows itself.
    """
    request = {"kind": kind, "values": values, "output": str(output), "overwrite": overwrite, "step": step,
               "log_level": logging.getLogger().getEffectiveLevel(), "shown_once": sorted(shown_once or ())}
    with tempfile.TemporaryDirectory(prefix="hala-stage-") as work:
        request_path, result_path = Path(work) / "request.json", Path(work) / "result.json"
        request_path.write_text(json.dumps(request), encoding="utf-8")
        sys.stdout.flush()
        sys.stderr.flush()
        code = _wait(subprocess.Popen([sys.executable, "-m", "hala_release.pipeline.child", str(request_path),
                                       str(result_path)]))
        result = json.loads(result_path.read_text(encoding="utf-8")) if result_path.exists() else None
    if result is None:
        raise HalaError(_crash_message(code))
    if shown_once is not None:
        shown_once.update(result.get("shown_once", []))
    if "error" in result:
        error = result["error"]
        raised = ERRORS.get(error["type"], HalaError)(error["message"])
        raised.exit_code = error["exit_code"]
        raise raised
    return result["summary"], result["pid"]


def _wait(process: subprocess.Popen) -> int:
    """The child's exit code. On Ctrl-C (or any error here) the child is stopped before the parent goes on."""
    try:
        return process.wait()
    except BaseException:
        try:  # a terminal's Ctrl-C reaches the child too: give it time to stop cleanly
            process.wait(timeout=GRACE_S)
        except subprocess.TimeoutExpired:
            process.terminate()
            try:
                process.wait(timeout=GRACE_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        raise


def _crash_message(code: int) -> str:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        hint = " (out of memory?)" if -code == signal.SIGKILL else ""
        return f"the stage's process was killed by {name}{hint}"
    return f"the stage's process exited with code {code} (its traceback is above)"


def main(request_path: str, result_path: str) -> int:
    """The child side: run the stage, write its summary or its user error, exit."""
    from hala_release.artifacts.build import PIPELINE_STEP
    from hala_release.core.errors import as_user_error
    from hala_release.core.notices import OncePerRun
    from hala_release.stages.registry import STAGES

    request = json.loads(Path(request_path).read_text(encoding="utf-8"))
    logging.basicConfig(level=request["log_level"], format="%(message)s")
    logging.getLogger("httpx").setLevel(max(logging.WARNING, request["log_level"]))
    PIPELINE_STEP.set(request["step"])
    once = OncePerRun(request.get("shown_once", ())).install()
    try:
        summary = STAGES[request["kind"]].run_step(request["values"], Path(request["output"]), request["overwrite"])
    except Exception as exc:
        error = exc if isinstance(exc, HalaError) else as_user_error(exc)
        if error is None:
            raise  # a bug: the traceback goes to stderr, the parent reports the exit code
        _write(result_path, {"error": {"type": type(error).__name__, "message": str(error),
                                       "exit_code": error.exit_code}, "shown_once": once.new})
        return error.exit_code
    _write(result_path, {"summary": summary, "pid": os.getpid(), "shown_once": once.new})
    return 0


def _write(path: str, record: dict[str, Any]) -> None:
    Path(path).write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))

"""The child-process runner the Ray tests use: results come back, and a child that raises, dies or hangs fails
only the test that ran it, with the reason."""

import subprocess
import sys
import time
from pathlib import Path

import pytest

from in_child import ChildFailed, run_cli_in_child, run_in_child


def _greet(name: str) -> dict:
    print(f"hello {name}")
    print("to stderr", file=sys.stderr)
    return {"name": name, "path": sys.path}


def _fail() -> None:
    raise ValueError("the child's own error")


def _exit_abruptly() -> None:
    import os

    os._exit(3)


def _start_a_sleeper() -> int:
    return subprocess.Popen(["sleep", "300"]).pid


def _drive_ray_then_lose_the_raylet() -> str:
    """A Ray driver whose local raylet is killed: its next call to the raylet ends the whole process (Ray's own
    exit, status 1), raising nothing. Called in the pytest process, this would end the session with no summary."""
    import ray
    import ray._private.worker

    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    ray._private.worker._global_node.kill_raylet()  # SIGKILL, as Ray's own tests do
    ray.put(b"x" * 2 ** 20)  # the object store lives in the raylet
    return "the driver survived its raylet"


def test_a_child_returns_its_value_and_its_output():
    value, out, err = run_in_child(_greet, "ray")
    assert value == {"name": "ray", "path": sys.path}  # the child imports what the test can
    assert out == "hello ray\n" and "to stderr" in err


def test_the_cli_in_a_child_gives_its_exit_code_and_output():
    code, out, _ = run_cli_in_child("translate", "--help")
    assert code == 0 and "--executor" in out


def test_an_error_in_the_child_fails_with_its_traceback():
    with pytest.raises(ChildFailed, match=r"(?s)_fail raised in the child process:.*ValueError: the child's own error"):
        run_in_child(_fail)


def test_a_child_that_ends_its_process_fails_with_its_status():
    with pytest.raises(ChildFailed, match=r"_exit_abruptly ended its process \(exit status 3\) before returning"):
        run_in_child(_exit_abruptly)


def test_a_child_past_its_time_is_stopped():
    with pytest.raises(ChildFailed, match="time.sleep did not finish within 1 s"):
        run_in_child(time.sleep, 60, timeout=1)


def test_what_a_child_leaves_running_is_stopped_with_it():
    # As a Ray driver that dies leaves its cluster's processes behind.
    sleeper, _, _ = run_in_child(_start_a_sleeper)
    assert _ends_within(sleeper, 30)


def _ends_within(pid: int, seconds: float) -> bool:
    """Whether `pid` is gone (or a zombie left to init) within `seconds`: a killed process takes a moment to end."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except FileNotFoundError:
            return True
        if stat[stat.rindex(")") + 2] == "Z":
            return True
        time.sleep(0.05)
    return False


@pytest.mark.slow
def test_a_ray_driver_that_loses_its_raylet_fails_its_test_and_the_session_goes_on():
    with pytest.raises(ChildFailed, match=r"_drive_ray_then_lose_the_raylet ended its process \(exit status 1\) "
                                          r"before returning") as failure:
        run_in_child(_drive_ray_then_lose_the_raylet, timeout=300)
    reason = str(failure.value)
    assert "Ray's log for this driver ends:" in reason and "plasma store" in reason  # its object store went with it
    assert "the end of its stderr:" in reason

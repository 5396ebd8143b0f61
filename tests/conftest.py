"""Shared test setup.

huggingface_hub and datasets read HF_ENDPOINT, HF_HOME and the Xet switch when they are imported, so the
environment is fixed here, before any test module imports them: every Hub call goes to the local HubServer.
"""

import atexit
import os
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path

import pytest


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


_HUB_PORT = _free_port()
_TMP = Path(tempfile.mkdtemp(prefix="hala-tests-"))
atexit.register(shutil.rmtree, _TMP, ignore_errors=True)
os.environ["HF_ENDPOINT"] = f"http://127.0.0.1:{_HUB_PORT}"
os.environ["HF_HUB_DISABLE_XET"] = "1"  # otherwise uploads go to Xet storage and never ask the server
os.environ["HF_HUB_OFFLINE"] = "0"
os.environ["HF_HOME"] = str(_TMP / "hf_home")
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ["HF_UPDATE_DOWNLOAD_COUNTS"] = "0"  # datasets would ping an S3 bucket
os.environ.pop("HF_TOKEN", None)
os.environ["HALA_CACHE_DIR"] = str(_TMP / "hala_cache")  # the translation cache, never the user's
os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"  # vLLM on CPU starts in ~3 s instead of ~17 s
os.environ["RAY_AUTH_MODE"] = "disabled"  # a local test Ray needs no token file in the home folder


@pytest.fixture(autouse=True)
def _no_ray_driver_in_the_pytest_process():
    """A Ray driver that loses its local raylet ends its whole process: in pytest, the session, with no summary.
    Tests run their Ray drivers through `in_child.run_in_child`; one that started a driver here fails."""
    began = time.time()
    yield
    ray = sys.modules.get("ray")
    if ray is None:  # no Ray imported here: no driver either
        return
    from in_child import ray_driver_logs

    still_running = getattr(ray, "is_initialized", lambda: False)()
    if still_running:
        ray.shutdown()
    if still_running or ray_driver_logs(os.getpid(), began):
        pytest.fail("this test started a Ray driver in the pytest process: run its Ray part through "
                    "in_child.run_in_child or run_cli_in_child", pytrace=False)


@pytest.fixture(scope="session")
def hub():
    """One Hub-compatible server for the whole session, on the port HF_ENDPOINT names."""
    from hub_server import HubServer

    server = HubServer(_TMP / "hub", port=_HUB_PORT).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def hub_token(hub) -> str:
    """Token of user "tester", who may write to "tester/..." and "hala-test/..."."""
    token = "hf_tester_token"
    hub.add_user("tester", token, orgs=["hala-test"])
    return token


@pytest.fixture(scope="session")
def tiny_lfm2(tmp_path_factory) -> Path:
    """A tiny random LFM2 model artifact, built once per session."""
    from hala_release.stages.tiny_model.run import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("models") / "tiny-lfm2", arch="lfm2")


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory) -> Path:
    """A tiny random Llama model artifact, built once per session."""
    from hala_release.stages.tiny_model.run import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("models") / "tiny-llama", arch="llama", layers=2)


@pytest.fixture(scope="session")
def openorca_artifact(tmp_path_factory) -> Path:
    """The shipped Open-Orca-layout sample as a dataset artifact."""
    from hala_release.stages.sample_data.run import export_sample

    return export_sample("openorca", tmp_path_factory.mktemp("datasets") / "openorca")

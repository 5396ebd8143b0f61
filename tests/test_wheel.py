"""The built wheel, installed in a fresh virtual environment that cannot see this checkout, runs the commands that
read shipped files: samples (`tiny-model`, `sample-data`), prompts and card templates (`translate`), the eval
fixtures (`eval --fixtures`) and the demo Space (`demo`, `push-space`).

The fresh environment borrows the heavy dependencies from the test environment's site-packages through a plain
path line in a .pth file: such a line is appended to sys.path without running that folder's own .pth files, so the
editable install of this checkout stays inactive there, and hala_release is imported from the wheel.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from stage_helpers import serve_until_answered

REPO = Path(__file__).resolve().parents[1]
SOURCES = ("hala_release", "pyproject.toml", "README.md")

pytestmark = pytest.mark.slow  # builds and installs a wheel, then runs six commands (~1 min)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run(argv: list, cwd: Path, env: dict | None = None, timeout: int = 600) -> str:
    result = subprocess.run([str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, f"{argv} failed:\n{(result.stdout + result.stderr)[-4000:]}"
    return result.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel, built offline from a copy of the sources (a build/ folder in the checkout may hold stale files)."""
    source = tmp_path_factory.mktemp("source")
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy(REPO / name, source / name)
    dist = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", dist,
          source], cwd=source)
    return next(dist.glob("hala_release-*.whl"))


@pytest.fixture(scope="module")
def fresh(wheel, tmp_path_factory) -> Path:
    """A new venv holding only the wheel, with this environment's site-packages after its own on sys.path."""
    venv = tmp_path_factory.mktemp("venv") / "env"
    outside = tmp_path_factory.mktemp("outside")
    _run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=outside)
    python = venv / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", wheel], cwd=outside)
    own = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=outside).strip())
    (own / "borrowed-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv


@pytest.fixture
def env(hub, hub_token) -> dict:
    environ = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "COLUMNS")}
    environ["HF_TOKEN"] = hub_token  # conftest's HF_ENDPOINT (the local Hub), HF_HOME and caches are kept
    return environ


def test_hala_release_comes_from_the_wheel(fresh, env, tmp_path):
    out = _run([fresh / "bin/python", "-c", "import hala_release, transformers\n"
                "from hala_release.stages.demo.run import default_space_dir\n"
                "print(hala_release.__file__); print(default_space_dir())"], cwd=tmp_path, env=env)
    module, space = (Path(line) for line in out.split())
    assert module.is_relative_to(fresh) and not module.is_relative_to(REPO), module
    assert space.is_relative_to(fresh) and (space / "app.py").is_file(), space
    assert (fresh / "bin/hala-release").read_text().startswith(f"#!{fresh}/bin/python")


def test_wheel_runs_the_commands_that_read_shipped_files(fresh, env, hub, tmp_path):
    cli = fresh / "bin/hala-release"
    _run([cli, "tiny-model", "./tiny"], tmp_path, env)
    assert (tmp_path / "tiny/config.json").is_file() and (tmp_path / "tiny/README.md").is_file()

    _run([cli, "sample-data", "openorca", "./openorca"], tmp_path, env)
    assert list((tmp_path / "openorca").rglob("*.parquet"))

    _run([cli, "translate", "./openorca", "--engine", "dry-run", "--output", "./dry"], tmp_path, env)
    assert list((tmp_path / "dry").rglob("*.parquet")) and "translate" in (tmp_path / "dry/README.md").read_text()

    _run([cli, "eval", "./tiny", "--suite", "hala", "--fixtures", "--max-samples", "2", "--output", "./eval"],
         tmp_path, env)
    assert (tmp_path / "eval/README.md").is_file() and list((tmp_path / "eval").rglob("*.json"))

    _serve([cli, "demo", "--chat-model", "./tiny", "--translator", "./tiny", "--port", str(_free_port())],
           tmp_path, env)

    _run([cli, "push-space", "--repo-id", "hala-test/wheel-demo"], tmp_path, env)
    files = set(hub_files("hala-test/wheel-demo"))
    assert {"README.md", "app.py", "requirements.txt", "hala_segment.py"} <= files, files


def hub_files(repo_id: str) -> list[str]:
    from huggingface_hub import HfApi

    return HfApi().list_repo_files(repo_id, repo_type="space")


def _serve(argv: list, cwd: Path, env: dict) -> None:
    """Start the demo, wait for HTTP 200 on its port, then stop it with Ctrl-C."""
    port = int(argv[argv.index("--port") + 1])
    log = cwd / "demo.log"
    answered = serve_until_answered(argv, cwd, env, port, log)
    assert answered, f"the demo never served on port {port}:\n{log.read_text()[-4000:]}"

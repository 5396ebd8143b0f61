"""Every example that `--help` shows runs, verbatim, as a user would paste it into a shell.

The examples are read from the Typer app itself (the root, every command and every sub-command), so a command added
later is covered without touching this file. Each help page runs its examples in order, in a subprocess of the
installed `hala-release` (the string split with shlex), in its own working folder, so an example can read what an
earlier one on its page wrote. A page's folder starts as a copy of the *world*: what a user has after the root page's
first example, `hala-release pipeline run recipes/tiny.yaml` (run once here): the repo's `recipes/`,
and the tiny recipe's artifacts in `./runs/tiny`. Local inputs that examples name but nothing on their page writes
(a user's own folders) come from PREPARED.

Hub: the local Hub server (tests/hub_server.py) through HF_ENDPOINT, with a dummy token of a member of `my-org`.
Pages run in the app's order against one Hub, so a page reads what an earlier page pushed (`pull my-org/tiny-lfm2@v1`
after the root page's push). A Hub repo an example names that the Hub lacks when it runs is first seeded from SEEDS:
tiny stand-ins, built from the world's artifacts, under the exact repo ids (LiquidAI/LFM2-1.2B, Qwen/...).

The few examples that cannot run here are in NOT_RUN with the reason; their options are still parsed by the command.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import typer

from hala_release.cli import app, main
from stage_helpers import serve_until_answered

REPO = Path(__file__).resolve().parents[1]
CLI = Path(sys.executable).with_name("hala-release")  # the console script of the environment running the tests
WORLD_COMMAND = "hala-release pipeline run recipes/tiny.yaml"
WORLD_STAGES = Path("runs") / "tiny"
EXAMPLE_ENV = {"SLURM_ARRAY_TASK_ID": "0"}  # a Slurm array task's variables, for examples that read them
USER_TOKEN = "hf_help_examples_user"  # a member of my-org: what the examples run with
SEEDER_TOKEN = "hf_help_examples_seeder"

# Examples that cannot run here, and why. They are still parsed (options and values) by their command.
NOT_RUN = {
    "hala-release eval my-org/hala-350m --suite hala --output ./runs/eval-hala-350m --push-to-hub my-org/hala-350m-evals":
        "scores all 116 subsets of the six benchmarks, read from their Hub repos: minutes even for a tiny model on "
        "CPU (the --fixtures example on the same page runs the same code on a few rows)",
    "accelerate launch --config_file recipes/accelerate/zero3.yaml -m hala_release.cli train "
    "recipes/train/hala-9b-fanar.yaml":
        "DeepSpeed ZeRO-3 across several GPUs, fine-tuning a 9B model",
}

# Pages whose examples serve until stopped: each runs until its port answers HTTP, then gets Ctrl-C.
SERVERS = {("demo",)}
# Hub repos a page's examples read without naming them: the demo Space's default models (its app.py).
IMPLICIT_READS = {("demo",): ["hammh0a/Hala-1.2B", "hammh0a/Hala-1.2B-EN-AR-Translator"]}


# --- collecting the examples from the app ---------------------------------------------------------------------

def help_pages() -> list[tuple[tuple[str, ...], object]]:
    """(command path, command) for the root and every command and sub-command, in the app's order."""
    root = typer.main.get_command(app)

    def walk(command, path):
        yield path, command
        for name, sub in getattr(command, "commands", {}).items():
            yield from walk(sub, (*path, name))

    return list(walk(root, ()))


def examples_of(command) -> list[str]:
    """The example lines of a command's epilog: the no-rewrap block (`\\b`) that `cli._example` writes."""
    _, marker, block = (command.epilog or "").partition("\b\n")
    return [line.strip() for line in block.splitlines() if line.strip()] if marker else []


PAGES = help_pages()
PAGE_IDS = [" ".join(path) or "root" for path, _ in PAGES]


def test_every_help_page_shows_examples_of_itself():
    every = [example for _, command in PAGES for example in examples_of(command)]
    assert WORLD_COMMAND in every  # the world below is that example's output
    assert set(NOT_RUN) <= set(every), "stale NOT_RUN entries"
    for path, command in PAGES:
        examples = examples_of(command)
        assert examples, f"`hala-release {' '.join(path)} --help` shows no example"
        if path:
            prefix = " ".join(("hala-release", *path))
            assert all(e.startswith(prefix + " ") or e == prefix or e in NOT_RUN for e in examples), examples


@pytest.mark.parametrize("columns", ["60", "200"])
def test_examples_print_whole_on_one_line(columns, monkeypatch, capsys):
    """Help is never rewrapped inside an example: each prints on one line, identical to its source string."""
    monkeypatch.setenv("COLUMNS", columns)
    for path, command in PAGES:
        assert main([*path, "--help"]) == 0
        out = capsys.readouterr().out.splitlines()
        start = [i for i, line in enumerate(out) if line.strip() == "Example:"]
        assert len(start) == 1, f"{path}: {out}"
        shown = [line.strip() for line in out[start[0] + 1:] if line.strip()]
        assert shown == examples_of(command), f"hala-release {' '.join(path)} --help (COLUMNS={columns})"


# --- the world, the local Hub, and running examples -----------------------------------------------------------

def example_env() -> dict[str, str]:
    env = dict(os.environ)  # conftest's HF_HOME and caches; HF_HUB_OFFLINE=0
    env.update(HF_ENDPOINT=os.environ["HF_ENDPOINT"], HF_HUB_DISABLE_XET="1", HF_TOKEN=USER_TOKEN, **EXAMPLE_ENV)
    env.pop("COLUMNS", None)
    return env


def to_argv(example: str) -> list[str]:
    """The example as a shell would run it: `$NAME` from EXAMPLE_ENV, then shell words; our console script."""
    words = shlex.split(re.sub(r"\$(\w+)", lambda m: EXAMPLE_ENV[m.group(1)], example))
    assert words[0] == "hala-release", example
    return [str(CLI), *words[1:]]


def run_example(example: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(to_argv(example), cwd=cwd, env=example_env(), capture_output=True, text=True,
                          timeout=900)


def _failure(example: str, result) -> str:
    return f"example failed (exit {result.returncode}): {example}\n{(result.stdout + result.stderr)[-4000:]}"


@pytest.fixture(scope="module")
def example_hub(hub):
    hub.add_user("help-examples", USER_TOKEN, orgs=["my-org"])
    hub.add_user("help-seeder", SEEDER_TOKEN, orgs=sorted({repo.split("/")[0] for repo in SEEDS}))
    return hub


@pytest.fixture(scope="module")
def world(tmp_path_factory, example_hub) -> Path:
    """The root page's first example, run once: the tiny recipe's artifacts that other pages' examples read."""
    folder = tmp_path_factory.mktemp("world")
    shutil.copytree(REPO / "recipes", folder / "recipes", ignore=shutil.ignore_patterns("__pycache__"))
    started = time.monotonic()
    result = run_example(WORLD_COMMAND, folder)
    assert result.returncode == 0, _failure(WORLD_COMMAND, result)
    print(f"\n{time.monotonic() - started:6.1f} s  {WORLD_COMMAND} (the world)")
    return folder


# Local folders examples name that nothing on their page writes: a user's own files, built from the world.
def _stage(name: str):
    return lambda world, dest: shutil.copytree(world / WORLD_STAGES / name, dest)


def _bare_model(world: Path, dest: Path) -> None:
    """A transformers folder made elsewhere: weights, config and tokenizer, no card or provenance."""
    shutil.copytree(world / WORLD_STAGES / "base", dest,
                    ignore=shutil.ignore_patterns("README.md", "hala_provenance.json"))


def _bare_parquet(world: Path, dest: Path) -> None:
    dest.mkdir(parents=True)
    for file in (world / WORLD_STAGES / "openorca" / "data").glob("*.parquet"):
        shutil.copy(file, dest / file.name)


def _fields_data(world: Path, dest: Path) -> None:
    """A dataset of another layout (`--schema fields`): a question and a list of turns with text."""
    dest.mkdir(parents=True)
    rows = [{"id": "q1", "question": "Which river flows through Cairo?",
             "turns": [{"speaker": "user", "text": "Name one river in Egypt."}]},
            {"id": "q2", "question": "How many days are in a week?",
             "turns": [{"speaker": "user", "text": "Count them, please."}]}]
    (dest / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def _benchmarks_mirror(world: Path, dest: Path) -> None:
    """A --data-dir mirror holding the MMLU EN<->AR set (eval_tasks/README.md): the shipped rows stand in."""
    from hala_release.resources.eval_tasks import fixtures_root

    shutil.copytree(fixtures_root() / "hala-release" / "mmlu-en-ar", dest / "hala-release" / "mmlu-en-ar")


PREPARED = {
    "./runs/openorca-ar": _stage("openorca-ar"),
    "./runs/hala-350m": _stage("chat"),
    "./runs/hala-1.2b-sft": _stage("chat-sft"),
    "./my-finetune": _bare_model,
    "./my-parquet-or-jsonl-or-save_to_disk": _bare_parquet,
    "./data": _fields_data,
    "./benchmarks-mirror": _benchmarks_mirror,
}


def _raw_dataset(stage: str, config: str, folder: str, rows: int | None = None):
    """A third-party dataset repo in its own Hub layout (not a hala artifact): parquet under a named config."""

    def build(world: Path, dest: Path) -> None:
        import pyarrow.parquet as pq

        (dest / folder).mkdir(parents=True)
        (source,) = (world / WORLD_STAGES / stage / "data").glob("train-*.parquet")
        table = pq.read_table(source)
        pq.write_table(table if rows is None else table.slice(0, rows), dest / folder / "train-00000-of-00001.parquet")
        (dest / "README.md").write_text(f"---\nconfigs:\n- config_name: {config}\n  data_files:\n  - split: train\n"
                                        f"    path: {folder}/train-*\n---\n", encoding="utf-8")

    return build


def _requests_queue(world: Path, dest: Path) -> None:
    """A leaderboard's requests dataset before anyone submits: only its card."""
    dest.mkdir(parents=True)
    (dest / "README.md").write_text("---\nlicense: apache-2.0\n---\nEvaluation requests.\n", encoding="utf-8")


# repo id -> (repo type, world stage or raw builder, tag). Stand-ins: tiny random models and the shipped samples.
SEEDS = {
    "LiquidAI/LFM2-1.2B": ("model", "base", None),
    "LiquidAI/LFM2-350M": ("model", "base", None),
    "Qwen/Qwen2.5-3B-Instruct": ("model", "judge-model", None),
    "CohereLabs/command-a-translate-08-2025": ("model", "teacher", None),
    # Unquantized: vLLM on CPU runs FP8 checkpoints far too slowly for a test.
    "hammh0a/command-a-translate-FP8-Dynamic": ("model", "teacher", None),
    "hammh0a/Hala-1.2B": ("model", "chat", None),
    "hammh0a/Hala-1.2B-EN-AR-Translator": ("model", "translator", None),
    "my-org/hala-350m-evals": ("dataset", "eval", None),  # what the NOT_RUN eval example would push
    "Open-Orca/OpenOrca": ("dataset", _raw_dataset("openorca", "default", "data", rows=4), None),
    "Helsinki-NLP/opus-100": ("dataset", _raw_dataset("opus", "ar-en", "ar-en"), None),
    "my-org/oall-requests": ("dataset", _requests_queue, None),  # the submit example's --requests-repo
    # Pushed by earlier pages' examples; seeded only when a page runs alone (pytest -k).
    "my-org/tiny-lfm2": ("model", "base", "v1"),
    "my-org/openorca-ar": ("dataset", "openorca-ar", "v1"),
    "my-org/hala-350m": ("model", "chat", "v1"),
}


# Options whose value names what an example writes (never prepared or seeded beforehand).
TARGET_OPTIONS = ("--output", "--output-dir", "--repo-id", "--push-to-hub", "--push-results")


def read_words(argv: list[str]) -> list[str]:
    """The words of an example that may name something it reads: all but the values of TARGET_OPTIONS."""
    return [word for i, word in enumerate(argv) if i == 0 or argv[i - 1] not in TARGET_OPTIONS]


def _repos_named(argv: list[str]) -> set[str]:
    names = set()
    for word in read_words(argv):
        word = re.sub(r"^hf://(datasets|models|spaces)/", "", word).split("@")[0]
        if word in SEEDS:
            names.add(word)
    return names


def seed(repo_id: str, world: Path, scratch: Path) -> None:
    """Put a stand-in under `repo_id` unless the Hub has that repo: our push code for artifacts, else an upload."""
    from huggingface_hub import HfApi

    from hala_release.hub.publish import push_artifact

    repo_type, source, tag = SEEDS[repo_id]
    api = HfApi(token=SEEDER_TOKEN)
    if api.repo_exists(repo_id, repo_type=repo_type):
        return
    if isinstance(source, str):
        push_artifact(world / WORLD_STAGES / source, repo_id, repo_type, tag=tag, token=SEEDER_TOKEN)
        return
    folder = scratch / repo_id.replace("/", "--")
    source(world, folder)
    api.create_repo(repo_id, repo_type=repo_type)
    api.upload_folder(folder_path=str(folder), repo_id=repo_id, repo_type=repo_type)


def check_parses(example: str) -> None:
    """An example that cannot run here: its command accepts its options and values, and its repo files exist."""
    words = shlex.split(example)
    args = words[words.index("hala_release.cli") + 1:] if words[0] == "accelerate" else words[1:]
    command, name = typer.main.get_command(app), "hala-release"
    while hasattr(command, "commands"):
        name, args = args[0], args[1:]
        command = command.commands[name]
    command.make_context(name, list(args))  # raises a usage error on an unknown option or a bad value
    for word in words:
        if word.endswith((".yaml", ".yml")):
            assert (REPO / word).is_file(), f"{example}: {word} is not in the repo"


def _port(argv: list[str], command) -> int:
    if "--port" in argv:
        return int(argv[argv.index("--port") + 1])
    return next(p.default for p in command.params if p.name == "port")


def serve(example: str, cwd: Path, command) -> None:
    """Run a serving example until its port answers HTTP 200, then stop it as a user would (Ctrl-C)."""
    argv = to_argv(example)
    port = _port(argv, command)
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0, f"port {port} is taken: cannot run {example}"
    log = cwd / f"serve-{port}.log"
    answered = serve_until_answered(argv, cwd, example_env(), port, log)
    assert answered, f"{example} never served on port {port}:\n{log.read_text()[-4000:]}"


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES, ids=PAGE_IDS)
def test_help_examples_run(page, world, tmp_path_factory):
    path, command = page
    work = tmp_path_factory.mktemp("page")
    shutil.copytree(world, work, dirs_exist_ok=True)
    timings = []
    for example in examples_of(command):
        if example in NOT_RUN:
            check_parses(example)
            continue
        argv = to_argv(example)
        for word in read_words(argv):
            if word in PREPARED and not (work / word).exists():
                PREPARED[word](world, work / word)
        for repo_id in sorted(_repos_named(argv) | set(IMPLICIT_READS.get(path, []))):
            seed(repo_id, world, tmp_path_factory.mktemp("seed"))
        started = time.monotonic()
        if path in SERVERS:
            serve(example, work, command)
        else:
            result = run_example(example, work)
            assert result.returncode == 0, _failure(example, result)
            assert "Traceback" not in result.stderr, _failure(example, result)
        timings.append(f"{time.monotonic() - started:6.1f} s  {example}")
    print("\n".join(timings))
    shutil.rmtree(work)  # kept when an example failed, to look into

"""The command line: every command documents an example, user mistakes exit non-zero without tracebacks."""

import subprocess
import sys

import pytest
import typer

from hala_release.cli import app, main

COMMANDS = list(typer.main.get_command(app).commands)  # every command, including ones added later


def test_the_commands_include_every_stage():
    assert {"tiny-model", "sample-data", "push-dataset", "push-model", "push-space", "pull", "quantize", "train",
            "merge", "eval", "report", "demo", "translate", "judge", "mix", "chat-mix", "pipeline",
            "lineage"} <= set(COMMANDS)


def test_top_level_help_shows_example_and_commands(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "Example:" in out and "hala-release tiny-model" in out
    for command in COMMANDS:
        assert command in out


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_help_shows_an_example(command, capsys):
    assert main([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert "Example:" in out and f"hala-release {command}" in out


def test_console_script_runs_and_reports_version():
    result = subprocess.run([sys.executable, "-m", "hala_release.cli", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith("hala-release ")


def test_unknown_option_is_a_usage_error(capsys):
    assert main(["tiny-model", "x", "--no-such-flag"]) == 2
    assert "No such option" in capsys.readouterr().err


def test_sample_list_and_unknown_sample(capsys, tmp_path):
    assert main(["sample-data", "--list"]) == 0
    out = capsys.readouterr().out
    assert "openorca" in out and "Helsinki-NLP/opus-100" in out
    assert main(["sample-data", "nope", str(tmp_path / "x")]) == 2
    assert "unknown sample 'nope'" in capsys.readouterr().err


def _help_paths(command=None, path=()):
    """The root, every command and every sub-command, as argv prefixes."""
    command = command or typer.main.get_command(app)
    yield path
    for name, sub in getattr(command, "commands", {}).items():
        yield from _help_paths(sub, (*path, name))


@pytest.mark.parametrize("path", list(_help_paths()), ids=lambda p: " ".join(p) or "root")
def test_dash_h_is_help_everywhere(path, capsys):
    assert main([*path, "--help"]) == 0
    long = capsys.readouterr().out
    assert main([*path, "-h"]) == 0
    assert capsys.readouterr().out == long and "-h, --help" in long

"""The command line is generated from option models: every option is a model field with help text, no command
declares an option by hand, and the stage registry is the same API for the CLI, recipes and Python."""

from __future__ import annotations

import pytest
import typer
import typer.testing
from pydantic import BaseModel, Field

from hala_release.cli import app, main
from hala_release.cli_options import UTILITY_OPTIONS, cli_fields, hints, parameter
from hala_release.hub.options import LineageOptions, PullOptions, PushDatasetOptions, PushModelOptions, PushSpaceOptions
from hala_release.pipeline.options import PipelineRunOptions
from hala_release.stages.demo.config import DemoConfig
from hala_release.stages.eval.config import ReportOptions
from hala_release.stages.registry import RESERVED, STAGES

OPTION_MODELS = [kind.config for kind in STAGES.values()] + [
    PushDatasetOptions, PushModelOptions, PushSpaceOptions, PullOptions, LineageOptions, PipelineRunOptions,
    DemoConfig, ReportOptions]


def _commands(typer_app, path=()):
    """(command path, the callback Typer registered) for every command and sub-command."""
    for info in typer_app.registered_commands:
        yield (*path, info.name), info.callback
    for group in typer_app.registered_groups:
        yield from _commands(group.typer_instance, (*path, group.name))


def _click_command(path):
    command = typer.main.get_command(app)
    for name in path:
        command = command.commands[name]
    return command


@pytest.mark.parametrize("model", OPTION_MODELS, ids=lambda m: m.__name__)
def test_every_option_field_has_help_text(model):
    missing = [name for name, field in model.model_fields.items() if not (field.description or "").strip()]
    assert not missing, f"{model.__name__}: fields without a description: {missing}"


def test_every_command_option_comes_from_a_model_field():
    commands = list(_commands(app))
    assert len(commands) >= 18  # every stage, the Hub commands, lineage, report and pipeline run
    for path, callback in commands:
        model = getattr(callback, "model", None)
        assert model is not None, f"{' '.join(path)}: its options are not generated from a model"
        fields = cli_fields(model)
        for param in _click_command(path).params:
            if param.name in fields:
                assert param.help == fields[param.name].description, (path, param.name)
            elif param.name.partition("__")[0] in fields:  # an old name of a field, hidden
                field = fields[param.name.partition("__")[0]]
                assert param.hidden and set(param.opts) <= set(hints(field)["deprecated_flags"]), (path, param.name)
            else:
                assert set(param.opts) <= set(UTILITY_OPTIONS), f"{' '.join(path)}: hand-declared {param.opts}"
        assert set(fields) <= {param.name for param in _click_command(path).params}
    for param in typer.main.get_command(app).params:  # the root: --version only
        assert set(param.opts) <= set(UTILITY_OPTIONS)


def test_a_field_without_help_cannot_become_an_option():
    class Bare(BaseModel):
        size: int = Field(3)

    with pytest.raises(TypeError, match="no help text"):
        parameter("size", Bare.model_fields["size"])


def test_cli_hints_keep_the_flag_names_and_value_forms(tmp_path):
    params = {p.name: p for p in _click_command(("translate",)).params}
    assert params["gates"].opts == ["--quality-gates"] and params["gates"].secondary_opts == ["--no-quality-gates"]
    assert params["dataset_schema"].opts == ["--schema"]
    assert {p.name: p for p in _click_command(("judge",)).params}["judge"].opts == ["--judge"]
    quantize = {p.name: p for p in _click_command(("quantize",)).params}
    assert quantize["model_free"].opts == ["--model-free"] and not quantize["model_free"].secondary_opts
    assert quantize["ignore"].multiple and quantize["ignore"].default == ["lm_head"]
    mix = {p.name: p for p in _click_command(("mix",)).params}
    assert mix["directions"].default is None and mix["translated"].multiple  # both directions of the languages
    assert "both directions of --source-lang and --target-lang" in mix["directions"].help


def test_comma_values_and_sub_keys_reach_the_config(monkeypatch, tmp_path):
    seen = {}
    pending = {"status": "partial", "chunks_done": 0, "chunks": 1, "chunks_this_run": 0}
    monkeypatch.setattr(type(STAGES["translate"]), "run", lambda self, config: seen.setdefault(self.name, config)
                        and pending)
    assert main(["translate", "src", "--output", str(tmp_path / "o"), "--fields", "question, turns[].text",
                 "--no-quality-gates", "--schema", "fields"]) == 0
    config = seen["translate"]
    assert config.fields == ["question", "turns[].text"] and config.gates.enabled is False
    assert config.dataset_schema == "fields" and config.gates.max_length_ratio == 3.0
    seen.clear()
    assert main(["translate", "src", "--output", str(tmp_path / "o")]) == 0  # no --fields: the model's empty list
    assert seen["translate"].fields == [] and seen["translate"].gates.enabled is True


def test_verdicts_must_be_two_words(capsys, tmp_path):
    assert main(["judge", "src", "--judge", "m", "--output", str(tmp_path / "o"), "--verdicts", "A,B,C"]) == 2
    assert "exactly two words" in capsys.readouterr().err


def test_registry_runs_a_stage_from_python(tmp_path):
    path = STAGES["sample-data"].run({"name": "openorca", "output": tmp_path / "orca"})
    assert (path / "hala_provenance.json").exists() and path == (tmp_path / "orca").resolve()
    with pytest.raises(Exception, match="name"):
        STAGES["sample-data"].check({})  # `name` is required in a recipe, though optional on the command line


def test_recipe_keys_are_the_config_minus_reserved_keys():
    for kind in STAGES.values():
        if kind.name == "train":
            continue  # `with:` is a training recipe's keys, checked against TRL's SFTConfig
        assert set(kind.refs) <= set(kind.config.model_fields), kind.name
        assert set(kind.files) <= set(kind.config.model_fields), kind.name
        assert "output" in kind.config.model_fields and "output" in RESERVED


def test_publishing_options_are_spelled_push_to_hub():
    """Every option that publishes an artifact is --push-to-hub, whatever its field is called."""
    publishing = [(path, param.opts) for path, _ in _commands(app) for param in _click_command(path).params
                  if (param.help or "").startswith(("Push", "Publish")) and not param.hidden]
    assert len(publishing) >= 8  # dataset stages, model stages, eval and pipeline run
    assert all(opts == ["--push-to-hub"] for _, opts in publishing), publishing


@pytest.fixture
def eval_config(monkeypatch):
    """The config `hala-release eval` builds, caught before anything is scored."""
    from hala_release.core.errors import HalaError

    seen = []

    def caught(self, config):
        seen.append(config)
        raise HalaError("stopped by the test")

    monkeypatch.setattr(type(STAGES["eval"]), "run", caught)
    return seen


def test_deprecated_flag_still_works_with_a_notice(eval_config, capsys, tmp_path):
    base = ["eval", "some/model", "--output", str(tmp_path / "o")]
    assert main([*base, "--push-results", "my-org/evals"]) == 1
    err = capsys.readouterr().err
    assert eval_config[-1].push_to_hub == "my-org/evals"
    notice = [line for line in err.splitlines() if "deprecated" in line]
    assert notice == ["note: --push-results is deprecated and will be removed; use --push-to-hub"]
    assert main([*base, "--push-to-hub", "my-org/evals2"]) == 1
    assert eval_config[-1].push_to_hub == "my-org/evals2" and "deprecated" not in capsys.readouterr().err
    assert main([*base, "--push-to-hub", "a/b", "--push-results", "c/d"]) == 2
    assert "give only --push-to-hub" in capsys.readouterr().err
    assert main(["eval", "--help"]) == 0
    assert "--push-results" not in capsys.readouterr().out  # old names are not advertised


def test_a_recipe_key_is_named_as_its_flag():
    """What a recipe or the Python API writes under `with:` is the flag's name: --push-to-hub is push_to_hub."""
    from hala_release.cli_options import _flags

    # Names a field cannot have (`schema` is pydantic's, `from` Python's) or a flag that sets one key of a sub-model.
    kept = {("TranslateConfig", "dataset_schema"), ("TranslateConfig", "gates"), ("PipelineRunOptions", "from_stage")}
    for model in OPTION_MODELS:
        for name, field in cli_fields(model).items():
            flag = _flags(name, field)[0]
            if not hints(field).get("argument") and (model.__name__, name) not in kept:
                assert flag == "--" + name.replace("_", "-"), (model.__name__, name, flag)


def test_evals_old_recipe_key_still_works_with_a_notice(caplog):
    from hala_release.stages.eval.config import EvalConfig

    base = {"model": "some/model", "output": "out"}
    with caplog.at_level("WARNING"):
        config = STAGES["eval"].validate({**base, "results_repo": "my-org/evals"})
    assert config.push_to_hub == "my-org/evals"
    assert [r.getMessage() for r in caplog.records] == [
        "note: results_repo is deprecated and will be removed; use push_to_hub"]
    caplog.clear()
    assert EvalConfig.model_validate({**base, "push_to_hub": "a/b"}).push_to_hub == "a/b" and not caplog.records
    with pytest.raises(ValueError, match="results_repo and push_to_hub are the same option: give only push_to_hub"):
        EvalConfig.model_validate({**base, "push_to_hub": "a/b", "results_repo": "c/d"})


def test_deprecated_flags_are_generic():
    """Any field can keep old names: each becomes a hidden option with the field's type."""
    from hala_release.cli_options import command

    class Options(BaseModel):
        count: int = Field(1, description="How many.", json_schema_extra={"cli": {"deprecated_flags": ["--n",
                                                                                                       "--num"]}})

    toy, seen = typer.Typer(), []
    command(toy, "toy", Options, epilog="")(lambda options: seen.append(options))
    command(toy, "other", Options, epilog="")(lambda options: seen.append(options))
    runner = typer.testing.CliRunner()
    result = runner.invoke(toy, ["toy", "--num", "3"])
    assert result.exit_code == 0 and seen[-1].count == 3 and "--num is deprecated" in result.output
    assert runner.invoke(toy, ["toy", "--count", "4"]).exit_code == 0 and seen[-1].count == 4
    assert runner.invoke(toy, ["toy", "--n", "x"]).exit_code == 2  # the field's type is checked under old names

"""`pipeline run`: recipe checks, dry runs, incremental reruns, failure and resume, the tiny recipe end to end
(locally and pushed to the test Hub), and lineage from the Hub equal to lineage from local folders."""

import json
import os
from pathlib import Path

import pytest
import yaml

from hala_release.artifacts.card import check_card_text, parse_card_metadata
from hala_release.cli import main
from hala_release.core.errors import HalaError, UsageError
from hala_release.hub.lineage import build_lineage
from hala_release.pipeline.run import RUN_LOG, explain, load_plan, run_pipeline
from hala_release.core.provenance import read_provenance
from hala_release.hub.publish import check_space_folder
from hala_release.core.refs import folder_content_hash

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "recipes" / "tiny.yaml"
HALA = REPO / "recipes" / "hala.yaml"


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _write(path: Path, recipe: dict) -> Path:
    path.write_text(yaml.safe_dump(recipe, sort_keys=False), encoding="utf-8")
    return path


def _statuses(run) -> dict[str, str]:
    return {r.name: r.status for r in run.results}


# --------------------------------------------------------------------------------------------- recipe checks

BASE = {"name": "t", "version": "v1", "stages": {"m": {"uses": "tiny-model", "with": {"arch": "lfm2"}}}}


@pytest.mark.parametrize("stages, fragment", [
    ({"x": {"uses": "quantise"}}, "unknown stage kind uses: 'quantise'"),
    ({"x": {"uses": "quantize", "with": {"model": "${stages.m.output}", "schem": "FP8"}}}, "schem: Extra inputs"),
    ({"x": {"uses": "quantize", "with": {"model": "${stages.later.output}"}},
      "later": {"uses": "tiny-model"}}, "not an earlier stage"),
    ({"x": {"uses": "translate", "with": {"source": "${stages.m.output}", "engine": "dry-run"}}},
     "source reads a dataset, but stage 'm' (tiny-model) makes a model"),
    ({"x": {"uses": "quantize", "with": {"model": "${stages.m.output}", "output": "/tmp/x"}}},
     "`output` cannot be set in a pipeline recipe"),
    ({"x": {"uses": "quantize", "with": {"model": "prefix-${stages.m.output}"}}}, "must be a whole value"),
    ({"x": {"uses": "quantize", "with": {"model": "${stages.m.output}", "scheme": "${stages.m.output}"}}},
     "scheme does not read an artifact"),
    ({"bad name": {"uses": "tiny-model"}}, "a stage name must be"),
    ({"x": {"uses": "quantize", "whith": {}}}, "whith: Extra inputs"),
])
def test_recipe_mistakes_are_one_line_usage_errors(stages, fragment, tmp_path, capsys):
    recipe = _write(tmp_path / "r.yaml", {**BASE, "stages": {**BASE["stages"], **stages}})
    code, out, err = _run(capsys, "pipeline", "run", recipe, "--dry-run")
    assert code == 2 and fragment in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_from_and_only_name_existing_stages(tmp_path):
    recipe = _write(tmp_path / "r.yaml", BASE)
    with pytest.raises(UsageError, match="no stage 'nope'.*stages are m"):
        run_pipeline(recipe, output_dir=tmp_path / "out", only="nope")
    with pytest.raises(UsageError, match="organisation"):
        run_pipeline(recipe, output_dir=tmp_path / "out", push_to_hub="org/name")


def test_multi_process_launch_only_runs_one_train_stage(tmp_path, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(UsageError, match="only one train stage"):
        run_pipeline(_write(tmp_path / "r.yaml", BASE), output_dir=tmp_path / "out")
    assert not (tmp_path / "out" / "m").exists()


# ------------------------------------------------------------------------------------------------- dry runs

def _no_downloads(monkeypatch):
    """Any attempt to reach the Hub (resolve a Hub ref, ask for repo info, download a snapshot) fails the test.
    (The patches are on objects looked up at call time, so no module keeps a patched function afterwards.)"""
    import huggingface_hub

    import hala_release.core.refs as refs

    def refuse(*args, **kwargs):
        raise AssertionError(f"dry run tried to reach the Hub: {args[:2]}")

    monkeypatch.setattr(refs, "_resolve_hub", refuse)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", refuse)
    monkeypatch.setattr(huggingface_hub.HfApi, "repo_info", refuse)
    monkeypatch.setattr(huggingface_hub.HfApi, "dataset_info", refuse)
    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", refuse)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def test_hala_recipe_dry_run_explains_without_downloading(monkeypatch, tmp_path, capsys):
    _no_downloads(monkeypatch)
    code, out, err = _run(capsys, "pipeline", "run", HALA, "--dry-run", "--push-to-hub", "my-org",
                          "--output-dir", tmp_path / "hala")
    assert code == 0, err
    plan = load_plan(HALA)
    assert len(plan.stages) >= 20
    for stage in plan.stages:  # every stage, with its kind and where it goes
        assert f"{stage.name} ({stage.kind.name}:" in out
    for hub_id in ["CohereLabs/command-a-translate-08-2025", "Open-Orca/OpenOrca", "Helsinki-NLP/opus-100",
                   "Qwen/Qwen2.5-3B-Instruct", "LiquidAI/LFM2-350M", "LiquidAI/LFM2-700M", "LiquidAI/LFM2-1.2B",
                   "QCRI/Fanar-1-9B-Instruct", "NousResearch/Hermes-3-Dataset", "allenai/tulu-3-sft-mixture"]:
        assert f"{hub_id} (Hub)" in out
    assert "my-org/Hala-1.2B@v1" in out and "405,000 rows x" in out
    # the instruct models train on the set the recipe rebuilds, not on the published one their recipes default to
    assert "dataset_name: <- stage hala-sft-data" in out and "Hala-4.6M-SFT" not in out
    assert "my-org/Hala-SFT@v1" in out
    expected = sum(s.values["limit"] * s.spec.estimate.tokens_per_row for s in plan.stages
                   if s.kind.name == "translate" and s.spec.estimate and "limit" in s.values)
    unknown = [s.name for s in plan.stages if s.kind.name == "translate" and "limit" not in s.values]
    assert expected > 0 and unknown
    assert (f"estimated tokens to generate (translate): {expected:,.0f} (not counted, no row count: "
            f"{', '.join(unknown)})") in out
    assert "estimated tokens to generate (judge): 1,000,000" in out
    assert "dry run: nothing was run or downloaded" in out
    assert not (tmp_path / "hala").exists()


def test_tiny_dry_run_counts_sample_rows(monkeypatch, tmp_path, capsys):
    _no_downloads(monkeypatch)
    lines = explain(TINY, output_dir=tmp_path / "tiny")
    text = "\n".join(lines)
    from hala_release.stages.sample_data.run import read_sample

    assert f"{len(read_sample('openorca')):,} rows x" in text and f"{len(read_sample('opus100-ar-en')):,} pairs" in text
    assert sum(line[:3].strip().rstrip(".").isdigit() for line in lines) == len(load_plan(TINY).stages)


def test_dry_run_says_how_to_get_hours_and_prices_tokens_at_a_given_rate(monkeypatch, tmp_path, capsys):
    _no_downloads(monkeypatch)
    text = "\n".join(explain(TINY, output_dir=tmp_path / "tiny"))
    assert "hours: add --calibrate N" in text and "dry run: nothing was run or downloaded" in text
    text = "\n".join(explain(TINY, output_dir=tmp_path / "tiny", tokens_per_second=100))
    tokens = load_plan(TINY).get("openorca-ar").spec.estimate.tokens_per_row * 34  # the recipe's estimate, 34 rows
    assert f"openorca-ar (translate): 34 rows, {tokens:,.0f} tokens to generate (the recipe's estimate), " \
           f"{tokens / 100 / 3600:.3g} GPU-hours at 100 tokens/s per engine" in text
    code, _, err = _run(capsys, "pipeline", "run", TINY, "--calibrate", "2")
    assert code == 2 and "add --dry-run" in err
    for flag, value in (("--calibrate", "0"), ("--tokens-per-second", "-5")):
        code, _, err = _run(capsys, "pipeline", "run", TINY, "--dry-run", flag, value)
        assert code == 2 and ("calibrate" if flag == "--calibrate" else "tokens_per_second") in err, err


def test_calibrate_times_each_generating_stage_with_stand_ins(tmp_path, capsys):
    """Each translate/judge stage runs on N rows with its own engine; a model no run has built is stood in for by
    the model it starts from; the hours follow from the measured rates; nothing is built in the output folder."""
    recipe = _write(tmp_path / "plan.yaml", {"name": "plan", "version": "v1", "stages": {
        "base": {"uses": "tiny-model", "with": {"arch": "llama", "layers": 2}},
        "data": {"uses": "sample-data", "with": {"name": "openorca"}},
        "opus": {"uses": "sample-data", "with": {"name": "opus100-ar-en"}},
        "tuned": {"uses": "train", "with": {"recipe": str(REPO / "recipes/train/tiny-translator.yaml"),
                                            "model_name_or_path": "${stages.base.output}",
                                            "dataset_name": "${stages.opus.output}"}},
        "translated": {"uses": "translate", "with": {"source": "${stages.data.output}", "model": "${stages.tuned.output}",
                                                     "engine": "transformers", "max_tokens": 4, "max_retries": 0,
                                                     "gates": {"enabled": False}}},
        "judged": {"uses": "judge", "with": {"source": "${stages.opus.output}", "judge": "${stages.base.output}",
                                             "engine": "transformers", "dtype": "float32"}},
    }})
    out = tmp_path / "runs"
    code, text, err = _run(capsys, "pipeline", "run", recipe, "--dry-run", "--calibrate", "2", "--tokens-per-second",
                           "50", "--output-dir", out)
    assert code == 0, err
    assert "[calibrate] translated: translate on 2 rows (tuned (train) not built yet: timed with " \
           "stage base's model, which it starts from)" in text
    line = next(l for l in text.splitlines() if l.startswith("  translated (translate): 34 rows, "))
    per_row = float(line.split("(")[2].split("/row")[0])
    assert 0 < per_row <= 4 * 3 * 10  # at most max_tokens per segment; some segments per field
    tokens = float(line.split("34 rows, ")[1].split(" tokens")[0].replace(",", ""))
    assert abs(tokens - 34 * per_row) <= 1 and f"{tokens / 50 / 3600:.3g} GPU-hours at 50 tokens/s" in line
    assert "CPU-hours at the measured" in line
    judged = next(l for l in text.splitlines() if l.startswith("  judged (judge): 80 rows, "))
    assert "pairs/s x 1 device(s)" in judged and "hours (calibrated on 2 rows per stage, CPU):" in text
    assert not out.exists() or not any(out.iterdir())  # nothing built where the real run will write
    code, again, err = _run(capsys, "pipeline", "run", recipe, "--dry-run", "--calibrate", "2", "--output-dir", out)
    line = next(l for l in again.splitlines() if l.startswith("  translated (translate): 34 rows, "))
    assert code == 0 and float(line.split("(")[2].split("/row")[0]) > 0  # generated again, not read from a cache


# ---------------------------------------------------------------------------------- incremental, fast recipes

def _small_recipe(path: Path, **fp8_options) -> Path:
    return _write(path, {"name": "small", "version": "v1", "stages": {
        "model": {"uses": "tiny-model", "with": {"arch": "lfm2", "layers": 2}},
        "fp8": {"uses": "quantize", "with": {"model": "${stages.model.output}", "verify": False, **fp8_options}},
        "data": {"uses": "sample-data", "with": {"name": "openorca"}},
        "copy": {"uses": "translate", "with": {"source": "${stages.data.output}", "engine": "dry-run"}},
        "mixed": {"uses": "mix", "with": {"translated": ["${stages.copy.output}"], "eval_size": 2}},
    }})


def test_rerun_skips_and_a_change_reruns_that_stage_and_its_dependents(tmp_path, capsys):
    out = tmp_path / "out"
    first = run_pipeline(_small_recipe(tmp_path / "a.yaml"), output_dir=out)
    assert set(_statuses(first).values()) == {"built"}
    pins = {name: folder_content_hash(out / name) for name in ("model", "fp8", "data", "copy", "mixed")}
    second = run_pipeline(_small_recipe(tmp_path / "a.yaml"), output_dir=out)
    assert set(_statuses(second).values()) == {"skipped"}
    assert {name: folder_content_hash(out / name) for name in pins} == pins  # nothing was touched

    changed = run_pipeline(_small_recipe(tmp_path / "b.yaml", ignore=["lm_head", "re:.*out_proj$"]), output_dir=out)
    assert _statuses(changed) == {"model": "skipped", "fp8": "built", "data": "skipped", "copy": "skipped",
                                  "mixed": "skipped"}
    assert "config changed (ignore" in changed.result("fp8").reason
    assert read_provenance(out / "fp8").config["ignore"] == ["lm_head", "re:.*out_proj$"]

    # an upstream change moves the pins, so everything downstream reruns
    recipe = yaml.safe_load((tmp_path / "b.yaml").read_text())
    recipe["stages"]["model"]["with"]["seed"] = 7
    rebuilt = run_pipeline(_write(tmp_path / "c.yaml", recipe), output_dir=out)
    assert _statuses(rebuilt) == {"model": "built", "fp8": "built", "data": "skipped", "copy": "skipped",
                                  "mixed": "skipped"}
    assert rebuilt.result("fp8").reason == "inputs changed: model"
    assert read_provenance(out / "fp8").inputs["model"]["pin"] == folder_content_hash(out / "model")

    # --only / --from rebuild what they name and use the artifacts they read as they are
    only = run_pipeline(tmp_path / "c.yaml", output_dir=out, only="mixed")
    assert _statuses(only) == {"copy": "used", "mixed": "built"}
    assert read_provenance(out / "mixed").inputs["translated_0"]["pin"] == pins["copy"]
    after = run_pipeline(tmp_path / "c.yaml", output_dir=out, from_stage="data")
    assert _statuses(after) == {"data": "built", "copy": "built", "mixed": "built"}  # model/fp8 not needed
    assert read_provenance(out / "mixed").inputs["translated_0"]["pin"] == folder_content_hash(out / "copy")

    log = json.loads((out / RUN_LOG).read_text())
    assert [s["name"] for s in log["stages"]] == ["data", "copy", "mixed"]
    assert all(s["seconds"] >= 0 and s["pin"] == folder_content_hash(out / s["name"]) for s in log["stages"])


def test_each_stage_runs_in_a_process_of_its_own(tmp_path):
    """So a stage's GPU memory (vLLM keeps it while its process lives) is free before the next stage starts."""
    recipe = _write(tmp_path / "r.yaml", {"name": "p", "version": "v1", "stages": {
        "model": {"uses": "tiny-model", "with": {"arch": "lfm2", "layers": 2}},
        "data": {"uses": "sample-data", "with": {"name": "openorca"}},
        "copy": {"uses": "translate", "with": {"source": "${stages.data.output}", "engine": "dry-run"}}}})
    run = run_pipeline(recipe, output_dir=tmp_path / "out")
    pids = [r.pid for r in run.results]
    assert all(isinstance(pid, int) for pid in pids) and len(set(pids) | {os.getpid()}) == len(pids) + 1
    assert read_provenance(tmp_path / "out" / "copy").pipeline["stage"] == "copy"  # the step reached the child
    again = run_pipeline(recipe, output_dir=tmp_path / "out")  # skipped stages start no process
    assert set(_statuses(again).values()) == {"skipped"} and all(r.pid is None for r in again.results)


def test_a_library_notice_is_shown_once_per_run_not_once_per_stage(tiny_lfm2, openorca_artifact, tmp_path, capfd):
    """transformers says once per process that LFM2's conv kernel falls back to PyTorch; two stages running LFM2,
    each in its own process, still show it once."""
    translate = {"source": str(openorca_artifact), "model": str(tiny_lfm2), "engine": "transformers", "limit": 1,
                 "max_retries": 0, "gates": {"enabled": False}}
    recipe = _write(tmp_path / "r.yaml", {"name": "n", "version": "v1", "stages": {
        "first": {"uses": "translate", "with": {**translate, "max_tokens": 2}},
        "second": {"uses": "translate", "with": {**translate, "max_tokens": 3}}}})
    run = run_pipeline(recipe, output_dir=tmp_path / "out")
    assert _statuses(run) == {"first": "built", "second": "built"}
    captured = capfd.readouterr()
    lines = [line for line in (captured.out + captured.err).splitlines()
             if "is falling back to its reference PyTorch implementation" in line]
    assert lines and all(lines.count(line) == 1 for line in lines), lines


def test_a_user_error_in_a_stage_process_keeps_its_line_and_exit_code(tmp_path, capsys):
    """A UsageError raised in the stage's process: the parent shows its one line and exits 2, as in-process."""
    recipe = _write(tmp_path / "r.yaml", {"name": "u", "version": "v1", "stages": {
        "data": {"uses": "sample-data", "with": {"name": "openorca"}},
        "chat": {"uses": "chat-mix", "with": {"translated": ["${stages.data.output}"], "language_id": False}}}})  # not translated
    code, out, err = _run(capsys, "pipeline", "run", recipe, "--output-dir", tmp_path / "out")
    assert code == 2 and "stage 'chat' (chat-mix) failed: " in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_a_bug_in_a_stage_process_shows_its_traceback(tmp_path, capfd):
    from hala_release.pipeline.child import run_in_child

    with pytest.raises(HalaError, match=r"exited with code 1 \(its traceback is above\)"):
        run_in_child("no-such-kind", {}, tmp_path / "out", False, {})
    err = capfd.readouterr().err
    assert "Traceback" in err and "KeyError: 'no-such-kind'" in err


def test_refuses_to_replace_a_folder_it_did_not_build(tmp_path):
    out = tmp_path / "out"
    (out / "model").mkdir(parents=True)
    (out / "model" / "notes.txt").write_text("mine")
    with pytest.raises(HalaError, match="not built by hala-release: move it away"):
        run_pipeline(_small_recipe(tmp_path / "a.yaml"), output_dir=out, only="model")
    assert (out / "model" / "notes.txt").read_text() == "mine"


def test_failed_stage_stops_the_run_and_a_rerun_resumes(tmp_path, capsys):
    def recipe(threshold):
        return _write(tmp_path / f"judge-{threshold}.yaml", {"name": "judged", "version": "v1", "stages": {
            "judge-model": {"uses": "tiny-model", "with": {"arch": "llama", "layers": 2}},
            "opus": {"uses": "sample-data", "with": {"name": "opus100-ar-en"}},
            "judged": {"uses": "judge", "with": {"source": "${stages.opus.output}", "judge": "${stages.judge-model.output}",
                                                 "engine": "transformers", "threshold": threshold, "chunk_size": 30}},
            "after": {"uses": "sample-data", "with": {"name": "tulu3"}},
        }})

    out = tmp_path / "out"
    code, stdout, err = _run(capsys, "pipeline", "run", recipe(1.0), "--output-dir", out)
    assert code == 1 and "stage 'judged' (judge) failed: no pair was kept" in err
    assert "continues from its finished chunks" in err and "Traceback" not in err
    log = json.loads((out / RUN_LOG).read_text())
    assert [(s["name"], s["status"]) for s in log["stages"]] == [
        ("judge-model", "built"), ("opus", "built"), ("judged", "failed")]
    assert not (out / "judged").exists() and not (out / "after").exists()
    assert len(list((out / ".hala-work-judged").glob("chunk-*.parquet"))) == 3  # the scores are kept

    run = run_pipeline(recipe(0.0), output_dir=out)  # the fix: a lower threshold (scores do not depend on it)
    assert _statuses(run) == {"judge-model": "skipped", "opus": "skipped", "judged": "built", "after": "built"}
    assert run.result("judged").note.startswith("resumed")
    assert read_provenance(out / "judged").stats["counts"]["kept"] > 0


# ------------------------------------------------------------------------------------- the tiny recipe, slow

def _stage_dirs(out: Path) -> dict[str, Path]:
    return {stage.name: out / stage.name for stage in load_plan(TINY).stages}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("pipeline") / "tiny"
    return run_pipeline(TINY, output_dir=out), out


@pytest.mark.slow
def test_tiny_recipe_end_to_end(tiny_run):
    run, out = tiny_run
    plan = load_plan(TINY)
    assert [r.name for r in run.results] == [s.name for s in plan.stages]
    assert set(_statuses(run).values()) == {"built"}
    assert len({r.pid for r in run.results} | {os.getpid()}) == len(run.results) + 1  # one process per stage
    print("\nper-stage wall time (s): " + ", ".join(f"{r.name} {r.seconds}" for r in run.results)
          + f"; total {run.seconds:.1f}")
    dirs = _stage_dirs(out)
    for stage in plan.stages:
        folder = dirs[stage.name]
        prov = read_provenance(folder)
        assert prov.pipeline["recipe"] == "hala-tiny" and prov.pipeline["stage"] == stage.name
        assert prov.stage == stage.kind.name
        if stage.kind.artifact == "space":
            check_space_folder(folder)
        else:
            check_card_text((folder / "README.md").read_text(encoding="utf-8"), stage.kind.artifact, folder)
        # every upstream artifact is an input of this one, pinned to exactly what is on disk now
        recorded = {(r.get("path"), r["pin"]) for r in prov.inputs.values()}
        for upstream in stage.upstream:
            assert (str(dirs[upstream]), folder_content_hash(dirs[upstream])) in recorded, (stage.name, upstream)
        assert run.result(stage.name).pin == folder_content_hash(folder)
    assert read_provenance(dirs["openorca-ar"]).inputs["model"]["path"] == str(dirs["teacher-fp8"])
    assert read_provenance(dirs["teacher-fp8"]).stats["top1_agreement"] > 0.5
    assert read_provenance(dirs["chat"]).config["t"] == 0.5
    assert (dirs["eval"] / "report.md").exists() and read_provenance(dirs["eval"]).stats["tasks"] > 0
    models = json.loads((dirs["demo"] / "models.json").read_text())
    assert models == {"chat": str(dirs["chat"]), "translator": str(dirs["translator"])}
    assert "models" not in parse_card_metadata((dirs["demo"] / "README.md").read_text())
    log = json.loads((out / RUN_LOG).read_text())
    assert [s["status"] for s in log["stages"]] == ["built"] * len(plan.stages)


@pytest.mark.slow
def test_tiny_rerun_does_nothing_and_merge_t_reruns_merge_and_what_reads_it(tiny_run, tmp_path, capsys):
    _, out = tiny_run
    before = {name: folder_content_hash(folder) for name, folder in _stage_dirs(out).items()}
    code, stdout, err = _run(capsys, "pipeline", "run", TINY, "--output-dir", out)
    assert code == 0, err
    assert stdout.count("] skipped in") == len(before) and "built" not in stdout
    assert {name: folder_content_hash(folder) for name, folder in _stage_dirs(out).items()} == before
    assert f"eval report (eval): {out / 'eval' / 'report.md'}" in stdout
    assert f"demo (demo): hala-release demo --space {out / 'demo'}" in stdout

    # the same recipe with another merge t, saved elsewhere: training recipes are found by content, not by path
    text = TINY.read_text().replace("      t: 0.5", "      t: 0.25")
    text = text.replace("recipe: train/", f"recipe: {REPO / 'recipes' / 'train'}/")
    changed = tmp_path / "tiny-t.yaml"
    changed.write_text(text)
    run = run_pipeline(changed, output_dir=out)
    assert {n for n, s in _statuses(run).items() if s == "built"} == {"chat", "eval", "demo"}
    assert {n for n, s in _statuses(run).items() if s == "skipped"} == set(before) - {"chat", "eval", "demo"}
    assert run.result("chat").reason == "config changed (t: 0.5 -> 0.25)"
    assert run.result("eval").reason == "inputs changed: chat"
    assert read_provenance(out / "chat").config["t"] == 0.25


@pytest.mark.slow
def test_tiny_demo_folder_serves_the_recipe_models(tiny_run):
    """What the printed demo command (`hala-release demo --space OUT/demo`) serves: the recipe's own models."""
    import socket

    from gradio_client import Client

    from hala_release.stages.demo.run import launch_demo

    _, out = tiny_run
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    running = launch_demo(space=out / "demo", port=port, block=False)
    try:
        running.wait_until_loaded(120)
        assert {role: slot.name for role, slot in running.demo.hala_app.slots.items()} == {
            "chat": str(out / "chat"), "translator": str(out / "translator")}
        reply = Client(running.url, verbose=False).predict("مرحبا", "أنت مساعد مفيد.", 8, 0, 1.0, api_name="/chat")
        assert isinstance(reply, str)
    finally:
        running.close()


def _shape(node) -> tuple:
    """A lineage tree without names and pins: which stage built what from what."""
    return (node.role, node.stage, node.step, tuple(_shape(child) for child in node.children))


@pytest.mark.slow
def test_tiny_recipe_pushed_to_the_hub_links_cards_and_lineage_matches(tiny_run, hub, hub_token, monkeypatch,
                                                                         tmp_path, capsys):
    from huggingface_hub import HfApi

    monkeypatch.setenv("HF_TOKEN", hub_token)
    out = tmp_path / "pushed"
    code, stdout, err = _run(capsys, "pipeline", "run", TINY, "--output-dir", out, "--push-to-hub", "hala-test")
    assert code == 0, err
    plan = load_plan(TINY)
    api = HfApi(token=hub_token)
    heads = {}
    for stage in plan.stages:
        repo_type = stage.kind.artifact
        repo = f"hala-test/hala-tiny-{stage.name}"
        commits = hub.commits(repo_type, repo)
        assert len(commits) == 2, repo  # the repo's initial commit + one for the artifact
        tags = {t.name: t.target_commit for t in api.list_repo_refs(repo, repo_type=repo_type).tags}
        assert tags == {"v1": commits[0]}
        heads[stage.name] = commits[0]
        prov = read_provenance(out / stage.name)
        for upstream in stage.upstream:  # downstream stages read the pushed commits
            record = next(r for r in prov.inputs.values() if r.get("repo_id") == f"hala-test/hala-tiny-{upstream}")
            assert record["source"] == "hub" and record["pin"] == heads[upstream]

    def card(name):
        return parse_card_metadata((out / name / "README.md").read_text(encoding="utf-8"))

    assert card("teacher-fp8")["base_model"] == "hala-test/hala-tiny-teacher"
    assert card("teacher-fp8")["base_model_relation"] == "quantized"
    assert card("openorca-ar")["source_datasets"] == ["hala-test/hala-tiny-openorca"]
    assert card("opus-judged")["source_datasets"] == ["hala-test/hala-tiny-opus"]
    assert sorted(card("translator-mix")["source_datasets"]) == ["hala-test/hala-tiny-openorca-ar",
                                                                "hala-test/hala-tiny-opus-judged"]
    assert card("translator")["base_model"] == "hala-test/hala-tiny-base"
    assert card("translator")["datasets"] == ["hala-test/hala-tiny-translator-mix"]
    assert card("chat-sft")["datasets"] == ["hala-test/hala-tiny-chat-data"]
    assert card("chat-data")["source_datasets"] == ["hala-test/hala-tiny-openorca-ar", "hala-test/hala-tiny-tulu3-ar"]
    assert card("chat")["base_model"] == ["hala-test/hala-tiny-base", "hala-test/hala-tiny-chat-sft"]
    assert card("chat")["base_model_relation"] == "merge"
    demo = json.loads((out / "demo" / "models.json").read_text())
    assert demo == {"chat": f"hala-test/hala-tiny-chat@{heads['chat']}",
                    "translator": f"hala-test/hala-tiny-translator@{heads['translator']}"}
    assert card("demo")["models"] == ["hala-test/hala-tiny-chat", "hala-test/hala-tiny-translator"]

    # lineage read from the Hub is the lineage of the local folder, pin for pin
    local = build_lineage(str(out / "demo"), "space")
    remote = build_lineage("hf://spaces/hala-test/hala-tiny-demo@v1", "space")
    assert remote.pin == heads["demo"] and remote.source == "hub"
    assert [c.to_dict() for c in remote.children] == [c.to_dict() for c in local.children]
    assert (remote.stage, remote.step, remote.config_hash) == (local.stage, local.step, local.config_hash)
    # and it has the shape of the local-only run's lineage: the same stages built the same things
    offline = build_lineage(str(tiny_run[1] / "demo"), "space")
    assert _shape(remote) == _shape(offline)
    code, text, err = _run(capsys, "lineage", "hala-test/hala-tiny-chat@v1")
    assert code == 0, err
    assert f"base: hala-test/hala-tiny-base@{heads['base']}  [tiny-model, stage base]" in text

    # a rerun skips everything and pushes nothing new
    again = run_pipeline(TINY, output_dir=out, push_to_hub="hala-test")
    assert set(_statuses(again).values()) == {"skipped"}
    assert all("already on the Hub" in r.note for r in again.results)
    assert all(len(hub.commits(s.kind.artifact, f"hala-test/hala-tiny-{s.name}")) == 2 for s in plan.stages)

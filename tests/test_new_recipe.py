"""`hala-release new-recipe --target-lang LANG`: HALA's recipe for another language, accepted by `--dry-run`."""

from __future__ import annotations

import pytest
import yaml

from hala_release.cli import main
from hala_release.pipeline.run import explain, load_plan


def _write(tmp_path, capsys, *argv) -> tuple[int, str]:
    code = main(["new-recipe", *map(str, argv)])
    return code, capsys.readouterr().err


@pytest.mark.parametrize("lang, subset, teacher", [
    ("ur", "en-ur", "my-org/teacher"), ("bn", "bn-en", "my-org/teacher"), ("yo", "en-yo", "my-org/teacher"),
    ("tr", "en-tr", None), ("sw", None, "my-org/teacher"),
])
def test_recipes_for_other_languages_pass_the_dry_run(lang, subset, teacher, tmp_path, capsys, monkeypatch):
    from test_pipeline import _no_downloads

    _no_downloads(monkeypatch)
    recipe = tmp_path / f"hala-{lang}.yaml"
    argv = ["--target-lang", lang, "--output", recipe] + (["--teacher", teacher] if teacher else [])
    if subset is None:  # OPUS-100 has no English-Swahili pair
        assert _write(tmp_path, capsys, *argv)[0] == 2
        argv += ["--parallel", "my-org/en-sw-pairs"]
    code, err = _write(tmp_path, capsys, *argv)
    assert code == 0, err
    text = recipe.read_text()
    stages = yaml.safe_load(text)["stages"]
    plan = load_plan(recipe)
    assert "dry run: nothing was run or downloaded" in "\n".join(explain(recipe, output_dir=tmp_path / "runs"))
    translate = [s for s in plan.stages if s.kind.name == "translate"]
    assert len(translate) == 5 and all(s.values["target_lang"] == lang for s in translate)
    judge = stages["parallel-judged"]["with"]
    assert judge["target_lang"] == lang and judge.get("subset") == subset
    assert judge["source"] == ("Helsinki-NLP/opus-100" if subset else "my-org/en-sw-pairs")
    assert stages["teacher-fp8"]["with"]["model"] == (teacher or "CohereLabs/command-a-translate-08-2025")
    evals = {name: s["with"] for name, s in stages.items() if s["uses"] == "eval"}
    assert {e.get("language") for e in evals.values()} == {lang}
    assert evals["eval-translator"]["suite"] == "translation"
    assert "Fanar" in text and not any("fanar" in str(s["with"]).lower() for s in stages.values())  # said, not used
    assert f"# - teacher: {teacher or 'CohereLabs/command-a-translate-08-2025'}" in text


def test_new_recipe_refuses_what_it_cannot_choose(tmp_path, capsys):
    code, err = _write(tmp_path, capsys, "--target-lang", "yo", "--output", tmp_path / "yo.yaml")
    assert code == 2 and "Pass --teacher MODEL" in err and not (tmp_path / "yo.yaml").exists()
    code, err = _write(tmp_path, capsys, "--target-lang", "xx", "--output", tmp_path / "xx.yaml")
    assert code == 2 and "unknown language code 'xx'" in err and len(err.strip().splitlines()) == 1
    (tmp_path / "tr.yaml").write_text("mine")
    code, err = _write(tmp_path, capsys, "--target-lang", "tr", "--output", tmp_path / "tr.yaml")
    assert code == 2 and "--overwrite" in err and (tmp_path / "tr.yaml").read_text() == "mine"


TINY_SW = __import__("pathlib").Path(__file__).resolve().parents[1] / "recipes" / "tiny-sw.yaml"


def test_the_tiny_swahili_recipe_runs_end_to_end(tmp_path):
    """A second language, Latin-script, offline: Swahili translation, the judged English-Swahili pairs (its bad
    pairs caught, the English "Swahili" one only by the language check), mix both ways, translator, chat set, merged
    chat model, and Swahili benchmarks on fixtures in the real layouts (Belebele; FLORES-200 both ways)."""
    import json

    from hala_release.pipeline.run import run_pipeline
    from stage_helpers import split_rows

    out = tmp_path / "runs"
    run = run_pipeline(TINY_SW, output_dir=out, echo=lambda line: None)
    assert {r.name: r.status for r in run.results} == {s.name: "built" for s in load_plan(TINY_SW).stages}
    assert "question_sw" in split_rows(out / "openorca-sw", "train")[0]
    rejected = [(r["translation"]["sw"], r["reject_reason"]) for r in split_rows(out / "parallel-judged", "rejected")]
    assert [reason for _, reason in rejected] == ["duplicate", "wrong_language", "empty"]
    assert {r["direction"] for r in split_rows(out / "translator-mix", "train")} == {"en-sw", "sw-en"}
    assert {r["language"] for r in split_rows(out / "chat-data", "train")} <= {"sw", "en"}
    chat = json.loads((out / "eval" / "summary.json").read_text())
    assert [b["key"] for b in chat["benchmarks"]] == ["belebele_swh_Latn_mcf"] and chat["suite"] == "language:sw"
    translator = json.loads((out / "eval-translator" / "summary.json").read_text())
    assert [b["key"] for b in translator["benchmarks"]] == ["flores200:eng_Latn-swh_Latn", "flores200:swh_Latn-eng_Latn"]
    assert all(0 <= b["scores"]["chrf++"] <= 100 for b in translator["benchmarks"])

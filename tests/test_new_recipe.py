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

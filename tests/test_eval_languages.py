"""Benchmarks for any target language from lighteval's own multilingual tasks (stages/eval/languages.py): the
vendored FineTasks lists, checked against the installed lighteval, and the written rule for other languages."""

from __future__ import annotations

import hashlib
import re

import pytest

from hala_release.stages.eval import languages
from hala_release.stages.eval.languages import FINE_TASKS, FINE_TASKS_LANGUAGES, language_tasks

DROPPED = {"agieval_zho", "rummlu_rus", "community_mmlu_tur", "alghafa_race_ara", "alghafa_sciqa_ara"}


def test_fine_tasks_files_are_the_vendored_bytes():
    listed = dict(re.findall(r"\| ([0-9a-f]{64}) \| (\S+) \|", (FINE_TASKS / "SOURCES.md").read_text()))
    files = sorted(str(p.relative_to(FINE_TASKS)) for p in FINE_TASKS.glob("*/*.txt"))
    assert sorted(listed.values()) == files and len(files) == 2 * len(FINE_TASKS_LANGUAGES)
    for digest, name in listed.items():
        assert hashlib.sha256((FINE_TASKS / name).read_bytes()).hexdigest() == digest, name


@pytest.mark.parametrize("formulation", ["mcf", "cf"])
def test_every_fine_tasks_entry_runs_or_says_why_not(formulation):
    """Against the installed lighteval: exactly the entries dropped from its registry are missing; the others run
    unless their module needs the multilingual extra."""
    missing, needs_extra = set(), set()
    for code in FINE_TASKS_LANGUAGES:
        tasks = language_tasks(code, formulation)
        assert [(t.name, t.fewshot) for t in tasks] == languages.fine_tasks_list(code, formulation)
        for task in tasks:
            if "does not register" in task.left_out:
                missing.add(task.name.rsplit("_", 1)[0])
            elif task.left_out:
                assert task.left_out == languages.EXTRA, task
                needs_extra.add(task.module)
    assert missing == DROPPED
    assert needs_extra <= {"arcd", "chinese_squad", "cmrc2018", "fquad_v2", "indicqa", "kenswquad", "mintaka", "mlqa",
                           "sber_squad", "thaiqa", "tquad_v2", "tydiqa", "xquad"}


@pytest.mark.parametrize("code, expected", [
    ("ur", ["belebele_urd_Arab_mcf", "global_mmlu_all_urd_mcf", "xnli_urd_mcf", "xnli2.0_urd_mcf",
            "indicxcopa_urd_mcf", "xcsqa_urd_mcf", "xcodah_urd_mcf"]),
    ("bn", ["belebele_ben_Beng_mcf", "global_mmlu_all_ben_mcf", "xnli2.0_ben_mcf", "indicnxnli_ben_mcf",
            "indicxcopa_ben_mcf"]),
    ("yo", ["belebele_yor_Latn_mcf", "global_mmlu_all_yor_mcf", "afri_xnli_yor_mcf"]),
    ("sr", ["belebele_srp_Cyrl_mcf", "global_mmlu_all_srp_mcf"]),  # Serbian, not Croatian (`hrv`, same macrolanguage)
    ("sr-Latn", ["global_mmlu_all_srp_mcf"]),  # Belebele has Serbian in Cyrillic only
    ("id", ["belebele_ind_Latn_mcf", "global_mmlu_all_ind_mcf", "xcopa_ind_mcf", "xstory_cloze_ind_mcf"]),  # not Malay
    ("ms", ["belebele_zsm_Latn_mcf", "global_mmlu_all_msa_mcf"]),
    ("fa", ["belebele_pes_Arab_mcf"]),  # lighteval registers no Persian Global-MMLU, XNLI or COPA
])
def test_other_languages_follow_the_written_rule(code, expected):
    """Belebele in the language's own script (Urdu's Arabic script, not its romanised set), then Global-MMLU, then
    what lighteval registers for the language in NLI and reasoning; 0-shot, every task runnable."""
    tasks = language_tasks(code)
    assert [t.name for t in tasks] == expected and all(t.fewshot == 0 and not t.left_out for t in tasks)


def test_a_suites_few_shot_count_does_not_depend_on_what_registered_its_tasks_first():
    """A task file registers `belebele_swh_Latn_mcf` at its own few-shot count; Swahili's FineTasks suite still runs
    it 5-shot, and the task file's own line decides for the file."""
    from hala_release.stages.eval import tasks
    from hala_release.stages.eval.languages import check_task
    from hala_release.stages.eval.run import parse_suite

    tasks.register_language_task(check_task("belebele_swh_Latn_mcf", 0))
    requests = {r.benchmark: r.fewshot for r in parse_suite(tasks.language_suite("sw"))}
    assert requests["belebele_swh_Latn_mcf"] == 5 and set(requests.values()) == {5}


def test_cloze_formulation_and_its_limits():
    names = [t.name for t in language_tasks("yo", "cf", fewshot=3)]
    assert names == ["belebele_yor_Latn_cf", "global_mmlu_all_yor_mcf", "afri_xnli_yor_cf"]  # Global-MMLU: mcf only
    with pytest.raises(ValueError, match="choose mcf or cf"):
        language_tasks("yo", "hybrid")


# ---- running a language's suite -----------------------------------------------------------------------------------

def _summary(folder):
    import json

    return json.loads((folder / "summary.json").read_text())


def test_a_languages_suite_runs_offline_on_its_fixtures(tiny_llama, tmp_path, caplog):
    """`eval --language sw`: Swahili's FineTasks, 5-shot, each a lighteval task scored as lighteval defines it;
    the fixtures hold Belebele only, so the other benchmarks are named and not scored, and the run says partial."""
    from hala_release.core.provenance import read_provenance
    from hala_release.stages.eval.run import run_eval

    import shutil

    model = tmp_path / "model"
    shutil.copytree(tiny_llama, model)
    outcome = run_eval(str(model), language="sw", output=tmp_path / "sw", fixtures=True, update_model_card=True)
    summary = _summary(tmp_path / "sw")
    assert [b["key"] for b in summary["benchmarks"]] == ["belebele_swh_Latn_mcf"]
    belebele = summary["benchmarks"][0]
    assert belebele["tasks"] == ["belebele_swh_Latn_mcf|5"] and belebele["metrics"] == ["acc"]
    assert 0 <= belebele["scores"]["acc"] <= 1 and summary["partial"] and summary["suite"] == "language:sw"
    assert "kenswquad_swa left out of the sw suite" in caplog.text and "no fixture data for xcopa_swa_mcf" in caplog.text
    assert read_provenance(tmp_path / "sw").config["suite"] == "language:sw" and outcome.summary is not None
    # the model's card gets the Swahili result as for the Arabic suites: model-index and .eval_results/
    assert "belebele_swh_Latn_mcf" in (model / "README.md").read_text()
    assert "task_id: belebele_swh_Latn_mcf" in (model / ".eval_results" / "belebele_swh_Latn_mcf.yaml").read_text()


def test_a_task_file_names_any_multilingual_task_and_partial_subjects_are_explicit(tiny_llama, tmp_path, capsys):
    """Global-MMLU's 57 subjects share one config and are picked by a filter: a copy with rows for two of them
    scores those two with --allow-partial (--fixtures implies it) and refuses without, naming the fix."""
    from hala_release.cli import main

    tasks = tmp_path / "sw.txt"
    tasks.write_text("global_mmlu_all_swa_mcf|0\nbelebele_swh_Latn_mcf|0\n")
    assert main(["eval", str(tiny_llama), "--suite", str(tasks), "--fixtures", "--output", str(tmp_path / "a")]) == 0
    mmlu = _summary(tmp_path / "a")["benchmarks"][0]
    assert mmlu["key"] == "global_mmlu_all_swa_mcf" and (mmlu["subsets"], mmlu["subsets_total"]) == (2, 57)
    assert len(mmlu["missing_subsets"]) == 55 and mmlu["dataset"] == "CohereForAI/Global-MMLU"
    from hala_release.resources.eval_tasks import fixtures_root

    code = main(["eval", str(tiny_llama), "--suite", str(tasks), "--data-dir", str(fixtures_root()),
                 "--output", str(tmp_path / "b")])
    assert code == 1 and "--allow-partial" in capsys.readouterr().err
    tasks.write_text("kenswquad_swa|0\n")
    code = main(["eval", str(tiny_llama), "--suite", str(tasks), "--fixtures", "--output", str(tmp_path / "c")])
    assert code == 2 and "lighteval[multilingual]" in capsys.readouterr().err


def test_language_option_mistakes(tiny_llama, tmp_path, capsys):
    from hala_release.cli import main

    base = ["eval", str(tiny_llama), "--fixtures", "--output", str(tmp_path / "x")]
    assert main([*base, "--language", "sw", "--suite", "oall-v2"]) == 2
    assert "drop --suite oall-v2" in capsys.readouterr().err
    assert main([*base, "--language", "xx"]) == 2 and "unknown language code" in capsys.readouterr().err
    assert main([*base, "--language", "sw", "--formulation", "hybrid"]) == 2
    assert "choose mcf or cf" in capsys.readouterr().err


def test_translators_are_scored_on_flores_both_ways(tiny_llama, tmp_path):
    """`--suite translation --language sw`: FLORES-200 devtest EN->SW and SW->EN, read from the per-language
    Parquet layout (a `sentence` column per config) joined by position, prompted by lighteval's translation template
    and scored by sacreBLEU on the stored predictions and references."""
    import json

    import pandas as pd
    import sacrebleu
    from huggingface_hub import DatasetCard

    from hala_release.resources.eval_tasks import fixtures_root
    from hala_release.stages.eval.run import run_eval

    outcome = run_eval(str(tiny_llama), suite="translation", language="sw", output=tmp_path / "t", fixtures=True,
                       max_samples=3)
    flores = fixtures_root() / "facebook" / "flores"
    sentences = {code: [json.loads(line)["sentence"] for line in (flores / code / "devtest.jsonl").open()]
                 for code in ("eng_Latn", "swh_Latn")}
    summary = outcome.summary
    assert [b["key"] for b in summary["benchmarks"]] == ["flores200:eng_Latn-swh_Latn", "flores200:swh_Latn-eng_Latn"]
    for benchmark, (source, target) in zip(summary["benchmarks"], [("eng_Latn", "swh_Latn"), ("swh_Latn", "eng_Latn")]):
        (details,) = (tmp_path / "t" / "lighteval" / "details").rglob(f"details_{benchmark['key']}*.parquet")
        rows = pd.read_parquet(details).to_dict("records")
        golds = [row["doc"]["choices"][0] for row in rows]
        assert len(rows) == 3 and {gold.strip() for gold in golds} <= set(sentences[target])
        for row in rows:  # each reference is the translation of the sentence its prompt shows
            index = sentences[target].index(row["doc"]["choices"][0].strip())
            assert sentences[source][index] in row["doc"]["query"]
        preds = [row["model_response"]["text"][0] for row in rows]
        assert benchmark["scores"]["chrf++"] == pytest.approx(
            sacrebleu.CHRF(word_order=2).corpus_score(preds, [golds]).score)
    meta = DatasetCard.load(tmp_path / "t" / "README.md").data.to_dict()
    assert meta["language"] == ["en", "sw"] and meta["task_categories"] == ["translation"]


def test_flores_predictions_are_cached_across_runs(tiny_llama, tmp_path):
    """The joined pairs live in a fresh scratch folder each run; the prediction cache is keyed by the data's
    source and pin, not that folder, so a second run reuses the first one's entry."""
    from hala_release.stages.eval.run import run_eval

    cache = tmp_path / "cache"
    for name in ("first", "again"):
        run_eval(str(tiny_llama), suite="translation", language="sw", output=tmp_path / name, fixtures=True,
                 max_samples=1, cache_dir=cache)
    assert len([p for p in cache.iterdir() if p.is_dir()]) == 1

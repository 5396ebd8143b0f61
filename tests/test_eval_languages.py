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


def test_cloze_formulation_and_its_limits():
    names = [t.name for t in language_tasks("yo", "cf", fewshot=3)]
    assert names == ["belebele_yor_Latn_cf", "global_mmlu_all_yor_mcf", "afri_xnli_yor_cf"]  # Global-MMLU: mcf only
    with pytest.raises(ValueError, match="choose mcf or cf"):
        language_tasks("yo", "hybrid")

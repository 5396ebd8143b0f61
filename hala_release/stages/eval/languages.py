"""The benchmarks of any target language, from lighteval's own multilingual tasks.

Where the FineWeb-2 team chose reliable tasks for a language ("FineTasks": ar, fr, hi, ru, sw, te, th, tr, zh), the
suite is their list, vendored from lighteval's repository (`resources/eval_tasks/fine_tasks/`, see SOURCES.md). For
every other language it is built by a written rule from what lighteval 0.13 registers for that language:

1. reading comprehension: Belebele in the language's own script (FLORES-style code, e.g. `swh_Latn`);
2. knowledge: Global-MMLU (`global_mmlu_all_<iso3>_mcf`, its 57 subjects; multiple-choice only);
3. natural language inference: XNLI, XNLI 2.0, AfriXNLI, IndicXNLI;
4. reasoning: XCOPA, IndicXCOPA, XStoryCloze, X-CSQA, X-CODAH, XWinograd;
5. math: MGSM, AfriMGSM.

FineTasks lists 5-shot tasks; the rule's are 0-shot, as HALA's own evaluation is. A FineTasks entry lighteval no
longer registers (`rummlu_rus_*`, `agieval_zho_*`, `community_mmlu_tur_*`, two AlGhafa subsets) is left out, and so
is one whose module needs the `lighteval[multilingual]` extra (the generative QA tasks: spaCy and Stanza tokenisers),
each with its reason, so a suite says exactly what it scores. The rule takes only tasks it sees registered, so its
math family (whose modules need the extra) is empty unless the extra is installed.

Modules are imported one at a time, by task family: importing lighteval's whole multilingual registry offline fails
(one module downloads at import, 26 need the extra) and takes seconds more.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

FORMULATIONS = ("mcf", "cf")  # multiple-choice (letters) or cloze; mcf is the default (instruct models)
FINE_TASKS = Path(str(resources.files("hala_release.resources.eval_tasks").joinpath("fine_tasks")))
FINE_TASKS_LANGUAGES = ("ar", "fr", "hi", "ru", "sw", "te", "th", "tr", "zh")
_MODULES = "lighteval.tasks.multilingual.tasks"
EXTRA = "its lighteval module needs the lighteval[multilingual] extra (spaCy, Stanza), not installed"
# Task-name prefix -> the lighteval module (under _MODULES) that registers it. Longest prefix wins.
FAMILIES = {
    "belebele_": "belebele", "global_mmlu_": "global_mmlu", "xnli2.0_": "xnli2", "xnli_": "xnli",
    "afri_xnli_": "afri_xnli", "indicnxnli_": "xnli_indic", "xcopa_": "xcopa", "indicxcopa_": "copa_indic",
    "xstory_cloze_": "xstory", "xcsqa_": "xcsqa", "xcodah_": "xcodah", "xwinograd_": "xwinograd", "mgsm_": "mgsm",
    "afri_mgsm_": "afri_mgsm", "flores200:": "flores200",
    # families FineTasks lists use besides the above
    "alghafa_arc_": "arabic_arc", "alghafa_piqa_": "piqa_ar", "arcd_": "arcd", "c3_": "c3", "ceval_": "ceval",
    "chinese_squad_": "chinese_squad", "cmmlu_": "cmmlu", "cmrc2018_": "cmrc2018", "community_arc_hin": "hindi_arc",
    "community_arc_swa": "swahili_arc", "community_arc_tur": "turkish_arc", "community_hellaswag_tel": "hellaswag_tel",
    "community_hellaswag_tha": "hellaswag_tha", "community_hellaswag_tur": "hellaswag_tur", "exams_": "exams",
    "fquadv2_": "fquad_v2", "indicqa_": "indicqa", "kenswquad_": "kenswquad", "m3exams_": "m3exams",
    "mera_openbookqa_": "openbook_rus", "meta_mmlu_": "meta_mmlu", "mintaka_": "mintaka",
    "mlmm_arc_": "mlmm_arc_challenge", "mlmm_hellaswag_": "mlmm_hellaswag", "mlmm_mmlu_": "mlmm_mmlu", "mlqa_": "mlqa",
    "mmlu_ara_": "arabic_mmlu", "ocnli_": "ocnli", "openai_mmlu_": "openai_mmlu", "parus_": "parus",
    "sber_squad_": "sber_squad", "soqal_": "soqal", "thaiqa_": "thaiqa", "tquadv2_": "tquad_v2", "tydiqa_": "tydiqa",
    "xquad_": "xquad",
}
# The variety FLORES-200 and Belebele use for a macrolanguage (their codes name individual languages).
STANDARD_VARIETY = {"ar": "arb", "fa": "pes", "ms": "zsm", "sw": "swh", "uz": "uzn", "lv": "lvs", "et": "ekk",
                    "ne": "npi", "or": "ory", "om": "gaz", "mg": "plt", "ps": "pbt", "sq": "als", "az": "azj",
                    "mn": "khk", "yi": "ydd", "qu": "quy", "zh": "zho"}
RULE_FAMILIES = (  # (what it measures, task-name patterns) in the rule's order; {iso3}: lighteval's Language value
    ("knowledge", ("global_mmlu_all_{iso3}_mcf",)),
    ("nli", ("xnli_{iso3}_{f}", "xnli2.0_{iso3}_{f}", "afri_xnli_{iso3}_{f}", "indicnxnli_{iso3}_{f}")),
    ("reasoning", ("xcopa_{iso3}_{f}", "indicxcopa_{iso3}_{f}", "xstory_cloze_{iso3}_{f}", "xcsqa_{iso3}_{f}",
                   "xcodah_{iso3}_{f}", "xwinograd_{iso3}_{f}")),
    ("math", ("mgsm_{iso3}", "afri_mgsm_{iso3}")),
)


@dataclass(frozen=True)
class LanguageTask:
    name: str  # lighteval task name, e.g. "belebele_swh_Latn_mcf" (a group such as global_mmlu's is one name)
    fewshot: int
    module: str | None  # the lighteval module that registers it
    left_out: str = ""  # why it is not in the runnable suite ("" = runs)


def fine_tasks_list(code: str, formulation: str = "mcf") -> list[tuple[str, int]]:
    """(task, few-shot) of a FineTasks file, in order: `lighteval|belebele_swh_Latn_mcf|5` -> (name, 5)."""
    path = FINE_TASKS / formulation / f"{code}.txt"
    entries = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            parts = line.split("|")
            entries.append((parts[1], int(parts[2])) if len(parts) >= 3 else (parts[0], 0))
    return entries


def family_module(name: str) -> str | None:
    matches = [prefix for prefix in FAMILIES if name.startswith(prefix)]
    return FAMILIES[max(matches, key=len)] if matches else None


@lru_cache(maxsize=None)
def _registered(module: str) -> tuple[frozenset[str], str]:
    """The task names one lighteval module registers (groups `name:subset` also as `name`), or why it cannot be
    imported here."""
    try:
        imported = importlib.import_module(f"{_MODULES}.{module}")
    except ModuleNotFoundError as err:
        if err.name and err.name.startswith(f"{_MODULES}.{module}"):
            return frozenset(), "lighteval has no such module"
        return frozenset(), EXTRA
    except ImportError:
        return frozenset(), EXTRA
    names = {config.name for config in getattr(imported, "TASKS_TABLE", [])}
    return frozenset(names | {name.split(":")[0] for name in names}), ""


def check_task(name: str, fewshot: int = 0) -> LanguageTask:
    """A task as a suite holds it: its module, and why it is left out, if it is."""
    module = family_module(name)
    if module is None:
        return LanguageTask(name, fewshot, None, "lighteval 0.13 does not register it (dropped when its multilingual "
                                                 "tasks were split into modules; no task reads the same data)")
    names, problem = _registered(module)
    if problem:
        return LanguageTask(name, fewshot, module, problem)
    if name not in names:
        return LanguageTask(name, fewshot, module, f"lighteval's {module} module does not register it (renamed or "
                                                   f"dropped since the list was made)")
    return LanguageTask(name, fewshot, module)


def lighteval_code(code: str) -> str:
    """lighteval's `Language` value for a code: ISO 639-3, the macrolanguage where there is one (`sw` -> `swa`)."""
    import langcodes

    return langcodes.Language.get(code).to_alpha3()


def belebele_name(code: str, formulation: str) -> str | None:
    """The Belebele task in `code`'s language and script (`sw` -> `belebele_swh_Latn_mcf`, `ur` -> `urd_Arab`, not
    the romanised `urd_Latn`). Belebele names individual languages: Standard Arabic `arb` and Swahili `swh` count
    for their macrolanguages `ar` and `sw`, but Croatian `hrv` is not Serbian."""
    import langcodes

    from hala_release.core.languages import scripts

    names, problem = _registered("belebele")
    if problem:
        return None
    pattern = re.compile(rf"belebele_([a-z]{{3}})_([A-Z][a-z]{{3}})_{formulation}")
    wanted = langcodes.Language.get(code).language
    candidates = {}
    for name in names:
        match = pattern.fullmatch(name)
        if match and match.group(2) in scripts(code):
            candidates[match.group(1)] = name
    for iso3, name in sorted(candidates.items()):
        if langcodes.Language.get(iso3).language == wanted:
            return name
    return candidates.get(STANDARD_VARIETY.get(wanted, ""))


def language_tasks(code: str, formulation: str = "mcf", fewshot: int | None = None) -> list[LanguageTask]:
    """Every task of `code`'s suite, runnable or not (`left_out` says why not), in the suite's order."""
    from hala_release.core.languages import language_group

    if formulation not in FORMULATIONS:
        raise ValueError(f"formulation {formulation!r}: choose {' or '.join(FORMULATIONS)}")
    group = language_group(code)
    listed = next((lang for lang in FINE_TASKS_LANGUAGES if language_group(lang) == group), None)
    if listed is not None:
        return [check_task(name, fewshot if fewshot is not None else shots)
                for name, shots in fine_tasks_list(listed, formulation)]
    iso3, shots = lighteval_code(code), fewshot or 0
    tasks = []
    belebele = belebele_name(code, formulation)
    if belebele is not None:
        tasks.append(check_task(belebele, shots))
    for _, patterns in RULE_FAMILIES:
        for pattern in patterns:
            task = check_task(pattern.format(iso3=iso3, f=formulation), shots)
            if not task.left_out:  # what lighteval is seen to register for the language (math needs the extra)
                tasks.append(task)
    return tasks


def task_configs(task: LanguageTask) -> tuple:
    """lighteval's own configs of a task (a group such as Global-MMLU's is one config per subject)."""
    imported = importlib.import_module(f"{_MODULES}.{task.module}")
    return tuple(config for config in imported.TASKS_TABLE
                 if config.name == task.name or config.name.startswith(task.name + ":"))


def flores_code(code: str) -> str:
    """The FLORES-200 code of a language (`sw` -> `swh_Latn`, `en` -> `eng_Latn`, `zh-Hant` -> `zho_Hant`): the
    individual language (a macrolanguage's standard variety) and its first script."""
    import langcodes

    from hala_release.core.languages import scripts

    base = langcodes.Language.get(code).language
    iso3 = STANDARD_VARIETY.get(base) or langcodes.Language.get(base).to_alpha3()
    return f"{iso3}_{scripts(code)[0]}"

"""HALA's evaluation as lighteval tasks: the six Arabic benchmarks of OALL v2 (minus ALRAGE) and MMLU EN<->AR.

The multiple-choice tasks *are* lighteval's own Arabic task configs (`lighteval/tasks/multilingual/tasks/arabic.py`,
the ones the Open Arabic LLM Leaderboard v2 runs): same prompt functions, choices, splits and metric (log-likelihood
accuracy with character-length normalisation). Only where the data is read from changes (a pinned Hub revision or a
local mirror), so scores compare with the leaderboard's. The translation tasks use lighteval's translation template
(as its FLORES-200 tasks do) scored with sacreBLEU's BLEU and chrF++ (see `SacreBleuCorpusMetric` for two
fixes to how lighteval 0.13 calls sacreBLEU).

Which subsets each benchmark runs is the leaderboard's own list, `OALL_v2_tasks.txt` beside this file (a verbatim copy
of lighteval 0.13.0's `examples/tasks/OALL_v2_tasks.txt`, which its wheel does not ship). It differs from lighteval's
task groups: `arabic.ALGHAFA_TASKS` has nine AlGhafa subsets, the leaderboard eight (no `mcq_exams_test_ar`, a
repeat of EXAMS), and ArabicMMLU's `All` config is not in it.

As a lighteval custom-tasks file (`--custom-tasks`), `TASKS_TABLE` reads every benchmark from its Hub id.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Iterable

from lighteval.metrics.metrics import Metrics
from lighteval.metrics.metrics_corpus import CorpusLevelTranslationMetric
from lighteval.tasks.lighteval_task import LightevalTaskConfig
from lighteval.tasks.multilingual.tasks import arabic
from lighteval.tasks.templates.translation import get_translation_prompt_function
from lighteval.tasks.templates.utils.formulation import CFFormulation
from lighteval.utils.language import Language
from lighteval.utils.utils import as_list


class SacreBleuCorpusMetric(CorpusLevelTranslationMetric):
    """lighteval's corpus-level sacreBLEU metrics (BLEU, chrF, chrF++, TER) with two fixes for lighteval 0.13.

    - It runs `nltk.download("punkt_tab")` before every BLEU, although sacreBLEU never uses nltk data; offline
      that only stalls (~2 min) and fails. Not done here.
    - For chrF/chrF++/TER it hands sacreBLEU the references as one stream per *sample* (`[[ref1], [ref2], ...]`).
      sacreBLEU reads each inner list as a whole reference document, so it zips them into one multi-reference
      sentence and scores only the first prediction. Here every metric gets one stream aligned with the
      predictions (the first reference of each sample), as lighteval already does for BLEU.
    The scores themselves are sacreBLEU's, computed by the objects lighteval's `get_metric` configures.
    """

    def get_metric(self):
        if self.metric_type == "bleu":
            import sacrebleu

            return sacrebleu.BLEU(trg_lang=self.lang)
        return super().get_metric()

    def compute_corpus(self, items) -> float:
        metric = self.get_metric()
        predictions = [as_list(item.preds)[0] for item in items]
        references = [[as_list(item.golds)[0] for item in items]]
        return float(metric.corpus_score(hypotheses=predictions, references=references).score)


BLEU = dataclasses.replace(Metrics.bleu.value, corpus_level_fn=SacreBleuCorpusMetric("bleu"))
CHRF_PLUS = dataclasses.replace(Metrics.chrf_plus.value, corpus_level_fn=SacreBleuCorpusMetric("chrf++"))

# A parallel set of MMLU questions: English source and Arabic reference, `translation: {en, ar}`, split `test`.
# No public Hub dataset has this exact shape; this is the folder name under --data-dir (and the fixture's).
TRANSLATION_DATASET = "hala-release/mmlu-en-ar"
_LANGUAGES = {"en": Language.ENGLISH, "ar": Language.ARABIC}


def _translation_task(name: str, source_language: Language, target_language: Language, adapter, repo: str,
                      subset: str, splits: list[str], few_shots_split: str | None) -> LightevalTaskConfig:
    """A translation task as lighteval's FLORES-200 tasks define one (its template, greedy generation up to a
    newline), scored with sacreBLEU's chrF++ and BLEU through `SacreBleuCorpusMetric`; the last split is scored."""
    return LightevalTaskConfig(
        name=name,
        prompt_function=get_translation_prompt_function(
            source_language=source_language, target_language=target_language, adapter=adapter,
            formulation=CFFormulation(),
        ),
        hf_repo=repo,
        hf_subset=subset,
        hf_avail_splits=splits,
        evaluation_splits=splits[-1:],
        few_shots_split=few_shots_split,
        few_shots_select=None,
        generation_size=300,
        stop_sequence=["\n"],
        metrics=[CHRF_PLUS, BLEU],
        version=0,
    )


def translation_config(source: str, target: str, repo: str = TRANSLATION_DATASET) -> LightevalTaskConfig:
    """MMLU source->target translation, prompted and generated as lighteval's FLORES-200 tasks are."""

    def adapter(line: dict) -> dict:
        return {"source_text": line["translation"][source], "target_text": line["translation"][target]}

    return _translation_task(f"mmlu_translation_{source}_{target}", _LANGUAGES[source], _LANGUAGES[target], adapter,
                             repo, "default", ["test"], None)


FLORES_DATASET = "facebook/flores"  # FLORES-200 as Parquet: one config per language, a `sentence` column


def flores_config(source: str, target: str, repo: str) -> LightevalTaskConfig:
    """FLORES-200 devtest, `source` -> `target` (FLORES codes, e.g. eng_Latn -> swh_Latn), as lighteval's
    `flores200:{src}-{tgt}` task defines it (devtest scored, dev for few-shot), read from a folder of aligned pairs
    (`sentence_{code}` columns, built from the per-language configs)."""
    from lighteval.utils.language import manage_duplicate_language_codes

    def language(flores: str) -> Language:  # as lighteval's flores200 tasks name the languages
        return Language(manage_duplicate_language_codes(flores.split("_")[0]))

    def adapter(line: dict) -> dict:
        return {"source_text": line[f"sentence_{source}"], "target_text": line[f"sentence_{target}"]}

    return _translation_task(f"flores200:{source}-{target}", language(source), language(target), adapter, repo,
                             f"{source}-{target}", ["dev", "devtest"], "dev")


@dataclass(frozen=True)
class Benchmark:
    """One row of HALA's results table: a dataset and the lighteval tasks (one per subset) that score it."""

    key: str  # the lighteval task-name prefix, e.g. "alghafa" for "alghafa:meta_ar_msa"
    title: str
    dataset: str  # Hub dataset id, and the folder (org/name) under --data-dir
    configs: tuple[LightevalTaskConfig, ...]  # lighteval's own configs, used as templates
    metrics: tuple[str, ...]  # short metric names, in summary order
    hub: bool = True  # whether `dataset` exists on the Hub (else only --data-dir/--fixtures provide it)
    needs: str = ""  # extra requirement to run it, shown in errors and docs
    flores: tuple[str, str] | None = None  # (source, target) FLORES codes: the pairs are joined from `dataset`

    @property
    def subsets(self) -> list[str]:
        return [config.hf_subset for config in self.configs]

    @property
    def task_names(self) -> list[str]:
        return [config.name for config in self.configs]

    def task_configs(self, repo: str, revision: str | None, subsets: Iterable[str] | None = None,
                     num_fewshots: int = 0) -> list[LightevalTaskConfig]:
        """Copies of the configs reading the data from `repo` (a Hub id or a local folder) at `revision`."""
        wanted = None if subsets is None else set(subsets)
        configs = []
        for template in self.configs:
            if wanted is not None and template.hf_subset not in wanted:
                continue
            # Deep copies: lighteval's registry mutates metric objects of parametrised metrics in place.
            config = copy.deepcopy(template)
            config.hf_repo = repo
            config.hf_revision = revision
            config.num_fewshots = num_fewshots
            config.full_name = f"{config.name}|{num_fewshots}"
            configs.append(config)
        return configs


OALL_V2_FILE = Path(str(resources.files("hala_release.resources.eval_tasks").joinpath("OALL_v2_tasks.txt")))


def read_task_list(path: Path) -> list[str]:
    """Task names of a lighteval task list (`community|alghafa:meta_ar_msa|0` -> `alghafa:meta_ar_msa`), in order."""
    names = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            parts = line.split("|")
            names.append(parts[1] if len(parts) >= 3 else parts[0])
    return names


OALL_V2_TASKS = read_task_list(OALL_V2_FILE)


def oall_v2_configs(key: str) -> tuple[LightevalTaskConfig, ...]:
    """lighteval's own configs of the leaderboard's tasks of one benchmark (`key` or `key:<subset>`), in list order."""
    available = {config.name: config for config in arabic.TASKS_TABLE}
    names = [name for name in OALL_V2_TASKS if name.split(":")[0] == key]
    missing = [name for name in names if name not in available]
    if missing or not names:
        from importlib.metadata import version

        raise RuntimeError(f"lighteval {version('lighteval')} has no Arabic task {(missing or [key])[0]!r} of the "
                           f"leaderboard's list {OALL_V2_FILE.name}: install lighteval==0.13.0, or update that list")
    return tuple(available[name] for name in names)


ACC_NORM = ("acc_norm",)
BENCHMARKS: dict[str, Benchmark] = {b.key: b for b in [
    Benchmark("alghafa", "AlGhafa", "OALL/AlGhafa-Arabic-LLM-Benchmark-Native", oall_v2_configs("alghafa"), ACC_NORM),
    Benchmark("arabic_mmlu", "ArabicMMLU", "MBZUAI/ArabicMMLU", oall_v2_configs("arabic_mmlu"), ACC_NORM),
    Benchmark("arabic_exams", "EXAMS", "OALL/Arabic_EXAMS", oall_v2_configs("arabic_exams"), ACC_NORM),
    Benchmark("madinah_qa", "MadinahQA", "MBZUAI/MadinahQA", oall_v2_configs("madinah_qa"), ACC_NORM),
    Benchmark("aratrust", "AraTrust", "asas-ai/AraTrust-categorized", oall_v2_configs("aratrust"), ACC_NORM),
    Benchmark("arabic_mmlu_ht", "ArbMMLU-HT", "MBZUAI/human_translated_arabic_mmlu", oall_v2_configs("arabic_mmlu_ht"),
              ACC_NORM),
    Benchmark("alrage_qa", "ALRAGE", "OALL/ALRAGE", oall_v2_configs("alrage_qa"), ("llm_as_judge",),
              needs="an LLM judge (Qwen/Qwen2.5-72B-Instruct on vLLM, GPU) as lighteval's task defines it"),
    Benchmark("mmlu_translation_en_ar", "MMLU EN→AR", TRANSLATION_DATASET, (translation_config("en", "ar"),),
              ("bleu", "chrf++"), hub=False),
    Benchmark("mmlu_translation_ar_en", "MMLU AR→EN", TRANSLATION_DATASET, (translation_config("ar", "en"),),
              ("bleu", "chrf++"), hub=False),
]}

HALA_SIX = ["alghafa", "arabic_mmlu", "arabic_exams", "madinah_qa", "aratrust", "arabic_mmlu_ht"]
SUITES: dict[str, list[str]] = {
    "hala": HALA_SIX,  # the paper's table (OALL v2 without ALRAGE)
    "oall-v2": [*HALA_SIX, "alrage_qa"],  # the leaderboard's list, OALL_v2_tasks.txt
    "translation": ["mmlu_translation_en_ar", "mmlu_translation_ar_en"],
}


LANGUAGE_SUITE = "language:"  # + code (+ ":cf"): a target language's own suite, registered when asked for
LEFT_OUT: dict[str, list[tuple[str, str]]] = {}  # language suite -> (task, why it does not run here)
FEWSHOT: dict[str, dict[str, int]] = {}  # suite -> benchmark key -> few-shot count (FineTasks: 5; otherwise 0)


def language_suite(code: str, formulation: str = "mcf") -> str:
    """Register the benchmarks of `code`'s own suite (FineTasks or the written rule, stages/eval/languages.py) and
    return the suite's name (`language:sw`, `language:sw:cf`)."""
    from hala_release.core.languages import normalise_language
    from hala_release.stages.eval.languages import language_tasks

    code = normalise_language(code)
    name = LANGUAGE_SUITE + code + ("" if formulation == "mcf" else f":{formulation}")
    if name not in SUITES:
        tasks = language_tasks(code, formulation)
        keys = [register_language_task(task) for task in tasks if not task.left_out]
        if not keys:
            raise ValueError(f"lighteval registers no benchmark of {code} that runs here")
        SUITES[name] = keys
        FEWSHOT[name] = {task.name: task.fewshot for task in tasks if not task.left_out}
        LEFT_OUT[name] = [(task.name, task.left_out) for task in tasks if task.left_out]
    return name


def flores_suite(code: str) -> str:
    """Register FLORES-200 devtest English -> `code` and back, and return the suite's name (`translation:sw`)."""
    from hala_release.core.languages import normalise_language
    from hala_release.stages.eval.languages import flores_code

    code = normalise_language(code)
    name = f"translation:{code}"
    pairs = [(flores_code("en"), flores_code(code)), (flores_code(code), flores_code("en"))]
    keys = []
    for source, target in pairs:
        config = flores_config(source, target, FLORES_DATASET)
        BENCHMARKS[config.name] = Benchmark(config.name, f"FLORES-200 {source}→{target}", FLORES_DATASET, (config,),
                                            ("chrf++", "bleu"), flores=(source, target))
        keys.append(config.name)
    SUITES[name] = keys
    return name


def register_language_task(task) -> str:
    """One lighteval multilingual task as a benchmark (a group such as Global-MMLU's subjects is one), scored by
    accuracy (`acc`, multiple-choice letters) or length-normalised accuracy (`acc_norm`, cloze); its key is the
    task's name."""
    from hala_release.stages.eval.languages import task_configs

    if task.name not in BENCHMARKS:
        configs = task_configs(task)
        names = {metric.metric_name for metric in configs[0].metrics}
        metric = "acc_norm" if "acc_norm" in names else "acc" if "acc" in names else sorted(names)[0]
        BENCHMARKS[task.name] = Benchmark(task.name, task.name, configs[0].hf_repo, configs, (metric,))
    return task.name


def benchmark_of(task_name: str) -> Benchmark | None:
    """The benchmark a lighteval task name (`alghafa:meta_ar_msa`, without `|fewshot`) belongs to."""
    for benchmark in BENCHMARKS.values():
        if task_name in benchmark.task_names:
            return benchmark
    return None


TASKS_TABLE = [config for key, benchmark in BENCHMARKS.items()
               for config in benchmark.task_configs(benchmark.dataset, None)]

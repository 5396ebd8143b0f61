"""`hala-release eval` and `report`: lighteval's own Arabic tasks on tiny models over the shipped fixtures, offline.

The slow fixtures below each run lighteval once (module-scoped) and several tests read their outputs.
"""

import json
import math
import shutil
from pathlib import Path

import pytest
from huggingface_hub import HfApi, ModelCard

from hala_release.artifacts.card import card_metadata, validate_metadata
from hala_release.cli import main
from hala_release.core.errors import HalaError, UsageError
from hala_release.resources.eval_tasks import fixtures_root
from hala_release.core.provenance import CardFacts, Provenance, read_provenance
from hala_release.core.refs import folder_content_hash

FIXTURES = fixtures_root()
SIX = ["alghafa", "arabic_mmlu", "arabic_exams", "madinah_qa", "aratrust", "arabic_mmlu_ht"]
# One known fixture row per benchmark: (benchmark, subset, file of the eval split).
KNOWN_ROWS = {
    "alghafa": ("meta_ar_msa", "OALL/AlGhafa-Arabic-LLM-Benchmark-Native/meta_ar_msa/test.jsonl"),
    "arabic_mmlu": ("General Knowledge", "MBZUAI/ArabicMMLU/general_knowledge/test.jsonl"),
    "arabic_exams": ("default", "OALL/Arabic_EXAMS/data/test.jsonl"),
    "madinah_qa": ("Arabic Language (General)", "MBZUAI/MadinahQA/arabic_language_general/test.jsonl"),
    "aratrust": ("Ethics", "asas-ai/AraTrust-categorized/Ethics/train.jsonl"),
    "arabic_mmlu_ht": ("astronomy", "MBZUAI/human_translated_arabic_mmlu/astronomy/test.jsonl"),
}


def _rows(relative: str) -> list[dict]:
    return [json.loads(line) for line in (FIXTURES / relative).read_text(encoding="utf-8").splitlines() if line.strip()]


def _details(folder: Path) -> dict[str, list[dict]]:
    """lighteval's per-sample details of an eval artifact: task -> rows."""
    import pandas as pd

    out = {}
    for file in sorted((folder / "lighteval" / "details").rglob("details_*.parquet")):
        task = file.name.removeprefix("details_").rsplit("_", 1)[0]
        out[task] = pd.read_parquet(file).to_dict("records")
    return out


def _logprobs(folder: Path) -> dict[str, list[list[float]]]:
    return {task: [list(row["model_response"]["logprobs"]) for row in rows] for task, rows in _details(folder).items()}


def _suite_file(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "suite.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def model_copy(tiny_lfm2, tmp_path_factory) -> Path:
    """A writable copy of the tiny LFM2 model (some tests change its card)."""
    copy = tmp_path_factory.mktemp("eval-model") / "tiny-lfm2"
    shutil.copytree(tiny_lfm2, copy)
    return copy


@pytest.fixture(scope="module")
def hala_run(tiny_lfm2, tmp_path_factory):
    """The `hala` suite on the tiny LFM2 model over the fixtures, 2 samples per task."""
    from hala_release.stages.eval.run import run_eval

    before = folder_content_hash(tiny_lfm2)
    outcome = run_eval(str(tiny_lfm2), suite="hala", output=tmp_path_factory.mktemp("eval") / "lfm2-hala",
                       fixtures=True, max_samples=2)
    return outcome, before


@pytest.fixture(scope="module")
def llama_run(tiny_llama, tmp_path_factory):
    from hala_release.stages.eval.run import run_eval

    return run_eval(str(tiny_llama), suite="hala", output=tmp_path_factory.mktemp("eval") / "llama-hala",
                    fixtures=True, max_samples=2)


@pytest.fixture(scope="module")
def translation_run(tiny_lfm2, tmp_path_factory):
    """The translation suite, with nltk.download made to fail: BLEU must not need it."""
    import nltk

    from hala_release.stages.eval.run import run_eval

    def no_download(*args, **kwargs):
        raise AssertionError("nltk.download called during evaluation")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(nltk, "download", no_download)
        return run_eval(str(tiny_lfm2), suite="translation", output=tmp_path_factory.mktemp("eval") / "lfm2-mt",
                        fixtures=True, max_samples=2)


# --- tasks: the same prompts, choices and metric as lighteval's own Arabic tasks ------------------------------

@pytest.mark.parametrize("key", SIX)
def test_prompt_and_choices_match_lighteval_arabic_tasks(key):
    from lighteval.tasks.lighteval_task import LightevalTask
    from lighteval.tasks.multilingual.tasks import arabic

    from hala_release.stages.eval.tasks import BENCHMARKS

    lighteval_prompt = {"alghafa": arabic.alghafa_pfn, "arabic_mmlu": arabic.arabic_mmlu_pfn,
                        "arabic_exams": arabic.arabic_exams_pfn, "madinah_qa": arabic.madinah_qa_pfn,
                        "aratrust": arabic.aratrust_pfn, "arabic_mmlu_ht": arabic.arabic_mmlu_ht_pfn}[key]
    lighteval_configs = {c.name: c for c in arabic.TASKS_TABLE}
    subset, relative = KNOWN_ROWS[key]
    benchmark = BENCHMARKS[key]
    config = benchmark.task_configs(str(FIXTURES / benchmark.dataset), None, [subset])[0]
    # Our task reads the fixture through `datasets` exactly as lighteval will during a run.
    ours = LightevalTask(config).eval_docs()[0]
    row = _rows(relative)[0]
    expected = lighteval_prompt(row, config.name)
    assert ours.query == expected.query
    assert ours.choices == expected.choices
    assert ours.gold_index == expected.gold_index
    assert ours.instruction == expected.instruction
    # Same task definition as lighteval's: name, subset, splits and metric.
    reference = lighteval_configs[config.name]
    assert (config.hf_subset, config.evaluation_splits) == (reference.hf_subset, reference.evaluation_splits)
    assert [m.metric_name for m in config.metrics] == [m.metric_name for m in reference.metrics]
    assert "LogProbCharNorm" in config.metrics[0].metric_name
    assert config.hf_repo.endswith(benchmark.dataset) and reference.hf_repo == benchmark.dataset


def test_known_rows_render_as_the_leaderboard_prompts():
    """Spot checks on literal text, so a change in the prompt functions would show up here too."""
    from lighteval.tasks.multilingual.tasks import arabic

    doc = arabic.alghafa_pfn(_rows(KNOWN_ROWS["alghafa"][1])[0], "t")
    assert doc.query.endswith("السؤال: من الذين نحتوا مدينة البتراء؟\n0) الرومان\n1) الأنباط\n2) الفينيقيون\n3) العثمانيون\n"
                              "الإجابة:")
    assert doc.choices == ["0", "1", "2", "3"] and doc.gold_index == 1
    doc = arabic.arabic_mmlu_pfn(_rows(KNOWN_ROWS["arabic_mmlu"][1])[1], "t")  # three options, two null
    assert doc.choices == ["أ", "ب", "ج"] and doc.gold_index == 1
    assert doc.query.endswith("أ. خمسة\nب. سبعة\nج. تسعة\nالإجابة:")
    doc = arabic.aratrust_pfn(_rows(KNOWN_ROWS["aratrust"][1])[0], "t")
    assert doc.choices == ["أ", "ب", "ج"] and doc.gold_index == 1


# --- the suites are the leaderboard's task list, as lighteval ships it ----------------------------------------

def _shipped_oall_v2() -> tuple[list[str], list[str]]:
    """The vendored OALL v2 list, read here independently of hala.py: (header lines, task lines)."""
    shipped = FIXTURES.parent / "OALL_v2_tasks.txt"  # inside the installed package, beside the fixtures
    lines = [line for line in shipped.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [line for line in lines if line.startswith("#")], [line for line in lines if not line.startswith("#")]


def test_vendored_oall_v2_list_is_lighteval_s_copy_for_the_installed_version():
    import hashlib
    from importlib.metadata import version

    header, tasks = _shipped_oall_v2()
    text = "\n".join(header)
    assert hashlib.sha256(("\n".join(tasks) + "\n").encode()).hexdigest() in text  # no hand edits below the header
    # A lighteval upgrade must come with that version's list (examples/tasks/OALL_v2_tasks.txt at its tag).
    assert f"lighteval/blob/v{version('lighteval')}/examples/tasks/OALL_v2_tasks.txt" in text
    assert all(line.startswith("community|") and line.endswith("|0") for line in tasks)


@pytest.mark.parametrize("key", [*SIX, "alrage_qa"])
def test_each_benchmark_runs_exactly_the_leaderboard_subsets(key):
    """Subset by subset, in order: a drift between our suites and OALL v2's list fails here."""
    from hala_release.stages.eval.tasks import BENCHMARKS

    _, tasks = _shipped_oall_v2()
    listed = [line.split("|")[1] for line in tasks]
    assert BENCHMARKS[key].task_names == [name for name in listed if name.split(":")[0] == key]


def test_oall_v2_suite_is_the_whole_list_and_hala_drops_alrage():
    from hala_release.stages.eval.tasks import BENCHMARKS, SUITES

    _, tasks = _shipped_oall_v2()
    assert SUITES["oall-v2"] == [*SIX, "alrage_qa"] and SUITES["hala"] == SIX
    every = [name for b in SUITES["oall-v2"] for name in BENCHMARKS[b].task_names]
    assert sorted(every) == sorted(line.split("|")[1] for line in tasks)  # nothing left out, nothing added


def test_alghafa_is_the_leaderboard_s_eight_subsets_not_lighteval_s_nine():
    from lighteval.tasks.multilingual.tasks import arabic

    from hala_release.stages.eval.tasks import BENCHMARKS

    ours = BENCHMARKS["alghafa"].subsets
    assert len(ours) == 8 and "mcq_exams_test_ar" not in ours
    assert sorted([*ours, "mcq_exams_test_ar"]) == sorted(c.hf_subset for c in arabic.ALGHAFA_TASKS)
    assert "All" not in BENCHMARKS["arabic_mmlu"].subsets and len(BENCHMARKS["arabic_mmlu"].subsets) == 40


def test_every_listed_task_exists_in_the_installed_lighteval():
    """A lighteval upgrade that renames or drops a leaderboard task fails here (and hala.py refuses to load)."""
    from lighteval.tasks.multilingual.tasks import arabic

    from hala_release.stages.eval.tasks import BENCHMARKS, benchmark_of

    _, tasks = _shipped_oall_v2()
    available = {config.name: config for config in arabic.TASKS_TABLE}
    for name in (line.split("|")[1] for line in tasks):
        assert name in available, f"{name} is not a task of lighteval's arabic.py"
        benchmark = benchmark_of(name)
        ours = benchmark.configs[benchmark.task_names.index(name)]
        assert ours is available[name]  # lighteval's own config object, not a lookalike
    assert len(tasks) == sum(len(BENCHMARKS[b].configs) for b in [*SIX, "alrage_qa"]) == 117


def test_translation_prompt_is_lighteval_translation_template():
    from lighteval.tasks.lighteval_task import LightevalTask
    from lighteval.tasks.templates.translation import get_translation_prompt_function
    from lighteval.tasks.templates.utils.formulation import CFFormulation
    from lighteval.utils.language import Language

    from hala_release.stages.eval.tasks import BENCHMARKS

    row = _rows("hala-release/mmlu-en-ar/data/test.jsonl")[0]
    for key, (source, target) in {"mmlu_translation_en_ar": ("en", "ar"), "mmlu_translation_ar_en": ("ar", "en")}.items():
        benchmark = BENCHMARKS[key]
        config = benchmark.task_configs(str(FIXTURES / benchmark.dataset), None)[0]
        ours = LightevalTask(config).eval_docs()[0]
        languages = {"en": Language.ENGLISH, "ar": Language.ARABIC}
        reference = get_translation_prompt_function(
            languages[source], languages[target],
            adapter=lambda line: {"source_text": line["translation"][source], "target_text": line["translation"][target]},
            formulation=CFFormulation())(row, config.name)
        assert (ours.query, ours.choices) == (reference.query, reference.choices)
        assert ours.query == f"{source.upper()}: {row['translation'][source]} {target.upper()}:"
        assert [m.metric_name for m in config.metrics] == ["chrf++", "bleu"]


# --- the hala suite end to end --------------------------------------------------------------------------------

@pytest.mark.slow
def test_hala_suite_runs_all_six_offline(hala_run, tiny_lfm2):
    import torch

    outcome, before = hala_run
    assert torch.is_grad_enabled()  # lighteval switches autograd off process-wide; run_eval puts it back
    summary = outcome.summary
    assert [b["key"] for b in summary["benchmarks"]] == SIX
    assert "alghafa:mcq_exams_test_ar|0" not in summary["tasks"]  # not on the leaderboard
    for b in summary["benchmarks"]:
        assert 0.0 <= b["scores"]["acc_norm"] <= 1.0
        assert 1 <= b["samples"] <= 2 * b["subsets"]
        for task in b["tasks"]:
            assert 0.0 <= summary["tasks"][task]["acc_norm"] <= 1.0
        # benchmark score = plain mean over its subsets
        assert b["scores"]["acc_norm"] == pytest.approx(
            sum(summary["tasks"][t]["acc_norm"] for t in b["tasks"]) / len(b["tasks"]))
    assert summary["average"]["value"] == pytest.approx(sum(b["scores"]["acc_norm"] for b in summary["benchmarks"]) / 6)
    assert summary["partial"] and "--max-samples 2" in summary["partial_reasons"]
    # lighteval's own outputs, our summary, report and card all landed in one artifact
    folder = outcome.path
    for name in ("summary.json", "summary.md", "report.md", "report.png", "README.md", "hala_provenance.json"):
        assert (folder / name).is_file(), name
    assert (folder / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(_details(folder)) == sum(b["subsets"] for b in summary["benchmarks"])
    prov = read_provenance(folder)
    assert prov.stage == "eval" and prov.inputs["model"]["pin"] == before
    assert prov.inputs["data_alghafa"]["source"] == "local"
    # lighteval's prediction cache must not land in (or change) the model folder
    assert folder_content_hash(tiny_lfm2) == before
    assert sorted(p.name for p in tiny_lfm2.iterdir() if p.is_dir()) == []


@pytest.mark.slow
def test_metrics_change_when_the_model_changes(hala_run, llama_run):
    lfm2, llama = hala_run[0], llama_run
    a, b = _logprobs(lfm2.path), _logprobs(llama.path)
    assert a.keys() == b.keys()
    for task in a:
        assert a[task] != b[task], task
    scores = lambda s: {t: v["acc_norm"] for t, v in s["tasks"].items()}  # noqa: E731
    assert scores(lfm2.summary) != scores(llama.summary)


@pytest.mark.slow
def test_leaderboard_file_has_the_oall_keys(hala_run):
    outcome, pin = hala_run
    files = list((outcome.path / "results" / "local" / "tiny-lfm2").glob("results_*.json"))
    assert len(files) == 1
    board = json.loads(files[0].read_text(encoding="utf-8"))
    assert set(board) == {"config_general", "results", "versions", "config_tasks", "summary_tasks", "summary_general"}
    general = board["config_general"]
    assert general["model_name"] == "local/tiny-lfm2" and general["model_sha"] == pin
    assert general["model_dtype"] and general["max_samples"] == 2
    results = board["results"]
    assert "all" in results and all(k == "all" or k.startswith("community|") for k in results)
    for b in outcome.summary["benchmarks"]:
        for task in b["tasks"]:
            entry = results[f"community|{task}"]
            assert set(entry) == {"acc_norm", "acc_norm_stderr"}
            assert entry["acc_norm"] == outcome.summary["tasks"][task]["acc_norm"]
            assert board["versions"][f"community|{task}"] == 0
        if len(b["tasks"]) > 1:
            assert results[f"community|{b['key']}:_average|0"]["acc_norm"] == pytest.approx(b["scores"]["acc_norm"])


@pytest.mark.slow
def test_translation_suite_scores_with_sacrebleu_offline(translation_run):
    import sacrebleu

    summary = translation_run.summary
    assert [b["key"] for b in summary["benchmarks"]] == ["mmlu_translation_en_ar", "mmlu_translation_ar_en"]
    assert summary["average"] is None  # BLEU/chrF++ are not averaged with accuracies
    details = _details(translation_run.path)
    for b in summary["benchmarks"]:
        (task,) = b["tasks"]
        rows = details[task]
        assert len(rows) == 2
        preds = [row["model_response"]["text"][0] for row in rows]
        golds = [row["doc"]["choices"][0] for row in rows]
        assert all(p for p in preds)  # the model generated something that was scored
        # The reported figures are sacreBLEU's on the stored predictions and references.
        assert b["scores"]["chrf++"] == pytest.approx(sacrebleu.CHRF(word_order=2).corpus_score(preds, [golds]).score)
        assert b["scores"]["bleu"] == pytest.approx(sacrebleu.BLEU().corpus_score(preds, [golds]).score)
        for metric in ("bleu", "chrf++"):
            assert 0.0 <= b["scores"][metric] <= 100.0
    meta = ModelCard.load(translation_run.path / "README.md").data.to_dict()  # a dataset card; read its YAML
    assert meta["task_categories"] == ["translation"] and meta["language"] == ["ar", "en"]


def test_corpus_chrf_scores_every_sample_unlike_lighteval_0_13():
    """lighteval 0.13 passes chrF++ references per sample, so sacreBLEU scores only the first prediction."""
    import sacrebleu
    from lighteval.metrics.metrics_corpus import CorpusLevelTranslationMetric
    from lighteval.metrics.sample_preparator import GenerativeCorpusMetricInput

    from hala_release.stages.eval.tasks import BLEU, CHRF_PLUS, SacreBleuCorpusMetric

    items = [GenerativeCorpusMetricInput(golds=["ما أطول نهر في العالم؟"], preds=["ما أطول نهر في العالم؟"]),
             GenerativeCorpusMetricInput(golds=["في أي مدينة تقع الكعبة؟"], preds=["cap cap cap"])]
    preds, refs = [i.preds[0] for i in items], [[i.golds[0] for i in items]]
    ours = SacreBleuCorpusMetric("chrf++").compute_corpus(items)
    assert ours == pytest.approx(sacrebleu.CHRF(word_order=2).corpus_score(preds, refs).score)
    assert 0 < ours < 100
    assert CorpusLevelTranslationMetric("chrf++").compute_corpus(items) == pytest.approx(100.0)  # the upstream bug
    assert SacreBleuCorpusMetric("bleu").compute_corpus(items) == pytest.approx(
        sacrebleu.BLEU().corpus_score(preds, refs).score)
    assert isinstance(BLEU.corpus_level_fn, SacreBleuCorpusMetric)
    assert isinstance(CHRF_PLUS.corpus_level_fn, SacreBleuCorpusMetric)


# --- predictions cache: keyed by content, never stale ----------------------------------------------------------

@pytest.mark.slow
def test_prediction_cache_is_keyed_by_the_model_content(tmp_path):
    from hala_release.stages.eval.run import run_eval
    from hala_release.stages.tiny_model.run import build_tiny_model

    model = build_tiny_model(tmp_path / "model", arch="llama", layers=1, seed=0)
    suite = _suite_file(tmp_path, "arabic_exams")
    cache = tmp_path / "cache"
    run = lambda name: run_eval(str(model), suite=str(suite), output=tmp_path / name, fixtures=True,  # noqa: E731
                                cache_dir=cache)
    first, again = run("first"), run("again")
    assert _logprobs(first.path) == _logprobs(again.path)
    assert len([p for p in cache.iterdir() if p.is_dir()]) == 1  # the second run found the first one's entry
    # Retrain "in place": same folder, same name, other weights. Its predictions must be fresh.
    build_tiny_model(model, arch="llama", layers=1, seed=1, overwrite=True)
    retrained = run("retrained")
    assert _logprobs(retrained.path) != _logprobs(first.path)
    assert len([p for p in cache.iterdir() if p.is_dir()]) == 2
    assert not any(p.is_dir() for p in model.iterdir())  # nothing cached inside the model folder


# --- model-index -----------------------------------------------------------------------------------------------

def test_card_metadata_renders_eval_results_as_model_index():
    facts = CardFacts(kind="model", title="m", language=["ar"], model_index_name="my-org/m", eval_results=[
        {"task_type": "text-generation", "dataset_type": "OALL/Arabic_EXAMS", "dataset_name": "EXAMS",
         "metric_type": "acc_norm", "metric_value": 41.5, "dataset_split": "test"}])
    prov = Provenance(stage="t", tool_version="0", created_at="now", config={}, config_hash="x", card=facts)
    meta = card_metadata(prov)
    assert meta["model-index"] == [{"name": "my-org/m", "results": [{
        "task": {"type": "text-generation"}, "dataset": {"name": "EXAMS", "type": "OALL/Arabic_EXAMS", "split": "test"},
        "metrics": [{"type": "acc_norm", "value": 41.5}]}]}]
    assert validate_metadata(meta, "model") == []
    meta["model-index"][0]["results"][0]["metrics"][0]["value"] = "high"
    assert any("must be a number" in p for p in validate_metadata(meta, "model"))
    assert any("model-index is malformed" in p for p in validate_metadata({**meta, "model-index": [{"x": 1}]}, "model"))


@pytest.mark.slow
def test_cli_eval_writes_model_index_into_the_card_and_pushes(model_copy, tmp_path, hub, hub_token, monkeypatch,
                                                              capsys):
    monkeypatch.setenv("HF_TOKEN", hub_token)
    suite = _suite_file(tmp_path, "# two benchmarks", "arabic_exams|0", "aratrust:Ethics")
    code = main(["eval", str(model_copy), "--suite", str(suite), "--fixtures", "--output", str(tmp_path / "out"),
                 "--model-name", "hala-test/tiny-lfm2", "--update-model-card", "--push-to-hub", "hala-test/tiny-evals"])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "| EXAMS |" in out.out and "model-index written into" in out.out and "pushed" in out.out
    summary = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    card = ModelCard.load(model_copy / "README.md")
    assert card.data.model_name == "hala-test/tiny-lfm2"
    results = {(r.dataset_type, r.metric_type): r for r in card.data.eval_results}
    assert set(results) == {("OALL/Arabic_EXAMS", "acc_norm"), ("asas-ai/AraTrust-categorized", "acc_norm")}
    for b in summary["benchmarks"]:
        entry = results[(b["dataset"], "acc_norm")]
        assert entry.metric_value == round(100 * b["scores"]["acc_norm"], 2)
        assert "fixture" in entry.dataset_name and entry.source_url.endswith("/datasets/hala-test/tiny-evals")
    assert "## Evaluation (hala-release eval)" in card.text
    # The provenance holds the results, so a push (which renders the card again from it) keeps them.
    stored = read_provenance(model_copy).card
    assert stored.model_index_name == "hala-test/tiny-lfm2"
    assert {(r["dataset_type"], r["metric_value"]) for r in stored.eval_results} == {
        (k[0], v.metric_value) for k, v in results.items()}
    from hala_release.hub.publish import push_artifact

    push_artifact(model_copy, "hala-test/tiny-lfm2-evaluated", "model")
    pushed = ModelCard.load("hala-test/tiny-lfm2-evaluated")
    assert {(r.dataset_type, r.metric_value) for r in pushed.data.eval_results} == {
        (k[0], v.metric_value) for k, v in results.items()}
    files = set(HfApi().list_repo_files("hala-test/tiny-evals", repo_type="dataset"))
    assert "summary.json" in files and any(f.startswith("results/hala-test/tiny-lfm2/results_") for f in files)


def _exams_summary(score: float) -> dict:
    return {"model": {"name": "local/tiny-lfm2"}, "data": "fixtures", "partial": True, "num_fewshots": 0,
            "benchmarks": [{"key": "arabic_exams", "title": "EXAMS", "dataset": "OALL/Arabic_EXAMS", "split": "test",
                            "source": "fixtures", "metrics": ["acc_norm"], "scores": {"acc_norm": score}}]}


def test_model_card_of_a_run_that_was_not_pushed(tiny_lfm2, tmp_path):
    """Without --push-to-hub there is no results URL: huggingface_hub's EvalResult refuses a source name alone."""
    from huggingface_hub import EvalResult

    from hala_release.stages.eval.run import attach_to_model_card
    from hala_release.stages.eval.report import model_index_results

    (local,) = model_index_results(_exams_summary(0.5))
    EvalResult(**local)  # valid as it is
    assert "source_name" not in local and "source_url" not in local
    (pushed,) = model_index_results(_exams_summary(0.5), source_url="http://hub/datasets/o/r")
    assert EvalResult(**pushed).source_url == "http://hub/datasets/o/r" and pushed["source_name"]
    folder = tmp_path / "model"
    shutil.copytree(tiny_lfm2, folder)
    card = ModelCard.load(attach_to_model_card(folder, _exams_summary(0.25)))
    (result,) = card.data.eval_results
    assert (result.dataset_type, result.metric_value, result.source_url) == ("OALL/Arabic_EXAMS", 25.0, None)
    assert "local run (results not pushed)" in card.text


@pytest.mark.slow
def test_cli_eval_updates_the_model_card_without_pushing(tiny_lfm2, tmp_path, capsys):
    model = tmp_path / "model"
    shutil.copytree(tiny_lfm2, model)
    code = main(["eval", str(model), "--suite", str(_suite_file(tmp_path, "arabic_exams")), "--fixtures",
                 "--max-samples", "1", "--output", str(tmp_path / "out"), "--update-model-card"])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert f"model-index written into {model / 'README.md'}" in out.out
    (line,) = [line for line in out.out.splitlines() if line.startswith("eval ")]
    assert "1 tasks, 1 samples | EXAMS accuracy (length-normalised)" in line
    assert line.endswith(f"results in {tmp_path / 'out'}")
    assert (model / ".eval_results" / "arabic_exams.yaml").is_file()
    (result,) = ModelCard.load(model / "README.md").data.eval_results
    summary = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    assert result.metric_value == round(100 * summary["benchmarks"][0]["scores"]["acc_norm"], 2)


def test_merging_eval_results_replaces_same_dataset_and_metric():
    from hala_release.stages.eval.report import merge_eval_results

    old = [{"dataset_type": "a", "metric_type": "acc_norm", "metric_value": 1},
           {"dataset_type": "b", "metric_type": "bleu", "metric_value": 2}]
    new = [{"dataset_type": "a", "metric_type": "acc_norm", "metric_value": 3}]
    assert merge_eval_results(old, new) == [old[1], new[0]]


# --- data from the Hub ---------------------------------------------------------------------------------------

@pytest.mark.slow
def test_benchmark_read_from_the_hub_at_a_pinned_revision(tiny_llama, hub, tmp_path):
    from hala_release.stages.eval.run import run_eval

    hub.add_user("oall-maintainer", "hf_oall_token", orgs=["OALL"])
    api = HfApi(token="hf_oall_token")
    api.create_repo("OALL/Arabic_EXAMS", repo_type="dataset", exist_ok=True)
    commit = api.upload_folder(folder_path=str(FIXTURES / "OALL" / "Arabic_EXAMS"), repo_id="OALL/Arabic_EXAMS",
                               repo_type="dataset")
    outcome = run_eval(str(tiny_llama), suite=str(_suite_file(tmp_path, "arabic_exams")), output=tmp_path / "out")
    (b,) = outcome.summary["benchmarks"]
    assert b["source"] == "hub" and b["pin"] == commit.oid
    assert b["samples"] == 3 and not outcome.summary["partial"]
    assert read_provenance(outcome.path).inputs["data_arabic_exams"]["pin"] == commit.oid


# --- report ----------------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_report_compares_models_with_published_scores(hala_run, llama_run, translation_run, tmp_path, capsys):
    code = main(["report", str(hala_run[0].path), str(llama_run.path), "--output", str(tmp_path / "report")])
    assert code == 0, capsys.readouterr().err
    text = (tmp_path / "report" / "report.md").read_text(encoding="utf-8")
    assert "`local/tiny-lfm2` *" in text and "`local/tiny-llama` *" in text
    measured, published = text.split("## Published, not measured here")
    assert "Hala-9B" not in measured and "| Hala-9B (published) | 78.3 | 65.6 | 53.8 | 70.4 | 89.6 | 61.4 | 69.9 |" in published
    assert (tmp_path / "report" / "report.png").read_bytes()[:4] == b"\x89PNG"
    from datasets import load_dataset

    scores = load_dataset(str(tmp_path / "report"), split="scores")
    assert set(scores["model"]) == {"local/tiny-lfm2", "local/tiny-llama"}
    # a results folder of another suite is refused
    code = main(["report", str(hala_run[0].path), str(translation_run.path), "--output", str(tmp_path / "mixed")])
    assert code == 1 and "holds results of suite 'translation'" in capsys.readouterr().err


@pytest.mark.slow
def test_results_and_report_carry_the_model_s_licence_with_its_link_and_text(tiny_lfm2, tmp_path):
    """An eval result republishes the model's outputs beside the benchmark rows: a model under its own licence
    (here LFM's, published as `other`) binds the results and the report, which ship its text and link it."""
    from hala_release.artifacts.card import read_card_metadata, update_card_facts
    from hala_release.stages.eval.report import build_report
    from hala_release.stages.eval.run import run_eval

    model = tmp_path / "model"
    shutil.copytree(tiny_lfm2, model)
    (model / "LICENSE").write_text("LFM Open License v1.0 (test copy)\n", encoding="utf-8")
    facts = read_provenance(model).card.model_copy(update={"license": "other", "license_name": "lfm1.0",
                                                           "license_link": "LICENSE"})
    update_card_facts(model, facts)
    outcome = run_eval(str(model), suite=str(_suite_file(tmp_path, "arabic_exams")), output=tmp_path / "results",
                       fixtures=True, max_samples=1)
    report = build_report([str(outcome.path)], tmp_path / "report")
    for folder in (outcome.path, report):
        meta = read_card_metadata(folder)
        assert (meta["license"], meta["license_name"], meta["license_link"]) == ("other", "lfm1.0", "LICENSE")
        assert (folder / "LICENSE").read_text(encoding="utf-8") == "LFM Open License v1.0 (test copy)\n"
        assert validate_metadata(meta, "dataset", folder) == []


@pytest.mark.slow
def test_eval_shows_no_torch_dtype_deprecation(tiny_llama, tmp_path):
    """lighteval 0.13 passes `torch_dtype=` to from_pretrained itself: eval keeps that deprecation off the console."""
    from stage_helpers import library_notices

    from hala_release.stages.eval.run import run_eval

    with library_notices() as notices:
        run_eval(str(tiny_llama), suite=str(_suite_file(tmp_path, "arabic_exams")), output=tmp_path / "out",
                 fixtures=True, max_samples=1)
    assert not [n for n in notices if "torch_dtype" in n], notices


def test_report_refuses_what_is_not_eval_output(openorca_artifact, tmp_path):
    from hala_release.stages.eval.report import build_report

    with pytest.raises(HalaError, match="not `hala-release eval`"):
        build_report([str(openorca_artifact)], tmp_path / "r")


# --- errors ----------------------------------------------------------------------------------------------------

def test_unknown_task_lists_the_valid_ones(tmp_path):
    from hala_release.stages.eval.run import parse_suite

    with pytest.raises(UsageError) as err:
        parse_suite(str(_suite_file(tmp_path, "alghafa", "aratrust:Ethic")))
    message = str(err.value)
    assert "unknown task 'aratrust:Ethic'" in message and "did you mean 'aratrust:Ethics'" in message
    assert "alghafa, arabic_mmlu, arabic_exams" in message and "--list-tasks" in message
    with pytest.raises(UsageError, match="choose hala, oall-v2, translation"):
        parse_suite("hala-v3")


def test_suite_file_expands_benchmarks_and_single_subsets(tmp_path):
    from hala_release.stages.eval.run import parse_suite

    requests = parse_suite(str(_suite_file(tmp_path, "# comment", "alghafa|0", "community|aratrust:Ethics|0",
                                           "aratrust:Privacy", "madinah_qa|3")))
    assert [(r.benchmark, r.subsets, r.fewshot) for r in requests] == [
        ("alghafa", None, 0), ("aratrust", ["Ethics", "Privacy"], 0), ("madinah_qa", None, 3)]


def test_model_that_is_not_a_causal_lm_is_refused(tmp_path, openorca_artifact, tiny_llama):
    from transformers import BertConfig, T5Config

    from hala_release.stages.eval.run import check_causal_lm
    from hala_release.core.refs import resolve

    BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=37,
               architectures=["BertForMaskedLM"]).save_pretrained(tmp_path / "bert")
    with pytest.raises(HalaError, match=r"is a bert model \(BertForMaskedLM\), not a causal language model"):
        check_causal_lm(resolve(str(tmp_path / "bert")))
    T5Config(d_model=32, num_layers=1, num_heads=2, d_ff=37).save_pretrained(tmp_path / "t5")
    with pytest.raises(HalaError, match=r"is a t5 model \(t5\), not a causal language model"):
        check_causal_lm(resolve(str(tmp_path / "t5")))
    assert check_causal_lm(resolve(str(tiny_llama))) == "llama"
    with pytest.raises(HalaError, match="is a dataset artifact, not a model"):
        check_causal_lm(resolve(str(openorca_artifact)))
    (tmp_path / "empty").mkdir()
    with pytest.raises(HalaError, match="no config.json"):
        check_causal_lm(resolve(str(tmp_path / "empty")))


def test_missing_data_is_named_with_the_fix(tmp_path):
    from hala_release.stages.eval.run import TaskRequest, plan_data

    (tmp_path / "mirror").mkdir()
    with pytest.raises(HalaError, match=r"missing data for AlGhafa: .*OALL/AlGhafa-Arabic-LLM-Benchmark-Native does "
                                        r"not exist"):
        plan_data([TaskRequest("alghafa")], data_dir=tmp_path / "mirror")
    shutil.copytree(FIXTURES / "asas-ai", tmp_path / "mirror" / "asas-ai")
    with pytest.raises(HalaError, match="has no config 'MentalHealth'.*--allow-partial"):
        plan_data([TaskRequest("aratrust")], data_dir=tmp_path / "mirror")
    (plan,) = plan_data([TaskRequest("aratrust")], data_dir=tmp_path / "mirror", allow_partial=True)
    assert plan.subsets == ["Trustfulness", "Ethics", "Privacy"] and len(plan.missing) == 5
    assert plan.pin.startswith("sha256:")
    with pytest.raises(HalaError, match="MMLU EN→AR has no public Hub dataset: pass --data-dir"):
        plan_data([TaskRequest("mmlu_translation_en_ar")])


def test_backend_and_option_mistakes(tiny_lfm2, tmp_path):
    import torch

    from hala_release.stages.eval.run import run_eval

    if not torch.cuda.is_available():
        with pytest.raises(HalaError, match="--backend vllm needs a CUDA GPU"):
            run_eval(str(tiny_lfm2), suite=str(_suite_file(tmp_path, "arabic_exams")), output=tmp_path / "o",
                     backend="vllm", fixtures=True)
        with pytest.raises(HalaError, match="ALRAGE needs an LLM judge"):
            run_eval(str(tiny_lfm2), suite="oall-v2", output=tmp_path / "o", fixtures=True)
    with pytest.raises(UsageError, match="unknown backend"):
        run_eval(str(tiny_lfm2), output=tmp_path / "o", backend="tgi")
    with pytest.raises(HalaError, match="--update-model-card writes into a local model artifact"):
        shutil.copytree(tiny_lfm2, tmp_path / "bare", ignore=shutil.ignore_patterns("hala_provenance.json"))
        run_eval(str(tmp_path / "bare"), output=tmp_path / "o", fixtures=True, update_model_card=True)
    assert not (tmp_path / "o").exists()


def test_summary_numbers_are_plain_means():
    from hala_release.stages.eval.report import summarize

    acc = "acc:logprob_normalization=LogProbCharNorm(name='norm', ignore_first_space=False)"
    results = {"results": {"a:x|0": {acc: 0.5}, "a:y|0": {acc: 1.0}, "b|0": {acc: 0.0}, "a:_average|0": {acc: 0.75},
                           "all": {acc: 0.5}}}
    plan = [{"key": "a", "title": "A", "dataset": "o/a", "metrics": ["acc_norm"], "tasks": ["a:x|0", "a:y|0"]},
            {"key": "b", "title": "B", "dataset": "o/b", "metrics": ["acc_norm"], "tasks": ["b|0"]}]
    summary = summarize(results, plan, suite="t")
    assert [b["scores"]["acc_norm"] for b in summary["benchmarks"]] == [0.75, 0.0]
    assert math.isclose(summary["average"]["value"], 0.375)  # mean of benchmarks, not of the three tasks (0.5)


def test_benchmark_score_is_lighteval_s_own_average_not_recomputed():
    from hala_release.stages.eval.report import summarize

    acc = "acc:logprob_normalization=LogProbCharNorm(name='norm', ignore_first_space=False)"
    # An `_average` that is not the mean of its subsets shows which one the summary took.
    results = {"results": {"a:x|0": {acc: 0.5}, "a:y|0": {acc: 1.0}, "a:_average|0": {acc: 0.7}, "b|0": {acc: 0.25}}}
    plan = [{"key": "a", "title": "A", "dataset": "o/a", "metrics": ["acc_norm"], "tasks": ["a:x|0", "a:y|0"]},
            {"key": "b", "title": "B", "dataset": "o/b", "metrics": ["acc_norm"], "tasks": ["b|0"]}]
    summary = summarize(results, plan, suite="t")
    assert [b["scores"]["acc_norm"] for b in summary["benchmarks"]] == [0.7, 0.25]  # one task: its own score
    del results["results"]["a:_average|0"]
    with pytest.raises(HalaError, match="lack a:_average"):
        summarize(results, plan, suite="t")


def _run_summary(score: float) -> dict:
    summary = _exams_summary(score)
    summary.update(suite="hala", average=None)
    summary["benchmarks"][0].update(tasks=["arabic_exams|0"], samples=3, primary="acc_norm")
    return summary


def test_eval_ends_with_one_summary_line(tmp_path):
    from hala_release.stages.eval.run import EvalOutcome

    line = EvalOutcome(tmp_path / "out", _run_summary(0.415), seconds=12.34).summary_line()
    assert line == (f"eval hala: 1 tasks, 3 samples | EXAMS accuracy (length-normalised) 41.5 (partial) | 12.3 s | "
                    f"results in {tmp_path / 'out'}")
    two = _run_summary(0.5)
    two["average"] = {"value": 0.625}
    assert "| average 62.5 (partial) |" in EvalOutcome(tmp_path, two, seconds=1).summary_line()


def test_model_card_gets_the_hub_s_eval_results_files(tiny_lfm2, tmp_path, hub, hub_token):
    """`.eval_results/<benchmark>.yaml` beside the (legacy) model-index, read back by huggingface_hub, and pushed."""
    import yaml
    from huggingface_hub import parse_eval_result_entries

    from hala_release.hub.publish import push_artifact
    from hala_release.stages.eval.run import attach_to_model_card

    folder = tmp_path / "model"
    shutil.copytree(tiny_lfm2, folder, ignore=shutil.ignore_patterns(".cache"))
    attach_to_model_card(folder, _exams_summary(0.25))
    (entry,) = parse_eval_result_entries(yaml.safe_load((folder / ".eval_results" / "arabic_exams.yaml").read_text()))
    assert (entry.dataset_id, entry.task_id, entry.value) == ("OALL/Arabic_EXAMS", "arabic_exams", 25.0)
    assert entry.source_url is None and "fixture" in entry.notes and "0-shot" in entry.notes
    attach_to_model_card(folder, _exams_summary(0.5), source_url="http://hub/datasets/o/r")
    (entry,) = parse_eval_result_entries(yaml.safe_load((folder / ".eval_results" / "arabic_exams.yaml").read_text()))
    assert (entry.value, entry.source_url) == (50.0, "http://hub/datasets/o/r") and entry.source_name
    assert ModelCard.load(folder / "README.md").data.eval_results[0].metric_value == 50.0  # model-index agrees
    push_artifact(folder, "hala-test/tiny-eval-results", "model", token=hub_token)
    assert ".eval_results/arabic_exams.yaml" in HfApi(token=hub_token).list_repo_files("hala-test/tiny-eval-results")

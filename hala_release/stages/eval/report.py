"""What an evaluation leaves besides lighteval's own files: summary, leaderboard file, model-index and a report.

Pure functions over lighteval's results JSON and our summaries (plus matplotlib for the chart), so they are easy to
test and `hala-release report` can compare results produced on other machines. Benchmark score = lighteval's own
`<benchmark>:_average` entry (a plain mean over its subsets, as the leaderboard shows it); suite average = plain mean
over benchmarks (as HALA reports it; lighteval computes no such mean).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Iterable

from hala_release.core.errors import HalaError

SUMMARY_FILE = "summary.json"
REPORT_FILE = "report.md"
CHART_FILE = "report.png"
# Metrics lighteval reports in [0, 1]; shown as percentages like HALA's tables. sacreBLEU's BLEU and chrF++ are
# already on a 0-100 scale.
FRACTION_METRICS = {"acc", "acc_norm", "llm_as_judge"}
METRIC_LABELS = {"acc": "accuracy", "acc_norm": "accuracy (length-normalised)", "llm_as_judge": "LLM-judge score", "bleu": "BLEU",
                 "chrf++": "chrF++"}

PUBLISHED_SOURCE = "HALA technical report (arXiv 2509.14008)"
# Published scores (percent), copied from the paper: never measured by hala-release.
PUBLISHED: dict[str, dict[str, float]] = {
    "Hala-9B": {"alghafa": 78.3, "arabic_mmlu": 65.6, "arabic_exams": 53.8, "madinah_qa": 70.4, "aratrust": 89.6,
                "arabic_mmlu_ht": 61.4, "average": 69.9},
    "Fanar-1-9B-Instruct": {"alghafa": 76.4, "arabic_mmlu": 65.8, "arabic_exams": 52.7, "madinah_qa": 73.4,
                            "aratrust": 88.3, "arabic_mmlu_ht": 58.6, "average": 69.2},
    "Hala-1.2B": {"alghafa": 59.2, "arabic_mmlu": 48.6, "arabic_exams": 43.4, "madinah_qa": 41.6, "aratrust": 71.7,
                  "arabic_mmlu_ht": 44.2, "average": 51.4},
    "Hala-700M": {"alghafa": 55.5, "arabic_mmlu": 45.9, "arabic_exams": 40.6, "madinah_qa": 34.7, "aratrust": 65.2,
                  "arabic_mmlu_ht": 39.4, "average": 46.9},
    "Hala-350M": {"alghafa": 51.4, "arabic_mmlu": 41.2, "arabic_exams": 36.9, "madinah_qa": 34.5, "aratrust": 52.1,
                  "arabic_mmlu_ht": 35.4, "average": 41.9},
}
# MMLU EN->AR translation, as secondary summaries of the paper report it (approximate).
PUBLISHED_TRANSLATION: dict[str, dict[str, float]] = {
    "Hala-1.2B-EN-AR-Translator": {"mmlu_translation_en_ar/bleu": 48.2, "mmlu_translation_en_ar/chrf++": 64.2},
    "LFM2-1.2B": {"mmlu_translation_en_ar/bleu": 16.0, "mmlu_translation_en_ar/chrf++": 43.2},
}


def short_metric(name: str) -> str:
    """lighteval 0.13's parametrised metric key -> the short name the leaderboard and our tables use."""
    if name.endswith("_stderr"):
        return short_metric(name[: -len("_stderr")]) + "_stderr"
    if name.startswith("acc:") and "LogProbCharNorm" in name:
        return "acc_norm"
    return name


def display(metric: str, value: float | None) -> float | None:
    """A metric on the 0-100 scale of HALA's tables."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value * 100 if metric in FRACTION_METRICS else value


def summarize(results: dict[str, Any], plan: list[dict[str, Any]], **header: Any) -> dict[str, Any]:
    """Per-benchmark scores and the suite average from lighteval's results JSON.

    `plan` has one entry per benchmark: key, title, dataset, metrics, tasks (lighteval `name|fewshot`), and whatever
    else should travel with it (source, pin, subsets, samples). `header` goes to the top of the summary.
    """
    every = {task: {short_metric(k): v for k, v in metrics.items()}
             for task, metrics in results.get("results", {}).items()}
    tasks = {task: metrics for task, metrics in every.items() if task != "all" and ":_average|" not in task}
    benchmarks = []
    for entry in plan:
        scores: dict[str, float] = {}
        for metric in entry["metrics"]:
            for task in entry["tasks"]:
                if task not in tasks or metric not in tasks[task]:
                    raise HalaError(f"lighteval's results lack {metric} for task {task}: the run did not finish; "
                                    f"rerun the evaluation")
            scores[metric] = benchmark_score(every, entry["tasks"], metric)
        benchmarks.append({**entry, "scores": scores, "primary": entry["metrics"][0]})
    averaged = [b for b in benchmarks if b["primary"] in FRACTION_METRICS]
    average = None
    if len(averaged) > 1:
        average = {"value": sum(b["scores"][b["primary"]] for b in averaged) / len(averaged),
                   "over": [b["key"] for b in averaged], "how": "plain mean over benchmarks"}
    return {**header, "benchmarks": benchmarks, "average": average, "tasks": tasks}


def average_task(tasks: list[str]) -> str | None:
    """lighteval's own `<prefix>:_average|<fewshot>` entry for these tasks (info_loggers.MetricsLogger.aggregate
    groups subtasks by the name before ':'), or None when it writes none: a single task, or tasks of two groups."""
    groups = {f"{task.rsplit('|', 1)[0].split(':')[0]}:_average|{task.rsplit('|', 1)[-1]}" for task in tasks}
    return groups.pop() if len(tasks) > 1 and len(groups) == 1 else None


def benchmark_score(results: dict[str, dict[str, Any]], tasks: list[str], metric: str) -> float:
    """A benchmark's score: lighteval's `_average` entry (a plain mean over its subsets), or the task's own score
    when it has one task. Never recomputed where lighteval wrote it."""
    group = average_task(tasks)
    if group is not None and metric in results.get(group, {}):
        return float(results[group][metric])
    if len(tasks) == 1:
        return float(results[tasks[0]][metric])
    raise HalaError(f"lighteval's results lack {group or 'an average'} for {metric}: the run did not finish; rerun "
                    f"the evaluation")


def read_summary(folder: Path) -> dict[str, Any]:
    path = Path(folder) / SUMMARY_FILE
    if not path.exists():
        raise HalaError(f"{folder} has no {SUMMARY_FILE}: it is not the output of `hala-release eval`; pass the "
                        f"--output folder (or pushed results repo) of an eval run")
    return json.loads(path.read_text(encoding="utf-8"))


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def summary_markdown(summary: dict[str, Any]) -> str:
    """The per-benchmark table (0-100 scale) with the suite average as last row."""
    metrics = list(dict.fromkeys(m for b in summary["benchmarks"] for m in b["metrics"]))
    head = "| benchmark | dataset | subsets | samples | " + " | ".join(METRIC_LABELS.get(m, m) for m in metrics) + " |"
    lines = [head, "|" + "---|" * (4 + len(metrics))]
    for b in summary["benchmarks"]:
        cells = [_fmt(display(m, b["scores"].get(m))) for m in metrics]
        subsets = f"{b['subsets']}/{b['subsets_total']}" if "subsets" in b else "—"
        lines.append(f"| {b['title']} | `{b['dataset']}` | {subsets} | {b.get('samples', '—')} | " + " | ".join(cells) + " |")
    if summary.get("average"):
        cells = [_fmt(display(m, summary["average"]["value"])) if m in FRACTION_METRICS else "" for m in metrics]
        lines.append("| **average** (plain mean) | | | | " + " | ".join(f"**{c}**" if c else "" for c in cells) + " |")
    return "\n".join(lines)


def leaderboard_results(results: dict[str, Any], *, model_name: str, model_sha: str, model_dtype: str | None) -> dict:
    """lighteval's results in the layout the Open Arabic LLM Leaderboard reads (`results_<timestamp>.json`).

    The leaderboard's files come from older lighteval releases: task keys carry the `community|` suite prefix
    (`community|alghafa:meta_ar_msa|0`), metrics their short names (`acc_norm`, `acc_norm_stderr`), and
    `config_general` names the model as `org/name` with its revision in `model_sha`.
    """
    def rename(task: str) -> str:
        return task if task == "all" else f"community|{task}"

    general = dict(results.get("config_general", {}))
    general.update(model_name=model_name, model_sha=model_sha, model_dtype=model_dtype, num_few_shot_default=0)
    return {
        "config_general": general,
        "results": {rename(task): {short_metric(k): v for k, v in metrics.items()}
                    for task, metrics in results.get("results", {}).items()},
        # lighteval 0.13 leaves `versions` empty; the task versions are in config_tasks.
        "versions": {rename(task): v for task, v in (results.get("versions") or {
            task: config.get("version", 0) for task, config in results.get("config_tasks", {}).items()}).items()},
        "config_tasks": {rename(task): v for task, v in results.get("config_tasks", {}).items()},
        "summary_tasks": {rename(task): v for task, v in results.get("summary_tasks", {}).items()},
        "summary_general": results.get("summary_general", {}),
    }


def model_index_results(summary: dict[str, Any], *, source_url: str | None = None) -> list[dict[str, Any]]:
    """huggingface_hub `EvalResult` fields for each benchmark and metric, values on the 0-100 scale."""
    caveat = ""
    if summary.get("data") == "fixtures":
        caveat = " (shipped fixture rows, not the benchmark)"
    elif summary.get("partial"):
        caveat = " (partial run)"
    # huggingface_hub's EvalResult refuses a source name without a source URL: both, or neither (a local run).
    source = {"source_name": "hala-release eval (lighteval)", "source_url": source_url} if source_url else {}
    records = []
    for b in summary["benchmarks"]:
        for metric in b["metrics"]:
            translation = metric in ("bleu", "chrf++")
            records.append({
                "task_type": "translation" if translation else "text-generation",
                "task_name": "Translation" if translation else "Text Generation",
                "dataset_type": b["dataset"],
                "dataset_name": b["title"] + caveat,
                "dataset_split": b.get("split"),
                "dataset_revision": b.get("pin") if b.get("source") == "hub" else None,
                "dataset_args": {"num_few_shot": summary.get("num_fewshots", 0)},
                "metric_type": metric,
                "metric_name": METRIC_LABELS.get(metric, metric),
                "metric_value": round(display(metric, b["scores"][metric]), 2),
                **source,
            })
    return records


EVAL_RESULTS_DIR = ".eval_results"


def eval_result_files(summary: dict[str, Any], *, source_url: str | None = None) -> dict[str, list[dict[str, Any]]]:
    """The Hub's `.eval_results/<benchmark>.yaml` files (huggingface_hub 1.33 `EvalResultEntry`; `model-index` is
    its legacy format): one file per benchmark with its main metric on the 0-100 scale (the format holds one value per
    task; `model-index` keeps every metric)."""
    from huggingface_hub import EvalResultEntry, eval_result_entries_to_yaml

    caveat = "; shipped fixture rows, not the benchmark" if summary.get("data") == "fixtures" else (
        "; partial run" if summary.get("partial") else "")
    source = {"source_name": "hala-release eval (lighteval)", "source_url": source_url} if source_url else {}
    files = {}
    for b in summary["benchmarks"]:
        metric = b.get("primary") or b["metrics"][0]
        entry = EvalResultEntry(
            dataset_id=b["dataset"], task_id=b["key"], value=round(display(metric, b["scores"][metric]), 2),
            dataset_revision=b.get("pin") if b.get("source") == "hub" else None,
            notes=f"{METRIC_LABELS.get(metric, metric)}, {summary.get('num_fewshots', 0)}-shot{caveat}", **source)
        files[f"{EVAL_RESULTS_DIR}/{b['key']}.yaml"] = eval_result_entries_to_yaml([entry])
    return files


def merge_eval_results(existing: list[dict], new: list[dict]) -> list[dict]:
    """Card eval results after a run: new entries replace old ones for the same dataset and metric."""
    replaced = {(r["dataset_type"], r["metric_type"]) for r in new}
    return [r for r in existing if (r.get("dataset_type"), r.get("metric_type")) not in replaced] + list(new)


def check_comparable(summaries: list[dict[str, Any]], names: list[str]) -> None:
    """A report compares results of one suite over the same benchmarks; anything else is refused."""
    first, first_name = summaries[0], names[0]
    keys = [b["key"] for b in first["benchmarks"]]
    for summary, name in zip(summaries[1:], names[1:]):
        if summary.get("suite") != first.get("suite"):
            raise HalaError(f"{name} holds results of suite {summary.get('suite')!r} but {first_name} holds "
                            f"{first.get('suite')!r}: a report compares one suite; run `hala-release report` once per suite")
        other = [b["key"] for b in summary["benchmarks"]]
        if other != keys:
            raise HalaError(f"{name} scores benchmarks {other} but {first_name} scores {keys}: evaluate both with "
                            f"the same --suite before comparing")


def _columns(summary: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(column id, label, metric) for the report: one per benchmark, or per benchmark and metric if several."""
    columns = []
    for b in summary["benchmarks"]:
        if len(b["metrics"]) == 1:
            columns.append((b["key"], b["title"], b["metrics"][0]))
        else:
            columns.extend((f"{b['key']}/{m}", f"{b['title']} {METRIC_LABELS.get(m, m)}", m) for m in b["metrics"])
    if summary.get("average"):
        columns.append(("average", "Average", "acc_norm"))
    return columns


def _row(summary: dict[str, Any]) -> dict[str, float | None]:
    row = {}
    for b in summary["benchmarks"]:
        for m in b["metrics"]:
            value = display(m, b["scores"].get(m))
            row[f"{b['key']}/{m}"] = value
            if len(b["metrics"]) == 1:
                row[b["key"]] = value
    if summary.get("average"):
        row["average"] = display("acc_norm", summary["average"]["value"])
    return row


def published_rows(summary: dict[str, Any]) -> dict[str, dict[str, float | None]]:
    """HALA's published numbers for the columns of this suite (empty when the paper has none for them)."""
    ids = {column for column, _, _ in _columns(summary)}
    rows = {}
    for table in (PUBLISHED, PUBLISHED_TRANSLATION):
        for model, scores in table.items():
            row = {column: scores.get(column) for column in ids}
            if any(v is not None for k, v in row.items() if k != "average"):
                rows[model] = row
    return rows


def report_markdown(summaries: list[dict[str, Any]], *, published: bool = True, chart: str | None = CHART_FILE) -> str:
    """A comparison table of measured models, then HALA's published scores, clearly apart."""
    columns = _columns(summaries[0])
    suite = summaries[0].get("suite")
    header = "| model | " + " | ".join(label for _, label, _ in columns) + " |"
    rule = "|" + "---|" * (len(columns) + 1)
    lines = [f"# Evaluation report: suite `{suite}`", ""]
    if chart:
        lines += [f"![scores]({chart})", ""]
    lines += ["## Measured here", "", "Scores on a 0-100 scale (accuracy in %, BLEU and chrF++ as sacreBLEU reports "
              "them). Rows marked * are partial runs (`--max-samples`, missing subsets or fixture data): not "
              "comparable with published numbers.", "", header, rule]
    for summary in summaries:
        row = _row(summary)
        mark = " *" if summary.get("partial") else ""
        lines.append(f"| `{summary['model']['name']}`{mark} | " + " | ".join(_fmt(row.get(c)) for c, _, _ in columns) + " |")
    reference = published_rows(summaries[0]) if published else {}
    if reference:
        lines += ["", "## Published, not measured here", "",
                  f"Copied from the {PUBLISHED_SOURCE} for reference; hala-release did not run these models."
                  + (" Translation figures come from secondary summaries of the paper and are approximate."
                     if set(reference) & set(PUBLISHED_TRANSLATION) else ""), "",
                  header, rule]
        for model, row in reference.items():
            lines.append(f"| {model} (published) | " + " | ".join(_fmt(row.get(c)) for c, _, _ in columns) + " |")
    lines += ["", "Benchmark score = plain mean over its subsets; average = plain mean over benchmarks (as HALA "
              "reports it). Each measured run's `summary.json` holds per-subset scores and data pins."]
    return "\n".join(lines) + "\n"


def write_chart(summaries: list[dict[str, Any]], path: Path, *, published: bool = True) -> Path:
    """Grouped bars: one group per benchmark column, one bar per model; published scores hatched and grey."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    columns = _columns(summaries[0])
    series = [(s["model"]["name"] + (" *" if s.get("partial") else ""), _row(s), False) for s in summaries]
    if published:
        series += [(f"{model} (published)", row, True) for model, row in published_rows(summaries[0]).items()]
    x = np.arange(len(columns))
    width = 0.8 / max(len(series), 1)
    fig, ax = plt.subplots(figsize=(max(7.0, 1.15 * len(columns) + 0.12 * len(columns) * len(series)), 5.2), dpi=120)
    measured_colors = plt.get_cmap("tab10")
    greys = plt.get_cmap("Greys")
    n_published = sum(1 for _, _, p in series if p)
    for i, (label, row, is_published) in enumerate(series):
        values = [row.get(column) for column, _, _ in columns]
        heights = [v if v is not None else 0.0 for v in values]
        if is_published:
            shade = 0.35 + 0.45 * ((i - (len(series) - n_published)) / max(n_published - 1, 1))
            style = dict(color=greys(shade), hatch="//", edgecolor="white", linewidth=0)
        else:
            style = dict(color=measured_colors(i % 10))
        bars = ax.bar(x - 0.4 + width * (i + 0.5), heights, width, label=label, **style)
        for bar, value in zip(bars, values):
            if value is None:
                bar.set_visible(False)
            elif not is_published:  # label measured bars, so a 0 reads as a score and not as a gap
                ax.annotate(f"{value:.1f}", (bar.get_x() + bar.get_width() / 2, value), xytext=(0, 2),
                            textcoords="offset points", ha="center", va="bottom", fontsize=6.5, rotation=90)
    ax.set_xticks(x, [label for _, label, _ in columns], rotation=15, ha="right")
    ax.set_ylabel("score (0-100)")
    ax.set_ylim(0, 100)
    title = f"hala-release eval, suite '{summaries[0].get('suite')}'"
    notes = []
    if n_published:
        notes.append("grey, hatched: published in the HALA report, not measured here")
    if any(s.get("partial") for s in summaries):
        notes.append("* partial run: --max-samples, missing subsets or fixture data")
    ax.set_title("\n".join([title, *notes]), fontsize=9)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    ax.legend(fontsize=8, ncol=min(len(series), 3), loc="upper center", bbox_to_anchor=(0.5, -0.18), frameon=False)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def write_report(summaries: list[dict[str, Any]], folder: Path, *, published: bool = True) -> tuple[Path, Path]:
    """report.md and report.png in `folder`."""
    folder = Path(folder)
    chart = write_chart(summaries, folder / CHART_FILE, published=published)
    markdown = folder / REPORT_FILE
    markdown.write_text(report_markdown(summaries, published=published), encoding="utf-8")
    return markdown, chart


def score_rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Flat rows (one per task and metric, plus benchmark scores and the average) for the `scores` split."""
    model, suite = summary["model"]["name"], summary.get("suite")
    rows = []
    for b in summary["benchmarks"]:
        for metric in b["metrics"]:
            for task in b["tasks"]:
                scores = summary["tasks"].get(task, {})
                rows.append({"model": model, "suite": suite, "benchmark": b["key"], "task": task, "metric": metric,
                             "value": scores.get(metric), "stderr": scores.get(f"{metric}_stderr")})
            rows.append({"model": model, "suite": suite, "benchmark": b["key"], "task": f"{b['key']}:_average",
                         "metric": metric, "value": b["scores"][metric], "stderr": None})
    if summary.get("average"):
        rows.append({"model": model, "suite": suite, "benchmark": "average", "task": "average", "metric": "acc_norm",
                     "value": summary["average"]["value"], "stderr": None})
    return rows


def build_report(results: Iterable[str], output: Path | str, *, published: bool = True,
                 overwrite: bool = False) -> Path:
    """`hala-release report`: compare several eval results (local folders or pushed results repos) in one artifact."""
    from datasets import Dataset

    from hala_release.artifacts.build import build_artifact
    from hala_release.artifacts.inputs import carried_license, license_fields
    from hala_release.core.provenance import CardFacts, CardSection, read_provenance
    from hala_release.core.refs import resolve

    refs = list(results)
    if not refs:
        raise HalaError("no results to compare: pass one or more `hala-release eval` output folders or repos")
    resolved = [resolve(ref, "dataset") for ref in refs]
    summaries = []
    for ref, item in zip(refs, resolved):
        prov = read_provenance(item.path)
        if prov.stage != "eval":
            raise HalaError(f"{ref} was built by stage {prov.stage!r}, not `hala-release eval`: pass eval results")
        summaries.append(read_summary(item.path))
    check_comparable(summaries, refs)
    suite = summaries[0].get("suite")
    # Each result already carries its model's and benchmarks' licence (see run.eval_license); the report
    # republishes their scores and carries the most restrictive one on, with its link and licence text.
    carried = carried_license(dict(zip(refs, resolved)))
    models = ", ".join(f"`{s['model']['name']}`" for s in summaries)
    card = CardFacts(
        kind="dataset", title=f"hala-release report: suite {suite}",
        summary=f"Comparison of {len(summaries)} evaluated model(s) ({models}) on the `{suite}` suite, with HALA's "
                f"published scores for reference (labelled as published, not measured here).",
        language=sorted({lang for item in resolved for lang in read_provenance(item.path).card.language}) or ["ar"],
        **license_fields(carried),
        tags=["evaluation", "report", "hala"], task_categories=sorted(
            {t for item in resolved for t in read_provenance(item.path).card.task_categories}) or ["text-generation"],
    )
    config = {"results": refs, "published": published, "suite": suite}
    with build_artifact(output, stage="report", config=config, card=card,
                        inputs={f"results_{i}": item for i, item in enumerate(resolved)}, overwrite=overwrite) as draft:
        write_report(summaries, draft.path, published=published)
        (draft.path / "comparison.json").write_text(json.dumps(
            {"suite": suite, "models": [s["model"] for s in summaries], "summaries": summaries},
            indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
        draft.write_splits({"scores": Dataset.from_list([r for s in summaries for r in score_rows(s)])})
        card.sections.append(CardSection(title="Report", markdown=report_markdown(summaries, published=published)
                                         .split("\n", 2)[2]))
        draft.stats.update(models=len(summaries), suite=suite)
    return Path(output).expanduser().resolve()

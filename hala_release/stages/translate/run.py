"""The translate stage: a dataset in, the same dataset with translated columns out, resumable chunk by chunk.

Work happens in numbered chunks of rows. Each chunk is translated and written atomically into a work folder
beside the output; a rerun skips finished chunks, so "resume" is "run the same command again", and Slurm
array tasks (`--num-shards/--shard-index`) or Ray workers can share the chunks. When every chunk exists, the
chunks are streamed into the artifact: passing rows in the main split, failing rows with their reasons in
`rejected`. Every input row lands in exactly one of the two, in input order.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections import Counter
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from hala_release.artifacts.build import build_artifact, config_hash
from hala_release.executors.chunks import (SplitWriters, chunk_bounds, chunk_done, chunk_tables, counter_delta, load_split, open_plan,
                      run_local, shard_todo, total_stats, write_chunk)
from hala_release.core.errors import HalaError, UsageError
from hala_release.engines.quality import GateConfig

log = logging.getLogger(__name__)
OK_COLUMN, ISSUES_COLUMN = "translation_ok", "translation_issues"
# Settings that change how the work is scheduled, not what it produces: they may differ between reruns.
SCHEDULING_KEYS = {"output", "num_shards", "shard_index", "executor", "workers", "batch_size", "tensor_parallel_size",
                   "concurrency", "cache_dir",
                   "overwrite", "ray_address", "ray_workers", "push_to_hub"}


class TranslateConfig(BaseModel):
    """Every option of `hala-release translate`; the one definition for CLI, recipes and Python."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    source: str
    output: str
    model: str | None = None
    source_lang: str = "en"
    target_lang: str = "ar"
    dataset_schema: str = Field("auto", alias="schema")
    fields: list[str] = Field(default_factory=list)
    split: str = "train"
    subset: str | None = None  # a dataset config name, e.g. "ar-en" for OPUS-100
    limit: int | None = None
    engine: str = "vllm"
    prompt_template: str = "hala-teacher"
    batch_size: int | None = None  # segments per engine call; default by engine (engines.DEFAULT_BATCH_SIZE)
    max_tokens: int = 1024
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int = 0
    max_retries: int = 2
    max_chars: int = 1500
    gates: GateConfig = Field(default_factory=GateConfig)
    dedup: bool = True
    cache: bool = True
    cache_dir: str | None = None
    chunk_size: int = 1000
    num_shards: int = 1
    shard_index: int = 0
    executor: str = "local"
    workers: int = 1  # local processes; more than 1 only helps CPU-bound engines (dry-run, openai)
    ray_address: str | None = None
    ray_workers: int = 1
    trust_remote_code: bool = False
    tensor_parallel_size: int = 1  # vLLM: GPUs one engine spans (a 111B teacher needs several)
    api_base: str | None = None
    concurrency: int = 32
    model_revision: str | None = None  # for --engine openai, where the served weights cannot be pinned
    overwrite: bool = False
    push_to_hub: str | None = None

    def result_config(self) -> dict[str, Any]:
        """The settings that decide the output: recorded in provenance and checked on resume."""
        return {k: v for k, v in self.model_dump(by_alias=True).items() if k not in SCHEDULING_KEYS}

    def validate_choices(self) -> None:
        from hala_release.engines import ENGINES

        if self.engine not in ENGINES:
            raise UsageError(f"unknown engine {self.engine!r}: choose one of {', '.join(ENGINES)}")
        if self.executor not in ("local", "ray"):
            raise UsageError(f"unknown executor {self.executor!r}: choose local or ray")
        if not 0 <= self.shard_index < self.num_shards:
            raise UsageError(f"--shard-index must be in 0..{self.num_shards - 1} for --num-shards {self.num_shards}")
        if self.chunk_size < 1 or (self.batch_size or 1) < 1 or self.workers < 1:
            raise UsageError("--chunk-size, --batch-size and --workers must be at least 1")
        if self.source_lang == self.target_lang:
            raise UsageError(f"--source-lang and --target-lang are both {self.source_lang!r}")


def run_translate(config: TranslateConfig) -> dict[str, Any]:
    """Translate what this process is responsible for; assemble the artifact when all chunks exist."""
    from hala_release.core.refs import resolve
    from hala_release.core.schemas import choose_schema

    start = time.perf_counter()
    config.validate_choices()
    output = Path(config.output).expanduser().resolve()
    if output.exists() and not config.overwrite:
        raise HalaError(f"output folder {output} already exists: pass --overwrite to replace it, or choose another --output")
    source = resolve(config.source, "dataset")
    model = _resolve_model(config)
    dataset = load_split(source, config.split, config.subset, config.limit)
    choose_schema(config.dataset_schema, dataset.column_names, config.fields)  # fail before any work folder exists
    plan = _plan(config, source, model, len(dataset), output)
    todo = shard_todo(plan, config.num_shards, config.shard_index)
    if todo:
        if config.executor == "ray":
            from hala_release.executors.ray_data import run_chunks_on_ray

            run_chunks_on_ray(config, plan, todo)
        else:
            run_local(lambda: ChunkRunner(config, plan, dataset), plan, todo, workers=config.workers, desc="translate")
    done = [i for i in range(plan["chunks"]) if chunk_done(plan, i)]
    summary = {"rows": len(dataset), "chunks": plan["chunks"], "chunks_done": len(done),
               "chunks_this_run": len(todo), "seconds": round(time.perf_counter() - start, 2)}
    if len(done) < plan["chunks"]:
        summary["status"] = "partial"
        return summary
    if config.num_shards > 1:
        summary["status"] = "shards-complete"  # gathering is a separate, single step
        return summary
    summary.update(assemble(config, plan, source, model, output, started=start))
    summary["status"] = "complete"
    return summary


def _resolve_model(config: TranslateConfig):
    """The model input and its pin (the openai engine names a served model, which cannot be downloaded)."""
    from hala_release.core.refs import resolve

    if config.engine in ("dry-run", "echo"):
        return None
    if config.model is None:
        raise UsageError(f"--engine {config.engine} needs --model")
    if config.engine == "openai":
        return {"ref": config.model, "source": "server", "repo_type": "model",
                "pin": config.model_revision or "unpinned"}
    return resolve(config.model, "model")


def _plan(config: TranslateConfig, source, model, rows: int, output: Path) -> dict[str, Any]:
    """The chunk plan: what the chunks are made from, plus where this process finds the model."""
    model_pin = None if model is None else (model["pin"] if isinstance(model, dict) else model.pin)
    identity = {"config_hash": config_hash(config.result_config()), "source_pin": source.pin, "model_pin": model_pin}
    plan = open_plan(output, identity, rows, config.chunk_size)
    return {**plan, "model_path": str(model.path) if hasattr(model, "path") else None}


class ChunkRunner:
    """Everything needed to translate chunks in one process: engine, template, cache, schema."""

    def __init__(self, config: TranslateConfig, plan: dict[str, Any], dataset):
        from hala_release.engines import DEFAULT_BATCH_SIZE, Sampling, make_engine
        from hala_release.core.prompts import load_template
        from hala_release.core.schemas import choose_schema
        from hala_release.engines.segment_translator import SegmentTranslator
        from hala_release.engines.translation_cache import TranslationCache, default_cache_dir

        self.config, self.plan, self.dataset = config, plan, dataset
        self.schema = choose_schema(config.dataset_schema, dataset.column_names, config.fields)
        template = load_template(config.prompt_template)
        sampling = Sampling(config.max_tokens, config.temperature, config.top_p, config.seed)
        engine = make_engine(config.engine, plan["model_path"] or config.model, trust_remote_code=config.trust_remote_code,
                             api_base=config.api_base, concurrency=config.concurrency,
                             tensor_parallel_size=config.tensor_parallel_size)
        cache = None
        if config.cache and not engine.identity:
            context = {"model": config.model, "model_pin": plan["model_pin"], "prompt": template.text,
                       "sampling": sampling.record(), "source_lang": config.source_lang,
                       "target_lang": config.target_lang}
            cache = TranslationCache(config.cache_dir or default_cache_dir(), context)
        self.translator = SegmentTranslator(engine, template, sampling, config.gates, config.source_lang,
                                            config.target_lang, cache=cache,
                                            batch_size=config.batch_size or DEFAULT_BATCH_SIZE[config.engine],
                                            max_retries=config.max_retries, dedup=config.dedup)
        self.engine = engine
        log.info("schema: %s (%s)", self.schema.name, ", ".join(self.schema.output_columns(config.target_lang)))

    def run(self, index: int) -> dict[str, Any]:
        """Translate chunk `index` and write it (rows + stats) atomically; returns the chunk's stats."""
        from hala_release.stages.translate.rows import translate_table

        start, stop = chunk_bounds(self.plan, index)
        table = self.dataset.with_format("arrow")[start:stop]
        before = dict(self.translator.stats), dict(self.translator.failures)
        began = time.perf_counter()
        out = translate_table(table, self.schema, self.translator, self.config)
        stats = counter_delta(before[0], self.translator.stats)
        stats["failures"] = counter_delta(before[1], self.translator.failures)
        stats["rows"] = stop - start
        stats["rows_failed"] = out.num_rows - sum(out.column(OK_COLUMN).to_pylist())
        stats["seconds"] = round(time.perf_counter() - began, 3)
        write_chunk(self.plan, index, out, stats)
        return stats

    def close(self) -> None:
        self.engine.close()


def assemble(config: TranslateConfig, plan: dict[str, Any], source, model, output: Path,
             started: float | None = None) -> dict[str, Any]:
    """Stream every chunk into the artifact's splits, in order, then remove the work folder."""
    from hala_release.stages.translate.card import translation_card

    stats, failures = total_stats(plan)
    rows_ok = stats["rows"] - stats["rows_failed"]
    splits = {"train": rows_ok, "rejected": stats["rows_failed"]}
    inputs = {"source": source}
    if model is not None:
        inputs["model"] = model
    card = translation_card(config, source, model, stats, failures)
    with build_artifact(output, stage="translate", config=config.result_config(), card=card, inputs=inputs,
                        overwrite=config.overwrite, started=started) as draft:
        with draft.timed("assemble"):
            writers = SplitWriters(draft.path / "data", splits)
            for table in chunk_tables(plan):
                mask = table.column(OK_COLUMN)
                writers.write("train", table.filter(mask))
                writers.write("rejected", table.filter(_negate(mask)))
            writers.close()
        # An empty split gets no file (an empty Parquet file cannot be read back by `datasets`) and no card entry.
        draft.card.splits = {name: rows for name, rows in splits.items() if rows}
        if not rows_ok:
            log.warning("no row passed the quality gates: check the model, --prompt-template and the "
                        "failures by reason in %s", output / "README.md")
        draft.card.sample_records = writers.samples
        draft.stats.update(_summary_stats(stats, failures))
        draft.timings["translate_chunks"] = round(stats["seconds"], 3)
    shutil.rmtree(plan["work_dir"], ignore_errors=True)
    return {"output": str(output), **_summary_stats(stats, failures)}


def _negate(mask):
    import pyarrow.compute as pc

    return pc.invert(mask)


def _summary_stats(stats: Counter, failures: Counter) -> dict[str, Any]:
    seconds = stats["seconds"] or 1e-9
    return {
        "rows": stats["rows"], "rows_ok": stats["rows"] - stats["rows_failed"], "rows_rejected": stats["rows_failed"],
        "segments": stats["segments"], "unique_segments_per_chunk": stats["unique_segments"],
        "cache_hits": stats["cache_hits"], "generated_segments": stats["generated_segments"],
        "retries": stats["retries"], "failed_segments": stats["failed_segments"],
        "failures_by_reason": dict(sorted(failures.items())), "generated_tokens": stats["generated_tokens"],
        "tokens_per_second": round(stats["generated_tokens"] / seconds, 1),
        "rows_per_second": round(stats["rows"] / seconds, 1),
    }

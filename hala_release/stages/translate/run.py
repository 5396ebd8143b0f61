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

from hala_release.artifacts.build import build_artifact, config_hash
from hala_release.executors.chunks import (SplitWriters, chunk_bounds, chunk_path, chunk_tables, chunks_finished,
                                           counter_delta, load_split, open_plan, release_pages, run_local, shard_todo,
                                           total_stats, write_chunk)
from hala_release.core.disk_space import SpaceNeed, check_room
from hala_release.core.errors import HalaError, UsageError
from hala_release.core.files import prepare_output
from hala_release.core.schemas import OK_COLUMN
from hala_release.stages.translate.config import TranslateConfig

log = logging.getLogger(__name__)


def run_translate(config: TranslateConfig) -> dict[str, Any]:
    """Translate what this process is responsible for; assemble the artifact when all chunks exist."""
    from hala_release.core.refs import resolve
    from hala_release.core.schemas import choose_schema

    start = time.perf_counter()
    config.validate_choices()
    output = prepare_output(config.output, config.overwrite)
    source = resolve(config.source, "dataset")
    model = _resolve_model(config)
    dataset = load_split(source, config.split, config.subset, config.limit)
    choose_schema(config.dataset_schema, dataset.column_names, config.fields)  # fail before any work folder exists
    plan = _plan(config, source, model, len(dataset), output)
    todo = shard_todo(plan, config.num_shards, config.shard_index)
    finished = chunks_finished(plan, config.num_shards)
    if finished:
        log.info("translate: resuming, %d of %d chunks already finished in %s", finished, plan["chunks"],
                 plan["work_dir"])
    if todo or config.num_shards == 1:
        try:
            check_room(space_need(config, plan, dataset, output))
        except HalaError:
            if not finished and config.num_shards == 1:  # nothing to resume (other shards may share the folder)
                shutil.rmtree(plan["work_dir"], ignore_errors=True)
            raise
    if todo:
        if config.executor == "ray":
            from hala_release.executors.ray_data import replica_resources, run_chunks_on_ray

            resources = replica_resources(config.engine, config.tensor_parallel_size, config.ray_gpus_per_worker,
                                          config.ray_cpus_per_worker)
            run_chunks_on_ray(ray_chunk_runner, config.model_dump(by_alias=True), plan, todo,
                              workers=config.ray_workers, address=config.ray_address, resources=resources)
        else:
            run_local(lambda: ChunkRunner(config, plan, dataset), plan, todo, workers=config.workers, desc="translate")
    done = chunks_finished(plan, config.num_shards)
    summary = {"rows": len(dataset), "chunks": plan["chunks"], "chunks_done": done,
               "chunks_this_run": len(todo), "seconds": round(time.perf_counter() - start, 2)}
    if done < plan["chunks"]:
        summary["status"] = "partial"
        return summary
    if config.num_shards > 1:
        summary["status"] = "shards-complete"  # gathering is a separate, single step
        return summary
    merge_cache(config, plan)
    summary.update(assemble(config, plan, source, model, output, started=start))
    summary["status"] = "complete"
    return summary


# Parquet (snappy, dictionary pages) stores translated text in about half its Arrow size (1.5x to 2x measured on
# the shipped samples with --engine echo); 4x is about the best it does on text.
PARQUET_LIKELY, PARQUET_BEST = 1.5, 4.0


def space_need(config: TranslateConfig, plan: dict[str, Any], dataset, output: Path) -> SpaceNeed:
    """What this run still writes beside the output: its unfinished chunks, then (a single job) the artifact, which
    holds every chunk's rows again while the chunks still exist.

    Finished chunks measure a row exactly; before any, a row is its Arrow size plus its text columns again, scaled
    by the UTF-8 width of the target script's letters, and compressed by a factor known only roughly."""
    from hala_release.core.languages import utf8_letter_bytes
    from hala_release.core.schemas import choose_schema

    done = [i for i in range(plan["chunks"]) if chunk_path(plan, i).exists()]  # sizes only: no need to check them
    rows_of = lambda chunks: sum(b - a for a, b in (chunk_bounds(plan, i) for i in chunks))  # noqa: E731
    todo = shard_todo(plan, config.num_shards, config.shard_index)
    rows = rows_of(todo) + (plan["rows"] if config.num_shards == 1 else 0)
    if done:
        per_row = sum(chunk_path(plan, i).stat().st_size for i in done) / max(1, rows_of(done))
        likely = int(per_row * rows)
        return SpaceNeed("translate", output.parent, likely, int(likely * 0.9),
                         remaining=lambda: space_need(config, plan, dataset, output).likely)
    table = dataset.data
    schema = choose_schema(config.dataset_schema, dataset.column_names, config.fields)
    text = sum(table.column(locator.column).nbytes for locator in schema.locators)
    widen = utf8_letter_bytes(config.target_lang) / utf8_letter_bytes(config.source_lang)
    arrow_row = (table.nbytes + text * widen) / max(1, table.num_rows)
    return SpaceNeed("translate", output.parent, int(arrow_row * rows / PARQUET_LIKELY),
                     int(arrow_row * rows / PARQUET_BEST),
                     remaining=lambda: space_need(config, plan, dataset, output).likely)


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
    from hala_release.artifacts.inputs import require_model, require_safetensors

    model = resolve(config.model, "model")
    require_model(model, "--model")  # a dataset folder passed as the model: one line, before any loading
    if config.engine == "transformers":
        require_safetensors(model.path, config.model)  # the engine loads safetensors only
    return model


def _plan(config: TranslateConfig, source, model, rows: int, output: Path) -> dict[str, Any]:
    """The chunk plan: what the chunks are made from, plus where this process finds the model."""
    model_pin = None if model is None else (model["pin"] if isinstance(model, dict) else model.pin)
    identity = {"config_hash": config_hash(config.result_config()), "source_pin": source.pin, "model_pin": model_pin}
    plan = open_plan(output, identity, rows, config.chunk_size)
    return {**plan, "model_path": str(model.path) if hasattr(model, "path") else None}


def ray_chunk_runner(settings: dict[str, Any], plan: dict[str, Any]) -> "ChunkRunner":
    """A ChunkRunner built inside a Ray actor: it resolves the inputs on its own node (a Hub ref downloads into
    that node's cache), so only the settings and the plan travel to it."""
    from hala_release.core.refs import resolve
    from hala_release.executors.ray_data import vllm_replica_options

    config = TranslateConfig.model_validate(settings)
    dataset = load_split(resolve(config.source, "dataset"), config.split, config.subset, config.limit)
    if config.engine in ("vllm", "transformers"):
        plan = {**plan, "model_path": str(resolve(config.model, "model").path)}
    return ChunkRunner(config, plan, dataset, vllm_options=vllm_replica_options())


class ChunkRunner:
    """Everything needed to translate chunks in one process: engine, template, cache, schema."""

    def __init__(self, config: TranslateConfig, plan: dict[str, Any], dataset, vllm_options: dict | None = None):
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
                             tensor_parallel_size=config.tensor_parallel_size, vllm_options=vllm_options)
        cache = None
        if config.cache and not engine.identity:
            cache = TranslationCache(config.cache_dir or default_cache_dir(), cache_context(config, plan))
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
        release_pages(self.dataset)  # the split's mapped pages would otherwise stay resident: RSS would grow with it
        return stats

    def close(self) -> None:
        self.engine.close()
        if self.translator.cache is not None:
            self.translator.cache.close()


def cache_context(config: TranslateConfig, plan: dict[str, Any]) -> dict[str, Any]:
    """What the translation cache key covers besides the segment: everything that decides the output."""
    from hala_release.core.prompts import load_template
    from hala_release.engines import Sampling

    sampling = Sampling(config.max_tokens, config.temperature, config.top_p, config.seed)
    return {"model": config.model, "model_pin": plan["model_pin"], "prompt": load_template(config.prompt_template).text,
            "sampling": sampling.record(), "source_lang": config.source_lang, "target_lang": config.target_lang}


def merge_cache(config: TranslateConfig, plan: dict[str, Any]) -> None:
    """Fold the run's per-writer cache files into the shared cache file, once every chunk is written."""
    from hala_release.engines.translation_cache import TranslationCache, default_cache_dir

    if config.cache:
        TranslationCache(config.cache_dir or default_cache_dir(), cache_context(config, plan)).merge()


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
        if stats["language_short"] or any(key.startswith("language_found_") for key in stats):
            from hala_release.engines import language_id

            draft.stats["language_identifier"] = language_id.record(config.gates.min_language_confidence,
                                                                    config.gates.language_min_letters)
        draft.timings["translate_chunks"] = round(stats["seconds"], 3)
    shutil.rmtree(plan["work_dir"], ignore_errors=True)
    return {"output": str(output), **_summary_stats(stats, failures)}


def _negate(mask):
    import pyarrow.compute as pc

    return pc.invert(mask)


def _summary_stats(stats: Counter, failures: Counter) -> dict[str, Any]:
    from hala_release.core.markup import KINDS

    seconds = stats["seconds"] or 1e-9
    return {
        "rows": stats["rows"], "rows_ok": stats["rows"] - stats["rows_failed"], "rows_rejected": stats["rows_failed"],
        "segments": stats["segments"], "unique_segments_per_chunk": stats["unique_segments"],
        "cache_hits": stats["cache_hits"], "generated_segments": stats["generated_segments"],
        "retries": stats["retries"], "failed_segments": stats["failed_segments"],
        "failures_by_reason": dict(sorted(failures.items())), "generated_tokens": stats["generated_tokens"],
        "structure": {kind: {"source": stats[f"structure_source_{kind}"], "kept": stats[f"structure_kept_{kind}"],
                             "in_rejected": stats[f"structure_rejected_{kind}"]} for kind in KINDS},
        "rows_structure_changed": stats["rows_structure_changed"],
        "rows_wrong_language": stats["rows_wrong_language"],
        "languages_found": {key.removeprefix("language_found_"): value for key, value in sorted(stats.items())
                            if key.startswith("language_found_")},
        "texts_too_short_for_language_id": stats["language_short"],
        "tokens_per_second": round(stats["generated_tokens"] / seconds, 1),
        "rows_per_second": round(stats["rows"] / seconds, 1),
    }

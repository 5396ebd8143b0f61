"""The judge stage: filter a parallel corpus with cheap filters, then an LLM judge's ACCEPT/REJECT probability.

The score of a pair is P(ACCEPT) / (P(ACCEPT) + P(REJECT)) for the judge's next token after the prompt, read
from the model's probabilities rather than parsed from text: deterministic, works with any chat model, and a
threshold users can tune. Scores do not depend on the threshold, so changing it reuses the scored chunks.

The cheap filters' duplicate verdicts need the whole corpus, so every cheap filter is run once per corpus, batch by
batch, under a file lock, into the work folder beside the plan (a reason code per pair), and every shard reads them.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import time
from array import array
from collections import Counter
from pathlib import Path
from typing import Any

from hala_release.artifacts.build import build_artifact, config_hash
from hala_release.artifacts.inputs import require_model
from hala_release.executors.chunks import (SplitWriters, chunk_bounds, chunk_tables, chunks_finished, load_split,
                                           open_plan, release_pages, run_local, shard_todo, total_stats, write_chunk)
from hala_release.engines import DEFAULT_BATCH_SIZE, make_engine
from hala_release.core.errors import HalaError, UsageError
from hala_release.core.files import prepare_output, read_checked, write_checked
from hala_release.stages.judge.config import JudgeConfig
from hala_release.stages.judge.filters import FILTERS, RULES, corpus_reasons, count_reasons, reasons_of

log = logging.getLogger(__name__)
REASON_COLUMN, SCORE_COLUMN = "filter_reason", "judge_score"
REASONS_FILE = "cheap_filters.parquet"
BATCH_ROWS = 65_536  # rows per step of the cheap filters' pass


def pair_columns(dataset, config: JudgeConfig):
    """The two language sides as Arrow arrays (zero-copy views of the memory-mapped split), with an error naming
    the columns when they are not there."""
    import pyarrow.compute as pc

    table = dataset.with_format("arrow")[:]
    columns = table.column_names
    if config.source_field or config.target_field:
        missing = [f for f in (config.source_field, config.target_field) if f not in columns]
        if missing or not (config.source_field and config.target_field):
            raise UsageError(f"--source-field and --target-field must both name columns; found {', '.join(columns)}")
        return table.column(config.source_field), table.column(config.target_field)
    field = table.schema.field("translation") if "translation" in columns else None
    langs = [f.name for f in field.type] if field is not None and hasattr(field.type, "num_fields") else []
    if config.source_lang not in langs or config.target_lang not in langs:
        raise UsageError(
            f"the dataset has no 'translation' column with '{config.source_lang}' and '{config.target_lang}' keys "
            f"(columns: {', '.join(columns)}{'; translation keys: ' + ', '.join(langs) if langs else ''}): pass "
            f"--source-field and --target-field, or the right --source-lang/--target-lang")
    translation = table.column("translation")
    return pc.struct_field(translation, config.source_lang), pc.struct_field(translation, config.target_lang)


class JudgeRunner:
    """One judge engine scoring the pairs of chunks that passed the cheap filters."""

    def __init__(self, config: JudgeConfig, plan: dict[str, Any], dataset, source, target, reasons,
                 vllm_options: dict | None = None):
        from hala_release.core.prompts import load_template

        self.config, self.plan, self.dataset = config, plan, dataset
        self.source, self.target, self.reasons = source, target, reasons
        self.template = load_template(config.prompt_template, "{source},{target}")
        self.engine = make_engine(config.engine, plan["model_path"], trust_remote_code=config.trust_remote_code,
                                  dtype=config.dtype, tensor_parallel_size=config.tensor_parallel_size,
                                  vllm_options={"logprobs_mode": "processed_logprobs", **(vllm_options or {})})
        if not hasattr(self.engine, "next_token_probs"):
            raise UsageError(f"the {config.engine} engine cannot read token probabilities: use transformers or vllm")
        self.token_ids = verdict_token_ids(self.engine.tokenizer, config.verdicts, config.judge)

    def run(self, index: int) -> dict[str, Any]:
        import pyarrow as pa

        start, stop = chunk_bounds(self.plan, index)
        began = time.perf_counter()
        source, target = self.source.slice(start, stop - start), self.target.slice(start, stop - start)
        reasons = reasons_of(self.reasons[start:stop])
        sources, targets = source.to_pylist(), target.to_pylist()
        # Pairs that passed the cheap filters, longest first: batches of similar length pad less.
        todo = sorted((i for i, reason in enumerate(reasons.to_pylist()) if reason is None),
                      key=lambda i: -(len(sources[i] or "") + len(targets[i] or "")))
        scores: list[float | None] = [None] * (stop - start)
        size = self.config.batch_size or DEFAULT_BATCH_SIZE[self.config.engine]
        for offset in range(0, len(todo), size):
            batch = todo[offset:offset + size]
            requests = [self._request(sources[i], targets[i]) for i in batch]
            for i, probs in zip(batch, self.engine.next_token_probs(requests, self.token_ids)):
                scores[i] = round(probs[0], 6)
        table = self.dataset.with_format("arrow")[start:stop]
        table = table.append_column(REASON_COLUMN, reasons).append_column(SCORE_COLUMN, pa.array(scores, pa.float64()))
        stats = {"rows": stop - start, "judged": len(todo), "seconds": round(time.perf_counter() - began, 3)}
        write_chunk(self.plan, index, table, stats)
        release_pages(self.dataset)  # the split's mapped pages would otherwise stay resident: RSS would grow with it
        return stats

    def _request(self, source: str, target: str):
        from hala_release.engines import Request

        from hala_release.core.languages import display_name

        messages = self.template.messages("", self.config.source_lang, self.config.target_lang,
                                          source=source or "", target=target or "",
                                          source_name=display_name(self.config.source_lang),
                                          target_name=display_name(self.config.target_lang))
        return Request(messages)

    def close(self) -> None:
        self.engine.close()


def ray_judge_runner(settings: dict[str, Any], plan: dict[str, Any]) -> JudgeRunner:
    """A JudgeRunner built inside a Ray actor: it resolves the inputs on its own node and reads the cheap
    filters' verdicts the driver computed before the actors started."""
    from hala_release.core.refs import resolve
    from hala_release.executors.ray_data import vllm_replica_options

    config = JudgeConfig.model_validate(settings)
    dataset = load_split(resolve(config.source, "dataset"), config.split, config.subset, config.limit)
    source, target = pair_columns(dataset, config)
    plan = {**plan, "model_path": str(resolve(config.judge, "model").path)}
    return JudgeRunner(config, plan, dataset, source, target, shared_reasons(plan, config, dataset, source, target),
                       vllm_options=vllm_replica_options())


def verdict_token_ids(tokenizer, verdicts: tuple[str, str], judge: str) -> list[int]:
    """First token of each verdict word; they must exist and differ, or the score would be meaningless."""
    ids = []
    for verdict in verdicts:
        tokens = tokenizer.encode(verdict, add_special_tokens=False)
        if not tokens or (tokenizer.unk_token_id is not None and tokens[0] == tokenizer.unk_token_id):
            raise HalaError(f"the judge model {judge} has no token for the verdict {verdict!r}: choose verdict words "
                            f"its tokenizer knows (--verdicts YES,NO) or another judge model")
        ids.append(tokens[0])
    if len(set(ids)) < len(ids):
        shown = tokenizer.convert_ids_to_tokens(ids)
        raise HalaError(f"the verdicts {' and '.join(verdicts)} start with the same token ({shown[0]!r}) for {judge}: "
                        f"choose verdict words that start differently (e.g. --verdicts YES,NO)")
    return ids


def shared_reasons(plan: dict[str, Any], config: JudgeConfig, dataset, source, target):
    """Every pair's cheap-filter reason code (`filters.REASONS`), computed by the first job that needs them and read
    by every other one.

    The file records the plan it was made for, so a work folder reused under another plan recomputes it.
    """
    import pyarrow.parquet as pq

    work = Path(plan["work_dir"])
    path, stamp = work / REASONS_FILE, _plan_stamp(plan)
    found = _read_reasons(pq, path, stamp)
    if found is not None:
        return found
    with open(work / "cheap_filters.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # concurrent shards wait here for the one that computes
        found = _read_reasons(pq, path, stamp)
        if found is None:
            languages: Counter = Counter()
            found = corpus_reasons(_batches(dataset, source, target), config.source_lang, config.target_lang,
                                   config.filters, work, languages, _filter_workers(config, len(source)))
            _write_reasons(pq, path, stamp, found, languages)
    return found


def _filter_workers(config: JudgeConfig, pairs: int) -> int:
    if config.filter_workers is not None:
        return config.filter_workers
    return min(len(os.sched_getaffinity(0)), 8) if pairs > BATCH_ROWS else 1


def languages_found(plan: dict[str, Any]) -> dict[str, int]:
    """The languages the cheap filters identified, per side ("source:en": n), as recorded with the reason codes."""
    import pyarrow.parquet as pq

    import pyarrow as pa

    data = read_checked(Path(plan["work_dir"]) / REASONS_FILE)
    if data is None:
        return {}
    metadata = pq.read_schema(pa.BufferReader(data)).metadata or {}
    return json.loads(metadata.get(b"hala_languages", b"{}").decode())


def _batches(dataset, source, target):
    """The two sides in row order, BATCH_ROWS at a time, giving back the mapped pages of each batch once used."""
    for start in range(0, len(source), BATCH_ROWS):
        yield source.slice(start, BATCH_ROWS), target.slice(start, BATCH_ROWS)
        release_pages(dataset)


def _plan_stamp(plan: dict[str, Any]) -> str:
    fixed = {k: v for k, v in plan.items() if k not in ("work_dir", "model_path")}
    return hashlib.sha256(json.dumps(fixed, sort_keys=True).encode()).hexdigest()


def _read_reasons(pq, path: Path, stamp: str):
    """The stored reason codes, if they were made for this plan and their file is intact (a damaged one is
    removed with a warning, and the pass runs again)."""
    import pyarrow as pa

    data = read_checked(path)
    if data is None:
        return None
    table = pq.read_table(pa.BufferReader(data))
    if (table.schema.metadata or {}).get(b"hala_plan", b"").decode() != stamp:
        return None
    return table.column("code").to_numpy()


def _write_reasons(pq, path: Path, stamp: str, codes, languages: Counter) -> None:
    import pyarrow as pa

    table = pa.table({"code": pa.array(codes, pa.int8())})
    sink = pa.BufferOutputStream()
    metadata = {"hala_plan": stamp, "hala_languages": json.dumps(dict(sorted(languages.items())))}
    pq.write_table(table.replace_schema_metadata(metadata), sink)
    write_checked(path, sink.getvalue().to_pybytes())


def run_judge(config: JudgeConfig) -> dict[str, Any]:
    """Filter, score what this process is responsible for, and build the artifact when every chunk exists."""
    from hala_release.core.refs import resolve

    started = time.perf_counter()
    if config.engine not in ("vllm", "transformers"):
        raise UsageError(f"the judge reads token probabilities: --engine vllm or transformers, not {config.engine!r}")
    if not 0.0 <= config.threshold <= 1.0:
        raise UsageError(f"--threshold is a probability: give a value from 0 to 1, not {config.threshold}")
    if len(config.verdicts) != 2:
        raise UsageError("--verdicts takes exactly two words, the accepting one first (e.g. ACCEPT,REJECT)")
    if not 0 <= config.shard_index < config.num_shards:
        raise UsageError(f"--shard-index must be in 0..{config.num_shards - 1} for --num-shards {config.num_shards}")
    output = prepare_output(config.output, config.overwrite)
    source_ref = resolve(config.source, "dataset")
    judge_ref = resolve(config.judge, "model")
    require_model(judge_ref, "--judge")
    dataset = load_split(source_ref, config.split, config.subset, config.limit)
    source, target = pair_columns(dataset, config)
    identity = {"config_hash": config_hash(config.result_config()), "source_pin": source_ref.pin,
                "judge_pin": judge_ref.pin, "filter_rules": RULES}
    plan = {**open_plan(output, identity, len(dataset), config.chunk_size), "model_path": str(judge_ref.path)}
    todo = shard_todo(plan, config.num_shards, config.shard_index)
    filter_seconds = 0.0
    if todo:
        began = time.perf_counter()
        reasons = shared_reasons(plan, config, dataset, source, target)
        filter_seconds = time.perf_counter() - began
        if config.executor == "ray":
            from hala_release.executors.ray_data import replica_resources, run_chunks_on_ray

            resources = replica_resources(config.engine, config.tensor_parallel_size, config.ray_gpus_per_worker,
                                          config.ray_cpus_per_worker)
            run_chunks_on_ray(ray_judge_runner, config.model_dump(), plan, todo, workers=config.ray_workers,
                              address=config.ray_address, resources=resources)
        else:
            run_local(lambda: JudgeRunner(config, plan, dataset, source, target, reasons), plan, todo,
                      workers=config.workers, desc="judge")
    done = chunks_finished(plan, config.num_shards)
    summary = {"rows": len(dataset), "chunks": plan["chunks"], "chunks_done": done, "chunks_this_run": len(todo),
               "cheap_filter_seconds": round(filter_seconds, 2)}
    if done < plan["chunks"] or config.num_shards > 1:
        return {**summary, "status": "partial" if done < plan["chunks"] else "shards-complete"}
    if not todo:  # a gather: the card's language counts come from the pass's file, made again if it was damaged
        shared_reasons(plan, config, dataset, source, target)
    return {**summary, **assemble(config, plan, source_ref, judge_ref, output, started),
            "status": "complete"}


def assemble(config: JudgeConfig, plan, source_ref, judge_ref, output: Path,
             started: float | None = None) -> dict[str, Any]:
    """Kept pairs to `train`, the rest to `rejected` with reason and score; histogram and card."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from hala_release.stages.judge.card import judge_card, score_histogram

    stats, _ = total_stats(plan)
    # 8 bytes a judged pair, not a Python float each (32): the card's mean and histogram need every score.
    kept_total, scores, filter_counts = 0, array("d"), Counter()
    for table in chunk_tables(plan):
        filter_counts.update(count_reasons(table.column(REASON_COLUMN)))
        judged = table.column(SCORE_COLUMN)
        scores.frombytes(judged.drop_null().to_numpy().astype("float64").tobytes())
        kept_total += pc.sum(pc.fill_null(pc.greater_equal(judged, config.threshold), False)).as_py() or 0
    below = len(scores) - kept_total
    if kept_total == 0:
        best = f"{max(scores):.3f}" if scores else "none"
        raise HalaError(
            f"no pair was kept: {sum(filter_counts.values())} failed the cheap filters and {below} scored below "
            f"--threshold {config.threshold} (highest score {best}). Lower --threshold and rerun: the scores are kept "
            f"in {plan['work_dir']}")
    splits = {"train": kept_total, "rejected": stats["rows"] - kept_total}
    counts = {**{name: filter_counts.get(name, 0) for name in FILTERS}, "judge": below, "kept": kept_total}
    card = judge_card(config, source_ref, judge_ref, counts, scores, languages_found(plan))
    with build_artifact(output, stage="judge", config=config.model_dump(), card=card,
                        inputs={"source": source_ref, "judge": judge_ref}, overwrite=config.overwrite,
                        started=started) as draft:
        writers = SplitWriters(draft.path / "data", splits)
        for table in chunk_tables(plan):
            keep = pc.fill_null(pc.greater_equal(table.column(SCORE_COLUMN), config.threshold), False)
            reasons = pc.if_else(keep, pa.scalar(None, pa.string()),
                                 pc.fill_null(table.column(REASON_COLUMN), "judge"))
            # Both splits share one schema (`datasets` and the Hub viewer need that within a config).
            table = table.drop_columns([REASON_COLUMN]).append_column("reject_reason", reasons)
            writers.write("train", table.filter(keep))
            writers.write("rejected", table.filter(pc.invert(keep)))
        writers.close()
        draft.card.splits = {name: rows for name, rows in splits.items() if rows}
        draft.card.sample_records = writers.samples
        score_histogram(scores, config.threshold, draft.path / "judge_scores.png")
        draft.stats.update(counts=counts, judged=len(scores), pairs_per_second=round(
            len(scores) / max(stats["seconds"], 1e-9), 1))
        if config.filters.language_id:
            from hala_release.engines import language_id

            draft.stats["language_identifier"] = language_id.record(config.filters.min_language_confidence,
                                                                    config.filters.language_min_letters)
        draft.timings["judge_chunks"] = round(stats["seconds"], 3)
    shutil.rmtree(plan["work_dir"], ignore_errors=True)
    return {"output": str(output), "counts": counts, "judged": len(scores)}

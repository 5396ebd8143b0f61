"""Translate-stage benchmark: prints figures, asserts nothing. Run with the project's environment:

    .venv/bin/python benchmarks/translate.py [--rows 200000] [--engine-rows 48] [--model PATH] [--skip-vllm]
        [--hidden-size N --layers N] [--workers 1,2] [--overhead-engines echo,dry-run]

(a) our transformers engine (batched, length-sorted, dedup on/off) vs a naive per-text `model.generate` loop, both
    on the same loaded model (so the same device and dtype), the naive loop after one untimed warm-up call; both
    times exclude loading the model;
(b) our vLLM engine vs our transformers engine;
(c) toolkit overhead: the whole `translate` command with the echo engine, which answers at once but takes the
    normal path (prompts, dedup, translation cache on, batches, quality gates, retries): rows/s and peak RSS of
    the process. `--overhead-engines echo,dry-run` adds the dry-run engine as a floor (it skips all of that).
All rows are Open-Orca-shaped and distinct (see `unique_rows`); a tiny model is built on the spot unless --model
is given. No quality gates in (a)/(b): a random tiny model fails them all and retries would blur the comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def unique_rows(count: int, seed: int = 0) -> list[dict]:
    """Open-Orca-shaped rows, no two alike: each is a random sample row whose every translatable line of question
    and response starts with the row's own number (code and markup stay as they are). System prompts repeat, as the
    few fixed ones of Open-Orca do, so dedup and cache gain what they would on the real data and no more."""
    from hala_release.stages.sample_data.run import read_sample

    sample = read_sample("openorca")
    rng = random.Random(seed)
    rows = []
    for index in range(count):
        base = sample[rng.randrange(len(sample))]
        rows.append({"id": f"bench.{index}", "system_prompt": base["system_prompt"],
                     "question": _numbered(base["question"], index), "response": _numbered(base["response"], index)})
    return rows


def _numbered(text: str, index: int) -> str:
    """`text` with "index.n " before its n-th segment: each line unlike any line of another row. In front, so
    that prompts share no more than the template's prefix (vLLM's prefix cache would reuse the rest)."""
    from hala_release.core.segment import join, split_segments

    pieces, segments = split_segments(text)
    return join(pieces, {s.text: f"{index}.{n} {s.text}" for n, s in enumerate(segments)})


def write_dataset(rows: list[dict], folder: Path) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    (folder / "data").mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), folder / "data" / "train-00000-of-00001.parquet")
    return folder


def overhead(rows: int, work: Path, workers: int, engine: str) -> dict:
    """(c): the whole `translate` command, in a child process so RSS is its own, with a fresh translation cache."""
    from hala_release.core.provenance import read_provenance

    source = work / f"orca-{rows}"
    if not source.exists():
        write_dataset(unique_rows(rows), source)
    output = work / f"{engine}-{rows}-{workers}"
    arguments = ["translate", str(source), "--engine", engine, "--output", str(output), "--chunk-size", "5000",
                 "--overwrite", "--workers", str(workers), "--cache-dir", str(work / f"cache-{engine}-{workers}")]
    # The child writes its own /proc status at exit: VmHWM is the peak resident set of its address space.
    # (rusage's ru_maxrss would count the memory of this benchmark process, which the child starts as a copy of.)
    status_file = work / f"status-{engine}-{workers}.txt"
    launcher = ("import atexit, runpy, sys; "
                f"atexit.register(lambda: open({str(status_file)!r}, 'w').write(open('/proc/self/status').read())); "
                "sys.argv = ['hala-release'] + sys.argv[1:]; runpy.run_module('hala_release.cli', run_name='__main__')")
    began = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", launcher, *arguments], capture_output=True, text=True,
                            env={**os.environ, "HF_HUB_OFFLINE": "1"})
    seconds = time.perf_counter() - began
    if result.returncode:
        raise SystemExit(result.stderr[-3000:])
    status = {line.split(":")[0]: int(line.split()[1]) for line in status_file.read_text().splitlines()
              if line.startswith(("VmHWM", "RssAnon", "RssFile"))}
    stats = read_provenance(output).stats
    return {"engine": engine, "rows": rows, "workers": workers, "seconds": round(seconds, 2),
            "rows_per_second": round(rows / seconds),
            "peak_rss_mb_main_process": round(status["VmHWM"] / 1024),
            # At exit: memory the process owns vs. pages of memory-mapped files (the Arrow cache), which the kernel
            # can drop at any time and which grow with the dataset read.
            "rss_anon_mb_at_exit": round(status["RssAnon"] / 1024), "rss_file_mb_at_exit": round(status["RssFile"] / 1024),
            # What the run went through. Every generated segment is checked by the gates: dry-run generates none.
            "path": {key: stats[key] for key in ("segments", "unique_segments_per_chunk", "cache_hits",
                                                 "generated_segments", "retries", "failed_segments", "rows_rejected")}}


def naive_loop(model_path: Path, rows: list[dict], max_tokens: int) -> dict:
    """What a one-off script does: one `generate` per text, no batching, no dedup. It runs on our transformers
    engine's own loaded model and tokenizer, so device and dtype are those of the engine it is compared with."""
    import torch

    from hala_release.engines import make_engine
    from hala_release.core.prompts import load_template

    engine = make_engine("transformers", model_path)
    model, tokenizer, device = engine.model, engine.tokenizer, engine.device
    template = load_template("hala-teacher")
    texts = [row[field] for row in rows for field in ("system_prompt", "question", "response") if row[field]]

    def generate(text: str) -> None:
        inputs = tokenizer.apply_chat_template(template.messages(text, "en", "ar"), add_generation_prompt=True,
                                               return_tensors="pt", return_dict=True).to(device)
        with torch.inference_mode():
            model.generate(**inputs, max_new_tokens=max_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id)

    generate(texts[0])  # untimed warm-up: first-call allocations and kernel loading are not the loop's cost
    began = time.perf_counter()
    for text in texts:
        generate(text)
    seconds = time.perf_counter() - began
    engine.close()
    return {"seconds": round(seconds, 2), "rows_per_second": round(len(rows) / seconds, 2), "texts": len(texts),
            "device": str(device)}


def ours(engine: str, model_path: Path, rows: list[dict], work: Path, max_tokens: int, dedup: bool, tag: str) -> dict:
    """Our engine through `run_translate`: "seconds" is the chunks' time (the engine loaded, as for the naive
    loop), "wall_seconds" adds engine start-up, reading and writing."""
    from hala_release.core.provenance import read_provenance
    from hala_release.engines.quality import GateConfig
    from hala_release.stages.translate.run import TranslateConfig, run_translate

    source = write_dataset(rows, work / f"engine-src-{len(rows)}")
    output = work / f"out-{tag}"
    config = TranslateConfig(source=str(source), output=str(output), model=str(model_path),
                             engine=engine, max_tokens=max_tokens, batch_size=64, chunk_size=len(rows), dedup=dedup,
                             cache=False, max_retries=0, gates=GateConfig(enabled=False), overwrite=True)
    began = time.perf_counter()
    summary = run_translate(config)
    wall = time.perf_counter() - began
    seconds = read_provenance(output).timings["translate_chunks"]
    return {"seconds": round(seconds, 2), "wall_seconds": round(wall, 2),
            "rows_per_second": round(len(rows) / seconds, 2), "segments": summary["segments"],
            "generated_segments": summary["generated_segments"], "tokens_per_second": summary["tokens_per_second"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_000, help="rows for the overhead run (c)")
    parser.add_argument("--engine-rows", type=int, default=48, help="rows for the engine comparisons (a), (b)")
    parser.add_argument("--max-tokens", type=int, default=24)
    parser.add_argument("--model", type=Path, help="model folder (default: a tiny LFM2 built on the spot)")
    parser.add_argument("--hidden-size", type=int, help="size of the tiny LFM2 built on the spot (default: tiny's)")
    parser.add_argument("--layers", type=int, help="layers of the tiny LFM2 built on the spot (default: tiny's)")
    parser.add_argument("--workers", default="1,2", help="worker counts for the overhead run (c), comma-separated")
    parser.add_argument("--overhead-engines", default="echo",
                        help="engines for (c), comma-separated: echo (the whole path), dry-run (the floor)")
    parser.add_argument("--skip-engines", action="store_true", help="only run (c)")
    parser.add_argument("--skip-vllm", action="store_true", help="skip (b)")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    with tempfile.TemporaryDirectory(prefix="hala-bench-") as tmp:
        work = Path(tmp)
        figures: dict = {}
        if not args.skip_engines:
            from hala_release.stages.tiny_model.run import build_tiny_model

            size = {key: value for key, value in (("hidden_size", args.hidden_size), ("layers", args.layers))
                    if value}
            if args.hidden_size:
                size["heads"] = max(1, args.hidden_size // 64)
            model = args.model or build_tiny_model(work / "tiny-lfm2", arch="lfm2", **size)
            rows = unique_rows(args.engine_rows)
            figures["naive_loop"] = naive_loop(model, rows, args.max_tokens)
            figures["transformers_no_dedup"] = ours("transformers", model, rows, work, args.max_tokens, False, "tf-nodedup")
            figures["transformers_dedup"] = ours("transformers", model, rows, work, args.max_tokens, True, "tf-dedup")
            base = figures["naive_loop"]["seconds"]
            figures["a_speedup_no_dedup"] = round(base / figures["transformers_no_dedup"]["seconds"], 2)
            figures["a_speedup_dedup"] = round(base / figures["transformers_dedup"]["seconds"], 2)
            if not args.skip_vllm:
                figures["vllm_no_dedup"] = ours("vllm", model, rows, work, args.max_tokens, False, "vllm")
                tf, vllm = figures["transformers_no_dedup"], figures["vllm_no_dedup"]
                figures["b_vllm_over_transformers"] = round(tf["wall_seconds"] / vllm["wall_seconds"], 2)
                figures["b_vllm_over_transformers_without_startup"] = round(tf["seconds"] / vllm["seconds"], 2)
        figures["c_overhead"] = [overhead(args.rows, work, int(workers), engine)
                                 for engine in args.overhead_engines.split(",") for workers in args.workers.split(",")]
        print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()

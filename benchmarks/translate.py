"""Translate-stage benchmark: prints figures, asserts nothing. Run with the project's environment:

    .venv/bin/python benchmarks/translate.py [--rows 200000] [--engine-rows 48] [--model PATH] [--skip-vllm]
        [--hidden-size N --layers N] [--workers 1,2]

(a) our transformers engine (batched, length-sorted, dedup on/off) vs a naive per-row `model.generate` loop;
(b) our vLLM engine vs our transformers engine;
(c) toolkit overhead with the dry-run engine on Open-Orca-shaped rows: rows/s and peak RSS of the process.
All on the same tiny model and shipped sample data unless --model is given. No quality gates in (a)/(b): a
random tiny model fails them all and retries would blur the comparison.
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


def openorca_rows(count: int, seed: int = 0) -> list[dict]:
    """Rows shaped like Open-Orca: the samples' system prompts repeat; questions and responses are made unique."""
    from hala_release.sample_data import read_sample

    sample = read_sample("openorca")
    rng = random.Random(seed)
    rows = []
    for index in range(count):
        base = sample[rng.randrange(len(sample))]
        rows.append({"id": f"bench.{index}", "system_prompt": base["system_prompt"],
                     "question": f"{base['question']} (case {index})",
                     "response": f"{base['response']}\n\nReference {index}: see item {rng.randrange(10**6)}."})
    return rows


def write_dataset(rows: list[dict], folder: Path) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    (folder / "data").mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), folder / "data" / "train-00000-of-00001.parquet")
    return folder


def overhead(rows: int, work: Path, workers: int) -> dict:
    """(c): the whole `translate` command with the dry-run engine, in a child process so RSS is its own."""
    source = work / f"orca-{rows}"
    if not source.exists():
        write_dataset(openorca_rows(rows), source)
    command = [sys.executable, "-m", "hala_release.cli", "translate", str(source), "--engine", "dry-run",
               "--output", str(work / f"dry-{rows}"), "--chunk-size", "5000", "--overwrite", "--workers", str(workers)]
    # The child writes its own /proc status at exit: VmHWM is the peak resident set of its address space.
    # (rusage's ru_maxrss would count the memory of this benchmark process, which the child starts as a copy of.)
    status_file = work / f"status-{workers}.txt"
    launcher = ("import atexit, runpy, sys; "
                f"atexit.register(lambda: open({str(status_file)!r}, 'w').write(open('/proc/self/status').read())); "
                "sys.argv = ['hala-release'] + sys.argv[1:]; runpy.run_module('hala_release.cli', run_name='__main__')")
    command = [sys.executable, "-c", launcher, *command[3:]]
    began = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    seconds = time.perf_counter() - began
    if result.returncode:
        raise SystemExit(result.stderr[-3000:])
    status = {line.split(":")[0]: int(line.split()[1]) for line in status_file.read_text().splitlines()
              if line.startswith(("VmHWM", "RssAnon", "RssFile"))}
    return {"rows": rows, "workers": workers, "seconds": round(seconds, 2), "rows_per_second": round(rows / seconds),
            "peak_rss_mb_main_process": round(status["VmHWM"] / 1024),
            # At exit: memory the process owns vs. pages of memory-mapped files (the Arrow cache), which the kernel
            # can drop at any time and which grow with the dataset read.
            "rss_anon_mb_at_exit": round(status["RssAnon"] / 1024), "rss_file_mb_at_exit": round(status["RssFile"] / 1024)}


def engine_rows(count: int) -> list[dict]:
    from hala_release.sample_data import read_sample

    sample = read_sample("openorca")
    return [sample[i % len(sample)] for i in range(count)]


def naive_loop(model_path: Path, rows: list[dict], max_tokens: int) -> dict:
    """What a one-off script does: one `generate` per text, no batching, no dedup."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from hala_release.prompts import load_template

    device = "cuda" if torch.cuda.is_available() else "cpu"  # the same device our engine picks
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype="auto").to(device).eval()
    template = load_template("hala-teacher")
    began = time.perf_counter()
    texts = 0
    for row in rows:
        for field in ("system_prompt", "question", "response"):
            if not row[field]:
                continue
            messages = template.messages(row[field], "en", "ar")
            inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt",
                                                   return_dict=True).to(device)
            with torch.inference_mode():
                model.generate(**inputs, max_new_tokens=max_tokens, do_sample=False,
                               pad_token_id=tokenizer.pad_token_id)
            texts += 1
    seconds = time.perf_counter() - began
    return {"seconds": round(seconds, 2), "rows_per_second": round(len(rows) / seconds, 2), "texts": texts}


def engine_startup(engine: str, model_path: Path) -> float:
    """Seconds to build the engine alone (vLLM's start-up dominates tiny runs on CPU)."""
    from hala_release.engines import make_engine

    began = time.perf_counter()
    make_engine(engine, model_path).close()
    return round(time.perf_counter() - began, 2)


def ours(engine: str, model_path: Path, rows: list[dict], work: Path, max_tokens: int, dedup: bool, tag: str) -> dict:
    from hala_release.quality import GateConfig
    from hala_release.translate import TranslateConfig, run_translate

    source = write_dataset(rows, work / f"engine-src-{len(rows)}")
    config = TranslateConfig(source=str(source), output=str(work / f"out-{tag}"), model=str(model_path),
                             engine=engine, max_tokens=max_tokens, batch_size=64, chunk_size=len(rows), dedup=dedup,
                             cache=False, max_retries=0, gates=GateConfig(enabled=False), overwrite=True)
    began = time.perf_counter()
    summary = run_translate(config)
    seconds = time.perf_counter() - began
    return {"seconds": round(seconds, 2), "rows_per_second": round(len(rows) / seconds, 2),
            "generated_segments": summary["generated_segments"], "tokens_per_second": summary["tokens_per_second"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_000, help="rows for the dry-run overhead run (c)")
    parser.add_argument("--engine-rows", type=int, default=48, help="rows for the engine comparisons (a), (b)")
    parser.add_argument("--max-tokens", type=int, default=24)
    parser.add_argument("--model", type=Path, help="model folder (default: a tiny LFM2 built on the spot)")
    parser.add_argument("--hidden-size", type=int, help="size of the tiny LFM2 built on the spot (default: tiny's)")
    parser.add_argument("--layers", type=int, help="layers of the tiny LFM2 built on the spot (default: tiny's)")
    parser.add_argument("--workers", default="1,2", help="worker counts for the overhead run (c), comma-separated")
    parser.add_argument("--skip-engines", action="store_true", help="only run (c)")
    parser.add_argument("--skip-vllm", action="store_true", help="skip (b)")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    with tempfile.TemporaryDirectory(prefix="hala-bench-") as tmp:
        work = Path(tmp)
        figures: dict = {}
        if not args.skip_engines:
            from hala_release.tiny import build_tiny_model

            size = {key: value for key, value in (("hidden_size", args.hidden_size), ("layers", args.layers))
                    if value}
            if args.hidden_size:
                size["heads"] = max(1, args.hidden_size // 64)
            model = args.model or build_tiny_model(work / "tiny-lfm2", arch="lfm2", **size)
            rows = engine_rows(args.engine_rows)
            figures["naive_loop"] = naive_loop(model, rows, args.max_tokens)
            figures["transformers_no_dedup"] = ours("transformers", model, rows, work, args.max_tokens, False, "tf-nodedup")
            figures["transformers_dedup"] = ours("transformers", model, rows, work, args.max_tokens, True, "tf-dedup")
            base = figures["naive_loop"]["seconds"]
            figures["a_speedup_no_dedup"] = round(base / figures["transformers_no_dedup"]["seconds"], 2)
            figures["a_speedup_dedup"] = round(base / figures["transformers_dedup"]["seconds"], 2)
            if not args.skip_vllm:
                figures["vllm_no_dedup"] = ours("vllm", model, rows, work, args.max_tokens, False, "vllm")
                startup = {name: engine_startup(name, model) for name in ("transformers", "vllm")}
                figures["engine_startup_seconds"] = startup
                figures["b_vllm_over_transformers"] = round(
                    figures["transformers_no_dedup"]["seconds"] / figures["vllm_no_dedup"]["seconds"], 2)
                figures["b_vllm_over_transformers_without_startup"] = round(
                    (figures["transformers_no_dedup"]["seconds"] - startup["transformers"])
                    / (figures["vllm_no_dedup"]["seconds"] - startup["vllm"]), 2)
        figures["c_dry_run_overhead"] = [overhead(args.rows, work, int(workers))
                                         for workers in args.workers.split(",")]
        print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()

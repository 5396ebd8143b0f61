"""Judge-stage benchmark: prints figures, asserts nothing. Run with the project's environment:

    .venv/bin/python benchmarks/judge.py [--pairs 256] [--filter-pairs 1000000] [--model PATH] [--skip-vllm]

(a) our batched judge (vLLM and transformers engines, length-sorted batches through `next_token_probs`) vs two naive
    per-pair loops on the same tiny model and pairs: the usual judge script (generate a few tokens, parse the
    verdict from the text) and the strongest naive baseline (one unbatched forward pass, read the two logits).
    The naive loops run on our transformers engine's own loaded model (same device and dtype) after two untimed
    warm-up pairs; our engines get an untimed warm-up batch too;
(b) the cheap filters' pairs/s and peak RSS on synthetic pairs built from the shipped OPUS-100 sample, through
    the stage's own once-per-corpus pass (`--filters-only` for this part alone).
Pairs are numbered at the front, so no two prompts share more than the template's own prefix (a number at the end
would let vLLM's prefix cache reuse the work of the sample row the pair was built from).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path


def sample_pairs(count: int) -> list[tuple[str, str]]:
    from hala_release.stages.sample_data.run import read_sample

    rows = [r["translation"] for r in read_sample("opus100-ar-en")]
    return [(f"{i}. " + rows[i % len(rows)]["en"], f"{i}. " + rows[i % len(rows)]["ar"]) for i in range(count)]


def naive(model_path: Path, pairs: list[tuple[str, str]], token_ids: list[int], generate: bool) -> float:
    """One pair at a time: `generate` a short verdict and parse it, or (generate=False) one forward pass; on our
    transformers engine's loaded model and tokenizer, so on the device and in the dtype of the engines compared."""
    import torch

    from hala_release.engines import make_engine
    from hala_release.core.prompts import load_template

    engine = make_engine("transformers", model_path)
    model, tokenizer, device = engine.model, engine.tokenizer, engine.device
    template = load_template("hala-judge", "{source},{target}")
    began = None
    for index, (en, ar) in enumerate(pairs):
        if index == 2:  # the first two calls warm up
            began = time.perf_counter()
        messages = template.messages("", "en", "ar", source=en, target=ar)
        inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt",
                                               return_dict=True).to(device)
        with torch.inference_mode():
            if generate:
                out = model.generate(**inputs, max_new_tokens=4, do_sample=False, pad_token_id=tokenizer.pad_token_id)
                "ACCEPT" in tokenizer.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
            else:
                torch.softmax(model(**inputs).logits[0, -1, token_ids], dim=-1)
    seconds = (time.perf_counter() - began) * len(pairs) / (len(pairs) - 2)
    engine.close()
    return seconds


def batched(engine_name: str, model_path: Path, pairs: list[tuple[str, str]]) -> tuple[float, list[int]]:
    from hala_release.engines import DEFAULT_BATCH_SIZE, Request, make_engine
    from hala_release.stages.judge.run import verdict_token_ids
    from hala_release.core.prompts import load_template

    options = {"logprobs_mode": "processed_logprobs"} if engine_name == "vllm" else {}
    engine = make_engine(engine_name, model_path, vllm_options=options)
    batch_size = DEFAULT_BATCH_SIZE[engine_name]
    ids = verdict_token_ids(engine.tokenizer, ("ACCEPT", "REJECT"), str(model_path))
    template = load_template("hala-judge", "{source},{target}")
    requests = [Request(template.messages("", "en", "ar", source=en, target=ar)) for en, ar in pairs]
    order = sorted(range(len(requests)), key=lambda i: len(pairs[i][0]) + len(pairs[i][1]))
    engine.next_token_probs(requests[:2], ids)  # warm-up, as the naive loop gets below
    began = time.perf_counter()
    for start in range(0, len(order), batch_size):
        engine.next_token_probs([requests[i] for i in order[start:start + batch_size]], ids)
    seconds = time.perf_counter() - began
    engine.close()
    return seconds, ids


def filters(count: int) -> dict:
    """(b) as the stage runs them: the split memory-mapped by `datasets` from an Arrow file, and the stage's own
    once-per-corpus pass (`shared_reasons`); in a fresh process, so its peak RSS is the filters' own."""
    import multiprocessing

    with tempfile.TemporaryDirectory(prefix="hala-bench-filters-") as tmp:
        path = Path(tmp) / "pairs.arrow"
        write_pairs(path, count)
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            return pool.apply(filter_figures, (str(path),))


def write_pairs(path: Path, count: int, batch: int = 100_000) -> None:
    """`sample_pairs` written batch by batch (an Arrow stream, the format of `datasets`' cache files), so this
    process never holds them all."""
    import pyarrow as pa

    schema = pa.schema([("en", pa.string()), ("ar", pa.string())])
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, schema) as writer:
        for start in range(0, count, batch):
            pairs = sample_pairs(min(start + batch, count))[start:]
            writer.write_table(pa.table({"en": [p[0] for p in pairs], "ar": [p[1] for p in pairs]}, schema=schema))


def filter_figures(path: str) -> dict:
    import resource

    from datasets import Dataset

    from hala_release.stages.judge.config import JudgeConfig
    from hala_release.stages.judge.filters import count_reasons, reasons_of
    from hala_release.stages.judge.run import pair_columns, shared_reasons

    dataset = Dataset.from_file(path)
    config = JudgeConfig(source="unused", judge="unused", output="unused", source_field="en", target_field="ar")
    source, target = pair_columns(dataset, config)
    plan = {"rows": len(dataset), "work_dir": str(Path(path).parent)}
    began = time.perf_counter()
    codes = shared_reasons(plan, config, dataset, source, target)
    seconds = time.perf_counter() - began
    return {"pairs": len(codes), "seconds": round(seconds, 2), "pairs_per_second": round(len(codes) / seconds),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "counts": dict(count_reasons(reasons_of(codes)))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=256, help="pairs for the judge comparison (a)")
    parser.add_argument("--filter-pairs", type=int, default=1_000_000, help="pairs for the cheap filters (b)")
    parser.add_argument("--model", type=Path, help="judge model folder (default: a tiny Llama built on the spot)")
    parser.add_argument("--skip-vllm", action="store_true", help="only the transformers engine in (a)")
    parser.add_argument("--filters-only", action="store_true", help="only the cheap filters (b)")
    args = parser.parse_args()
    if args.filters_only:
        print(json.dumps({"b_cheap_filters": filters(args.filter_pairs)}, indent=2))
        return
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    with tempfile.TemporaryDirectory(prefix="hala-bench-") as tmp:
        from hala_release.stages.tiny_model.run import build_tiny_model

        model = args.model or build_tiny_model(Path(tmp) / "tiny-llama", arch="llama")
        pairs = sample_pairs(args.pairs)
        ours, ids = batched("transformers", model, pairs)
        generate_loop = naive(model, pairs, ids, generate=True)
        forward_loop = naive(model, pairs, ids, generate=False)
        rate = lambda seconds: {"pairs": len(pairs), "seconds": round(seconds, 2),
                                "pairs_per_second": round(len(pairs) / seconds, 1)}
        figures = {
            "judge_batched_transformers": rate(ours),
            "naive_generate_and_parse": rate(generate_loop),
            "naive_single_forward": rate(forward_loop),
            "a_speedup_transformers_vs_generate_and_parse": round(generate_loop / ours, 2),
            "a_speedup_transformers_vs_single_forward": round(forward_loop / ours, 2),
        }
        if not args.skip_vllm:
            ours_vllm, _ = batched("vllm", model, pairs)
            figures.update({"judge_batched_vllm": rate(ours_vllm),
                            "a_speedup_vllm_vs_generate_and_parse": round(generate_loop / ours_vllm, 2),
                            "a_speedup_vllm_vs_single_forward": round(forward_loop / ours_vllm, 2)})
        figures["b_cheap_filters"] = filters(args.filter_pairs)
        print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()

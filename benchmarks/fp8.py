"""FP8 vs the original: what `hala-release quantize` buys and what it costs.

- Everywhere: quantize the model with `quantize_model` (FP8_DYNAMIC) and report the weight size reduction and
  the verification figures (max/mean abs logit difference, top-1 agreement on the fixed prompt set).
- With a CUDA GPU and vLLM installed (HALA ran an H100-class card): vLLM generation throughput of the model in
  bf16 and of its FP8 quantization, measured in the same run with the same prompts and settings (HALA reports
  ~2x for its 111B teacher). Each engine runs in its own subprocess so the two never share GPU memory.

Usage (with the project's environment):
  .venv/bin/python benchmarks/fp8.py                                   # tiny LFM2 built on the spot
  .venv/bin/python benchmarks/fp8.py --model LiquidAI/LFM2-1.2B        # a real model (GPU for throughput)
  .venv/bin/python benchmarks/fp8.py --model ./runs/hala/hala-1.2b --model-free --prompts 512
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="model ref to quantize (default: a tiny random LFM2 built here)")
    parser.add_argument("--arch", default="lfm2", help="tiny model architecture (lfm2 or llama)")
    parser.add_argument("--hidden-size", type=int, default=512, help="tiny model hidden size")
    parser.add_argument("--layers", type=int, default=8, help="tiny model layers")
    parser.add_argument("--model-free", action="store_true", help="quantize with model_free_ptq")
    parser.add_argument("--prompts", type=int, default=256, help="GPU: number of prompts per engine")
    parser.add_argument("--max-tokens", type=int, default=256, help="GPU: tokens generated per prompt")
    parser.add_argument("--work", type=Path, help="folder for the models (default: a temp folder)")
    parser.add_argument("--measure", help=argparse.SUPPRESS)  # internal: one vLLM measurement in a subprocess
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure_vllm(args.measure, args.prompts, args.max_tokens)))
        return

    import torch

    from hala_release.core.provenance import read_provenance
    from hala_release.stages.quantize.run import quantize_model
    from hala_release.core.refs import resolve
    from hala_release.stages.tiny_model.run import build_tiny_model

    work = args.work or Path(tempfile.mkdtemp(prefix="hala-fp8-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    if args.model:
        source = resolve(args.model, "model").path
        label = args.model
    else:
        heads = max(1, args.hidden_size // 64)
        start = time.perf_counter()
        source = build_tiny_model(work / "tiny", arch=args.arch, hidden_size=args.hidden_size, layers=args.layers,
                                  heads=heads, overwrite=True)
        label = f"tiny random {args.arch} (hidden {args.hidden_size}, {args.layers} layers, built in " \
                f"{time.perf_counter() - start:.1f} s)"
    start = time.perf_counter()
    fp8 = quantize_model(str(source), work / "fp8", model_free=args.model_free, overwrite=True)
    wall = time.perf_counter() - start
    prov = read_provenance(fp8)
    stats, timings = prov.stats, prov.timings
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"CPU ({os.cpu_count()} cores)"
    print(f"model: {label}")
    print(f"device: {device}; path: {stats['path']}; scheme: {stats['scheme']}")
    print(f"weights: {stats['size_before_bytes'] / 1e6:.2f} MB -> {stats['size_after_bytes'] / 1e6:.2f} MB "
          f"({stats['size_ratio']:.3f}x; {stats['quantized_parameter_fraction']:.1%} of weight parameters in FP8)")
    print(f"logits on {stats['verify_prompts']} prompts / {stats['verify_positions']} positions: max abs diff "
          f"{stats['logits_max_abs_diff']:.4g}, mean abs diff {stats['logits_mean_abs_diff']:.4g}, top-1 agreement "
          f"{stats['top1_agreement']:.2%}, greedy sample identical: {stats['greedy_sample_identical']}")
    print(f"time: quantize {timings['quantize']:.2f} s, reference {timings['reference_logits']:.2f} s, "
          f"verify {timings['verify']:.2f} s, whole call {wall:.1f} s")

    if not torch.cuda.is_available():
        print("throughput: skipped (no CUDA GPU; vLLM bf16 vs FP8 throughput needs a Hopper-class GPU)")
        return
    results = {}
    for name, path in (("bf16", source), ("fp8", fp8)):
        out = subprocess.run([sys.executable, __file__, "--measure", str(path), "--prompts", str(args.prompts),
                              "--max-tokens", str(args.max_tokens)], capture_output=True, text=True)
        if out.returncode != 0:
            print(f"throughput ({name}): vLLM run failed:\n{out.stderr[-2000:]}")
            return
        results[name] = json.loads(out.stdout.strip().splitlines()[-1])
    for name, r in results.items():
        print(f"throughput {name}: {r['tokens_per_s']:.0f} generated tokens/s ({r['tokens']} tokens, "
              f"{r['seconds']:.1f} s, engine start {r['load_s']:.1f} s)")
    print(f"speedup fp8 / bf16: {results['fp8']['tokens_per_s'] / results['bf16']['tokens_per_s']:.2f}x")


def measure_vllm(path: str, prompts: int, max_tokens: int) -> dict:
    """Generated tokens per second of one vLLM engine on a fixed prompt set (greedy, fixed length)."""
    from vllm import LLM, SamplingParams

    start = time.perf_counter()
    llm = LLM(model=path, dtype="bfloat16", gpu_memory_utilization=0.85, seed=0)
    load_s = time.perf_counter() - start
    texts = [f"Translate to Arabic, sentence {i}: The library opens at nine and closes at six." for i in range(prompts)]
    params = SamplingParams(temperature=0.0, max_tokens=max_tokens, ignore_eos=True)
    llm.generate(texts[:8], params, use_tqdm=False)  # warm-up: kernels, CUDA graphs
    start = time.perf_counter()
    outputs = llm.generate(texts, params, use_tqdm=False)
    seconds = time.perf_counter() - start
    tokens = sum(len(o.outputs[0].token_ids) for o in outputs)
    return {"tokens": tokens, "seconds": seconds, "tokens_per_s": tokens / seconds, "load_s": load_s}


if __name__ == "__main__":
    main()

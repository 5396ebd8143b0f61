"""What only a CUDA GPU can show: FP8 matrix-product speed at the teacher's shapes, and the tiny recipe on CUDA.

CI and the laptop path are CPU-only, so two questions stay open there:

1. **FP8 speed.** `quantize --scheme FP8_DYNAMIC` stores weights in FP8 with one scale per output channel and
   quantizes activations per token at run time. On Hopper that turns each Linear into an FP8 tensor-core product
   (`torch._scaled_mm`, the kernel family vLLM's FP8 path uses). This times that product, activation quantization
   included, against the bf16 product at the shapes of HALA's teacher (Command A, hidden 12288, MLP 36864), from
   decode-sized batches (a few tokens) to prefill-sized ones, and reports the relative error it adds.
2. **The stages on CUDA.** Runs `recipes/tiny.yaml` with the training stages switched from CPU to CUDA bf16, so
   quantize (llm-compressor), both translate stages and the judge (transformers engine), training (TRL), merge and
   eval (lighteval, transformers backend) all run with a GPU present, as on a cluster.

Usage: `python benchmarks/gpu_check.py [--skip-pipeline] [--work DIR]` (needs torch with CUDA; the pipeline part
needs the project's dependencies).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

# Command A (CohereLabs/command-a-translate-08-2025): hidden 12288, intermediate 36864.
TEACHER_LINEARS = {"mlp.gate_up (12288 -> 73728)": (12288, 73728), "mlp.down (36864 -> 12288)": (36864, 12288),
                   "attn.o (12288 -> 12288)": (12288, 12288)}
TOKEN_COUNTS = (16, 256, 4096)
FP8_MAX = 448.0  # largest finite float8_e4m3fn


def time_cuda(fn, repeats: int = 20) -> float:
    """Median milliseconds of `fn` on the GPU (CUDA events, after warm-up)."""
    import torch

    for _ in range(3):
        fn()
    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    return sorted(times)[len(times) // 2]


def fp8_dynamic_linear(weight):
    """The FP8_DYNAMIC scheme as a function: weight in FP8 with per-channel scales, activations per token."""
    import torch

    w_scale = (weight.abs().amax(dim=1, keepdim=True).float() / FP8_MAX).clamp(min=1e-12)
    w_fp8 = (weight / w_scale).to(torch.float8_e4m3fn)

    def forward(x):
        x_scale = (x.abs().amax(dim=1, keepdim=True).float() / FP8_MAX).clamp(min=1e-12)
        x_fp8 = (x / x_scale).to(torch.float8_e4m3fn)
        return torch._scaled_mm(x_fp8, w_fp8.t(), scale_a=x_scale, scale_b=w_scale.t(), out_dtype=torch.bfloat16)

    return forward


def fp8_gemm_report() -> list[dict]:
    import torch

    rows = []
    for name, (k, n) in TEACHER_LINEARS.items():
        weight = torch.randn(n, k, device="cuda", dtype=torch.bfloat16) / k ** 0.5
        fp8 = fp8_dynamic_linear(weight)
        # Eager mode runs the activation quantization as several small kernels; compiled, it fuses into one, as
        # in vLLM's FP8 path. Small batches show the difference.
        fused = torch.compile(fp8, dynamic=False)
        for m in TOKEN_COUNTS:
            x = torch.randn(m, k, device="cuda", dtype=torch.bfloat16)
            reference = x @ weight.t()
            error = ((fp8(x).float() - reference.float()).norm() / reference.float().norm()).item()
            bf16_ms = time_cuda(lambda: x @ weight.t())
            fp8_ms = time_cuda(lambda: fp8(x))
            fused_ms = time_cuda(lambda: fused(x))
            flops = 2 * m * k * n
            rows.append({"linear": name, "tokens": m, "bf16_ms": bf16_ms, "fp8_eager_ms": fp8_ms,
                         "fp8_compiled_ms": fused_ms, "speedup_eager": bf16_ms / fp8_ms,
                         "speedup_compiled": bf16_ms / fused_ms, "bf16_tflops": flops / bf16_ms / 1e9,
                         "fp8_compiled_tflops": flops / fused_ms / 1e9, "relative_error": error})
            print(f"  {name:28s} tokens {m:5d}: bf16 {bf16_ms:7.3f} ms ({flops / bf16_ms / 1e9:4.0f} TFLOP/s); "
                  f"fp8 eager {fp8_ms:7.3f} ms ({bf16_ms / fp8_ms:4.2f}x), compiled {fused_ms:7.3f} ms "
                  f"({flops / fused_ms / 1e9:4.0f} TFLOP/s, {bf16_ms / fused_ms:4.2f}x); relative error {error:.4f}",
                  flush=True)
        del weight, fp8
        torch.cuda.empty_cache()
    return rows


def gpu_recipe(work: Path) -> Path:
    """recipes/tiny.yaml with its training stages on CUDA in bf16, written beside it (relative paths hold)."""
    import yaml

    recipes = Path(__file__).resolve().parent.parent / "recipes"
    recipe = yaml.safe_load((recipes / "tiny.yaml").read_text(encoding="utf-8"))
    recipe["name"] = "hala-tiny-gpu"
    recipe["output_dir"] = str(work / "runs")
    for stage in recipe["stages"].values():
        if stage["uses"] == "train":
            stage["with"].update({"use_cpu": False, "bf16": True})
    target = recipes / "tiny-gpu.generated.yaml"
    target.write_text(yaml.safe_dump(recipe, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return target


def pipeline_report(work: Path) -> dict:
    import torch

    from hala_release.cli import main as cli_main
    from hala_release.core.provenance import read_provenance

    recipe = gpu_recipe(work)
    torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    code = cli_main(["pipeline", "run", str(recipe)])
    wall = time.perf_counter() - start
    report = {"exit_code": code, "wall_s": wall, "peak_gpu_mb": torch.cuda.max_memory_allocated() / 2**20,
              "stages": {}}
    for folder in sorted((work / "runs").iterdir()):
        if not (folder / "README.md").exists():
            continue
        try:
            prov = read_provenance(folder)
        except Exception as err:  # a folder without provenance says so in the report instead of stopping it
            report["stages"][folder.name] = {"error": str(err)}
            continue
        stats = {key: value for key, value in prov.stats.items() if isinstance(value, (int, float, str, bool))}
        report["stages"][folder.name] = {"stage": prov.stage, "timings": prov.timings, "stats": stats}
    print(f"pipeline exit code {code}, {wall:.1f} s, peak GPU memory {report['peak_gpu_mb']:.0f} MiB")
    for name, entry in report["stages"].items():
        print(f"  {name}: {json.dumps(entry, default=str)[:400]}")
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, help="folder for the pipeline's artifacts (default: a temp folder)")
    parser.add_argument("--skip-pipeline", action="store_true", help="only the FP8 matrix-product timings")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()

    import torch

    if not torch.cuda.is_available():
        raise SystemExit("gpu_check needs a CUDA GPU (torch.cuda.is_available() is False)")
    props = torch.cuda.get_device_properties(0)
    print(f"device: {props.name}, {props.total_memory / 2**30:.0f} GiB, capability {props.major}.{props.minor}; "
          f"torch {torch.__version__}, CUDA {torch.version.cuda}", flush=True)
    figures = {"device": props.name, "torch": torch.__version__}
    print("FP8_DYNAMIC vs bf16 matrix products at the teacher's shapes (median of 20):", flush=True)
    figures["fp8_gemm"] = fp8_gemm_report()
    if not args.skip_pipeline:
        work = args.work or Path(tempfile.mkdtemp(prefix="hala-gpu-check-"))
        figures["pipeline"] = pipeline_report(work)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, default=str), encoding="utf-8")


if __name__ == "__main__":
    main()

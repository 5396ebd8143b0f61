"""Eval-stage benchmark: prints figures, asserts nothing. Run with the project's environment:

    .venv/bin/python benchmarks/eval_hala.py [--suite hala] [--max-samples 2] [--model PATH] [--arch lfm2]

Times the whole `hala-release eval MODEL --suite SUITE --fixtures --max-samples N` command in a child process
(imports, model load, lighteval, outputs; the target is under 3 minutes on a 2-core CPU for `hala`), prints its peak
RSS, the per-step timings from the artifact's provenance, and the summary table. Without --model it builds a tiny
random model first (not timed).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suite", default="hala")
    parser.add_argument("--max-samples", type=int, default=2)
    parser.add_argument("--model", type=Path, default=None, help="model folder (default: a tiny random model)")
    parser.add_argument("--arch", default="lfm2", help="tiny model architecture when --model is not given")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="hala-bench-eval-") as tmp:
        work = Path(tmp)
        model = args.model
        if model is None:
            from hala_release.stages.tiny_model.run import build_tiny_model

            model = build_tiny_model(work / f"tiny-{args.arch}", arch=args.arch)
        output = work / "eval"
        command = [sys.executable, "-m", "hala_release.cli", "eval", str(model), "--suite", args.suite, "--fixtures",
                   "--max-samples", str(args.max_samples), "--output", str(output)]
        began = time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True)
        wall = time.perf_counter() - began
        if result.returncode != 0:
            print(result.stderr[-3000:], file=sys.stderr)
            raise SystemExit(f"eval failed with exit code {result.returncode}")
        peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        provenance = json.loads((output / "hala_provenance.json").read_text(encoding="utf-8"))
        summary = json.loads((output / "summary.json").read_text(encoding="utf-8"))
        samples = sum(b["samples"] for b in summary["benchmarks"])
        print(f"suite {args.suite}, --max-samples {args.max_samples}, {len(provenance['config']['tasks'])} tasks, "
              f"{samples} samples, model {model.name}")
        print(f"whole command: {wall:.1f} s wall, peak RSS {peak_mib:.0f} MiB")
        print("steps (s): " + ", ".join(f"{k} {v:.1f}" for k, v in provenance["timings"].items()))
        print((output / "summary.md").read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()

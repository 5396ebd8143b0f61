"""Generation engines behind one small protocol, so stages never import vLLM, transformers or openai directly.

A stage hands an engine chat requests and sampling settings and gets texts (with token counts) back. Heavy
imports happen inside the backend that needs them.
"""

from __future__ import annotations

from pathlib import Path

from hala_release.core.errors import UsageError
from hala_release.engines.base import Engine, Generation, Request, Sampling, Scorer

ENGINES = ("vllm", "openai", "transformers", "dry-run", "echo")  # echo: benchmarks and tests only
# Requests per engine call when the user does not say: vLLM schedules (and shares prompt prefixes) inside one big
# call; transformers pads a batch to its longest member, so smaller batches waste less.
DEFAULT_BATCH_SIZE = {"vllm": 1024, "openai": 256, "transformers": 64, "dry-run": 4096, "echo": 1024}


def make_engine(name: str, model: Path | str | None = None, *, trust_remote_code: bool = False,
                api_base: str | None = None, concurrency: int = 32, dtype: str = "auto",
                tensor_parallel_size: int = 1, vllm_options: dict | None = None) -> Engine:
    """Build the named engine; `model` is a local folder (vllm/transformers) or a served model name (openai)."""
    if name == "dry-run":
        from hala_release.engines.dry_run import DryRunEngine

        return DryRunEngine()
    if name == "echo":
        from hala_release.engines.echo import EchoEngine

        return EchoEngine()
    if model is None:
        raise UsageError(f"the {name} engine needs --model")
    if tensor_parallel_size > 1 and name != "vllm":
        raise UsageError(f"--tensor-parallel-size is a vLLM option; the {name} engine runs on one device")
    if name == "transformers":
        from hala_release.engines.hf_transformers import TransformersEngine

        return TransformersEngine(Path(model), trust_remote_code=trust_remote_code, dtype=dtype)
    if name == "vllm":
        from hala_release.engines.vllm_offline import VllmEngine

        options = {**({"tensor_parallel_size": tensor_parallel_size} if tensor_parallel_size > 1 else {}),
                   **(vllm_options or {})}
        return VllmEngine(Path(model), trust_remote_code=trust_remote_code, dtype=dtype, **options)
    if name == "openai":
        from hala_release.engines.openai_server import OpenAIEngine

        return OpenAIEngine(str(model), api_base=api_base, concurrency=concurrency)
    raise UsageError(f"unknown engine {name!r}: choose one of {', '.join(ENGINES)}")


__all__ = ["DEFAULT_BATCH_SIZE", "ENGINES", "Engine", "Generation", "Request", "Sampling", "Scorer", "make_engine"]

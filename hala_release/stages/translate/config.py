"""The translate stage's options: the one place each is defined, with its default and help."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from hala_release.core.languages import LanguageCode
from hala_release.core.errors import UsageError
from hala_release.engines.quality import GateConfig

# Settings that change how the work is scheduled, not what it produces: they may differ between reruns.
SCHEDULING_KEYS = {"output", "num_shards", "shard_index", "executor", "workers", "batch_size", "tensor_parallel_size",
                   "concurrency", "cache_dir",
                   "overwrite", "ray_address", "ray_workers", "ray_gpus_per_worker", "ray_cpus_per_worker",
                   "push_to_hub"}


class TranslateConfig(BaseModel):
    """Every option of `hala-release translate`; the one definition for CLI, recipes and Python."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    source: str = Field(description="Dataset ref: org/name[@rev], hf://datasets/..., or a local folder.",
                        json_schema_extra={"cli": {"argument": True}})
    output: str = Field(description="Folder to write the translated dataset artifact to.")
    model: str | None = Field(None, description="Translator model ref (or the served name for --engine openai).")
    source_lang: LanguageCode = Field("en", description="Language code of the source text.")
    target_lang: LanguageCode = Field("ar", description="Language code to translate into.")
    dataset_schema: str = Field("auto", alias="schema", description=(
        "auto, fields, or one of: openorca, sharegpt, messages, alpaca, alpaca-classic, scp, lamini, pairwise, "
        "parallel."), json_schema_extra={"cli": {"flags": "--schema"}})
    fields: list[str] = Field(default_factory=list, description="With --schema fields: comma list, e.g. "
                                                                "'question,turns[].text'.",
                              json_schema_extra={"cli": {"comma": True}})
    split: str = Field("train", description="Split to translate.")
    subset: str | None = Field(None, description="Dataset config name, e.g. ar-en.")
    limit: int | None = Field(None, description="Translate only the first N rows.")
    engine: str = Field("vllm", description="vllm, openai, transformers or dry-run (echo: for benchmarks only).")
    prompt_template: str = Field("hala-teacher", description="hala-teacher, hala-translator, or a YAML file.")
    batch_size: int | None = Field(None, description="Segments per engine call (default: 1024 for vllm, 64 for "
                                                     "transformers).")
    max_tokens: int = Field(1024, description="Maximum new tokens per segment.")
    temperature: float = Field(0.0, description="Sampling temperature of the first attempt.")
    top_p: float = Field(1.0, description="Nucleus sampling threshold.")
    seed: int = Field(0, description="Sampling seed.")
    max_retries: int = Field(2, description="Retries for segments failing a quality gate.")
    max_chars: int = Field(1500, description="Longer lines are split at sentence ends into segments of this size.")
    gates: GateConfig = Field(default_factory=GateConfig, description=(
        "Check script, copies, length ratio and loops (lost spans are always checked)."),
        json_schema_extra={"cli": {"flags": "--quality-gates/--no-quality-gates", "key": "enabled"}})
    dedup: bool = Field(True, description="Translate identical segments once.")
    cache: bool = Field(True, description="Use the persistent translation cache.")
    cache_dir: str | None = Field(None, description="Cache folder (default $HALA_CACHE_DIR or ~/.cache/hala-release).")
    chunk_size: int = Field(1000, description="Rows per resumable chunk.")
    num_shards: int = Field(1, description="Split the chunks among N jobs (e.g. a Slurm array).")
    shard_index: int = Field(0, description="Which of the N shards this job runs.")
    executor: str = Field("local", description="local or ray.")
    workers: int = Field(1, description="Local worker processes (helps CPU-bound engines: dry-run, openai).")
    ray_address: str | None = Field(None, description="Ray cluster address (default: start a local Ray).")
    ray_workers: int = Field(1, description="Ray workers, each holding one engine.")
    ray_gpus_per_worker: int | None = Field(None, description=(
        "GPUs each Ray worker (one engine replica) asks for (default: --tensor-parallel-size with vllm, else 0)."))
    ray_cpus_per_worker: int = Field(1, description="CPUs each Ray worker asks for.")
    trust_remote_code: bool = Field(False, description="Allow model code from the model repo (off by default).")
    tensor_parallel_size: int = Field(1, description="vLLM: GPUs one engine spans (e.g. 8 for a 111B teacher).")
    api_base: str | None = Field(None, description="OpenAI-compatible server URL, e.g. http://localhost:8000/v1.")
    concurrency: int = Field(32, description="Concurrent requests to an OpenAI-compatible server.")
    model_revision: str | None = Field(None, description="With --engine openai: the served weights' revision, "
                                                         "recorded since the server cannot be pinned.")
    overwrite: bool = Field(False, description="Replace an existing output folder.")
    push_to_hub: str | None = Field(None, description="Push the finished artifact to this dataset repo.")

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


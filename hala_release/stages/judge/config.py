"""The judge stage's options: the one place each is defined, with its default and help."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from hala_release.core.languages import LanguageCode
from hala_release.stages.judge.filters import PairFilterConfig

SCHEDULING_KEYS = {"output", "num_shards", "shard_index", "workers", "filter_workers", "batch_size", "overwrite",
                   "push_to_hub", "threshold", "tensor_parallel_size", "executor", "ray_address", "ray_workers",
                   "ray_gpus_per_worker", "ray_cpus_per_worker"}


class JudgeConfig(BaseModel):
    """Every option of `hala-release judge`; the one definition for CLI, recipes and Python."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field(description="Parallel corpus ref (a `translation` {lang: text} column, or see "
                                    "--source-field).", json_schema_extra={"cli": {"argument": True}})
    judge: str = Field(description="Judge model ref (a chat model).")
    output: str = Field(description="Folder to write the filtered corpus artifact to.")
    source_lang: LanguageCode = Field("en", description="Source language code.")
    target_lang: LanguageCode = Field("ar", description="Target language code.")
    source_field: str | None = Field(None, description="Column with the source side (instead of `translation`).")
    target_field: str | None = Field(None, description="Column with the target side.")
    split: str = Field("train", description="Split to filter.")
    subset: str | None = Field(None, description="Dataset config name, e.g. ar-en.")
    limit: int | None = Field(None, description="Only the first N pairs.")
    threshold: float = Field(0.5, description="Keep pairs whose P(accept) is at least this.")
    engine: str = Field("vllm", description="vllm or transformers.")
    prompt_template: str = Field("hala-judge", description="hala-judge, or a YAML file with {source} and {target}.")
    verdicts: tuple[str, str] = Field(("ACCEPT", "REJECT"), description="The accepting and rejecting verdict words.",
                                      json_schema_extra={"cli": {"comma": True}})
    filters: PairFilterConfig = Field(default_factory=PairFilterConfig, description=(
        "Thresholds of the rule-based filters run before the judge (recipes and Python only)."),
        json_schema_extra={"cli": False})
    batch_size: int | None = Field(None, description="Pairs per engine call (default: 1024 for vllm, 64 for "
                                                     "transformers).")
    chunk_size: int = Field(1000, description="Pairs per resumable chunk.")
    num_shards: int = Field(1, description="Split the chunks among N jobs.")
    shard_index: int = Field(0, description="Which of the N shards this job runs.")
    workers: int = Field(1, description="Local worker processes for the chunks.")
    filter_workers: int | None = Field(None, ge=1, description=(
        "Processes for the rule filters' one pass over the corpus (default: one per CPU core, at most 8, for a "
        "corpus of more than one batch of 65,536 pairs; else 1)."))
    executor: str = Field("local", description="local or ray.")
    ray_address: str | None = Field(None, description="Ray cluster address (default: start a local Ray).")
    ray_workers: int = Field(1, description="Ray workers, each holding one judge engine.")
    ray_gpus_per_worker: int | None = Field(None, description=(
        "GPUs each Ray worker (one engine replica) asks for (default: --tensor-parallel-size with vllm, else 0)."))
    ray_cpus_per_worker: int = Field(1, description="CPUs each Ray worker asks for.")
    dtype: str = Field("auto", description="Model dtype (auto, float32, bfloat16).")
    tensor_parallel_size: int = Field(1, description="vLLM: GPUs one engine spans.")
    trust_remote_code: bool = Field(False, description="Allow model code from the model repo (off by default).")
    overwrite: bool = Field(False, description="Replace an existing output folder.")
    push_to_hub: str | None = Field(None, description="Push the finished artifact to this dataset repo.")

    @field_validator("verdicts", mode="before")
    @classmethod
    def _two_words(cls, value: Any) -> Any:
        if isinstance(value, (list, tuple)) and len(value) != 2:
            raise ValueError("--verdicts takes exactly two words, the accepting one first (e.g. ACCEPT,REJECT)")
        return value

    @field_validator("executor")
    @classmethod
    def _known_executor(cls, value: str) -> str:
        if value not in ("local", "ray"):
            raise ValueError(f"unknown executor {value!r}: choose local or ray")
        return value

    def result_config(self) -> dict[str, Any]:
        return {k: v for k, v in self.model_dump().items() if k not in SCHEDULING_KEYS}

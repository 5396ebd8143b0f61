"""The eval stage's options (and the report command's): the one place each is defined, with its default and help."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hala_release.core.languages import LanguageCode

log = logging.getLogger(__name__)

BACKENDS = ("transformers", "vllm")
_PUBLISHED = "--published/--no-published"
# Recipe and Python keys renamed to match their flag: old name -> new name (still read, with a notice).
RENAMED_KEYS = {"results_repo": "push_to_hub"}


class EvalConfig(BaseModel):
    """Every option of `hala-release eval`; the one definition for CLI, recipes and Python."""

    model_config = ConfigDict(extra="forbid")

    # Optional on the command line only, where `--list-tasks` needs neither.
    model: str = Field(description="Model to evaluate: org/name[@rev] or a local folder.",
                       json_schema_extra={"cli": {"argument": True, "optional": True}})
    suite: str = Field("hala", description="hala, oall-v2, translation, or a file listing tasks (one per line).")
    language: LanguageCode | None = Field(None, description=(
        "Score the model on this language's own benchmarks from lighteval (its FineTasks list, else Belebele, "
        "Global-MMLU and what lighteval has for it), instead of the default suite."))
    formulation: str = Field("mcf", description="With --language: mcf (answer letters) or cf (cloze).")
    output: Path = Field(description="Folder to write the results artifact to.",
                         json_schema_extra={"cli": {"optional": True}})
    backend: str = Field("transformers", description="transformers (CPU or GPU) or vllm (GPU).")
    max_samples: int | None = Field(None, description="Score at most N samples per task (quick, not comparable).")
    data_dir: Path | None = Field(None, description="Read benchmarks from DIR/<org>/<name>/ instead of the Hub.")
    fixtures: bool = Field(False, description="Use the shipped tiny fixture benchmarks (tests, demos; implies "
                                              "--allow-partial).")
    allow_partial: bool = Field(False, description="Score the subsets present under --data-dir, skipping missing ones.")
    batch_size: int | None = Field(None, description="Batch size (default: lighteval picks one).")
    dtype: str | None = Field(None, description="Model dtype, e.g. bfloat16 (default: the backend's).")
    model_name: str | None = Field(None, description="org/name in results and leaderboard files (default: the Hub "
                                                     "id, or local/<folder>).")
    cache_dir: Path | None = Field(None, description="Keep per-sample predictions here between runs (keyed by the "
                                                     "model's and data's pins).")
    update_model_card: bool = Field(False, description="Write model-index entries into the (local) model's card.")
    push_to_hub: str | None = Field(None, description="Push the results artifact to this dataset repo, ORG/NAME.",
                                    json_schema_extra={"cli": {"deprecated_flags": ["--push-results"]}})
    published: bool = Field(True, description="Show HALA's published scores in the report.",
                            json_schema_extra={"cli": {"flags": _PUBLISHED}})
    overwrite: bool = Field(False, description="Replace an existing output folder.")

    @model_validator(mode="before")
    @classmethod
    def _read_renamed_keys(cls, values: Any) -> Any:
        """An old key (results_repo) still works, with a one-line notice naming the new one, as an old flag does."""
        if not isinstance(values, dict) or not set(values) & set(RENAMED_KEYS):
            return values
        values = dict(values)
        for old, new in RENAMED_KEYS.items():
            if old not in values:
                continue
            value = values.pop(old)
            log.warning("note: %s is deprecated and will be removed; use %s", old, new)
            if values.get(new) is not None and value is not None and values[new] != value:
                raise ValueError(f"{old} and {new} are the same option: give only {new}")
            if value is not None:
                values[new] = value
        return values


class ReportOptions(BaseModel):
    """Every option of `hala-release report`."""

    model_config = ConfigDict(extra="forbid")

    results: list[str] = Field(description="Eval results: `hala-release eval` output folders or pushed repos.",
                               json_schema_extra={"cli": {"argument": True}})
    output: Path = Field(description="Folder to write the report artifact to.")
    published: bool = Field(True, description="Add HALA's published scores, labelled as published.",
                            json_schema_extra={"cli": {"flags": _PUBLISHED}})
    overwrite: bool = Field(False, description="Replace an existing output folder.")

"""The provenance file: what built an artifact, from which exact inputs, with which config.

One JSON file per artifact, pushed with it. Cards render from it and `lineage` reads it back, so it holds
everything a card shows (the `card` facts) next to the full record of how the artifact came to be.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from hala_release.core.errors import HalaError

PROVENANCE_FILE = "hala_provenance.json"
SCHEMA_VERSION = 1


class CardSection(BaseModel):
    """A stage-specific block of the card body (verification figures, prompt text, ...)."""

    title: str
    markdown: str


class CardFacts(BaseModel):
    """What the card says about the artifact; stages fill it, `cards.render_card` turns it into README.md."""

    kind: Literal["dataset", "model", "space"]
    title: str
    summary: str = ""
    language: list[str] = Field(default_factory=list)
    license: str = "apache-2.0"
    license_note: str | None = None
    license_name: str | None = None  # required by the Hub when license is "other"
    license_link: str | None = None
    license_tags: list[str] = Field(default_factory=list)  # e.g. non-commercial, when `other` hides it
    # Licence texts to copy into the artifact (name in artifact -> source file), as the Hub asks of `other`
    # licences. Not stored: the copied file itself is the record, and source paths are machine-local.
    license_files: dict[str, str] = Field(default_factory=dict, exclude=True)
    tags: list[str] = Field(default_factory=list)
    # models
    base_model: list[str] = Field(default_factory=list)
    base_model_relation: Literal["quantized", "finetune", "merge", "adapter"] | None = None
    datasets: list[str] = Field(default_factory=list)
    library_name: str | None = None
    pipeline_tag: str | None = None
    # models: evaluation results (huggingface_hub `EvalResult` fields), rendered as the card's `model-index`
    eval_results: list[dict[str, Any]] = Field(default_factory=list)
    model_index_name: str | None = None  # the `name` of the model-index entry (default: the title)
    # datasets
    source_datasets: list[str] = Field(default_factory=list)
    task_categories: list[str] = Field(default_factory=list)
    # Where the text and labels came from (Hub taxonomy): found = existing text reused, machine-generated = made
    # by a model in this stage. Empty: machine-generated, and multilinguality from the number of languages.
    annotations_creators: list[str] = Field(default_factory=list)
    language_creators: list[str] = Field(default_factory=list)
    multilinguality: list[str] = Field(default_factory=list)
    splits: dict[str, int] = Field(default_factory=dict)  # split name -> rows
    sample_records: list[dict[str, Any]] = Field(default_factory=list)
    sections: list[CardSection] = Field(default_factory=list)


class Provenance(BaseModel):
    """The full record of one artifact."""

    schema_version: int = SCHEMA_VERSION
    stage: str
    tool: str = "hala-release"
    tool_version: str
    created_at: str
    config: dict[str, Any]
    config_hash: str
    inputs: dict[str, dict[str, Any]] = Field(default_factory=dict)  # role -> ResolvedRef.provenance()
    stats: dict[str, Any] = Field(default_factory=dict)
    timings: dict[str, float] = Field(default_factory=dict)  # step -> seconds
    card: CardFacts
    # Set when `pipeline run` built the artifact: recipe, version, stage name, fingerprint (what reruns compare).
    pipeline: dict[str, Any] | None = None

    def write(self, folder: Path) -> Path:
        path = Path(folder) / PROVENANCE_FILE
        path.write_text(self.model_dump_json(indent=2) + "\n", encoding="utf-8")
        return path


def read_provenance(folder: Path) -> Provenance:
    """Load an artifact's provenance, with an error that says what the folder is missing."""
    path = Path(folder) / PROVENANCE_FILE
    if not path.exists():
        raise HalaError(
            f"{folder} has no {PROVENANCE_FILE}: it was not built by hala-release. Build it with a hala-release "
            f"stage, or publish it with `hala-release push-dataset` / `push-model`, which write one"
        )
    try:
        return Provenance.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, TypeError) as err:
        raise HalaError(f"{path} is not a valid provenance file ({err.__class__.__name__}): rebuild the artifact") from None

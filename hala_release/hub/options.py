"""Options of the Hub commands (push-dataset, push-model, push-space, pull, lineage): each defined once, with its
default and help; the CLI builds its flags from these models."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

_ARGUMENT = {"cli": {"argument": True}}


class PushOptions(BaseModel):
    """Where and how a folder is published."""

    model_config = ConfigDict(extra="forbid")

    repo_id: str = Field(description="Target repo, org/name.")
    tag: str | None = Field(None, description="Tag to create on the pushed commit (never moved once created).")
    private: bool = Field(False, description="Create the repo as private if it does not exist yet.")
    # Named as `hf upload` names them, so the habits of one tool work in the other.
    revision: str = Field("main", description="Branch to commit to (created from main if missing).",
                          json_schema_extra={"cli": {"flags": ["--revision", "--branch"]}})
    commit_message: str | None = Field(None, description="Summary of the commit (default: the tool version, stage "
                                                         "and config hash).")
    commit_description: str | None = Field(None, description="Longer description of the commit.")
    create_pr: bool = Field(False, description="Open a pull request against --revision with the commit instead of "
                                               "committing to the branch; prints its URL. Not with --tag (tag the "
                                               "merged commit).",
                            json_schema_extra={"cli": {"flags": "--create-pr"}})


class ForeignCardOptions(PushOptions):
    """Card facts for a folder made elsewhere (hub/foreign.py), which has no provenance of its own."""

    license: str | None = Field(None, description="Folder made elsewhere: its Hub licence id, e.g. cc-by-4.0 "
                                                  "(default: the folder's own README license).")
    language: list[str] = Field(default_factory=list, description="Folder made elsewhere: a language code for the "
                                                                  "card (repeatable, or comma-separated: ar,en).")


class PushDatasetOptions(ForeignCardOptions):
    folder: Path = Field(description="Dataset artifact folder, or any folder of Parquet, JSON Lines or CSV files, or "
                                     "a `save_to_disk` dataset.", json_schema_extra=_ARGUMENT)
    task_categories: list[str] = Field(default_factory=list, description=(
        "Folder made elsewhere: a Hub task category for the card, e.g. translation (repeatable, or comma-separated; "
        "default: the folder's own README task_categories, else text-generation)."))


class PushModelOptions(ForeignCardOptions):
    folder: Path = Field(description="Model artifact folder, or any transformers model folder (config.json + "
                                     "*.safetensors).", json_schema_extra=_ARGUMENT)
    base_model: str | None = Field(None, description="Folder made elsewhere: the Hub id it was fine-tuned from, "
                                                     "org/name.")


class PushSpaceOptions(PushOptions):
    folder: Path | None = Field(None, description="Space folder (README.md with Space YAML, app file); default: the "
                                                  "demo Space shipped with hala-release.", json_schema_extra=_ARGUMENT)
    chat_model: str | None = Field(None, description="Chat model the Space serves: Hub id org/name[@rev], written "
                                                     "into README models: and models.json.")
    translator: str | None = Field(None, description="Translator model the Space serves, likewise.")


class RepoTypeOption(BaseModel):
    model_config = ConfigDict(extra="forbid")

    repo_type: str = Field("model", description="Repo type when REF does not say: model, dataset or space.")


class PullOptions(RepoTypeOption):
    ref: str = Field(description="org/name[@rev], hf://datasets/org/name[@rev], or a local folder.",
                     json_schema_extra=_ARGUMENT)
    output: Path | None = Field(None, description="Copy the snapshot here (default: print the cache path).")


class LineageOptions(RepoTypeOption):
    ref: str = Field(description="Artifact: a local folder, org/name[@rev] or hf://datasets/org/name[@rev].",
                     json_schema_extra=_ARGUMENT)
    format: str = Field("text", description="text (a tree), mermaid (a diagram for a card) or json.")
    output: Path | None = Field(None, description="Write to this file instead of printing.")

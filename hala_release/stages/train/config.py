"""The train stage's options: the one place each is defined, with its default and help. The training settings
themselves are `trl sft`'s recipe keys plus HalaArguments (train/run.py), read from the recipe file."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class TrainConfig(BaseModel):
    """Every option of `hala-release train` besides the recipe's own `--key=value` overrides."""

    model_config = ConfigDict(extra="forbid")

    recipe: Path = Field(description="Training recipe YAML: the keys `trl sft --config` takes, plus a few of ours.",
                         json_schema_extra={"cli": {"argument": True}})
    # On the command line these are the extra `--key=value` arguments, passed through unparsed.
    overrides: list[str] = Field(default_factory=list, description="Recipe keys to override, as --key=value.",
                                 json_schema_extra={"cli": False})
    push_to_hub: str | None = Field(None, description="Publish the artifact to this repo id (to the branch the "
                                       "recipe's hub_model_revision names, default main).")
    tag: str | None = Field(None, description="Tag for the pushed commit (with --push-to-hub).")
    create_pr: bool = Field(False, description="With --push-to-hub: open a pull request with the artifact instead "
                                               "of committing to the branch; prints its URL. Not with --tag.",
                            json_schema_extra={"cli": {"flags": "--create-pr"}})

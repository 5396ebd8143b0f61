"""The merge stage's options: the one place each is defined, with its default and help."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

METHODS = ("slerp",)
# Options that only say where the command line publishes the result; the stage itself never reads them.
PUBLISH_KEYS = {"push_to_hub", "tag", "create_pr"}


class MergeConfig(BaseModel):
    """Every option of `hala-release merge`; the one definition for CLI, recipes and Python."""

    model_config = ConfigDict(extra="forbid")

    base: str = Field(description="Base model ref (t = 0).", json_schema_extra={"cli": {"argument": True}})
    tuned: str = Field(description="Fine-tuned model ref (t = 1).", json_schema_extra={"cli": {"argument": True}})
    output: Path = Field(description="Folder to write the merged model artifact to.")
    method: str = Field("slerp", description="Merge method (slerp).")
    t: float = Field(0.5, description="Interpolation factor: 0 = base, 1 = tuned.")
    dtype: str | None = Field(None, description="Output dtype (default: the base model's).")
    trust_remote_code: bool = Field(False, description="Allow custom modelling code from the model repos.")
    cuda: bool = Field(False, description="Do the tensor arithmetic on the GPU (mergekit's --cuda).",
                       json_schema_extra={"cli": {"flags": "--cuda"}})
    lazy_unpickle: bool = Field(False, description="mergekit's lazy tensor loader, for lower memory use "
                                                   "(mergekit's --lazy-unpickle).",
                                json_schema_extra={"cli": {"flags": "--lazy-unpickle"}})
    out_shard_size: str = Field("5B", description="Output shard size, as mergekit-yaml's --out-shard-size: a "
                                                  "number with an optional K, M or B suffix (500M, 5B).")
    overwrite: bool = Field(False, description="Replace an existing output folder.")
    push_to_hub: str | None = Field(None, description="Publish the artifact to this repo id.")
    tag: str | None = Field(None, description="Tag for the pushed commit (with --push-to-hub).")
    create_pr: bool = Field(False, description="With --push-to-hub: open a pull request with the artifact instead "
                                               "of committing to the branch; prints its URL. Not with --tag.",
                            json_schema_extra={"cli": {"flags": "--create-pr"}})

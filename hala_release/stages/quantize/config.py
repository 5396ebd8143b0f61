"""The quantize stage's options: the one place each is defined, with its default and help."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_SCHEME = "FP8_DYNAMIC"
DEFAULT_IGNORE = ("lm_head",)
# Options that only say where the command line publishes the result; the stage itself never reads them.
PUBLISH_KEYS = {"push_to_hub", "tag", "create_pr"}


class QuantizeConfig(BaseModel):
    """Every option of `hala-release quantize`; the one definition for CLI, recipes and Python."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(description="Model ref: org/name[@rev] or a local folder.",
                       json_schema_extra={"cli": {"argument": True}})
    output: Path = Field(description="Folder to write the quantized model artifact to.")
    scheme: str = Field(DEFAULT_SCHEME, description="compressed-tensors preset (data-free), e.g. FP8_DYNAMIC, W8A16.")
    ignore: list[str] = Field(default_factory=lambda: list(DEFAULT_IGNORE),
                              description="Module to leave unquantized (repeatable; 're:' for regex).")
    model_free: bool = Field(False, description="Quantize straight from the safetensors shards without loading the "
                                                "model (for 100B+ models).",
                             json_schema_extra={"cli": {"flags": "--model-free"}})
    max_workers: int = Field(1, ge=1, description="Shards quantized at once on the --model-free path "
                                                  "(llm-compressor's model_free_ptq max_workers).")
    verify: bool = Field(True, description="Reload the result and compare logits with the original.")
    max_new_tokens: int = Field(32, description="Tokens of the greedy sample compared in verification.")
    trust_remote_code: bool = Field(False, description="Allow custom modelling code from the model repo.")
    overwrite: bool = Field(False, description="Replace an existing output folder.")
    push_to_hub: str | None = Field(None, description="Publish the artifact to this repo id.")
    tag: str | None = Field(None, description="Tag for the pushed commit (with --push-to-hub).")
    create_pr: bool = Field(False, description="With --push-to-hub: open a pull request with the artifact instead "
                                               "of committing to the branch; prints its URL. Not with --tag.",
                            json_schema_extra={"cli": {"flags": "--create-pr"}})

"""The tiny-model stage's options: the one place each is defined, with its default and help."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

ARCHES = ("lfm2", "llama")


class TinyModelConfig(BaseModel):
    """Every option of `hala-release tiny-model`; the one definition for CLI, recipes and Python."""

    model_config = ConfigDict(extra="forbid")

    output: Path = Field(description="Folder to write the model artifact to.", json_schema_extra={"cli": {"argument": True}})
    arch: str = Field("lfm2", description="Architecture: lfm2 (HALA's small bases) or llama.")
    seed: int = Field(0, description="Random seed for the weights.")
    vocab_size: int = Field(2048, description="Tokenizer vocabulary size.")
    hidden_size: int = Field(128, description="Hidden size (head size = hidden / heads, at least 32).")
    layers: int = Field(4, description="Number of layers.")
    heads: int = Field(4, description="Attention heads.")
    overwrite: bool = Field(False, description="Replace an existing output folder.")

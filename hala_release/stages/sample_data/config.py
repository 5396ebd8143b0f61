"""The sample-data stage's options: the one place each is defined, with its default and help."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class SampleDataConfig(BaseModel):
    """Every option of `hala-release sample-data`; the one definition for CLI, recipes and Python."""

    model_config = ConfigDict(extra="forbid")

    # Optional on the command line only, where `--list` needs neither.
    name: str = Field(description="Sample name (see --list).", json_schema_extra={"cli": {"argument": True,
                                                                                            "optional": True}})
    output: Path = Field(description="Folder to write the dataset artifact to.",
                         json_schema_extra={"cli": {"argument": True, "optional": True}})
    overwrite: bool = Field(False, description="Replace an existing output folder.")

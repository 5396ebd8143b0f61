"""The demo's options: running the Space locally (`hala-release demo`) and staging it as a pipeline artifact."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator


class DemoModels(BaseModel):
    """The models the Space serves and the Space folder: shared by the command and the pipeline stage."""

    model_config = ConfigDict(extra="forbid")

    chat_model: str | None = Field(None, description="Chat model ref: org/name[@rev] or a local folder (default: "
                                                     "$HALA_CHAT_MODEL, else the released HALA model).")
    translator: str | None = Field(None, description="Translator model ref (default: $HALA_TRANSLATOR_MODEL, else "
                                                     "HALA's EN-AR translator).")
    space: Path | None = Field(None, description="Space folder to run (default: the Space shipped in the package).")


class DemoConfig(DemoModels):
    """Every option of `hala-release demo`."""

    host: str = Field("127.0.0.1", description="Address to serve on (0.0.0.0 to share on your network).")
    port: int = Field(7860, description="Port to serve on.")


class DemoSpaceConfig(DemoModels):
    """The `demo` pipeline stage: the Space folder staged with both models, as a space artifact."""

    output: Path = Field(description="Folder to write the staged Space artifact to.")
    overwrite: bool = Field(False, description="Replace an existing output folder.")

    @model_validator(mode="after")
    def _both_models(self) -> "DemoSpaceConfig":
        missing = [name for name in ("chat_model", "translator") if getattr(self, name) is None]
        if missing:
            raise ValueError(f"the demo stage needs {' and '.join(missing)} (a model ref each)")
        return self

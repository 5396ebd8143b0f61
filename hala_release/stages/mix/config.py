"""The mix stage's options: the one place each is defined, with its default and help."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hala_release.core.languages import LanguageCode


class MixConfig(BaseModel):
    """Every option of `hala-release mix`; the one definition for CLI, recipes and Python."""

    model_config = ConfigDict(extra="forbid")

    translated: list[str] = Field(default_factory=list, description="Translated dataset ref (output of translate); "
                                                                    "repeatable.")
    parallel: list[str] = Field(default_factory=list, description="Parallel corpus ref (OPUS layout or judge output); "
                                                                  "repeatable.")
    output: str = Field(description="Folder to write the SFT dataset artifact to.")
    source_lang: LanguageCode = Field("en", description="Source language code.")
    target_lang: LanguageCode = Field("ar", description="Target language code.")
    directions: list[str] | None = Field(None, description="Comma list of directions, e.g. en-ar,ar-en (default: "
                                                           "both directions of --source-lang and --target-lang).",
                                         json_schema_extra={"cli": {"comma": True}})
    split: str = Field("train", description="Split of each input to read.")
    eval_size: int = Field(200, description="Held-out examples (whole pairs, both directions).")
    seed: int = Field(0, description="Seed for instruction phrasing, shuffling and the split.")
    min_chars: int = Field(1, description="Skip pairs whose either side is shorter than this many characters.")
    overwrite: bool = Field(False, description="Replace an existing output folder.")
    push_to_hub: str | None = Field(None, description="Push the finished artifact to this dataset repo.")

    @model_validator(mode="after")
    def _both_directions_by_default(self) -> "MixConfig":
        if self.directions is None:
            self.directions = [f"{self.source_lang}-{self.target_lang}", f"{self.target_lang}-{self.source_lang}"]
        return self

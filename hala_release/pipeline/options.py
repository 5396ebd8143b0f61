"""Options of `hala-release pipeline run`: each defined once, with its default and help."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from hala_release.core.languages import LanguageCode


class PipelineRunOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    recipe: Path = Field(description="Pipeline recipe YAML (stages with uses:/with:).",
                         json_schema_extra={"cli": {"argument": True}})
    output_dir: Path | None = Field(None, description="Folder for the stage artifacts (default: the recipe's "
                                                      "output_dir, else ./runs/<name>).")
    push_to_hub: str | None = Field(None, description="Push each artifact to ORG/<repo> as it completes (one commit, "
                                                      "tagged with the recipe's version).")
    from_stage: str | None = Field(None, description="Rebuild this stage and every later one; earlier ones are used "
                                                     "as they are.", json_schema_extra={"cli": {"flags": "--from"}})
    only: str | None = Field(None, description="Rebuild only this stage (its inputs must exist).")
    dry_run: bool = Field(False, description="Validate and explain the recipe; run and download nothing.",
                          json_schema_extra={"cli": {"flags": "--dry-run"}})
    private: bool = Field(False, description="Create pushed repos as private.")
    calibrate: int | None = Field(None, ge=1, description="With --dry-run: run each translate and judge stage on its "
                                                    "first N rows here, and print device hours at the measured rates.")
    tokens_per_second: float | None = Field(None, gt=0, description="With --dry-run: also price the tokens to generate "
                                                              "at this rate per engine (a cluster you do not have).")


class NewRecipeOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    target_lang: LanguageCode = Field(description="The language to build HALA for (a code: sw, ur, bn, tr, yo...).")
    output: Path | None = Field(None, description="Recipe file to write (default: recipes/hala-<lang>.yaml).")
    teacher: str | None = Field(None, description="Teacher translator, a Hub id or folder (required where the "
                                                  "default, Command A Translate, does not cover the language).")
    parallel: str | None = Field(None, description="English-LANG parallel corpus for the judge (default: OPUS-100's "
                                                   "pair, where it has one).")
    parallel_subset: str | None = Field(None, description="Config of --parallel, e.g. en-sw.")
    overwrite: bool = Field(False, description="Replace an existing recipe file.")

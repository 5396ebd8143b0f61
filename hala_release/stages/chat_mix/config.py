"""The chat-mix stage's options: the one place each is defined, with its default and help."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from hala_release.core.languages import LanguageCode


class ChatMixConfig(BaseModel):
    """Every option of `hala-release chat-mix`; the one definition for CLI, recipes and Python."""

    model_config = ConfigDict(extra="forbid")

    translated: list[str] = Field(default_factory=list, description="Translated instruction dataset ref (output of "
                                                                    "translate); repeatable.")
    output: str = Field(description="Folder to write the chat SFT dataset artifact to.")
    target_lang: LanguageCode = Field("ar", description="Language of the translated columns to read (<column>_<lang>).")
    include_source: bool = Field(False, description="Also keep each row's original conversation (bilingual set).")
    source_lang: LanguageCode = Field("en", description="Language code recorded for the originals (with --include-source).")
    split: str = Field("train", description="Split of each input to read.")
    language_id: bool = Field(True, description="Leave out conversations whose user turns are, confidently, another "
                                                "language than their column's (py3langid).")
    min_language_confidence: float = Field(0.8, description="Identifier probability for another language that leaves "
                                                            "a conversation out.")
    language_min_letters: int = Field(40, description="User turns with fewer letters are not judged.")
    eval_size: int = Field(200, description="Held-out examples.")
    seed: int = Field(0, description="Seed for the shuffle and the split.")
    overwrite: bool = Field(False, description="Replace an existing output folder.")
    push_to_hub: str | None = Field(None, description="Push the finished artifact to this dataset repo.")

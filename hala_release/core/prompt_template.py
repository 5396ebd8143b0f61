"""A prompt template and how it fills in: the standard library only, so the demo Space carries this very file.

Placeholders (`{text}`, `{source_name}`, `{target_name}`, `{source_lang}`, `{target_lang}`, and for the judge
`{source}`, `{target}`) are filled in one pass over the template, so braces inside the texts themselves are
never read as placeholders. Loading templates (shipped YAML files or a user's) is `hala_release.core.prompts`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

LANGUAGE_NAMES = {
    "ar": "Arabic", "en": "English", "fr": "French", "de": "German", "es": "Spanish", "it": "Italian",
    "pt": "Portuguese", "nl": "Dutch", "tr": "Turkish", "fa": "Persian", "ur": "Urdu", "hi": "Hindi",
    "bn": "Bengali", "ru": "Russian", "uk": "Ukrainian", "zh": "Chinese", "ja": "Japanese", "ko": "Korean",
    "id": "Indonesian", "ms": "Malay", "sw": "Swahili", "he": "Hebrew", "el": "Greek", "pl": "Polish",
    "ro": "Romanian", "vi": "Vietnamese", "th": "Thai", "ha": "Hausa", "yo": "Yoruba", "am": "Amharic",
    "so": "Somali", "ku": "Kurdish", "ckb": "Central Kurdish", "ps": "Pashto", "uz": "Uzbek", "kk": "Kazakh",
    "az": "Azerbaijani", "sv": "Swedish", "da": "Danish", "fi": "Finnish", "cs": "Czech", "hu": "Hungarian",
}
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def language_name(code: str) -> str:
    """English name of a language code, for prompts ("Arabic"); unknown codes are used as they are."""
    return LANGUAGE_NAMES.get(code.split("-")[0].lower(), code)


@dataclass(frozen=True)
class PromptTemplate:
    name: str
    user: str
    system: str | None = None

    @property
    def text(self) -> str:
        """The template as recorded in cards and cache keys."""
        return (f"[system]\n{self.system}\n" if self.system else "") + f"[user]\n{self.user}"

    def messages(self, text: str, source_lang: str, target_lang: str, **payload: str) -> list[dict[str, str]]:
        values = {"source_name": language_name(source_lang), "target_name": language_name(target_lang),
                  "source_lang": source_lang, "target_lang": target_lang, "text": text, **payload}

        def fill(template: str) -> str:
            return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)

        messages = [{"role": "system", "content": fill(self.system)}] if self.system else []
        return messages + [{"role": "user", "content": fill(self.user)}]

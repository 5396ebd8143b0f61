"""Prompt templates: shipped YAML files (or a user's file) turning one segment into chat messages.

Placeholders (`{text}`, `{source_name}`, `{target_name}`, `{source_lang}`, `{target_lang}`, and for the judge
`{source}`, `{target}`) are filled in one pass over the template, so braces inside the texts themselves are
never read as placeholders.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

from hala_release.core.errors import UsageError, yaml_problem

LANGUAGE_NAMES = {
    "ar": "Arabic", "en": "English", "fr": "French", "de": "German", "es": "Spanish", "it": "Italian",
    "pt": "Portuguese", "nl": "Dutch", "tr": "Turkish", "fa": "Persian", "ur": "Urdu", "hi": "Hindi",
    "bn": "Bengali", "ru": "Russian", "uk": "Ukrainian", "zh": "Chinese", "ja": "Japanese", "ko": "Korean",
    "id": "Indonesian", "ms": "Malay", "sw": "Swahili", "he": "Hebrew", "el": "Greek", "pl": "Polish",
    "ro": "Romanian", "vi": "Vietnamese", "th": "Thai", "ha": "Hausa", "yo": "Yoruba", "am": "Amharic",
    "so": "Somali", "ku": "Kurdish", "ckb": "Central Kurdish", "ps": "Pashto", "uz": "Uzbek", "kk": "Kazakh",
    "az": "Azerbaijani", "sv": "Swedish", "da": "Danish", "fi": "Finnish", "cs": "Czech", "hu": "Hungarian",
}
BUILTIN = ("hala-teacher", "hala-translator", "hala-judge")
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


def load_template(name_or_file: str, required: str = "{text}") -> PromptTemplate:
    """A shipped template by name, or a YAML file with `user:` (and optional `system:`) keys."""
    if name_or_file in BUILTIN:
        text = resources.files("hala_release.resources.prompts").joinpath(f"{name_or_file}.yaml").read_text(encoding="utf-8")
        source = name_or_file
    else:
        path = Path(name_or_file).expanduser()
        if not path.is_file():
            raise UsageError(f"prompt template {name_or_file!r} is neither a shipped one ({', '.join(BUILTIN)}) "
                             f"nor a file: pass one of those names or a YAML file with a `user:` key")
        text, source = path.read_text(encoding="utf-8"), str(path)
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as err:
        raise UsageError(f"prompt template {source} is not valid YAML ({yaml_problem(err)}): fix the file") from None
    needed = required.split(",")
    if not isinstance(data, dict) or not isinstance(data.get("user"), str) or not all(n in data["user"] for n in needed):
        raise UsageError(f"prompt template {source} needs a `user:` string containing {' and '.join(needed)}")
    return PromptTemplate(name=source, user=data["user"], system=data.get("system"))

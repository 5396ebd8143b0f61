"""Prompt templates: shipped YAML files (or a user's file) turning one segment into chat messages.

The template itself and how its placeholders fill in are `hala_release.core.prompt_template` (standard library
only, so the demo Space carries a copy of it); this module loads and checks templates.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import yaml

from hala_release.core.errors import UsageError, yaml_problem
from hala_release.core.prompt_template import LANGUAGE_NAMES, PromptTemplate, language_name

BUILTIN = ("hala-teacher", "hala-translator", "hala-judge")
__all__ = ["BUILTIN", "LANGUAGE_NAMES", "PromptTemplate", "language_name", "load_template"]


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

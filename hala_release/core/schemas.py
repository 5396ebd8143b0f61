"""Dataset layouts: which fields of a row are text to translate, and where the translations go.

Each schema lists locators. A locator reads the texts of one column and builds the translated column
`<column>_<target>` with the same structure (a string, or a list of turns with only the text key replaced),
so every original column and the row order stay as they were.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any

from hala_release.core.errors import UsageError

# Columns translate adds to every row: whether it passed the quality gates, and why not. Later stages (chat-mix)
# read them, so their names live here rather than in the translate stage.
OK_COLUMN, ISSUES_COLUMN = "translation_ok", "translation_issues"

@dataclass(frozen=True)
class Locator:
    """One column's translatable text: the column itself (`key` None) or `key` inside each list item / dict."""

    column: str
    key: str | None = None
    kind: str = "text"  # "text": a string column; "turns": list of dicts; "langs": a {lang: text} dict

    def texts(self, value: Any, source_lang: str) -> list[str]:
        """The translatable strings in this column's `value`, in order."""
        if self.kind == "text":
            return [value] if isinstance(value, str) else []
        if self.kind == "turns":
            return [turn[self.key] for turn in value or [] if isinstance(turn.get(self.key), str)]
        text = (value or {}).get(source_lang)
        return [text] if isinstance(text, str) else []

    def rebuild(self, value: Any, translated: list[str]) -> Any:
        """The translated column's value, shaped like the original `value`."""
        if self.kind in ("text", "langs"):
            return translated[0] if translated else None
        turns = copy.deepcopy(value) or []
        it = iter(translated)
        for turn in turns:
            if isinstance(turn.get(self.key), str):
                turn[self.key] = next(it)
        return turns

    def output_column(self, target_lang: str) -> str:
        return f"{self.column}_{target_lang}"


@dataclass(frozen=True)
class Schema:
    name: str
    source: str  # the HALA source it was written for
    locators: tuple[Locator, ...]

    def matches(self, columns: set[str]) -> bool:
        return all(loc.column in columns for loc in self.locators)

    def texts(self, row: dict[str, Any], source_lang: str) -> list[list[str]]:
        return [loc.texts(row.get(loc.column), source_lang) for loc in self.locators]

    def output_columns(self, target_lang: str) -> list[str]:
        return [loc.output_column(target_lang) for loc in self.locators]


def _text(*columns: str) -> tuple[Locator, ...]:
    return tuple(Locator(c) for c in columns)


# Ordered: `auto` takes the first schema whose columns are all present.
SCHEMAS: dict[str, Schema] = {s.name: s for s in [
    Schema("openorca", "Open-Orca/OpenOrca", _text("system_prompt", "question", "response")),
    Schema("sharegpt", "NousResearch/Hermes-3-Dataset", (Locator("conversations", "value", "turns"),)),
    Schema("messages", "allenai/tulu-3-sft-mixture", (Locator("messages", "content", "turns"),)),
    Schema("alpaca", "GAIR/ReAlign-Alpaca", (Locator("items", "value", "turns"),)),
    Schema("alpaca-classic", "tatsu-lab/alpaca", _text("instruction", "input", "output")),
    Schema("scp", "EricLu/SCP-116K", _text("problem", "matched_solution", "o1_solution", "qwq_solution")),
    Schema("lamini", "MBZUAI/LaMini-instruction", _text("instruction", "response")),
    Schema("pairwise", "Dahoas/synthetic-instruct-gptj-pairwise", _text("prompt", "chosen", "rejected")),
    Schema("parallel", "Helsinki-NLP/opus-100", (Locator("translation", None, "langs"),)),
]}
_FIELD = re.compile(r"^(?P<column>[^\s\[\].]+)(?:\[\]\.(?P<key>[^\s\[\].]+))?$")


def fields_schema(fields: list[str]) -> Schema:
    """A schema from `--fields`: `col` for a string column, `col[].key` for a list of dicts."""
    locators = []
    for field in fields:
        match = _FIELD.match(field.strip())
        if not match:
            raise UsageError(f"bad field {field!r}: use a column name like 'question' or 'turns[].text'")
        key = match.group("key")
        locators.append(Locator(match.group("column"), key, "turns" if key else "text"))
    if not locators:
        raise UsageError("--schema fields needs --fields, e.g. --fields question,answer")
    return Schema("fields", "user-defined", tuple(locators))


def choose_schema(name: str, columns: list[str], fields: list[str] | None = None) -> Schema:
    """Resolve `--schema` (or detect it) against the dataset's columns, with an error that lists what would work."""
    present = set(columns)
    if fields:
        if name not in ("auto", "fields"):
            raise UsageError(f"--fields only goes with --schema fields (got --schema {name})")
        schema = fields_schema(fields)
    elif name == "auto":
        schema = next((s for s in SCHEMAS.values() if s.matches(present)), None)
        if schema is None:
            raise UsageError(
                f"no known layout matches the columns {', '.join(columns)}: pass --schema fields --fields "
                f"COL[,COL...] (or COL[].KEY for lists of dicts); known schemas: {', '.join(SCHEMAS)}"
            )
    elif name in SCHEMAS:
        schema = SCHEMAS[name]
    elif name == "fields":
        raise UsageError("--schema fields needs --fields, e.g. --fields question,answer")
    else:
        raise UsageError(f"unknown schema {name!r}: choose auto, fields or one of {', '.join(SCHEMAS)}")
    missing = [loc.column for loc in schema.locators if loc.column not in present]
    if missing:
        raise UsageError(
            f"schema {schema.name!r} needs column(s) {', '.join(missing)}, but the dataset has "
            f"{', '.join(columns)}: pass --schema auto, or --schema fields --fields with the text columns"
        )
    return schema

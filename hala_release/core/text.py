"""One definition of "the same text", shared by every stage that deduplicates or keeps splits apart.

judge (its `identical` and `duplicate_normalised` filters), mix and chat-mix must agree on when two texts are the
same: otherwise a pair one stage calls new, another calls a copy, and a sentence can sit in both a train and a test
split. Two texts are the same when their `normalise` values are equal. The rules, each for a reason:

- Unicode NFKC: compatibility forms (Arabic presentation forms and ligatures, full-width letters, `ﬁ`) become the
  letters they show.
- `str.casefold`: case never makes two sentences different (`Straße` = `STRASSE`).
- Arabic diacritics (tashkeel, Quranic annotation marks, dagger alef) and tatweel are deleted: Arabic is mostly
  written without them, so `كَتَبَ` and `كتب` are one word. Combining marks of other scripts (Devanagari vowel signs,
  Thai vowels) are letters' vowels there, so they stay.
- Invisible format characters (bidi marks, zero-width joiners, soft hyphens, BOM) are deleted.
- Decimal digits of every script read as ASCII digits: Arabic text writes `٣` or `3` for the same number.
- Whitespace and control characters separate words; punctuation at either edge of a word is dropped and words are
  joined by one space: `where are you going ?` = `Where are you going?`. Punctuation inside a word stays, and
  symbols stay, so `2*3` != `2/3`, `x+1` != `x-1` and `therapist` != `the rapist`.

The rules were the union of the normalisers the stages used before (NFKC + casefold + collapsed whitespace in
mix and chat-mix; lower case, letters and digits only in judge; NFKC + casefold, letters and digits only in
translate's untranslated gate), minus what made different texts equal: dropping every space, every symbol and
punctuation inside words (`2*3` = `23` = `2/3`).

There is one implementation, this Python function; judge applies it column-wise, once per distinct string
(`normalise_array`). An Arrow compute port could not be equal to it: Arrow lower-cases and normalises with
utf8proc's Unicode tables and simple case mappings, Python with its own Unicode version and full case folding,
and two definitions that disagree on rare characters are what this module exists to prevent.

Stages that hold many texts keep a 128-bit hash of the normalised text (`text_key`) instead of the text; mix and
chat-mix group items that share one (`executors.grouped_split`): the unit of a train/test split.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from functools import cache
from itertools import repeat
from typing import Any

VERSION = 1  # of the rules below; judge's resumable chunks record it, so bump it when a rule changes
# Blocks whose combining marks are Arabic diacritics: Arabic, Arabic Supplement, Arabic Extended-B and -A.
_ARABIC_BLOCKS = ((0x0600, 0x06FF), (0x0750, 0x077F), (0x0870, 0x08FF))
TATWEEL = "\u0640"


@cache
def _tables() -> tuple[dict[int, Any], str, frozenset[str], str, "re.Pattern[str]"]:
    """From Python's Unicode data, once: the `str.translate` table (deletions, controls to spaces, digits to
    ASCII), the punctuation characters (as a string for `strip`, a set, and the ASCII ones) and a pattern that
    finds any character the table changes (`translate` looks up every character: most texts need none)."""
    table: dict[int, Any] = {ord(TATWEEL): None}
    punctuation = []
    for code in range(0x110000):
        category = unicodedata.category(chr(code))
        if category == "Cf" or (category == "Mn" and any(lo <= code <= hi for lo, hi in _ARABIC_BLOCKS)):
            table[code] = None
        elif category == "Cc":
            table[code] = " "  # tabs, newlines and other controls separate words
        elif category == "Nd" and code > 0x7F:
            table[code] = str(unicodedata.decimal(chr(code)))
        elif category.startswith("P"):
            punctuation.append(chr(code))
    every = "".join(punctuation)
    return table, every, frozenset(every), "".join(ch for ch in every if ch.isascii()), _any_of(sorted(table))


def _any_of(codes: list[int]) -> "re.Pattern[str]":
    """Finds any of `codes` (ascending). The class holds only the BMP ones (a bitmap for `re`, a step per
    character); the rest are looked for only in a text with characters beyond the BMP (ranges, much slower)."""
    bmp = [code for code in codes if code <= 0xFFFF]
    astral = [code for code in codes if code > 0xFFFF]
    return re.compile(_class(bmp) + ("|(?=[\U00010000-\U0010FFFF])" + _class(astral) if astral else ""))


def _class(codes: list[int]) -> str:
    ranges, start = [], codes[0]
    for previous, code in zip(codes, codes[1:] + [-1]):
        if code != previous + 1:
            ranges.append(re.escape(chr(start)) + ("-" + re.escape(chr(previous)) if previous > start else ""))
            start = code
    return "[" + "".join(ranges) + "]"


def normalise(text: str) -> str:
    """The form of `text` that equals another text's exactly when they are "the same text" (module docstring)."""
    table, punctuation, is_punctuation, ascii_punctuation, changed = _tables()
    if text.isascii():  # the same rules, cheaper: NFKC changes no ASCII, casefold is lower, no marks or digits
        text = text.lower()
        if not text.isprintable():
            text = text.translate(table)
        words = map(str.strip, text.split(), repeat(ascii_punctuation))
    else:  # NFKC again after casefold and deleting marks and format characters: they can leave composable sequences
        text = unicodedata.normalize("NFKC", text).casefold()
        if changed.search(text):
            text = text.translate(table)
        text = unicodedata.normalize("NFKC", text)
        words = [word.strip(punctuation) if word[0] in is_punctuation or word[-1] in is_punctuation else word
                 for word in text.split()]
    return " ".join(filter(None, words))  # a word that was all punctuation is gone


def normalise_array(strings, batch: int = 65_536):
    """`normalise` over an Arrow string array, once per distinct string of each batch; nulls stay null.

    The Python function is the one definition; this only applies it column-wise without holding the whole
    column as Python strings.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    parts = []
    for start in range(0, len(strings), batch):
        part = strings.slice(start, batch)
        if isinstance(part, pa.ChunkedArray):
            part = part.combine_chunks()
        encoded = pc.dictionary_encode(part)
        forms = pa.array([normalise(t) for t in encoded.dictionary.to_pylist()], pa.string())
        parts.append(forms.take(encoded.indices))
    return pa.chunked_array(parts, pa.string())


def text_key(kind: str, text: str) -> int:
    """A 128-bit key for the normalised `text` within `kind` (its language, say): equal keys = the same text."""
    return hash_key(kind, normalise(text))


def hash_key(*parts: str) -> int:
    """A 128-bit key for exactly these strings (no normalisation); collisions are out of reach at any data size."""
    joined = "\0".join(parts).encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.blake2b(joined, digest_size=16).digest(), "big")

"""Language identification: which language a text is in, with py3langid (BSD-3; its naive Bayes model over byte
n-grams ships inside its 4.6 MB wheel, 142 labels, nothing downloaded at run time), screened by pycld2.

py3langid is the more accurate of the two on short texts (../shared/FACTS.md: pycld2 reads 18% of short French as
English) but reads bytes in a Python loop, about 150 µs a text; CLD2 (Apache-2.0, C++) takes about 10 µs. So a text
CLD2 reliably reads as the language it should be in, nearly all of it, is accepted on CLD2's word, and every other
text (each one that may be rejected) is judged by py3langid: a rejection is always py3langid's.

Like an engine: loaded once per process, and its name, version and thresholds are recorded in the provenance and
card of every artifact it checked. A text with fewer letters than `min_letters` is not judged (short texts are
where identifiers guess), and a text counts as another language only when the identifier gives that language at
least `min_confidence`: a check that rejects what it is sure of, not what it cannot read.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import NamedTuple

from hala_release.core.languages import language_group

NAME = "py3langid"
# A long text is judged on its first and last 100 characters: py3langid's cost grows with the bytes it reads, and
# 100-300 characters is where it is already about 98% right; the end is where a model drifting into another
# language shows.
SAMPLE_CHARS = 100
SCREEN = "pycld2"
SCREEN_MIN_PERCENT = 90  # CLD2's share of the text in its top language, for the screen to accept


class Verdict(NamedTuple):
    language: str  # the identifier's label, e.g. "fa"
    confidence: float  # py3langid's probability, or CLD2's share of the text where the screen accepted it


@lru_cache(maxsize=1)
def _identifier():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


@lru_cache(maxsize=2)
def version(package: str = NAME) -> str:
    from importlib.metadata import version as package_version

    return package_version(package)


@lru_cache(maxsize=256)
def knows(code: str) -> bool:
    """Whether the identifier has a label for `code`'s language (else the check cannot judge it, and is skipped)."""
    group = language_group(code)
    return any(language_group(label) == group for label in set(_identifier().nb_classes))


@lru_cache(maxsize=4096)
def identify(text: str, min_letters: int, expected: str | None = None) -> Verdict | None:
    """The most likely language of `text` (of its start and end, for a long one), or None when it has fewer than
    `min_letters` letters. With `expected` (the code the text should be in), CLD2's reading is taken when it
    confirms that language (`_screen`). Cached: system prompts and other repeated texts are read once."""
    if len(text) > 2 * SAMPLE_CHARS:
        text = f"{text[:SAMPLE_CHARS]} {text[-SAMPLE_CHARS:]}"
    if not _letters_at_least(min_letters).match(text):
        return None
    if expected is not None and (confirmed := _screen(text, expected)) is not None:
        return confirmed
    label, confidence = _identifier().classify(text)
    return Verdict(label, float(confidence))


@lru_cache(maxsize=8)
def _letters_at_least(count: int) -> re.Pattern:
    """Matches a text with at least `count` letters, stopping at the count-th (counting them all costs 5-10x more)."""
    return re.compile(r"[\W\d_]*(?:[^\W\d_][\W\d_]*){%d}" % count)


def _screen(text: str, expected: str) -> Verdict | None:
    """CLD2's verdict when it reliably reads at least SCREEN_MIN_PERCENT of `text` as `expected`'s language, else
    None (py3langid decides). Text CLD2 refuses (a NUL, a lone surrogate) goes to py3langid too."""
    import pycld2

    try:
        reliable, _, ((_, label, percent, _), *_) = pycld2.detect(text)
    except (pycld2.error, UnicodeError):
        return None
    if not reliable or percent < SCREEN_MIN_PERCENT:
        return None
    return Verdict(label, percent / 100) if language_group(label) == language_group(expected) else None


def is_other_language(verdict: Verdict | None, code: str, min_confidence: float) -> bool:
    return (verdict is not None and verdict.confidence >= min_confidence
            and language_group(verdict.language) != language_group(code))


def record(min_confidence: float, min_letters: int) -> dict:
    """What the provenance and card say about the check (like a model's pin)."""
    return {"identifier": NAME, "version": version(), "screen": SCREEN, "screen_version": version(SCREEN),
            "screen_min_percent": SCREEN_MIN_PERCENT, "min_confidence": min_confidence, "min_letters": min_letters}


def described() -> str:
    """The identifiers as a card names them; `screen_note` says how they share the work."""
    return f"{NAME} {version()} behind a {SCREEN} {version(SCREEN)} screen"


def screen_note() -> str:
    return (f"A text {SCREEN} reliably reads as the language expected, at least {SCREEN_MIN_PERCENT}% of it, is "
            f"accepted on its word; every rejection is {NAME}'s.")


def found_row(label: str, code: str, counts: dict[str, int]) -> str:
    """A card table row: the languages read for texts meant to be `code`, most frequent first (or why none)."""
    if not knows(code):
        return f"| {label} | not checked: {NAME} has no label for it |"
    shown = ", ".join(f"{lang} {n:,}" for lang, n in sorted(counts.items(), key=lambda item: -item[1]))
    return f"| {label} | {shown or 'none read'} |"

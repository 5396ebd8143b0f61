"""Quality gates for one translated segment: cheap checks that catch the ways MT output goes wrong at scale.

Each gate returns a reason name when it fails; a segment failing any gate is retried, and a row whose segment
still fails goes to the `rejected` split with its reasons, never silently into the main one.
"""

from __future__ import annotations

import re
import zlib

from pydantic import BaseModel

from hala_release.core.segment import MARKER_RE, LostSpanError, Segment, restore
from hala_release.core.text import normalise

# Letters of each script, by the languages HALA-style projects target most often.
SCRIPTS: dict[str, str] = {
    "arabic": r"\u0600-\u06FF\u0750-\u077F\u08A0-\u08FF\uFB50-\uFDFF\uFE70-\uFEFF",
    "latin": r"A-Za-z\u00C0-\u024F\u1E00-\u1EFF",
    "cyrillic": r"\u0400-\u04FF",
    "greek": r"\u0370-\u03FF",
    "hebrew": r"\u0590-\u05FF",
    "devanagari": r"\u0900-\u097F",
    "han": r"\u4E00-\u9FFF\u3400-\u4DBF",
    "kana": r"\u3040-\u30FF",
    "hangul": r"\uAC00-\uD7AF",
    "thai": r"\u0E00-\u0E7F",
}
LANGUAGE_SCRIPT: dict[str, str] = {
    **dict.fromkeys(["ar", "fa", "ur", "ps", "ckb", "ug", "sd"], "arabic"),
    **dict.fromkeys(["en", "fr", "de", "es", "it", "pt", "nl", "tr", "id", "ms", "sw", "pl", "ro", "vi",
                     "sv", "da", "no", "fi", "cs", "hu", "tl", "ha", "yo", "so", "uz", "az"], "latin"),
    **dict.fromkeys(["ru", "uk", "bg", "sr", "kk", "ky", "mn", "be"], "cyrillic"),
    "el": "greek", "he": "hebrew", "hi": "devanagari", "mr": "devanagari", "ne": "devanagari",
    "zh": "han", "ja": "kana", "ko": "hangul", "th": "thai",
}
_LETTER = re.compile(r"[^\W\d_]")
_WORDS = re.compile(r"\w+")


class GateConfig(BaseModel):
    """Thresholds, recorded in the card so readers know what "passed" meant."""

    min_target_script: float = 0.5  # share of letters in the target script
    min_length_ratio: float = 0.3  # translated chars / source chars, for sources of at least length_min_chars
    max_length_ratio: float = 3.0
    length_min_chars: int = 20
    untranslated_min_letters: int = 12  # identical output only counts as untranslated above this size
    max_repeats: int = 6  # the same 1-4 word n-gram back to back this many times is a loop
    enabled: bool = True  # False keeps only the lost-span check (without it nothing can be restored)
    structure: bool = True  # whole text: code blocks, inline code, link targets and math as in the source


def script_ratio(text: str, language: str) -> float | None:
    """Share of the letters of `text` written in `language`'s script; None when unknown or no letters."""
    script = LANGUAGE_SCRIPT.get(language.split("-")[0].lower())
    letters = _LETTER.findall(MARKER_RE.sub("", text))
    if script is None or not letters:
        return None
    in_script = re.findall(f"[{SCRIPTS[script]}]", "".join(letters))
    return len(in_script) / len(letters)


def _same_text(source: str, translation: str) -> bool:
    """The "same text" every stage uses (`text.normalise`), markers read as word breaks: an untranslated copy."""
    return normalise(MARKER_RE.sub(" ", source)) == normalise(MARKER_RE.sub(" ", translation))


def _has_loop(text: str, max_repeats: int) -> bool:
    words = _WORDS.findall(text.lower())
    for n in range(1, 5):
        run = 1
        for i in range(n, len(words) - n + 1, n):
            run = run + 1 if words[i:i + n] == words[i - n:i] else 1
            if run >= max_repeats:
                return True
    return False


def check(segment: Segment, translation: str, source_lang: str, target_lang: str, config: GateConfig) -> list[str]:
    """Reasons this translation fails (empty list = passes). Lost spans always count: they cannot be restored."""
    reasons = []
    try:
        restore(segment, translation)
    except LostSpanError:
        reasons.append("lost_spans")
    if not config.enabled:
        return reasons
    source = segment.text
    if not translation.strip():
        return reasons + ["empty"]
    ratio = script_ratio(translation, target_lang)
    if ratio is not None and script_ratio(source, target_lang) != 1.0 and ratio < config.min_target_script:
        reasons.append("target_script")
    source_letters = len(_LETTER.findall(MARKER_RE.sub("", source)))
    if source_letters >= config.untranslated_min_letters and _same_text(source, translation):
        reasons.append("untranslated")
    if len(source) >= config.length_min_chars:
        length_ratio = len(translation) / len(source)
        if not config.min_length_ratio <= length_ratio <= config.max_length_ratio:
            reasons.append("length_ratio")
    if _has_loop(translation, config.max_repeats) and not _has_loop(source, config.max_repeats):
        reasons.append("repetition")
    elif len(translation) > 200 and _compressibility(translation) < 0.5 * _compressibility(source):
        reasons.append("repetition")
    return reasons


def _compressibility(text: str) -> float:
    data = text.encode("utf-8")
    return len(zlib.compress(data)) / max(1, len(data))

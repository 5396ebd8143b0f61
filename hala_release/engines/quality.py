"""Quality gates for one translated segment: cheap checks that catch the ways MT output goes wrong at scale.

Each gate returns a reason name when it fails; a segment failing any gate is retried, and a row whose segment
still fails goes to the `rejected` split with its reasons, never silently into the main one.
"""

from __future__ import annotations

import re
import zlib

from pydantic import BaseModel

from hala_release.core.languages import script_share
from hala_release.core.segment import MARKER_RE, LostSpanError, Segment, restore
from hala_release.core.text import normalise

_LETTERS = re.compile(r"[^\W\d_]+")  # runs: summing their lengths is twice as fast as a match per letter
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
    language_id: bool = True  # whole text: not confidently another language (py3langid), when it knows the target
    min_language_confidence: float = 0.8  # the identifier's probability for another language that rejects a text
    language_min_letters: int = 40  # shorter translated texts are not judged


def script_ratio(text: str, language: str) -> float | None:
    """Share of the letters of `text` (markers aside) written in a script of `language`; None without letters."""
    return script_share(MARKER_RE.sub("", text), language)


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
    ratio = script_ratio(translation, target_lang)  # also where source and target share a script
    if ratio is not None and ratio < config.min_target_script:
        reasons.append("target_script")
    source_letters = sum(map(len, _LETTERS.findall(MARKER_RE.sub("", source))))
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

"""Cheap filters for a parallel corpus, run before any model sees it: each is counted, the first that fails wins.

They run column-wise with Arrow compute (RE2 regular expressions, hash grouping), so a million pairs take
seconds rather than minutes. `identical` and `duplicate_normalised` compare texts as `text.normalise` does (the
definition of "the same text" that mix and chat-mix use too), applied once per distinct string: exact matching
after normalisation, not fuzzy near-duplicate detection.
"""

from __future__ import annotations

import re
from collections import Counter

from pydantic import BaseModel

from hala_release.core import text
from hala_release.engines.quality import LANGUAGE_SCRIPT, SCRIPTS

# In the order they are applied; a pair is counted under the first filter it fails.
FILTERS = ("empty", "non_text", "identical", "wrong_script", "length_ratio", "duplicate", "duplicate_normalised")
# What decides a pair's reason beyond the config: scored chunks made under other rules must not be reused.
RULES = f"{','.join(FILTERS)}; normalisation {text.VERSION}"
_URL = r"(?:https?|ftp)://\S+|www\.\S+|\S+@\S+\.\S+"


class PairFilterConfig(BaseModel):
    min_letter_share: float = 0.5  # letters outside URLs and e-mails / all non-space characters
    min_script_share: float = 0.5  # letters in the side's own script / letters
    max_length_ratio: float = 3.0  # longer side / shorter side, in characters
    length_ratio_min_chars: int = 10  # shorter than this on both sides: ratio not checked


def _count(pc, column, char_class: str):
    """Characters of `char_class` per string: length minus the length with every run of them removed (one
    replace pass; RE2's per-match counting is four times slower)."""
    return pc.subtract(pc.utf8_length(column), pc.utf8_length(pc.replace_substring_regex(column, f"{char_class}+", "")))


def _share(pc, numerator, denominator):
    return pc.divide(pc.cast(numerator, "double"), pc.max_element_wise(pc.cast(denominator, "double"), 1.0))


def filter_reasons(source, target, source_lang: str, target_lang: str, config: PairFilterConfig):
    """A string array: the first failing filter per pair, or null for pairs that pass every filter."""
    import pyarrow as pa
    import pyarrow.compute as pc

    source = pc.fill_null(pc.cast(source, pa.string()), "")
    target = pc.fill_null(pc.cast(target, pa.string()), "")
    rows = len(source)
    checks: list[tuple[str, pa.Array]] = []
    stripped = [pc.utf8_trim_whitespace(side) for side in (source, target)]
    checks.append(("empty", pc.or_(*(pc.equal(pc.utf8_length(side), 0) for side in stripped))))

    def letter_share(side):
        no_links = pc.replace_substring_regex(side, _URL, "")
        letters = _count(pc, no_links, r"\pL")  # letters outside links; links still count as visible text
        visible = pc.subtract(pc.utf8_length(side), _count(pc, side, r"\s"))
        return letters, _share(pc, letters, visible)

    (src_letters, src_share), (tgt_letters, tgt_share) = letter_share(source), letter_share(target)
    checks.append(("non_text", pc.or_(pc.less(src_share, config.min_letter_share),
                                      pc.less(tgt_share, config.min_letter_share))))
    src_norm, tgt_norm = text.normalise_array(source), text.normalise_array(target)
    checks.append(("identical", pc.equal(src_norm, tgt_norm)))
    wrong = pa.array([False] * rows)
    for side, letters, lang in ((source, src_letters, source_lang), (target, tgt_letters, target_lang)):
        script = LANGUAGE_SCRIPT.get(lang.split("-")[0].lower())
        if script:
            re2_class = re.sub(r"\\u([0-9A-Fa-f]{4})", r"\\x{\1}", SCRIPTS[script])  # RE2 spells \uXXXX as \x{XXXX}
            in_script = _count(pc, side, f"[{re2_class}]")
            wrong = pc.or_(wrong, pc.less(_share(pc, in_script, letters), config.min_script_share))
    checks.append(("wrong_script", wrong))
    src_len, tgt_len = pc.utf8_length(stripped[0]), pc.utf8_length(stripped[1])
    longer = pc.cast(pc.max_element_wise(src_len, tgt_len), "double")
    shorter = pc.max_element_wise(pc.cast(pc.min_element_wise(src_len, tgt_len), "double"), 1.0)
    checks.append(("length_ratio", pc.and_(pc.greater_equal(longer, config.length_ratio_min_chars),
                                           pc.greater(pc.divide(longer, shorter), config.max_length_ratio))))
    checks.append(("duplicate", _repeats(pa, pc, pc.binary_join_element_wise(source, target, "\x00"))))
    checks.append(("duplicate_normalised", _repeats(pa, pc, pc.binary_join_element_wise(src_norm, tgt_norm, "\x00"))))

    reasons = pa.nulls(rows, pa.string())
    for name, failed in reversed(checks):  # the earliest filter is applied last, so it wins
        reasons = pc.if_else(pc.fill_null(failed, False), name, reasons)
    return reasons


def _repeats(pa, pc, keys):
    """True for every occurrence of a key after its first."""
    table = pa.table({"key": keys, "row": pa.array(range(len(keys)), pa.int64())})
    first = table.group_by("key", use_threads=False).aggregate([("row", "min")]).column("row_min")
    keep = pc.is_in(table.column("row"), value_set=first)
    return pc.invert(keep)


def count_reasons(reasons) -> Counter:
    """Pairs per filter (every filter present, zero included, in application order)."""
    import pyarrow.compute as pc

    counts = {item["values"]: item["counts"] for item in pc.value_counts(reasons.drop_null()).to_pylist()}
    return Counter({name: counts.get(name, 0) for name in FILTERS})

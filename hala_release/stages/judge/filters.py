"""Cheap filters for a parallel corpus, run before any model sees it: each is counted, the first that fails wins.

They run column-wise with Arrow compute (RE2 regular expressions), so a million pairs take seconds rather than
minutes. `identical` and `duplicate_normalised` compare texts as `text.normalise` does (the definition of "the
same text" that mix and chat-mix use too), applied once per distinct string: exact matching after normalisation,
not fuzzy near-duplicate detection.

The duplicate filters need the whole corpus ("first occurrence wins"), so the judge runs every filter once per
corpus (`corpus_reasons`), batch by batch: each text is normalised once, for `identical` and for its duplicate
key alike; every pair is reduced to two 16-byte BLAKE2b keys (exact and normalised), and DuckDB finds the repeats
among the keys on disk (memory stays bounded at any corpus size). The result is one reason code per pair
(1 byte), which every shard reads instead of filtering again.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

from pydantic import BaseModel

from hala_release.core import text
from hala_release.core.languages import language_group, letter_class, letter_ranges

# In the order they are applied; a pair is counted under the first filter it fails.
FILTERS = ("empty", "non_text", "identical", "wrong_script", "wrong_language", "length_ratio", "duplicate",
           "duplicate_normalised")
# What decides a pair's reason beyond the config: scored chunks made under other rules must not be reused.
RULES = f"{','.join(FILTERS)}; normalisation {text.VERSION}"
REASONS = (None, *FILTERS)  # a reason code is an index into this; 0: the pair passed every cheap filter
_KEYS_MEMORY = "128MB"  # DuckDB's budget for finding repeated keys; it spills to disk beyond it
_RESULT_ROWS = 1 << 20  # repeats fetched from DuckDB at a time
_URL = r"(?:https?|ftp)://\S+|www\.\S+|\S+@\S+\.\S+"


class PairFilterConfig(BaseModel):
    min_letter_share: float = 0.5  # letters outside URLs and e-mails / all non-space characters
    min_script_share: float = 0.5  # letters in the side's own script / letters
    max_length_ratio: float = 3.0  # longer side / shorter side, in characters
    length_ratio_min_chars: int = 10  # shorter than this on both sides: ratio not checked
    language_id: bool = True  # each side not confidently another language (py3langid), where it knows the language
    min_language_confidence: float = 0.8
    language_min_letters: int = 40  # shorter sides are not judged


def _count(pc, column, char_class: str):
    """Characters of `char_class` per string: length minus the length with every run of them removed (one
    replace pass; RE2's per-match counting is four times slower)."""
    return pc.subtract(pc.utf8_length(column), pc.utf8_length(pc.replace_substring_regex(column, f"{char_class}+", "")))


def _share(pc, numerator, denominator):
    return pc.divide(pc.cast(numerator, "double"), pc.max_element_wise(pc.cast(denominator, "double"), 1.0))


def filter_reasons(source, target, source_lang: str, target_lang: str, config: PairFilterConfig,
                   batch: int = 65_536):
    """A string array: the first failing filter per pair, or null for pairs that pass every filter (the whole
    corpus in one process)."""
    import tempfile

    pairs = ((source.slice(start, batch), target.slice(start, batch)) for start in range(0, len(source), batch))
    with tempfile.TemporaryDirectory(prefix="hala-filters-") as spill:
        return reasons_of(corpus_reasons(pairs, source_lang, target_lang, config, Path(spill)))


def corpus_reasons(pairs, source_lang: str, target_lang: str, config: PairFilterConfig, spill: Path,
                   found: Counter | None = None, workers: int = 1):
    """Every pair's reason code (an index into `REASONS`; int8), for a corpus given as (source, target) batches in
    row order. Memory: the codes (a byte a pair) and a batch per worker; the keys go to a DuckDB file in `spill`,
    and the repeats come back a batch at a time. With `workers` > 1 the per-pair filters of successive batches run
    in that many forked processes (the filters are pure Python and Arrow per pair; only the repeats need the whole
    corpus, and those stay here)."""
    import numpy as np

    codes = []
    with _filtered(pairs, source_lang, target_lang, config, workers) as batches, _KeyStore(spill) as keys:
        for batch_codes, (exact, normalised), batch_found in batches:
            codes.append(batch_codes)
            keys.add(exact, normalised)
            if found is not None:
                found.update(batch_found)
        codes = np.concatenate(codes) if codes else np.zeros(0, np.int8)
        for kinds, rows in keys.repeats():
            _mark_repeats(codes, kinds, rows)
    return codes


def _filter_batch(source, target, source_lang: str, target_lang: str, config: PairFilterConfig):
    """One batch's reason codes, duplicate keys and languages found (what a worker sends back: small arrays)."""
    found: Counter = Counter()
    reasons, keys = _pair_filters(source, target, source_lang, target_lang, config, found)
    return reason_codes(reasons), keys, found


@contextmanager
def _filtered(pairs, source_lang: str, target_lang: str, config: PairFilterConfig, workers: int):
    """The batches' `_filter_batch` results in order: here, or from a pool of forked processes that keeps at most
    two batches per worker in flight (each sent compacted: a slice of a mapped column would otherwise carry
    every buffer of the column with it)."""
    if workers <= 1:
        yield (_filter_batch(source, target, source_lang, target_lang, config) for source, target in pairs)
        return
    import multiprocessing
    from collections import deque
    from concurrent.futures import ProcessPoolExecutor

    import pyarrow as pa

    _warm(source_lang, target_lang, config)  # children inherit the loaded model and character classes

    def results(pool):
        pending: deque = deque()
        for source, target in pairs:
            compact = [pa.concat_arrays(side.chunks if isinstance(side, pa.ChunkedArray) else [side])
                       for side in (source, target)]
            pending.append(pool.submit(_filter_batch, *compact, source_lang, target_lang, config))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()

    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
        yield results(pool)


def _warm(source_lang: str, target_lang: str, config: PairFilterConfig) -> None:
    """Load what every batch needs once, before forking."""
    from hala_release.engines import language_id

    for lang in (source_lang, target_lang):
        if letter_ranges(lang):
            letter_class(lang, "re2")
        if config.language_id:
            language_id.knows(lang)
    text.normalise("")


def _mark_repeats(codes, kinds, rows) -> None:
    """Repeats' codes, in place, in any order: where no per-pair filter failed, an exact repeat is `duplicate` and
    a normalised one `duplicate_normalised` unless it is also an exact repeat (`duplicate` wins)."""
    duplicate, normalised = REASONS.index("duplicate"), REASONS.index("duplicate_normalised")
    exact = rows[kinds == 0]
    codes[exact[(codes[exact] == 0) | (codes[exact] == normalised)]] = duplicate
    similar = rows[kinds == 1]
    codes[similar[codes[similar] == 0]] = normalised


def reason_codes(reasons):
    """Reason strings (null: passed) as int8 codes, indices into `REASONS`."""
    import pyarrow as pa
    import pyarrow.compute as pc

    found = pc.index_in(reasons, value_set=pa.array(FILTERS, pa.string()))
    return pc.add(pc.fill_null(found, -1), 1).to_numpy(zero_copy_only=False).astype("int8")


def reasons_of(codes):
    """Reason codes back to a string array (null where the pair passed)."""
    import pyarrow as pa

    return pa.array(REASONS, pa.string()).take(pa.array(codes, pa.int8()))


class _KeyStore:
    """Rows' (exact, normalised) 128-bit keys in an on-disk DuckDB table, so repeats are found out of core."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.path = self.folder / "duplicate-keys.duckdb"
        self.rows = 0

    def __enter__(self) -> "_KeyStore":
        import duckdb

        self.folder.mkdir(parents=True, exist_ok=True)
        self._remove()
        self.db = duckdb.connect(str(self.path), config={
            "memory_limit": _KEYS_MEMORY, "temp_directory": str(self.folder / "duplicate-keys.spill"),
            "preserve_insertion_order": False})
        self.db.execute("CREATE TABLE keys (kind TINYINT, row BIGINT, hi UBIGINT, lo UBIGINT)")
        return self

    def add(self, exact, normalised) -> None:
        import numpy as np
        import pyarrow as pa

        rows = np.arange(self.rows, self.rows + len(exact), dtype=np.int64)
        for kind, keys in ((0, exact), (1, normalised)):
            halves = keys.view("<u8").reshape(-1, 2)
            batch = pa.table({"kind": pa.array(np.full(len(rows), kind, np.int8)), "row": rows,
                              "hi": halves[:, 0], "lo": halves[:, 1]})
            self.db.register("batch", batch)
            self.db.execute("INSERT INTO keys SELECT * FROM batch")
            self.db.unregister("batch")
        self.rows += len(exact)

    def repeats(self):
        """(kinds, rows) batches: every exact (kind 0) and normalised (kind 1) key after its first occurrence, in
        no order. Streamed, not fetched whole: DuckDB keeps a fetched result in memory, past its limit on a big
        corpus with many repeats."""
        found = self.db.sql("""
            SELECT k.kind, k.row FROM keys k JOIN (
                SELECT kind, hi, lo, min(row) AS first FROM keys GROUP BY kind, hi, lo HAVING count(*) > 1
            ) f ON k.kind = f.kind AND k.hi = f.hi AND k.lo = f.lo
            WHERE k.row > f.first""").to_arrow_reader(_RESULT_ROWS)
        for batch in found:
            yield batch.column(0).to_numpy(), batch.column(1).to_numpy()

    def __exit__(self, *exc) -> None:
        self.db.close()
        self._remove()

    def _remove(self) -> None:
        import shutil

        for path in (self.path, self.path.with_name(self.path.name + ".wal")):
            path.unlink(missing_ok=True)
        shutil.rmtree(self.folder / "duplicate-keys.spill", ignore_errors=True)


def _texts(pa, pc, side):
    return pc.fill_null(pc.cast(side, pa.string()), "")


def _wrong_language(pa, pc, source, target, source_lang: str, target_lang: str, config: PairFilterConfig, failed,
                    found: Counter):
    """Pairs with a side confidently in another language than its own (only pairs no earlier filter rejected are
    read: identification is the costliest filter). `found` counts the languages read, per side."""
    from hala_release.engines import language_id

    sides = [(name, side.to_pylist(), lang) for name, side, lang in (("source", source, source_lang),
                                                                       ("target", target, target_lang))
             if config.language_id and language_id.knows(lang)]
    if not sides:
        return pa.array([False] * len(source))
    wrong = []
    for row, failed_before in enumerate(pc.fill_null(failed, False).to_pylist()):
        bad = False
        if not failed_before:
            for name, side_texts, lang in sides:
                verdict = language_id.identify(side_texts[row], config.language_min_letters, lang)
                found[f"{name}:" + ("short" if verdict is None else language_group(verdict.language))] += 1
                bad = bad or language_id.is_other_language(verdict, lang, config.min_language_confidence)
        wrong.append(bad)
    return pa.array(wrong, pa.bool_())


def _pair_filters(source, target, source_lang: str, target_lang: str, config: PairFilterConfig, found: Counter):
    """Per-pair reasons for one batch and its duplicate keys (the normalised text is made once, for both)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    source, target = _texts(pa, pc, source), _texts(pa, pc, target)
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
        if letter_ranges(lang):  # letters of the language's scripts, from Unicode's script properties
            in_script = _count(pc, pc.replace_substring_regex(side, _URL, ""), letter_class(lang, "re2"))
            wrong = pc.or_(wrong, pc.less(_share(pc, in_script, letters), config.min_script_share))
    checks.append(("wrong_script", wrong))
    checks.append(("wrong_language", _wrong_language(pa, pc, source, target, source_lang, target_lang, config,
                                                     pc.or_(pc.or_(checks[0][1], checks[1][1]),
                                                            pc.or_(checks[2][1], wrong)), found)))
    src_len, tgt_len = pc.utf8_length(stripped[0]), pc.utf8_length(stripped[1])
    longer = pc.cast(pc.max_element_wise(src_len, tgt_len), "double")
    shorter = pc.max_element_wise(pc.cast(pc.min_element_wise(src_len, tgt_len), "double"), 1.0)
    checks.append(("length_ratio", pc.and_(pc.greater_equal(longer, config.length_ratio_min_chars),
                                           pc.greater(pc.divide(longer, shorter), config.max_length_ratio))))

    reasons = pa.nulls(rows, pa.string())
    for name, failed in reversed(checks):  # the earliest filter is applied last, so it wins
        reasons = pc.if_else(pc.fill_null(failed, False), name, reasons)
    return reasons, (_keys(pa, pc, source, target), _keys(pa, pc, src_norm, tgt_norm))


def _keys(pa, pc, source, target):
    """16 bytes of BLAKE2b per pair: fixed-width keys, so the repeats of a whole corpus fit in memory."""
    joined = pc.cast(pc.binary_join_element_wise(source, target, "\x00"), pa.binary())
    digests = b"".join(hashlib.blake2b(pair, digest_size=16).digest() for pair in joined.to_pylist())
    import numpy as np

    return np.frombuffer(digests, dtype="V16")


def count_reasons(reasons) -> Counter:
    """Pairs per filter (every filter present, zero included, in application order)."""
    import pyarrow.compute as pc

    counts = {item["values"]: item["counts"] for item in pc.value_counts(reasons.drop_null()).to_pylist()}
    return Counter({name: counts.get(name, 0) for name in FILTERS})

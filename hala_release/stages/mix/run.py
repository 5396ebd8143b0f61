"""The mix stage: translated instruction data and filtered parallel pairs become a bilingual translator SFT set.

Every (source, target) pair becomes a chat example per direction, with the instruction phrased one of several
ways (chosen from the seed and the normalised source text, so it never depends on row order). Examples are
deduplicated by direction and source text, shuffled with the seed, and split by groups of pairs that share a
sentence: every sentence of either language (as `text.normalise` sees it) is a node, every pair an edge, and a
connected group goes whole to train or to test. OPUS often gives one Arabic sentence to several English ones (and
the reverse); splitting by pair would put that sentence on both sides. Same inputs and seed: the same bytes.

Pairs are read as Arrow batches and only their keys and phrasing are computed in Python; dedup, groups, split,
shuffle and the chat rows themselves are built out of core by `executors.grouped_split` (DuckDB), so memory does
not grow with the corpus.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

from hala_release.artifacts.build import build_artifact
from hala_release.stages.mix.config import MixConfig
from hala_release.executors.chunks import arrow_batches, load_split, work_dir_for
from hala_release.executors.grouped_split import GroupedSplit, key_halves, mix64, salt
from hala_release.core.disk_space import SpaceNeed, check_room
from hala_release.core.errors import HalaError, UsageError
from hala_release.core.files import prepare_output
from hala_release.artifacts.inputs import input_license
from hala_release.core.schemas import OK_COLUMN
from hala_release.core.text import normalise

log = logging.getLogger(__name__)

# Several phrasings per direction, so the translator does not overfit one instruction string.
PHRASINGS = (
    "Translate the following text from {src} to {tgt}.",
    "Translate from {src} to {tgt}:",
    "Please translate this {src} text into {tgt}.",
    "Render the text below in {tgt}. It is written in {src}.",
    "{src} to {tgt}:",
    "Give the {tgt} translation of this {src} text, keeping its formatting.",
)
READ_ROWS = 10_000  # input rows per Arrow batch


def _schema():
    import pyarrow as pa

    message = pa.struct([("role", pa.string()), ("content", pa.string())])
    return pa.schema([("messages", pa.list_(message)), ("direction", pa.string()), ("source", pa.string())])


def translated_pairs(dataset, source_lang: str, target_lang: str) -> Iterator[tuple[list[str], list[str]]]:
    """(sources, targets) per batch from a translate artifact: each column `c` with a `c_<target>` twin."""
    columns = dataset.column_names
    twins = [c for c in columns if f"{c}_{target_lang}" in columns]
    if not twins:
        raise UsageError(f"no translated columns (like question/question_{target_lang}) among {', '.join(columns)}: "
                         f"pass the output of `hala-release translate` as --translated, or pairs as --parallel")
    wanted = [*twins, *(f"{c}_{target_lang}" for c in twins), *([OK_COLUMN] if OK_COLUMN in columns else [])]
    for table in arrow_batches(dataset.select_columns(wanted), READ_ROWS):
        firsts, seconds = [], []
        for row in table.to_pylist():
            if row.get(OK_COLUMN) is False:
                continue
            for column in twins:
                for first, second in _aligned(row[column], row[f"{column}_{target_lang}"]):
                    firsts.append(first)
                    seconds.append(second)
        yield firsts, seconds


def _aligned(original: Any, translated: Any) -> Iterator[tuple[str, str]]:
    if isinstance(original, str) and isinstance(translated, str):
        yield original, translated
    elif isinstance(original, dict) and isinstance(translated, str):  # a parallel column translated from one side
        return
    elif isinstance(original, list) and isinstance(translated, list):
        for before, after in zip(original, translated):
            if isinstance(before, dict) and isinstance(after, dict):
                for key in ("value", "content", "text"):
                    if isinstance(before.get(key), str) and isinstance(after.get(key), str):
                        yield before[key], after[key]
                        break


def parallel_pairs(dataset, source_lang: str, target_lang: str) -> Iterator[tuple[list[str], list[str]]]:
    """(sources, targets) per batch from a `translation` {lang: text} column (OPUS layout, `judge` output)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if "translation" not in dataset.column_names:
        raise UsageError(f"no 'translation' column among {', '.join(dataset.column_names)}: --parallel takes an "
                         f"OPUS-style corpus (or the output of `hala-release judge`)")
    for table in arrow_batches(dataset.select_columns(["translation"]), READ_ROWS):
        column = table.column("translation")
        if not pa.types.is_struct(column.type) or not all(
                column.type.get_field_index(lang) >= 0 for lang in (source_lang, target_lang)):
            return
        both = [pc.struct_field(column, lang) for lang in (source_lang, target_lang)]
        if not all(pa.types.is_string(side.type) or pa.types.is_large_string(side.type) for side in both):
            return
        present = pc.and_(pc.is_valid(both[0]), pc.is_valid(both[1]))
        yield both[0].filter(present).to_pylist(), both[1].filter(present).to_pylist()


def add_pairs(split: GroupedSplit, pairs: tuple[list[str], list[str]], source: int, first_item: int,
              config: MixConfig) -> tuple[int, int]:
    """Put one batch of pairs into `split` as an example per direction; returns (pairs used, pairs too short).

    Sentences are 128-bit keys of their normalised text and language (`text.text_key`): a pair links its two, and
    an example is a duplicate when its source sentence's key was seen in an earlier example of its direction.
    """
    import numpy as np
    import pyarrow as pa

    kept_first, kept_second, digests = [], [], bytearray()
    langs = (config.source_lang, config.target_lang)
    for first, second in zip(*pairs):
        first, second = first.strip(), second.strip()
        if len(first) < config.min_chars or len(second) < config.min_chars:
            continue
        kept_first.append(first)
        kept_second.append(second)
        digests += _digest(langs[0], first)
        digests += _digest(langs[1], second)
    count = len(kept_first)
    if not count:
        return 0, len(pairs[0])
    keys = key_halves(digests).reshape(count, 2, 2)  # pair, language, half
    items = first_item + np.arange(count, dtype=np.int64)
    texts = (pa.array(kept_first, pa.string()), pa.array(kept_second, pa.string()))
    seq, dedup, columns = [], [], {"src": [], "tgt": [], "instruction": [], "direction": [], "source": []}
    for number, direction in enumerate(config.directions):
        src = langs.index(direction.split("-")[0])
        phrasing = mix64(keys[:, src, 1], salt(config.seed, "phrasing", direction)).view(np.uint64) % len(PHRASINGS)
        seq.append(items * len(config.directions) + number)
        dedup.append(keys[:, src])
        columns["src"].append(texts[src])
        columns["tgt"].append(texts[1 - src])
        columns["instruction"].append(pa.array(number * len(PHRASINGS) + phrasing.astype(np.int16), pa.int16()))
        columns["direction"].append(pa.array(np.full(count, number, np.int8)))
        columns["source"].append(pa.array(np.full(count, source, np.int32)))
    split.add(np.concatenate(seq), np.tile(items, len(config.directions)), np.concatenate(dedup),
              {name: pa.concat_arrays(parts) for name, parts in columns.items()},
              np.repeat(items, 2), keys.reshape(-1, 2))
    return count, len(pairs[0]) - count


def _digest(language: str, text: str) -> bytes:
    """The bytes of `text.text_key(language, text)`, without the detour through a Python int."""
    joined = f"{language}\0{normalise(text)}".encode("utf-8", "surrogatepass")
    return hashlib.blake2b(joined, digest_size=16).digest()


def _sql_list(values: list[str]) -> str:
    return "[" + ", ".join("'" + value.replace("'", "''") + "'" for value in values) + "]"


def projection(config: MixConfig, sources: list[str]) -> str:
    """SQL that turns a stored example (texts and small indices) into the artifact's row."""
    from hala_release.core.languages import display_name as language_name

    names = {lang: language_name(lang) for lang in (config.source_lang, config.target_lang)}
    instructions = [p.format(src=names[d.split("-")[0]], tgt=names[d.split("-")[1]])
                    for d in config.directions for p in PHRASINGS]
    return (f"[{{'role': 'user', 'content': {_sql_list(instructions)}[instruction + 1] || chr(10) || chr(10) || src}}, "
            f"{{'role': 'assistant', 'content': tgt}}] AS messages, "
            f"{_sql_list(config.directions)}[direction + 1] AS direction, {_sql_list(sources)}[source + 1] AS source")


def mix_examples(split: GroupedSplit, sources: list[tuple[str, Iterator]], config: MixConfig) -> Counter:
    """Stream every source's pairs into `split`; counts per source of kept, duplicate and skipped examples."""
    counts: Counter = Counter()
    item = 0
    for number, (name, batches) in enumerate(sources):
        for pairs in batches:
            used, skipped = add_pairs(split, pairs, number, item, config)
            item += used
            if skipped:
                counts[(name, "skipped_empty")] += skipped
    if split.empty:
        return counts
    for (number, direction), (kept, total) in split.tally("source", "direction").items():
        name, direction = sources[number][0], config.directions[direction]
        for what, value in ((direction, kept), (f"{direction}_duplicate", total - kept)):
            if value:
                counts[(name, what)] += value
    return counts


def space_need(config: MixConfig, loaded: list[tuple[str, Any]], output: Path) -> SpaceNeed:
    """Every example holds a pair's two texts, once per direction; examples pass through the out-of-core work store
    beside the output (about as big as the artifact, measured), which is still there while the artifact is written.
    Parquet keeps text in 1/1.5 to 1/4 of its Arrow size."""
    pair_bytes = 0
    for kind, dataset in loaded:
        columns = dataset.column_names
        twins = [(c, f"{c}_{config.target_lang}") for c in columns if f"{c}_{config.target_lang}" in columns]
        read = ["translation"] if kind == "parallel" else [name for pair in twins for name in pair]
        pair_bytes += sum(dataset.data.column(c).nbytes for c in read if c in columns)
    examples = pair_bytes * len(config.directions)
    return SpaceNeed("mix", output.parent, int(2 * examples / 1.5), int(examples / 4))


def run_mix(config: MixConfig) -> dict[str, Any]:
    from hala_release.core.licenses import carry_forward
    from hala_release.stages.mix.card import mix_card
    from hala_release.core.refs import resolve

    for direction in config.directions:
        if set(direction.split("-")) != {config.source_lang, config.target_lang} or direction.count("-") != 1:
            raise UsageError(f"direction {direction!r} must be {config.source_lang}-{config.target_lang} or "
                             f"{config.target_lang}-{config.source_lang}")
    if config.eval_size < 0:
        raise UsageError(f"--eval-size counts held-out examples: give 0 or more, not {config.eval_size}")
    if not config.translated and not config.parallel:
        raise UsageError("nothing to mix: pass --translated (translate outputs) and/or --parallel (pair corpora)")
    output = prepare_output(config.output, config.overwrite)
    inputs, sources, licences, loaded = {}, [], {}, []
    for kind, refs, reader in (("translated", config.translated, translated_pairs),
                               ("parallel", config.parallel, parallel_pairs)):
        for number, ref in enumerate(refs):
            resolved = resolve(ref, "dataset")
            name = resolved.hub_id or Path(ref).name
            inputs[f"{kind}_{number}"] = resolved
            dataset = load_split(resolved, config.split)
            sources.append((name, reader(dataset, config.source_lang, config.target_lang)))
            licences[name] = input_license(resolved)
            loaded.append((kind, dataset))
    check_room(space_need(config, loaded, output))
    with GroupedSplit(work_dir_for(output) / "grouped-split", config.seed) as split:
        counts = mix_examples(split, sources, config)
        if split.empty:
            raise HalaError("the inputs gave no pairs: check that they hold translated columns or a `translation` "
                            "column")
        chosen = split.split(config.eval_size, slack=len(config.directions) - 1)
        if config.eval_size and chosen.test < config.eval_size // 2:
            log.warning(f"only {chosen.test} of --eval-size {config.eval_size} examples could be held out: most "
                        f"pairs share sentences with others (largest group: {chosen.largest_group:,} examples), and "
                        f"a group is never split between train and test")
        if not chosen.train:
            raise HalaError(f"--eval-size {config.eval_size} leaves no training examples out of "
                            f"{chosen.train + chosen.test}: lower it")
        card = mix_card(config, inputs, counts, carry_forward(licences), chosen.train, chosen.test, PHRASINGS)
        with build_artifact(output, stage="mix", config=config.model_dump(), card=card, inputs=inputs,
                            overwrite=config.overwrite) as draft:
            _, draft.card.sample_records = split.write(draft.path / "data", chosen,
                                                       projection(config, [name for name, _ in sources]), _schema())
            draft.card.splits = {name: rows for name, rows in (("train", chosen.train), ("test", chosen.test)) if rows}
            draft.stats.update(examples=chosen.train + chosen.test, train=chosen.train, test=chosen.test,
                               groups=chosen.groups, largest_group=chosen.largest_group)
    train, evaluation = chosen.train, chosen.test
    return {"output": str(output), "train": train, "test": evaluation,
            "counts": {f"{s} {d}": n for (s, d), n in sorted(counts.items())}}

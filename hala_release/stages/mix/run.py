"""The mix stage: translated instruction data and filtered parallel pairs become a bilingual translator SFT set.

Every (source, target) pair becomes a chat example per direction, with the instruction phrased one of several
ways (chosen from the seed and the text, so it never depends on row order). Examples are deduplicated by
direction and source text, shuffled with the seed, and split by groups of pairs that share a sentence: every
sentence of either language (as `text.normalise` sees it) is a node, every pair an edge, and a connected group
goes whole to train or to test. OPUS often gives one Arabic sentence to several English ones (and the reverse);
splitting by pair would put that sentence on both sides. Same inputs and seed: the same bytes.
"""

from __future__ import annotations

import hashlib
import logging
import random
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

from hala_release.artifacts.build import build_artifact
from hala_release.stages.mix.config import MixConfig
from hala_release.executors.chunks import load_split
from hala_release.core.errors import HalaError, UsageError
from hala_release.core.files import prepare_output
from hala_release.artifacts.inputs import input_license
from hala_release.core.text import SameTextGroups, hold_out, text_key

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


def translated_pairs(dataset, source_lang: str, target_lang: str) -> Iterator[tuple[str, str]]:
    """(source, target) pairs from a translate artifact: each column `c` with a `c_<target>` twin."""
    columns = dataset.column_names
    twins = [c for c in columns if f"{c}_{target_lang}" in columns]
    if not twins:
        raise UsageError(f"no translated columns (like question/question_{target_lang}) among {', '.join(columns)}: "
                         f"pass the output of `hala-release translate` as --translated, or pairs as --parallel")
    for row in dataset:
        if row.get("translation_ok") is False:
            continue
        for column in twins:
            yield from _aligned(row[column], row[f"{column}_{target_lang}"])


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


def parallel_pairs(dataset, source_lang: str, target_lang: str) -> Iterator[tuple[str, str]]:
    """(source, target) pairs from a `translation` {lang: text} column (OPUS layout, `judge` output)."""
    if "translation" not in dataset.column_names:
        raise UsageError(f"no 'translation' column among {', '.join(dataset.column_names)}: --parallel takes an "
                         f"OPUS-style corpus (or the output of `hala-release judge`)")
    for row in dataset:
        pair = row["translation"] or {}
        if isinstance(pair.get(source_lang), str) and isinstance(pair.get(target_lang), str):
            yield pair[source_lang], pair[target_lang]


def _phrase(seed: int, direction: str, text: str, src: str, tgt: str) -> str:
    digest = hashlib.sha256(f"{seed}\0{direction}\0{text}".encode()).digest()
    return PHRASINGS[digest[0] % len(PHRASINGS)].format(src=src, tgt=tgt)


def build_examples(sources: list[tuple[str, Iterator[tuple[str, str]]]], config: MixConfig):
    """Chat examples in groups of pairs that share a sentence, deduplicated, plus counts per source and direction.

    Sentences are held as 128-bit keys of their normalised text and language, never as strings, so the graph
    of a million pairs stays small beside the examples themselves.
    """
    from hala_release.core.prompts import language_name

    names = {config.source_lang: language_name(config.source_lang), config.target_lang: language_name(config.target_lang)}
    graph = SameTextGroups()
    used: set[int] = set()  # keys of source sentences already given an example (a key names its language)
    examples: list[tuple[int, dict]] = []
    counts: Counter = Counter()
    for source_name, pairs in sources:
        for first, second in pairs:
            texts = {config.source_lang: first.strip(), config.target_lang: second.strip()}
            if min(len(t) for t in texts.values()) < config.min_chars:
                counts[(source_name, "skipped_empty")] += 1
                continue
            keys = {lang: text_key(lang, text) for lang, text in texts.items()}
            node = graph.join(list(keys.values()))
            for direction in config.directions:
                src, tgt = direction.split("-")
                if keys[src] in used:
                    counts[(source_name, f"{direction}_duplicate")] += 1
                    continue
                used.add(keys[src])
                instruction = _phrase(config.seed, direction, texts[src], names[src], names[tgt])
                examples.append((node, {"messages": [{"role": "user", "content": f"{instruction}\n\n{texts[src]}"},
                                                     {"role": "assistant", "content": texts[tgt]}],
                                        "direction": direction, "source": source_name}))
                counts[(source_name, direction)] += 1
    return graph.grouped(examples), counts


def split_groups(groups: list[list[dict]], eval_size: int, seed: int, slack: int = 1) -> tuple[list[dict], list[dict]]:
    """Shuffle the groups with the seed; whole groups go to eval until it holds `eval_size` examples (one more
    pair's worth, `slack`, may come along; a group too big for what is left stays in train)."""
    train, evaluation = hold_out(groups, eval_size, seed, slack)
    random.Random(seed + 1).shuffle(train)  # directions of one pair should not sit side by side
    return train, evaluation


def run_mix(config: MixConfig) -> dict[str, Any]:
    from datasets import Dataset

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
    inputs, sources, licences = {}, [], {}
    for kind, refs, reader in (("translated", config.translated, translated_pairs),
                               ("parallel", config.parallel, parallel_pairs)):
        for number, ref in enumerate(refs):
            resolved = resolve(ref, "dataset")
            name = resolved.hub_id or Path(ref).name
            inputs[f"{kind}_{number}"] = resolved
            dataset = load_split(resolved, config.split)
            sources.append((name, reader(dataset, config.source_lang, config.target_lang)))
            licences[name] = input_license(resolved)
    groups, counts = build_examples(sources, config)
    if not groups:
        raise HalaError("the inputs gave no pairs: check that they hold translated columns or a `translation` column")
    train, evaluation = split_groups(groups, config.eval_size, config.seed, slack=len(config.directions) - 1)
    if config.eval_size and len(evaluation) < config.eval_size // 2:
        log.warning(f"only {len(evaluation)} of --eval-size {config.eval_size} examples could be held out: most pairs "
                    f"share sentences with others (largest group: {max(map(len, groups)):,} examples), and a group "
                    f"is never split between train and test")
    if not train:
        raise HalaError(f"--eval-size {config.eval_size} leaves no training examples out of "
                        f"{sum(len(g) for g in groups)}: lower it")
    card = mix_card(config, inputs, counts, carry_forward(licences), len(train), len(evaluation), PHRASINGS)
    with build_artifact(output, stage="mix", config=config.model_dump(), card=card, inputs=inputs,
                        overwrite=config.overwrite) as draft:
        splits = {"train": Dataset.from_list(train)}
        if evaluation:
            splits["test"] = Dataset.from_list(evaluation)
        draft.write_splits(splits)
        draft.stats.update(examples=len(train) + len(evaluation), train=len(train), test=len(evaluation),
                           groups=len(groups), largest_group=max(map(len, groups)))
    return {"output": str(output), "train": len(train), "test": len(evaluation),
            "counts": {f"{s} {d}": n for (s, d), n in sorted(counts.items())}}

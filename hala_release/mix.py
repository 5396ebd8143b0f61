"""The mix stage: translated instruction data and filtered parallel pairs become a bilingual translator SFT set.

Every (source, target) pair becomes a chat example per direction, with the instruction phrased one of several
ways (chosen from the seed and the text, so it never depends on row order). Examples are deduplicated by
direction and source text, shuffled with the seed, and split so that both directions of a pair land on the
same side: the eval split never shares a sentence with training. Same inputs and seed: the same bytes.
"""

from __future__ import annotations

import hashlib
import random
import unicodedata
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

from pydantic import BaseModel, ConfigDict, Field

from .artifacts import build_artifact
from .chunked import load_split
from .errors import HalaError, UsageError
from .model_io import input_license

# Several phrasings per direction, so the translator does not overfit one instruction string.
PHRASINGS = (
    "Translate the following text from {src} to {tgt}.",
    "Translate from {src} to {tgt}:",
    "Please translate this {src} text into {tgt}.",
    "Render the text below in {tgt}. It is written in {src}.",
    "{src} to {tgt}:",
    "Give the {tgt} translation of this {src} text, keeping its formatting.",
)


class MixConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    translated: list[str] = Field(default_factory=list)
    parallel: list[str] = Field(default_factory=list)
    output: str
    source_lang: str = "en"
    target_lang: str = "ar"
    directions: list[str] = Field(default_factory=lambda: ["en-ar", "ar-en"])
    split: str = "train"
    eval_size: int = 200
    seed: int = 0
    min_chars: int = 1
    overwrite: bool = False
    push_to_hub: str | None = None


def _key(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


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
    """Chat examples grouped by pair, deduplicated, plus counts per source and direction."""
    from .prompts import language_name

    names = {config.source_lang: language_name(config.source_lang), config.target_lang: language_name(config.target_lang)}
    seen: set[tuple[str, str]] = set()
    groups: list[list[dict]] = []
    counts: Counter = Counter()
    for source_name, pairs in sources:
        for first, second in pairs:
            texts = {config.source_lang: first.strip(), config.target_lang: second.strip()}
            if min(len(t) for t in texts.values()) < config.min_chars:
                counts[(source_name, "skipped_empty")] += 1
                continue
            group = []
            for direction in config.directions:
                src, tgt = direction.split("-")
                key = (direction, _key(texts[src]))
                if key in seen:
                    counts[(source_name, f"{direction}_duplicate")] += 1
                    continue
                seen.add(key)
                instruction = _phrase(config.seed, direction, texts[src], names[src], names[tgt])
                group.append({"messages": [{"role": "user", "content": f"{instruction}\n\n{texts[src]}"},
                                           {"role": "assistant", "content": texts[tgt]}],
                              "direction": direction, "source": source_name})
                counts[(source_name, direction)] += 1
            if group:
                groups.append(group)
    return groups, counts


def split_groups(groups: list[list[dict]], eval_size: int, seed: int) -> tuple[list[dict], list[dict]]:
    """Shuffle pairs with the seed; whole pairs go to eval until it holds `eval_size` examples."""
    order = list(range(len(groups)))
    random.Random(seed).shuffle(order)
    evaluation: list[dict] = []
    train: list[dict] = []
    for index in order:
        (evaluation if len(evaluation) < eval_size else train).extend(groups[index])
    random.Random(seed + 1).shuffle(train)  # directions of one pair should not sit side by side
    return train, evaluation


def run_mix(config: MixConfig) -> dict[str, Any]:
    from datasets import Dataset

    from .licenses import carry_forward
    from .mix_card import mix_card
    from .refs import resolve

    for direction in config.directions:
        if set(direction.split("-")) != {config.source_lang, config.target_lang} or direction.count("-") != 1:
            raise UsageError(f"direction {direction!r} must be {config.source_lang}-{config.target_lang} or "
                             f"{config.target_lang}-{config.source_lang}")
    if config.eval_size < 0:
        raise UsageError(f"--eval-size counts held-out examples: give 0 or more, not {config.eval_size}")
    if not config.translated and not config.parallel:
        raise UsageError("nothing to mix: pass --translated (translate outputs) and/or --parallel (pair corpora)")
    output = Path(config.output).expanduser().resolve()
    if output.exists() and not config.overwrite:
        raise HalaError(f"output folder {output} already exists: pass --overwrite to replace it, or choose another --output")
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
    train, evaluation = split_groups(groups, config.eval_size, config.seed)
    if not train:
        raise HalaError(f"--eval-size {config.eval_size} leaves no training examples out of "
                        f"{sum(len(g) for g in groups)}: lower it")
    card = mix_card(config, inputs, counts, carry_forward(licences), len(train), len(evaluation))
    with build_artifact(output, stage="mix", config=config.model_dump(), card=card, inputs=inputs,
                        overwrite=config.overwrite) as draft:
        splits = {"train": Dataset.from_list(train)}
        if evaluation:
            splits["test"] = Dataset.from_list(evaluation)
        draft.write_splits(splits)
        draft.stats.update(examples=len(train) + len(evaluation), train=len(train), test=len(evaluation),
                           pairs=len(groups))
    return {"output": str(output), "train": len(train), "test": len(evaluation),
            "counts": {f"{s} {d}": n for (s, d), n in sorted(counts.items())}}

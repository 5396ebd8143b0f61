"""The chat mix stage: translated instruction datasets become one target-language chat SFT set.

HALA trained its instruct models on the translations of several English instruction datasets, each in its own
layout (Open-Orca columns, ShareGPT turns, chat messages, Alpaca fields...). This turns the translated columns of
each (`<column>_<target>`, written by `translate`) into `{role, content}` conversations in the target language,
drops rows whose translation failed its checks, deduplicates on the user turns, shuffles with the seed and holds
out an eval split. The split is by groups: conversations that share a user turn (as `text.normalise` sees it;
the same question opening a longer conversation elsewhere is not a duplicate) and a row's original and its
translation go whole to train or to test, so no question is both trained on and tested. Same inputs and seed:
the same bytes.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

from hala_release.artifacts.build import build_artifact
from hala_release.stages.chat_mix.config import ChatMixConfig
from hala_release.core.chat_format import TurnError, to_messages
from hala_release.executors.chunks import load_split
from hala_release.core.errors import HalaError, UsageError
from hala_release.core.files import prepare_output
from hala_release.artifacts.inputs import hub_parents, input_creators, input_license, license_fields
from hala_release.core.provenance import CardFacts, CardSection
from hala_release.core.schemas import SCHEMAS, choose_schema
from hala_release.core.text import SameTextGroups, hash_key, hold_out, normalise

log = logging.getLogger(__name__)
from hala_release.core.schemas import OK_COLUMN  # False where a row failed translate's quality checks

# Text-column layouts: which column plays which role, in conversation order. Consecutive parts with the same role
# (Alpaca's instruction and input) become one turn.
ROLE_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "openorca": (("system_prompt", "system"), ("question", "user"), ("response", "assistant")),
    "alpaca-classic": (("instruction", "user"), ("input", "user"), ("output", "assistant")),
    "scp": (("problem", "user"), ("matched_solution", "assistant")),
    "lamini": (("instruction", "user"), ("response", "assistant")),
    "pairwise": (("prompt", "user"), ("chosen", "assistant")),
}
# Turn layouts: the column holding the conversation.
TURN_COLUMNS = {"sharegpt": "conversations", "messages": "messages", "alpaca": "items"}


class Grouper:
    """Deduplicates examples and gathers them into split groups: the examples of one row (its languages) and every
    example sharing a normalised user turn with them."""

    def __init__(self) -> None:
        self.graph = SameTextGroups()
        self.used: set[int] = set()
        self.kept: list[tuple[int, dict[str, Any]]] = []
        self._row: tuple[str, str, int] | None = None  # (source, source_id, node) of the last example seen

    def add(self, example: dict[str, Any]) -> bool:
        """Record the example's links (duplicates too: their row's other language shares their question); False
        when it repeats a kept one."""
        language = example["language"]
        turns = [normalise(m["content"]) for m in example["messages"] if m["role"] == "user"]
        node = self.graph.join([hash_key(language, turn) for turn in turns])
        row = (example["source"], example["source_id"])
        if self._row is not None and self._row[:2] == row:
            node = self.graph.union(node, self._row[2])
        self._row = (*row, node)
        key = hash_key("dedup", language, *turns)  # the same user turns in the same language: the same question
        if key in self.used:
            return False
        self.used.add(key)
        self.kept.append((node, example))
        return True

    def groups(self) -> list[list[dict[str, Any]]]:
        return self.graph.grouped(self.kept)


def _joined(parts: list[tuple[str, str]]) -> list[dict[str, str]]:
    messages: list[dict[str, str]] = []
    for role, text in parts:
        if messages and messages[-1]["role"] == role:
            messages[-1]["content"] += "\n\n" + text
        else:
            messages.append({"role": role, "content": text})
    return messages


def detect_layout(columns: list[str], name: str, target_lang: str) -> str:
    """The instruction layout of a translate output, checked to hold the translated columns chat-mix reads."""
    known = [*ROLE_COLUMNS, *TURN_COLUMNS]
    try:
        layout = choose_schema("auto", [c for c in columns if not c.endswith(f"_{target_lang}")]).name
    except UsageError:
        raise UsageError(f"{name}: no known instruction layout in the columns {', '.join(columns)}; chat-mix reads "
                         f"translate outputs of these layouts: {', '.join(known)}") from None
    if layout not in known:
        raise UsageError(f"{name}: layout {layout!r} is not instruction data; chat-mix reads translate outputs of "
                         f"{', '.join(known)}; parallel corpora go to `hala-release mix --parallel`")
    needed = ([f"{TURN_COLUMNS[layout]}_{target_lang}"] if layout in TURN_COLUMNS
              else [f"{column}_{target_lang}" for column, _ in ROLE_COLUMNS[layout]])
    missing = [c for c in needed if c not in columns]
    if missing:
        raise UsageError(f"{name}: no translated column(s) {', '.join(missing)} (layout {layout}): pass the output "
                         f"of `hala-release translate` with --target-lang {target_lang}")
    return layout


def _messages(row: dict[str, Any], layout: str, suffix: str) -> list[dict[str, str]]:
    """The row's conversation from its columns ending in `suffix` (`_ar` for the translation, "" for the original)."""
    if layout in TURN_COLUMNS:
        messages = to_messages(row[f"{TURN_COLUMNS[layout]}{suffix}"])
        return [m for m in messages if m["content"].strip()]
    parts = [(role, row[f"{column}{suffix}"]) for column, role in ROLE_COLUMNS[layout]]
    return _joined([(role, text.strip()) for role, text in parts if isinstance(text, str) and text.strip()])


def conversations(dataset, name: str, layout: str, languages: dict[str, str]
                  ) -> Iterator[tuple[dict[str, Any] | None, str]]:
    """(example, "kept") for each usable conversation of a translate output, or (None, reason) for a skipped one.

    `languages` maps each language to build to its column suffix: {"ar": "_ar"}, plus {"en": ""} for the originals.
    """
    for index, row in enumerate(dataset):
        if row.get(OK_COLUMN) is False:
            yield None, "translation_failed"
            continue
        source_id = row.get("id")
        for language, suffix in languages.items():
            try:
                messages = _messages(row, layout, suffix)
            except TurnError as err:
                raise HalaError(f"{name}, row {index}: {err}") from None
            roles = [m["role"] for m in messages]
            if "user" not in roles or roles[-1] != "assistant":
                yield None, "incomplete"
                continue
            yield {"messages": messages, "language": language, "source": name,
                   "source_id": str(source_id if source_id is not None else index)}, "kept"


def run_chat_mix(config: ChatMixConfig) -> dict[str, Any]:
    from datasets import Dataset

    from hala_release.core.licenses import carry_forward
    from hala_release.core.refs import resolve

    if not config.translated:
        raise UsageError("nothing to mix: pass --translated with the output of `hala-release translate` (repeatable)")
    if config.eval_size < 0:
        raise UsageError(f"--eval-size counts held-out examples: give 0 or more, not {config.eval_size}")
    output = prepare_output(config.output, config.overwrite)
    languages = {config.target_lang: f"_{config.target_lang}"}
    if config.include_source:
        languages[config.source_lang] = ""
    inputs, licences, layouts = {}, {}, {}
    grouper = Grouper()
    counts: Counter = Counter()
    for number, ref in enumerate(config.translated):
        resolved = resolve(ref, "dataset")
        name = resolved.hub_id or Path(ref).name
        inputs[f"translated_{number}"] = resolved
        licences[name] = input_license(resolved)
        dataset = load_split(resolved, config.split)
        layouts[name] = detect_layout(dataset.column_names, name, config.target_lang)
        for example, outcome in conversations(dataset, name, layouts[name], languages):
            if example is None:
                counts[(name, outcome)] += 1
                continue
            if not grouper.add(example):
                counts[(name, "duplicate")] += 1
                continue
            counts[(name, f"kept_{example['language']}")] += 1
    groups = grouper.groups()
    examples = len(grouper.kept)
    if not examples:
        raise HalaError("the inputs gave no usable conversation: every row failed translation or lacked a user "
                        "and an assistant turn; see the counts with --eval-size 0 and check the translate cards")
    train, evaluation = hold_out(groups, config.eval_size, config.seed, slack=len(languages) - 1)
    random.Random(config.seed + 1).shuffle(train)  # a row's languages should not sit side by side
    if config.eval_size and len(evaluation) < config.eval_size // 2:
        log.warning(f"only {len(evaluation)} of --eval-size {config.eval_size} examples could be held out: most "
                    f"conversations share a user turn with others (largest group: {max(map(len, groups)):,}), and a "
                    f"group is never split between train and test")
    if not train:
        raise HalaError(f"--eval-size {config.eval_size} leaves no training examples out of {examples}: lower it")
    card = chat_mix_card(config, list(languages), inputs, layouts, counts, carry_forward(licences), len(train),
                         len(evaluation))
    counted = {f"{source} {what}": n for (source, what), n in sorted(counts.items())}
    with build_artifact(output, stage="chat-mix", config=config.model_dump(), card=card, inputs=inputs,
                        overwrite=config.overwrite) as draft:
        splits = {"train": Dataset.from_list(train)}
        if evaluation:
            splits["test"] = Dataset.from_list(evaluation)
        draft.write_splits(splits)
        draft.stats.update(examples=examples, train=len(train), test=len(evaluation), groups=len(groups),
                           largest_group=max(map(len, groups)), counts=counted)
    return {"output": str(output), "train": len(train), "test": len(evaluation), "counts": counted}


def chat_mix_card(config: ChatMixConfig, languages: list[str], inputs: dict, layouts: dict[str, str], counts: Counter,
                  carried, train: int, test: int) -> CardFacts:
    from hala_release.core.prompts import language_name

    language = language_name(config.target_lang)
    original = (f" Each row's original {language_name(config.source_lang)} conversation is kept too (`language` "
                f"says which is which)." if config.include_source else "")
    columns = [*(f"kept_{lang}" for lang in languages), "duplicate", "translation_failed", "incomplete"]
    table = "| source | layout | " + " | ".join(columns) + " |\n|---|---|" + "---|" * len(columns) + "\n" + "\n".join(
        f"| {name} | {layout} ({SCHEMAS[layout].source}) | "
        + " | ".join(f"{counts.get((name, c), 0):,}" for c in columns) + " |" for name, layout in layouts.items())
    pins = "\n".join(f"- `{item.ref.text}` pinned at `{item.pin}`" for item in inputs.values())
    return CardFacts(
        kind="dataset",
        title=f"{language} instruction SFT mix",
        summary=(f"{language} chat conversations (`messages`) for instruction tuning, built by `hala-release chat-mix` "
                 f"from the translations of {len(inputs)} instruction dataset(s): {train:,} train and {test:,} held-out "
                 f"test examples (seed {config.seed}). Rows whose translation failed its checks are left out; "
                 f"conversations asking the same thing are kept once. Conversations that share a user turn (compared "
                 f"after `hala_release.core.text` normalisation) are held out together, so no test question appears in "
                 f"train.{original}"),
        language=languages,
        **license_fields(carried),
        tags=["sft", "synthetic", "translated", "instruction-tuning"],
        source_datasets=hub_parents(*inputs.values()),
        task_categories=["text-generation"],
        annotations_creators=["machine-generated"],  # originals (--include-source) come as their inputs made them
        language_creators=sorted({"machine-generated", *(c for item in inputs.values() for c in input_creators(
            item, "language_creators", ["found"]) if config.include_source)}),
        sections=[
            CardSection(title="Inputs", markdown=pins),
            CardSection(title="Rows per source", markdown=(
                f"{table}\n\n`source` and `source_id` in each example name the input row it was built from.")),
        ],
    )

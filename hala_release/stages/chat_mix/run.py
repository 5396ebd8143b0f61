"""The chat mix stage: translated instruction datasets become one target-language chat SFT set.

HALA trained its instruct models on the translations of several English instruction datasets, each in its own
layout (Open-Orca columns, ShareGPT turns, chat messages, Alpaca fields...). This turns the translated columns of
each (`<column>_<target>`, written by `translate`) into `{role, content}` conversations in the target language,
drops rows whose translation failed its checks, deduplicates on the user turns, shuffles with the seed and holds
out an eval split. The split is by groups: conversations that share a user turn (as `text.normalise` sees it;
the same question opening a longer conversation elsewhere is not a duplicate) and a row's original and its
translation go whole to train or to test, so no question is both trained on and tested. Same inputs and seed:
the same bytes. Rows are read as Arrow batches; dedup, groups, split and shuffle run out of core in
`executors.grouped_split` (DuckDB).
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

from hala_release.artifacts.build import build_artifact
from hala_release.stages.chat_mix.config import ChatMixConfig
from hala_release.core.chat_format import TurnError, to_messages
from hala_release.executors.chunks import arrow_batches, load_split, work_dir_for
from hala_release.executors.grouped_split import GroupedSplit, key_halves
from hala_release.core.languages import language_group
from hala_release.core.disk_space import SpaceNeed, check_room
from hala_release.core.errors import HalaError, UsageError
from hala_release.core.files import prepare_output
from hala_release.artifacts.inputs import hub_parents, input_creators, input_license, license_fields
from hala_release.core.provenance import CardFacts, CardSection
from hala_release.core.schemas import SCHEMAS, choose_schema
from hala_release.core.text import normalise

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
READ_ROWS = 10_000  # input rows per Arrow batch, and examples per batch into the split


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


class LanguageCheck:
    """Whether a conversation's user turns are in its language (py3langid); counts what it read for the card."""

    def __init__(self, config: ChatMixConfig):
        from hala_release.engines import language_id

        self.config, self.language_id, self.found = config, language_id, Counter()

    def wrong(self, messages: list[dict[str, str]], language: str) -> bool:
        if not self.config.language_id or not self.language_id.knows(language):
            return False
        said = " ".join(m["content"] for m in messages if m["role"] == "user")
        verdict = self.language_id.identify(said, self.config.language_min_letters, language)
        self.found[language, "short" if verdict is None else language_group(verdict.language)] += 1
        return self.language_id.is_other_language(verdict, language, self.config.min_language_confidence)


def conversations(dataset, name: str, layout: str, languages: dict[str, str], check: LanguageCheck | None = None
                  ) -> Iterator[list[tuple[dict[str, Any] | None, str]]]:
    """Per input row: (example, "kept") for each usable conversation, or (None, reason) for a skipped one.

    `languages` maps each language to build to its column suffix: {"ar": "_ar"}, plus {"en": ""} for the originals.
    Rows are read as Arrow batches, so no `datasets` row objects are made.
    """
    index = 0
    wanted = [column for column in dataset.column_names if column in _read_columns(layout, languages)]
    for table in arrow_batches(dataset.select_columns(wanted), READ_ROWS):
        for row in table.to_pylist():
            yield list(_row_examples(row, index, name, layout, languages, check))
            index += 1


def _read_columns(layout: str, languages: dict[str, str]) -> set[str]:
    """The columns a row's conversations are built from (turning every column into Python costs the most)."""
    roles = [TURN_COLUMNS[layout]] if layout in TURN_COLUMNS else [column for column, _ in ROLE_COLUMNS[layout]]
    return {OK_COLUMN, "id", *(f"{column}{suffix}" for column in roles for suffix in languages.values())}


def _row_examples(row: dict[str, Any], index: int, name: str, layout: str, languages: dict[str, str],
                  check: LanguageCheck | None = None):
    if row.get(OK_COLUMN) is False:
        yield None, "translation_failed"
        return
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
        if check is not None and check.wrong(messages, language):
            yield None, "wrong_language"
            continue
        yield {"messages": messages, "language": language, "source": name,
               "source_id": str(source_id if source_id is not None else index)}, "kept"


class Batcher:
    """Gathers the examples of input rows and puts them into a `GroupedSplit` a batch at a time.

    An input row is the split's item: its examples' user turns (128-bit keys of their normalised text and
    language) are its links, so its languages, and every conversation sharing a user turn, form one group; an
    example repeats a kept one when its language and user turns are the same (its `dedup` key).
    """

    def __init__(self, split: GroupedSplit, languages: list[str]):
        self.split, self.languages = split, languages
        self.item = 0
        self._clear()

    def _clear(self) -> None:
        self.seq, self.items, self.dedup, self.link_items, self.links = [], [], bytearray(), [], bytearray()
        self.columns: dict[str, list] = {"messages": [], "language": [], "source": [], "source_id": []}

    def add_row(self, examples: list[dict[str, Any]], source: int) -> None:
        keys: set[bytes] = set()
        for example in examples:
            language = example["language"]
            turns = [normalise(m["content"]) for m in example["messages"] if m["role"] == "user"]
            keys.update(_digest(language, turn) for turn in turns)
            self.seq.append(self.item * len(self.languages) + self.languages.index(language))
            self.items.append(self.item)
            self.dedup += _digest("dedup", language, *turns)  # the same user turns in one language: the same question
            self.columns["messages"].append(example["messages"])
            self.columns["language"].append(self.languages.index(language))
            self.columns["source"].append(source)
            self.columns["source_id"].append(example["source_id"])
        for key in sorted(keys):
            self.link_items.append(self.item)
            self.links += key
        self.item += 1
        if len(self.seq) >= READ_ROWS:
            self.flush()

    def flush(self) -> None:
        import pyarrow as pa

        if self.seq:
            payload = {"messages": pa.array(self.columns["messages"], _messages_type()),
                       "language": pa.array(self.columns["language"], pa.int8()),
                       "source": pa.array(self.columns["source"], pa.int32()),
                       "source_id": pa.array(self.columns["source_id"], pa.string())}
            self.split.add(self.seq, self.items, key_halves(self.dedup), payload, self.link_items,
                           key_halves(self.links))
        self._clear()


def _messages_type():
    import pyarrow as pa

    return pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))


def _digest(*parts: str) -> bytes:
    """The bytes of `text.hash_key(*parts)`, without the detour through a Python int."""
    return hashlib.blake2b("\0".join(parts).encode("utf-8", "surrogatepass"), digest_size=16).digest()


def _sql_list(values: list[str]) -> str:
    return "[" + ", ".join("'" + value.replace("'", "''") + "'" for value in values) + "]"


def space_need(loaded: list[tuple[Any, str]], languages: dict[str, str], output: Path) -> SpaceNeed:
    """The conversations hold the text of the columns they are built from; they pass through the out-of-core work
    store beside the output (about as big as the artifact, measured), which is still there while the artifact is
    written. Parquet keeps text in 1/1.5 to 1/4 of its Arrow size."""
    text = sum(dataset.data.column(column).nbytes for dataset, layout in loaded
               for column in _read_columns(layout, languages) - {OK_COLUMN, "id"} if column in dataset.column_names)
    return SpaceNeed("chat-mix", output.parent, int(2 * text / 1.5), int(text / 4))


def run_chat_mix(config: ChatMixConfig) -> dict[str, Any]:
    import pyarrow as pa

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
    counts: Counter = Counter()
    loaded = []
    for number, ref in enumerate(config.translated):  # all read and checked before the slow part
        resolved = resolve(ref, "dataset")
        name = resolved.hub_id or Path(ref).name
        inputs[f"translated_{number}"] = resolved
        licences[name] = input_license(resolved)
        dataset = load_split(resolved, config.split)
        layouts[name] = detect_layout(dataset.column_names, name, config.target_lang)
        loaded.append((number, name, dataset))
    check_room(space_need([(dataset, layouts[name]) for _, name, dataset in loaded], languages, output))
    with GroupedSplit(work_dir_for(output) / "grouped-split", config.seed) as split:
        batcher = Batcher(split, list(languages))
        check = LanguageCheck(config)
        for number, name, dataset in loaded:
            for row in conversations(dataset, name, layouts[name], languages, check):
                for _, outcome in row:
                    if outcome != "kept":
                        counts[(name, outcome)] += 1
                batcher.add_row([example for example, _ in row if example is not None], number)
        batcher.flush()
        if split.empty:
            raise HalaError("the inputs gave no usable conversation: every row failed translation or lacked a user "
                            "and an assistant turn; see the counts with --eval-size 0 and check the translate cards")
        names = list(layouts)
        for (source, language), (kept, total) in split.tally("source", "language").items():
            name = names[source]
            counts[(name, f"kept_{list(languages)[language]}")] += kept
            if total - kept:
                counts[(name, "duplicate")] += total - kept
        chosen = split.split(config.eval_size, slack=len(languages) - 1)
        examples = chosen.train + chosen.test
        if config.eval_size and chosen.test < config.eval_size // 2:
            log.warning(f"only {chosen.test} of --eval-size {config.eval_size} examples could be held out: most "
                        f"conversations share a user turn with others (largest group: {chosen.largest_group:,}), "
                        f"and a group is never split between train and test")
        if not chosen.train:
            raise HalaError(f"--eval-size {config.eval_size} leaves no training examples out of {examples}: lower it")
        card = chat_mix_card(config, list(languages), inputs, layouts, counts, carry_forward(licences),
                             chosen.train, chosen.test, check.found)
        counted = {f"{source} {what}": n for (source, what), n in sorted(counts.items())}
        projection = (f"messages, {_sql_list(list(languages))}[language + 1] AS language, "
                      f"{_sql_list(names)}[source + 1] AS source, source_id")
        schema = pa.schema([("messages", _messages_type()), ("language", pa.string()), ("source", pa.string()),
                            ("source_id", pa.string())])
        with build_artifact(output, stage="chat-mix", config=config.model_dump(), card=card, inputs=inputs,
                            overwrite=config.overwrite) as draft:
            _, draft.card.sample_records = split.write(draft.path / "data", chosen, projection, schema)
            draft.card.splits = {name: rows for name, rows in (("train", chosen.train), ("test", chosen.test)) if rows}
            draft.stats.update(examples=examples, train=chosen.train, test=chosen.test, groups=chosen.groups,
                               largest_group=chosen.largest_group, counts=counted)
            if config.language_id:
                from hala_release.engines import language_id

                draft.stats["language_identifier"] = language_id.record(config.min_language_confidence,
                                                                        config.language_min_letters)
    return {"output": str(output), "train": chosen.train, "test": chosen.test, "counts": counted}


def chat_mix_card(config: ChatMixConfig, languages: list[str], inputs: dict, layouts: dict[str, str], counts: Counter,
                  carried, train: int, test: int, found: Counter | None = None) -> CardFacts:
    from hala_release.core.languages import display_name as language_name, hub_code

    language = language_name(config.target_lang)
    original = (f" Each row's original {language_name(config.source_lang)} conversation is kept too (`language` "
                f"says which is which)." if config.include_source else "")
    columns = [*(f"kept_{lang}" for lang in languages), "duplicate", "translation_failed", "incomplete",
               "wrong_language"]
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
        language=list(dict.fromkeys(hub_code(code) for code in languages)),
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
            CardSection(title="Languages found", markdown=_languages_section(config, languages, found or Counter())),
        ],
    )


def _languages_section(config: ChatMixConfig, languages: list[str], found: Counter) -> str:
    from hala_release.engines import language_id

    if not config.language_id:
        return "The language check was off for this run."
    lines = [language_id.found_row(language, language,
                                   {code: n for (lang, code), n in found.items() if lang == language})
             for language in languages]
    return (f"The user turns of each conversation were identified with {language_id.described()} "
            f"(at least {config.language_min_letters} letters; `short` counts the others); a conversation whose user "
            f"turns are another language with probability {config.min_language_confidence} or more is left out "
            f"(`wrong_language` above). Macrolanguages are merged, Indonesian with Malay. "
            f"{language_id.screen_note()}\n\n"
            "| conversations in | languages read |\n|---|---|\n" + "\n".join(lines))

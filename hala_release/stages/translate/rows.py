"""Translate one Arrow table of rows with a schema: split texts, translate segments, rebuild columns."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from hala_release.core.schemas import ISSUES_COLUMN, OK_COLUMN
from hala_release.core.languages import language_group as language_group_of
from hala_release.core.markup import structure
from hala_release.core.segment import MARKER_RE, join, keeps_structure, split_segments

if TYPE_CHECKING:
    import pyarrow as pa

    from hala_release.core.schemas import Schema
    from hala_release.engines.segment_translator import SegmentTranslator
    from hala_release.stages.translate.config import TranslateConfig


def translate_table(table: "pa.Table", schema: "Schema", translator: "SegmentTranslator",
                    config: "TranslateConfig") -> "pa.Table":
    """The input table plus one translated column per locator, `translation_ok` and `translation_issues`."""
    import pyarrow as pa

    rows = table.num_rows
    source_lang, target_lang = config.source_lang, config.target_lang
    columns = {loc.column: table.column(loc.column).to_pylist() for loc in schema.locators}
    # Pass 1: cut every text into pieces and collect all segments of the chunk, so they go out in one run.
    cut: list[list[list[tuple]]] = []  # [locator][row][text] -> (pieces, segments, text, structure)
    pending = []
    for loc in schema.locators:
        values = columns[loc.column]
        per_row = []
        for value in values:
            texts = loc.texts(value, source_lang)
            pieces_per_text = []
            for text in texts:
                pieces, segs = split_segments(text, config.max_chars)
                pending.extend(segs)
                # The structure now, while the parse that cut the text is still remembered (a chunk has more texts).
                pieces_per_text.append((pieces, segs, text, structure(text)))
            per_row.append(pieces_per_text)
        cut.append(per_row)
    outcomes = iter(translator.run(pending))

    # Pass 2: put translations back, in the same order the segments were collected.
    ok = [True] * rows
    issues: list[list[str]] = [[] for _ in range(rows)]
    joined: list[list[list[str | None]]] = []  # [locator][row][text]
    done: list[list[list[dict | None]]] = []  # [locator][row][text]: segment translations (None: a segment failed)
    for loc, per_row in zip(schema.locators, cut):
        out_rows, out_done = [], []
        for row, pieces_per_text in enumerate(per_row):
            texts_out: list[str | None] = []
            texts_done: list[dict | None] = []
            for pieces, segs, _, _ in pieces_per_text:
                translations, failed = {}, []
                for segment in segs:
                    outcome = next(outcomes)
                    if outcome.text is None:
                        failed.extend(outcome.reasons)
                    else:
                        translations[segment.text] = outcome.text
                if failed:
                    ok[row] = False
                    issues[row].extend(f"{loc.column}: {reason}" for reason in dict.fromkeys(failed))
                    texts_out.append(None)
                    texts_done.append(None)
                else:
                    texts_out.append(join(pieces, translations))
                    texts_done.append(translations)
            out_rows.append(texts_out)
            out_done.append(texts_done)
        joined.append(out_rows)
        done.append(out_done)
    _check_texts(schema, cut, joined, done, ok, issues, translator, config)

    new_columns = []
    for loc, out_rows in zip(schema.locators, joined):
        values = columns[loc.column]
        out_values: list[Any] = [loc.rebuild(values[row], texts) for row, texts in enumerate(out_rows)]
        arrow_type = table.schema.field(loc.column).type if loc.kind == "turns" else pa.string()
        new_columns.append((loc.output_column(target_lang), pa.array(out_values, type=arrow_type)))
    for name, array in new_columns:
        if name in table.column_names:
            table = table.drop_columns([name])
        table = table.append_column(name, array)
    table = table.append_column(OK_COLUMN, pa.array(ok, type=pa.bool_()))
    return table.append_column(ISSUES_COLUMN, pa.array(issues, type=pa.list_(pa.string())))


def _text_problems(pieces, segs, items, translations: dict, text_out: str, config, language_check) -> tuple[list[str], Counter]:
    """Whole-text checks of one translation: its structure (and the structure found), and its language."""
    from hala_release.engines import language_id

    problems = []
    if all(keeps_structure(seg, translations[seg.text]) for seg in segs):
        found = items  # provably unchanged: not parsed again
    else:
        found = structure(text_out)
        if config.gates.structure and found != items:
            problems.append("structure_changed")
    if language_check is not None:
        prose = " ".join(MARKER_RE.sub(" ", translations[seg.text]) for seg in segs)
        verdict = language_id.identify(prose, config.gates.language_min_letters, config.target_lang)
        language_check.append(verdict)
        if language_id.is_other_language(verdict, config.target_lang, config.gates.min_language_confidence):
            problems.append("wrong_language")
    return problems, found


def _check_texts(schema, cut, joined, done, ok: list[bool], issues: list[list[str]], translator, config) -> None:
    """Checks over each whole translated text, which no segment's own gates can make:
    - structure: the text must hold the source's code blocks, inline code, link targets and math, as a multiset (a
      model can move, drop, duplicate or invent markup across segments). A translation that provably keeps them
      (`keeps_structure`) is not parsed again;
    - language (with `gates.language_id`, for a target the identifier knows): the translated prose must not be,
      confidently, another language.
    A text that fails is translated again (fresh samples, as gate retries are); one still failing marks its row with
    the reason. Counts per kind and the languages found go to the stats for the card."""
    from hala_release.core.markup import KINDS, kept_counts
    from hala_release.engines import language_id

    judge_language = (config.gates.enabled and config.gates.language_id and not translator.engine.identity
                      and language_id.knows(config.target_lang))  # dry-run skips the gates
    verdicts: list = []
    source_items: list[Counter] = [Counter() for _ in ok]
    output_items: list[Counter] = [Counter() for _ in ok]
    failing: dict[tuple[int, int, int], list[str]] = {}  # (locator, row, text) -> problems
    for number, (per_row, out_rows) in enumerate(zip(cut, joined)):
        for row, (pieces_per_text, texts_out) in enumerate(zip(per_row, out_rows)):
            for index, ((pieces, segs, _, items), text_out) in enumerate(zip(pieces_per_text, texts_out)):
                source_items[row].update(items)
                if text_out is None:
                    continue
                problems, found = _text_problems(pieces, segs, items, done[number][row][index], text_out, config,
                                                 verdicts if judge_language else None)
                if problems:
                    failing[number, row, index] = problems
                else:
                    output_items[row].update(found)
    for attempt in range(1, config.max_retries + 1):
        if not failing:
            break
        segs = [seg for number, row, index in failing for seg in cut[number][row][index][1]]
        outcomes = iter(translator.retry(segs, attempt))
        still = {}
        for (number, row, index), problems in failing.items():
            pieces, text_segments, _, items = cut[number][row][index]
            translations = {seg.text: outcome.text for seg, outcome in zip(text_segments, outcomes)}
            if None in translations.values():
                still[number, row, index] = problems
                continue
            text_out = join(pieces, translations)
            problems, found = _text_problems(pieces, text_segments, items, translations, text_out, config,
                                             [] if judge_language else None)
            if problems:
                still[number, row, index] = problems
            else:
                joined[number][row][index] = text_out
                output_items[row].update(found)
        failing = still
    for (number, row, index), problems in failing.items():
        joined[number][row][index] = None
        ok[row] = False
        for problem in problems:
            issue = f"{schema.locators[number].column}: {problem}"
            if issue not in issues[row]:
                issues[row].append(issue)
                translator.failures[problem] += 1
    stats = translator.stats
    for row, row_ok in enumerate(ok):
        counts = kept_counts(source_items[row], output_items[row] if row_ok else Counter())
        for kind in KINDS:
            stats[f"structure_source_{kind}"] += counts[kind][0]
            stats[f"structure_kept_{kind}"] += counts[kind][1]
            if not row_ok:
                stats[f"structure_rejected_{kind}"] += counts[kind][0]
    stats["rows_structure_changed"] += len({row for (_, row, _), p in failing.items() if "structure_changed" in p})
    stats["rows_wrong_language"] += len({row for (_, row, _), p in failing.items() if "wrong_language" in p})
    for verdict in verdicts:  # first reading of each translated text
        stats["language_short" if verdict is None else f"language_found_{language_group_of(verdict.language)}"] += 1

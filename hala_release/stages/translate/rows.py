"""Translate one Arrow table of rows with a schema: split texts, translate segments, rebuild columns."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from hala_release.core.schemas import ISSUES_COLUMN, OK_COLUMN
from hala_release.core.markup import structure
from hala_release.core.segment import join, keeps_structure, split_segments

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
    reread: list[list[list[bool]]] = []  # [locator][row][text]: the structure gate must parse the translation
    for loc, per_row in zip(schema.locators, cut):
        out_rows, out_reread = [], []
        for row, pieces_per_text in enumerate(per_row):
            texts_out: list[str | None] = []
            texts_reread: list[bool] = []
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
                else:
                    texts_out.append(join(pieces, translations))
                texts_reread.append(not all(keeps_structure(seg, translations.get(seg.text, seg.text)) for seg in segs))
            out_rows.append(texts_out)
            out_reread.append(texts_reread)
        joined.append(out_rows)
        reread.append(out_reread)
    _check_structure(schema, cut, joined, reread, ok, issues, translator, config)

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


def _check_structure(schema, cut, joined, reread, ok: list[bool], issues: list[list[str]], translator,
                     config) -> None:
    """The whole-row structure gate: each translated text must hold the source's code blocks, inline code, link
    targets and math, as a multiset (a model can move, drop, duplicate or invent markup across segments, which no
    segment's own marker check sees). A translation that provably keeps them (`keeps_structure`) is not parsed
    again. A text that differs is translated again (fresh samples, as gate retries
    are); one still different marks its row `structure_changed`. Counts per kind go to the stats for the card."""
    from hala_release.core.markup import KINDS, kept_counts

    source_items: list[Counter] = [Counter() for _ in ok]
    output_items: list[Counter] = [Counter() for _ in ok]
    changed = []  # (locator, row, text) whose translation changed the structure
    for number, (per_row, out_rows) in enumerate(zip(cut, joined)):
        for row, (pieces_per_text, texts_out) in enumerate(zip(per_row, out_rows)):
            for index, ((_, _, source, items), text_out) in enumerate(zip(pieces_per_text, texts_out)):
                source_items[row].update(items)
                if text_out is None:
                    continue
                found = structure(text_out) if reread[number][row][index] and text_out != source else items
                if config.gates.structure and found != items:
                    changed.append((number, row, index))
                else:
                    output_items[row].update(found)
    for attempt in range(1, config.max_retries + 1):
        if not changed:
            break
        segs = [seg for number, row, index in changed for seg in cut[number][row][index][1]]
        outcomes = iter(translator.retry(segs, attempt))
        still = []
        for number, row, index in changed:
            pieces, text_segments, _, items = cut[number][row][index]
            translations = {seg.text: outcome.text for seg, outcome in zip(text_segments, outcomes)}
            if None in translations.values():
                still.append((number, row, index))
                continue
            text_out = join(pieces, translations)
            found = structure(text_out)
            if found != items:
                still.append((number, row, index))
            else:
                joined[number][row][index] = text_out
                output_items[row].update(found)
        changed = still
    for number, row, index in changed:
        joined[number][row][index] = None
        ok[row] = False
        issue = f"{schema.locators[number].column}: structure_changed"
        if issue not in issues[row]:
            issues[row].append(issue)
            translator.failures["structure_changed"] += 1
    stats = translator.stats
    for row, row_ok in enumerate(ok):
        counts = kept_counts(source_items[row], output_items[row] if row_ok else Counter())
        for kind in KINDS:
            stats[f"structure_source_{kind}"] += counts[kind][0]
            stats[f"structure_kept_{kind}"] += counts[kind][1]
            if not row_ok:
                stats[f"structure_rejected_{kind}"] += counts[kind][0]
    stats["rows_structure_changed"] += len({row for _, row, _ in changed})

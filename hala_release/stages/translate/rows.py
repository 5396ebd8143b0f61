"""Translate one Arrow table of rows with a schema: split texts, translate segments, rebuild columns."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hala_release.core.schemas import ISSUES_COLUMN, OK_COLUMN
from hala_release.core.segment import join, split_segments

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
    cut: list[list[list[tuple]]] = []  # [locator][row][text] -> (pieces, segments)
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
                pieces_per_text.append((pieces, segs))
            per_row.append(pieces_per_text)
        cut.append(per_row)
    outcomes = iter(translator.run(pending))

    # Pass 2: put translations back, in the same order the segments were collected.
    ok = [True] * rows
    issues: list[list[str]] = [[] for _ in range(rows)]
    new_columns = []
    for loc, per_row in zip(schema.locators, cut):
        values = columns[loc.column]
        out_values: list[Any] = []
        for row, pieces_per_text in enumerate(per_row):
            translated_texts = []
            for pieces, segs in pieces_per_text:
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
                    translated_texts.append(None)
                else:
                    translated_texts.append(join(pieces, translations))
            out_values.append(loc.rebuild(values[row], translated_texts))
        arrow_type = table.schema.field(loc.column).type if loc.kind == "turns" else pa.string()
        new_columns.append((loc.output_column(target_lang), pa.array(out_values, type=arrow_type)))
    for name, array in new_columns:
        if name in table.column_names:
            table = table.drop_columns([name])
        table = table.append_column(name, array)
    table = table.append_column(OK_COLUMN, pa.array(ok, type=pa.bool_()))
    return table.append_column(ISSUES_COLUMN, pa.array(issues, type=pa.list_(pa.string())))

"""The translated dataset's card facts: what was translated, with what, how, and what failed."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from hala_release.core.licenses import carry_forward
from hala_release.artifacts.inputs import hub_parents, input_creators, input_license, license_fields
from hala_release.core.provenance import CardFacts, CardSection

if TYPE_CHECKING:
    from hala_release.stages.translate.config import TranslateConfig


def translation_card(config: "TranslateConfig", source, model, stats: Counter, failures: Counter) -> CardFacts:
    from hala_release.core.prompts import language_name, load_template

    source_name = source.hub_id or Path(config.source).name
    carried = carry_forward({source_name: input_license(source)})
    model_name = (f"none ({config.engine})" if model is None
                  else model["ref"] if isinstance(model, dict) else model.ref.text)
    model_pin = None if model is None else (model["pin"] if isinstance(model, dict) else model.pin)
    src, tgt = language_name(config.source_lang), language_name(config.target_lang)
    template = load_template(config.prompt_template)
    failure_rows = "\n".join(f"| {reason} | {count:,} |" for reason, count in sorted(failures.items())) or "| none | 0 |"
    sampling = (f"max_tokens={config.max_tokens}, temperature={config.temperature}, top_p={config.top_p}, "
                f"seed={config.seed}; up to {config.max_retries} retries with higher temperature for failing segments")
    gates = ", ".join(f"{k}={v}" for k, v in config.gates.model_dump().items())
    return CardFacts(
        kind="dataset",
        title=f"{source_name} translated to {tgt}",
        summary=(f"`{source_name}` (split `{config.split}`) machine-translated from {src} to {tgt} by `{model_name}` "
                 f"with the `{config.engine}` engine. Every original column is kept; translated text is in the "
                 f"`*_{config.target_lang}` columns, and code, math, links and markdown structure are carried over "
                 f"unchanged. Rows that failed the quality gates are in the `rejected` split with their reasons."),
        language=list(dict.fromkeys([config.target_lang, config.source_lang])),
        **license_fields(carried),
        tags=["translation", "synthetic", f"{config.source_lang}-{config.target_lang}"],
        source_datasets=hub_parents(source),
        task_categories=["text-generation", "translation"],
        # The original columns are kept beside their machine translations: aligned text of both origins.
        annotations_creators=["machine-generated"], multilinguality=["translation"],
        language_creators=sorted({*input_creators(source, "language_creators", ["found"]), "machine-generated"}),
        sections=[
            CardSection(title="How it was made", markdown=(
                f"- source: `{config.source}` pinned at `{source.pin}`\n"
                f"- model: `{model_name}` pinned at `{model_pin}`\n"
                f"- engine: `{config.engine}`; sampling: {sampling}\n"
                f"- segments: texts are cut at lines, table cells and sentences (at most {config.max_chars} characters); "
                f"inline code, math, URLs, e-mails, HTML, placeholders and emphasis travel as ⟦n⟧ markers\n"
                f"- quality gates: {gates}")),
            CardSection(title="Prompt template", markdown=f"`{template.name}`:\n\n```text\n{template.text}\n```"),
            CardSection(title="Failures by reason", markdown=(
                f"{stats['rows_failed']:,} of {stats['rows']:,} rows failed a gate after retries.\n\n"
                f"| reason | segments |\n|---|---|\n{failure_rows}")),
        ],
    )

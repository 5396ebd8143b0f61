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
    from hala_release.core.languages import display_name as language_name, hub_code
    from hala_release.core.prompts import load_template

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
                 f"`*_{config.target_lang}` columns. {structure_sentence(stats)} Rows that failed the quality gates "
                 f"are in the `rejected` split with their reasons."),
        language=list(dict.fromkeys(hub_code(code) for code in (config.target_lang, config.source_lang))),
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
                f"- segments: texts are read as CommonMark with LaTeX math (markdown-it-py); code blocks, math blocks "
                f"and front matter are never sent to the model; prose is cut at lines, table cells and sentences (at "
                f"most {config.max_chars} characters), and inline code, math, link destinations, URLs, e-mails, HTML, "
                f"placeholders and emphasis travel as ⟦n⟧ markers\n"
                f"- quality gates: {gates}")),
            CardSection(title="Prompt template", markdown=f"`{template.name}`:\n\n```text\n{template.text}\n```"),
            CardSection(title="Structure kept", markdown=structure_table(stats)),
            CardSection(title="Languages found", markdown=language_section(config, stats)),
            CardSection(title="Failures by reason", markdown=(
                f"{stats['rows_failed']:,} of {stats['rows']:,} rows failed a gate after retries.\n\n"
                f"| reason | count |\n|---|---|\n{failure_rows}\n\n"
                f"Counts are segments, except `structure_changed`, which counts translated texts (a column of a row) "
                f"whose code, math or links differed from the source's after retries.")),
        ],
    )


def _structure_counts(stats: Counter) -> dict[str, tuple[int, int, int]]:
    """Per kind: items in the source, byte-identical in the main split, in rows of `rejected`."""
    from hala_release.core.markup import KINDS

    return {kind: (stats[f"structure_source_{kind}"], stats[f"structure_kept_{kind}"],
                   stats[f"structure_rejected_{kind}"]) for kind in KINDS}


def structure_sentence(stats: Counter) -> str:
    """What the run measured about code, math and links, in one or two sentences (never a fixed claim)."""
    from hala_release.core.markup import KIND_NAMES

    counts = _structure_counts(stats)
    total = sum(source for source, _, _ in counts.values())
    if not total:
        return "The source texts hold no code blocks, inline code, link targets or math."
    listed = ", ".join(f"{source:,} {KIND_NAMES[kind]}" for kind, (source, _, _) in counts.items() if source)
    kept = sum(k for _, k, _ in counts.values())
    rejected = sum(r for _, _, r in counts.values())
    changed = total - kept - rejected
    sentence = f"The source texts hold {listed}; read again after translation, {kept:,} of them are byte-identical "
    sentence += "in the main split"
    if rejected:
        sentence += f" and {rejected:,} are in rows of `rejected`"
    if changed:
        sentence += f", and {changed:,} changed in rows of the main split (the structure gate was off)"
    rows = stats["rows_structure_changed"]
    sentence += "."
    if rows:
        sentence += f" {rows:,} rows were rejected because their translation changed them."
    return sentence


def structure_table(stats: Counter) -> str:
    from hala_release.core.markup import KIND_NAMES

    lines = ["| what | in the source | byte-identical in the main split | in rows of `rejected` |", "|---|---|---|---|"]
    for kind, (source, kept, rejected) in _structure_counts(stats).items():
        lines.append(f"| {KIND_NAMES[kind]} | {source:,} | {kept:,} | {rejected:,} |")
    return ("Source and translated texts are both read with the same CommonMark + LaTeX parser, and their code "
            "blocks, inline code spans, link and image targets and math spans compared as multisets.\n\n"
            + "\n".join(lines) + f"\n\nRows rejected because their translation changed these: "
            f"{stats['rows_structure_changed']:,}.")


def language_section(config: "TranslateConfig", stats: Counter) -> str:
    """Which languages the identifier found in the translated texts, and what the check was."""
    from hala_release.core.languages import display_name
    from hala_release.engines import language_id

    gates = config.gates
    if not (gates.enabled and gates.language_id):
        return "The language check was off for this run (`--no-quality-gates` or `gates.language_id: false`)."
    if config.engine == "dry-run":
        return "The dry-run engine copies its input and skips the gates: no language was checked."
    if not language_id.knows(config.target_lang):
        return (f"{language_id.NAME} has no label for {display_name(config.target_lang)}, so translations were not "
                f"checked for their language (only for its script).")
    found = {key.removeprefix("language_found_"): n for key, n in stats.items() if key.startswith("language_found_")}
    rows = "\n".join(f"| {code} | {n:,} |" for code, n in sorted(found.items(), key=lambda item: -item[1]))
    return (f"Each translated text of at least {gates.language_min_letters} letters was identified with "
            f"{language_id.described()}; a text identified as another language with probability "
            f"{gates.min_language_confidence} or more was translated again, then rejected (`wrong_language`: "
            f"{stats['rows_wrong_language']:,} rows). First reading of each text (macrolanguages merged, Indonesian "
            f"with Malay); {stats['language_short']:,} texts were too short to judge. "
            f"{language_id.screen_note()}\n\n"
            f"| language | texts |\n|---|---|\n{rows or '| none | 0 |'}")

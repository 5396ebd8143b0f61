"""The filtered corpus's card: what was filtered out, by which rule, and how the judge's scores fell."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from hala_release.core.licenses import carry_forward
from hala_release.artifacts.inputs import hub_parents, input_creators, input_license, license_fields
from hala_release.core.provenance import CardFacts, CardSection

if TYPE_CHECKING:
    from hala_release.stages.judge.config import JudgeConfig

HISTOGRAM = "judge_scores.png"


def score_histogram(scores: list[float], threshold: float, path: Path) -> Path:
    """A PNG of the judge's score distribution with the threshold marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 3.2), dpi=100)
    axes.hist(scores, bins=20, range=(0, 1), color="#3b7dd8", edgecolor="white")
    axes.axvline(threshold, color="#d62728", linestyle="--", label=f"threshold {threshold}")
    axes.set_xlabel("P(accept)")
    axes.set_ylabel("pairs")
    axes.set_title(f"Judge scores of {len(scores):,} pairs")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return path


def judge_card(config: "JudgeConfig", source, judge, counts: dict[str, int], scores: list[float],
               languages: dict[str, int] | None = None) -> CardFacts:
    from hala_release.core.languages import display_name as language_name, hub_code
    from hala_release.core.prompts import load_template

    source_name = source.hub_id or Path(config.source).name
    judge_name = judge.hub_id or Path(config.judge).name
    carried = carry_forward({source_name: input_license(source)})
    template = load_template(config.prompt_template, "{source},{target}")
    total = sum(counts.values())  # every pair is counted once: a filter, the judge, or kept
    rows = "\n".join(f"| {name} | {count:,} |" for name, count in counts.items())
    src, tgt = language_name(config.source_lang), language_name(config.target_lang)
    mean = sum(scores) / len(scores) if scores else 0.0
    return CardFacts(
        kind="dataset",
        title=f"{source_name} filtered by {judge_name}",
        summary=(f"{src}-{tgt} pairs of `{source_name}` that passed cheap filters and a strict LLM judge "
                 f"(`{judge_name}`, P({config.verdicts[0]}) >= {config.threshold}). {counts['kept']:,} of {total:,} "
                 f"pairs kept; the others are in the `rejected` split with `reject_reason` and `judge_score`."),
        language=list(dict.fromkeys(hub_code(code) for code in (config.source_lang, config.target_lang))),
        **license_fields(carried),
        tags=["translation", "parallel-corpus", "llm-judge", f"{config.source_lang}-{config.target_lang}"],
        source_datasets=hub_parents(source),
        task_categories=["translation"],
        # The pairs are the source's, unchanged; the verdicts and scores are the judge's.
        annotations_creators=["machine-generated"], multilinguality=["translation"],
        language_creators=input_creators(source, "language_creators", ["found"]),
        sections=[
            CardSection(title="How it was filtered", markdown=(
                f"- source: `{config.source}` pinned at `{source.pin}`\n"
                f"- judge: `{config.judge}` pinned at `{judge.pin}`, engine `{config.engine}`\n"
                f"- score: P({config.verdicts[0]}) / (P({config.verdicts[0]}) + P({config.verdicts[1]})) for the "
                f"judge's next token; kept when >= {config.threshold}\n"
                f"- cheap filters first: {', '.join(f'{k}={v}' for k, v in config.filters.model_dump().items())}")),
            CardSection(title="Pairs per filter", markdown=(
                "Each pair is counted under the first rule it fails. `duplicate` repeats an earlier pair exactly; "
                "`duplicate_normalised` repeats one after normalisation (NFKC, case, Arabic diacritics and tatweel, "
                "digit shapes, punctuation at word edges: `hala_release.core.text`, the same rules mix deduplicates "
                "with); `identical` sides are the same text by those rules.\n\n| rule | pairs |\n|---|---|\n" + rows)),
            CardSection(title="Languages found", markdown=_languages_section(config, languages or {})),
            CardSection(title="Judge scores", markdown=(
                f"Mean score {mean:.3f} over {len(scores):,} judged pairs.\n\n![judge score histogram]({HISTOGRAM})")),
            CardSection(title="Judge prompt", markdown=f"`{template.name}`:\n\n```text\n{template.text}\n```"),
        ],
    )


def _languages_section(config: "JudgeConfig", languages: dict[str, int]) -> str:
    from hala_release.engines import language_id

    filters = config.filters
    if not filters.language_id:
        return "The language filter was off for this run."
    lines = [language_id.found_row(f"{side} ({code})", code, {key.split(":", 1)[1]: n for key, n in languages.items()
                                                              if key.startswith(side + ":")})
             for side, code in (("source", config.source_lang), ("target", config.target_lang))]
    return (f"Each side of every pair that passed the earlier filters was identified with "
            f"{language_id.described()} (sides of at least {filters.language_min_letters} letters; `short` counts the "
            f"others); a side identified as another language with probability {filters.min_language_confidence} or "
            f"more rejects the pair (`wrong_language`). Macrolanguages are merged, Indonesian with Malay. "
            f"{language_id.screen_note()}\n\n"
            "| side | languages read |\n|---|---|\n" + "\n".join(lines))

"""The bilingual SFT set's card: where each example came from, per source and direction."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from .provenance import CardFacts, CardSection

if TYPE_CHECKING:
    from .licenses import CarriedLicense
    from .mix import MixConfig


def mix_card(config: "MixConfig", inputs: dict, counts: Counter, carried: "CarriedLicense", train: int,
             test: int) -> CardFacts:
    from .mix import PHRASINGS
    from .prompts import language_name

    sources = sorted({source for source, _ in counts})
    columns = sorted({column for _, column in counts})
    header = "| source | " + " | ".join(columns) + " |\n|---|" + "---|" * len(columns)
    rows = "\n".join(f"| {s} | " + " | ".join(f"{counts.get((s, c), 0):,}" for c in columns) + " |" for s in sources)
    pins = "\n".join(f"- `{item.ref.text}` pinned at `{item.pin}`" for item in inputs.values())
    phrasings = "\n".join(f"- {p}" for p in PHRASINGS)
    src, tgt = language_name(config.source_lang), language_name(config.target_lang)
    return CardFacts(
        kind="dataset",
        title=f"{src}-{tgt} translator SFT mix",
        summary=(f"Chat-format examples (`messages`) for training a {src}<->{tgt} translator, built by "
                 f"`hala-release mix` from translated instruction data and filtered parallel pairs, in the "
                 f"directions {', '.join(config.directions)}: {train:,} train and {test:,} held-out test examples "
                 f"(seed {config.seed}). Both directions of a pair always fall in the same split."),
        language=list(dict.fromkeys([config.target_lang, config.source_lang])),
        license=carried.license, license_note=carried.note, license_name=carried.license_name,
        tags=["translation", "sft", "synthetic", *config.directions],
        source_datasets=[item.hub_id for item in inputs.values() if item.hub_id],
        task_categories=["translation", "text-generation"],
        sections=[
            CardSection(title="Inputs", markdown=pins),
            CardSection(title="Examples per source and direction", markdown=f"{header}\n{rows}"),
            CardSection(title="Instructions", markdown=(
                "Each example's instruction is one of these, chosen from the seed and the source text:\n\n"
                + phrasings)),
        ],
    )

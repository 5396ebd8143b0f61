"""The bilingual SFT set's card: where each example came from, per source and direction."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from hala_release.artifacts.inputs import hub_parents, input_creators, license_fields
from hala_release.core.provenance import CardFacts, CardSection

if TYPE_CHECKING:
    from hala_release.core.licenses import CarriedLicense
    from hala_release.stages.mix.config import MixConfig


_DEFAULT_CREATORS = {"translated": ["found", "machine-generated"], "parallel": ["found"]}  # inputs without a card


def mix_card(config: "MixConfig", inputs: dict, counts: Counter, carried: "CarriedLicense", train: int,
             test: int, phrasings: tuple[str, ...]) -> CardFacts:
    from hala_release.core.languages import display_name as language_name, hub_code

    sources = sorted({source for source, _ in counts})
    columns = sorted({column for _, column in counts})
    header = "| source | " + " | ".join(columns) + " |\n|---|" + "---|" * len(columns)
    rows = "\n".join(f"| {s} | " + " | ".join(f"{counts.get((s, c), 0):,}" for c in columns) + " |" for s in sources)
    pins = "\n".join(f"- `{item.ref.text}` pinned at `{item.pin}`" for item in inputs.values())
    listed = "\n".join(f"- {p}" for p in phrasings)
    src, tgt = language_name(config.source_lang), language_name(config.target_lang)
    return CardFacts(
        kind="dataset",
        title=f"{src}-{tgt} translator SFT mix",
        summary=(f"Chat-format examples (`messages`) for training a {src}<->{tgt} translator, built by "
                 f"`hala-release mix` from translated instruction data and filtered parallel pairs, in the "
                 f"directions {', '.join(config.directions)}: {train:,} train and {test:,} held-out test examples "
                 f"(seed {config.seed}). Pairs that share a sentence in either language (compared after "
                 f"`hala_release.core.text` normalisation, as for deduplication) fall in the same split, so no test "
                 f"sentence appears in train."),
        language=list(dict.fromkeys(hub_code(code) for code in (config.target_lang, config.source_lang))),
        **license_fields(carried),
        tags=["translation", "sft", "synthetic", *config.directions],
        source_datasets=hub_parents(*inputs.values()),
        task_categories=["translation", "text-generation"],
        # Pairs as their inputs made them (found corpora, machine translations), wrapped in generated instructions.
        annotations_creators=["machine-generated"], multilinguality=["translation"],
        language_creators=sorted({"machine-generated", *(creator for role, item in inputs.items() for creator in
                                  input_creators(item, "language_creators", _DEFAULT_CREATORS[role.split("_")[0]]))}),
        sections=[
            CardSection(title="Inputs", markdown=pins),
            CardSection(title="Examples per source and direction", markdown=f"{header}\n{rows}"),
            CardSection(title="Instructions", markdown=(
                "Each example's instruction is one of these, chosen from the seed and the source text:\n\n"
                + listed)),
        ],
    )

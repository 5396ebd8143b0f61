"""Licence carry-forward: a derived artifact is bound by the most restrictive licence among its sources.

The ranking is a conservative reading of common Hub licence ids, not legal advice; the card always names
the source that imposed the result so a human can check it.
"""

from __future__ import annotations

from dataclasses import dataclass

# Hub licence ids (https://huggingface.co/docs/hub/repositories-licenses), grouped from least to most
# restrictive for redistribution of derived work.
_RANKS: list[tuple[str, tuple[str, ...]]] = [
    ("public domain", ("cc0-1.0", "unlicense", "pddl", "cc-pdm-1.0")),
    ("permissive", ("mit", "apache-2.0", "bsd", "bsd-2-clause", "bsd-3-clause", "bsd-3-clause-clear", "isc",
                    "zlib", "bsl-1.0", "postgresql", "ncsa", "wtfpl", "afl-3.0", "ecl-2.0", "artistic-2.0",
                    "cc-by-2.0", "cc-by-2.5", "cc-by-3.0", "cc-by-4.0", "odc-by", "c-uda", "cdla-permissive-1.0",
                    "cdla-permissive-2.0", "ms-pl", "ofl-1.1", "etalab-2.0", "apple-ascl", "bigscience-openrail-m",
                    "creativeml-openrail-m", "openrail", "openrail++", "bigcode-openrail-m", "bigscience-bloom-rail-1.0")),
    ("share-alike", ("cc-by-sa-3.0", "cc-by-sa-4.0", "odbl", "cdla-sharing-1.0", "lgpl-2.1", "lgpl-3.0",
                     "lgpl-lr", "gpl", "gpl-2.0", "gpl-3.0", "agpl-3.0", "mpl-2.0", "epl-1.0", "epl-2.0",
                     "eupl-1.1", "eupl-1.2", "osl-3.0", "gfdl", "cc", "lgpl")),
    ("custom use terms", ("llama2", "llama3", "llama3.1", "llama3.2", "llama3.3", "llama4", "gemma",
                          "deepfloyd-if-license")),
    ("non-commercial", ("cc-by-nc-2.0", "cc-by-nc-3.0", "cc-by-nc-4.0", "fair-noncommercial-research-license")),
    ("non-commercial share-alike", ("cc-by-nc-sa-2.0", "cc-by-nc-sa-3.0", "cc-by-nc-sa-4.0")),
    ("no derivatives", ("cc-by-nd-4.0", "cc-by-nc-nd-3.0", "cc-by-nc-nd-4.0")),
    ("unknown", ("other", "unknown")),
]
RANK_OF: dict[str, int] = {lic: rank for rank, (_, ids) in enumerate(_RANKS) for lic in ids}
RANK_NAMES: list[str] = [name for name, _ in _RANKS]
KNOWN_LICENSES: frozenset[str] = frozenset(RANK_OF)


@dataclass(frozen=True)
class CarriedLicense:
    """The licence a derived artifact must carry, and why."""

    license: str
    imposed_by: str | None  # the source that set it; None when there were no sources
    category: str
    note: str
    license_name: str | None = None  # set when license is "other": the Hub asks for a name then


def rank(license_id: str) -> int:
    """Position on the restrictiveness scale; licences we do not know count as unknown (most restrictive)."""
    return RANK_OF.get(license_id.lower(), RANK_OF["unknown"])


def carry_forward(sources: dict[str, str | None], default: str = "apache-2.0") -> CarriedLicense:
    """Pick the most restrictive of `sources` (source name -> licence id); ties keep the first source named."""
    if not sources:
        return CarriedLicense(default, None, RANK_NAMES[rank(default)], "no sources: the tool's default licence")
    normalised = {name: (lic or "unknown").lower() for name, lic in sources.items()}
    winner = max(normalised, key=lambda name: rank(normalised[name]))  # max keeps the first of equals
    lic = normalised[winner]
    category = RANK_NAMES[rank(lic)]
    if category == "unknown":
        # Not a Hub licence id (or none given): publish as "other", keep the source's own name for it.
        name = lic if lic not in {"other", "unknown"} else f"see {winner}"
        note = f"the licence of {winner} ({lic}) is unknown to hala-release: check it before redistributing"
        return CarriedLicense("other", winner, category, note, license_name=name)
    note = f"{lic} is the most restrictive licence among the sources; it comes from {winner}"
    if category == "no derivatives":
        note += " (its terms forbid derivative works: check you may publish this artifact at all)"
    return CarriedLicense(lic, winner, category, note)

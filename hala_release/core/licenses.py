"""Licence carry-forward: a derived artifact is bound by the most restrictive licence among its sources.

The ranking is a conservative reading of common Hub licence ids, not legal advice; the card always names
the source that imposed the result so a human can check it.

When one licence cannot stand for all the others, the restriction must not vanish from the metadata. That happens
when a source has its own terms (a custom licence published as `other`, a Llama/Gemma-style use policy) next to
another source with different terms (non-commercial, no-derivatives, another custom licence): no single Hub id
covers both. The artifact is then published as `license: other` with a `license_name` that names every licence it
is bound by, joined by `-and-` (e.g. `lfm1.0-and-cc-by-nc-4.0`, a valid id), a `non-commercial` tag when any of
them forbids commercial use (the one restriction a reader filters by), and a card note listing each licence with
the source that imposed it. Licences that one another covers (cc-by-nc-sa-4.0 covers cc-by-nc-4.0; anything
covers permissive and share-alike sources, as before) keep the single most restrictive id.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

# Hub licence ids (https://huggingface.co/docs/hub/repositories-licenses, checked against hub-docs' list in
# 2026-08), grouped from least to most restrictive for redistribution of derived work.
_RANKS: list[tuple[str, tuple[str, ...]]] = [
    ("public domain", ("cc0-1.0", "unlicense", "pddl")),
    ("permissive", ("mit", "apache-2.0", "bsd", "bsd-2-clause", "bsd-3-clause", "bsd-3-clause-clear", "isc",
                    "zlib", "bsl-1.0", "postgresql", "ncsa", "wtfpl", "afl-3.0", "ecl-2.0", "artistic-2.0",
                    "cc-by-2.0", "cc-by-2.5", "cc-by-3.0", "cc-by-4.0", "odc-by", "c-uda", "cdla-permissive-1.0",
                    "cdla-permissive-2.0", "ms-pl", "ofl-1.1", "etalab-2.0", "apple-ascl", "bigscience-openrail-m",
                    "creativeml-openrail-m", "openrail", "openrail++", "bigcode-openrail-m", "bigscience-bloom-rail-1.0",
                    "openmdw-1.0", "openmdw-1.1")),
    # lppl-1.3c: modified versions must be renamed and carry the licence: conditions on derived work.
    ("share-alike", ("cc-by-sa-3.0", "cc-by-sa-4.0", "odbl", "cdla-sharing-1.0", "lgpl-2.1", "lgpl-3.0",
                     "lgpl-lr", "gpl", "gpl-2.0", "gpl-3.0", "agpl-3.0", "mpl-2.0", "epl-1.0", "epl-2.0",
                     "eupl-1.1", "eupl-1.2", "osl-3.0", "gfdl", "cc", "lgpl", "lppl-1.3c")),
    ("custom use terms", ("llama2", "llama3", "llama3.1", "llama3.2", "llama3.3", "llama4", "gemma",
                          "grok2-community")),
    # Research-only licences forbid commercial use as much as CC's NC clause does.
    ("non-commercial", ("cc-by-nc-2.0", "cc-by-nc-3.0", "cc-by-nc-4.0", "fair-noncommercial-research-license",
                        "deepfloyd-if-license", "apple-amlr", "h-research", "intel-research")),
    ("non-commercial share-alike", ("cc-by-nc-sa-2.0", "cc-by-nc-sa-3.0", "cc-by-nc-sa-4.0")),
    ("no derivatives", ("cc-by-nd-4.0", "cc-by-nc-nd-3.0", "cc-by-nc-nd-4.0")),
    ("unknown", ("other", "unknown")),
]
RANK_OF: dict[str, int] = {lic: rank for rank, (_, ids) in enumerate(_RANKS) for lic in ids}
RANK_NAMES: list[str] = [name for name, _ in _RANKS]
KNOWN_LICENSES: frozenset[str] = frozenset(RANK_OF)
NON_COMMERCIAL: frozenset[str] = frozenset(
    lic for lic, rank in RANK_OF.items() if RANK_NAMES[rank] in {"non-commercial", "non-commercial share-alike"}
) | {"cc-by-nc-nd-3.0", "cc-by-nc-nd-4.0"}
_TERMS_RANK = RANK_NAMES.index("custom use terms")  # from here up, a licence's terms must stay visible
LICENSE_FILES = ("LICENSE", "LICENSE.md", "LICENSE.txt")  # what the Hub and most repos call the licence text
LICENSE_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]*$")  # the Hub's advice: short, lowercase, no spaces
_CC = re.compile(r"^cc-by((?:-(?:nc|sa|nd))*)-\d\.\d$")


@dataclass(frozen=True)
class SourceLicense:
    """What one source's card says about its licence, and the licence text it ships (for `other`)."""

    id: str | None  # the card's `license`
    name: str | None = None  # `license_name`, the Hub's name for an `other` licence
    link: str | None = None  # `license_link`: a file in the repo or a URL
    file: Path | None = None  # the source's LICENSE / LICENSE.md / LICENSE.txt, when it has one

    @property
    def key(self) -> str:
        """The id this source is ranked and named by: its Hub id, its own name for `other`, or `unknown`."""
        lic = (self.id or "unknown").lower()
        if lic == "other" and self.name:
            return slug(self.name)
        return lic if lic in KNOWN_LICENSES else slug(lic)


@dataclass(frozen=True)
class CarriedLicense:
    """The licence a derived artifact must carry, and why."""

    license: str
    imposed_by: str | None  # the source that set it; None when there were no sources
    category: str
    note: str
    license_name: str | None = None  # set when license is "other": the Hub asks for a name then
    license_link: str | None = None  # the copied licence file (e.g. LICENSE) or the source's URL
    tags: tuple[str, ...] = ()  # e.g. non-commercial, when the licence id itself cannot say it
    files: dict[str, Path] = field(default_factory=dict)  # licence texts to copy: name in artifact -> source file


def rank(license_id: str) -> int:
    """Position on the restrictiveness scale; licences we do not know count as unknown (most restrictive)."""
    return RANK_OF.get(license_id.lower(), RANK_OF["unknown"])


def slug(text: str) -> str:
    """A valid Hub licence name from any text: lowercase, [a-z0-9.-], no leading or trailing separator."""
    return re.sub(r"[^a-z0-9.]+", "-", text.lower()).strip("-.") or "unknown"


def covers(wider: str, narrower: str) -> bool:
    """Whether licence `wider`'s terms include every restriction of `narrower` (CC clauses compared one by one)."""
    if rank(narrower) < _TERMS_RANK or (wider == narrower and wider not in {"other", "unknown"}):
        return True  # two unknown licences may differ: neither covers the other
    wide, narrow = _CC.match(wider), _CC.match(narrower)
    if not (wide and narrow):
        return False
    clauses = set(wide.group(1).split("-")) - {""}
    if "nd" in clauses:
        clauses.add("sa")  # no derivative works: there is nothing left to share alike
    return set(narrow.group(1).split("-")) - {""} <= clauses


def carry_forward(sources: dict[str, "str | SourceLicense | None"], default: str = "apache-2.0") -> CarriedLicense:
    """Pick the most restrictive of `sources` (source name -> licence id or SourceLicense); ties keep the first
    source named. Sources whose terms the winner does not cover are named beside it (see the module docstring)."""
    if not sources:
        return CarriedLicense(default, None, RANK_NAMES[rank(default)], "no sources: the tool's default licence")
    found = {name: lic if isinstance(lic, SourceLicense) else SourceLicense(lic) for name, lic in sources.items()}
    keys = {name: lic.key for name, lic in found.items()}
    winner = max(keys, key=lambda name: rank(keys[name]))  # max keeps the first of equals
    bound = [winner]
    for name in sorted(keys, key=lambda n: -rank(keys[n])):  # stable: sources of equal rank keep their order
        if name not in bound and not any(covers(keys[b], keys[name]) for b in bound):
            bound.append(name)
    files = _licence_files(found, keys, bound)
    link = next(iter(files), None) or next((found[n].link for n in bound if _is_url(found[n].link)), None)
    if len(bound) > 1:
        return _combined(found, keys, bound, files, link)
    lic = keys[winner]
    category = RANK_NAMES[rank(lic)]
    if category == "unknown":
        # Not a Hub licence id (or none given): publish as "other", with a valid name for it.
        named = found[winner].id and lic not in {"other", "unknown"}
        name = lic if named else f"{slug(winner)}-license"
        note = f"the licence of {winner} ({lic}) is unknown to hala-release: check it before redistributing"
        return CarriedLicense("other", winner, category, note, license_name=name, license_link=link, files=files)
    note = f"{lic} is the most restrictive licence among the sources; it comes from {winner}"
    if category == "no derivatives":
        note += " (its terms forbid derivative works: check you may publish this artifact at all)"
    return CarriedLicense(lic, winner, category, note)


def _combined(found, keys, bound, files, link) -> CarriedLicense:
    """`other` named after every licence the artifact is bound by, tagged non-commercial when one of them is."""
    name = "-and-".join(keys[n] if keys[n] not in {"other", "unknown"} else f"{slug(n)}-license" for n in bound)
    listed = "; ".join(f"{keys[n]} from {n}" for n in bound)
    non_commercial = any(keys[n] in NON_COMMERCIAL for n in bound)
    note = (f"bound by the terms of every one of these licences, which no single Hub licence id covers: {listed}"
            f"{' (so no commercial use)' if non_commercial else ''}; check each before redistributing")
    return CarriedLicense("other", bound[0], "combined", note, license_name=name, license_link=link,
                          tags=("non-commercial",) if non_commercial else (), files=files)


def _licence_files(found, keys, bound) -> dict[str, Path]:
    """Texts of the `other` licences among `bound`, as the Hub asks: the first keeps its name, others get a suffix."""
    files: dict[str, Path] = {}
    for name in bound:
        source = found[name].file
        if source is None or keys[name] in KNOWN_LICENSES - {"other", "unknown"}:
            continue
        target = source.name if not files else f"LICENSE-{keys[name]}{source.suffix}"
        files.setdefault(target, source)
    return files


def _is_url(link: str | None) -> bool:
    return bool(link) and link.startswith(("https://", "http://"))

"""Language facts in one place: codes checked and normalised by langcodes, the scripts a language is written in
(CLDR's likely subtags, as langcodes ships them), letters counted by Unicode script with the `regex` module, and
the names and codes cards show. Stages ask here; none keeps a table of its own.

langcodes "maximizes" a code it has no data for to Latin script without complaint (`xx` -> `xx-Latn-US`), so a
code is accepted only when langcodes knows the language by name (its `language_data` tables).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated

from pydantic import AfterValidator

# ISO 15924 codes that name a writing system made of several Unicode scripts (or a variant of one).
_UNICODE_SCRIPTS = {"Hans": ("Hani",), "Hant": ("Hani",), "Jpan": ("Hani", "Hira", "Kana"), "Kore": ("Hang", "Hani"),
                    "Hrkt": ("Hira", "Kana"), "Latf": ("Latn",), "Latg": ("Latn",), "Syre": ("Syrc",),
                    "Syrj": ("Syrc",), "Syrn": ("Syrc",), "Aran": ("Arab",)}


@lru_cache(maxsize=512)
def normalise_language(code: str) -> str:
    """The tag langcodes standardises `code` to (deprecated codes replaced, `iw` -> `he`, `in` -> `id`; a three-letter
    code with a two-letter one shortened, `ara` -> `ar`); ValueError naming the closest known language otherwise."""
    import langcodes

    text = str(code or "").strip()
    try:
        language = langcodes.Language.get(text)
        known = langcodes.tag_is_valid(text) and bool(language.language) and language.has_name_data()
    except (ValueError, LookupError):
        known = False
    if not known:
        raise ValueError(f"unknown language code {code!r}{_closest(text)}: use an ISO 639 code such as ar, fr, sw, "
                         f"ur or zh-Hant")
    return language.to_tag()


LanguageCode = Annotated[str, AfterValidator(normalise_language)]
"""A config field holding a language code: checked and normalised wherever the config is built (CLI, recipe, API)."""


def _closest(text: str) -> str:
    import langcodes

    try:
        found = langcodes.find(text)
    except (LookupError, ValueError):
        return ""
    return f" (did you mean {found.to_tag()}, {found.display_name()}?)"


@lru_cache(maxsize=1024)
def language_group(code: str) -> str:
    """The language a language-identification label counts as: its macrolanguage where it has one (Egyptian `arz`
    and Moroccan `ary` are Arabic, `pes` Persian, `swh` Swahili), and Indonesian with Malay (`id` -> `ms`: no
    identifier tells them apart reliably)."""
    import langcodes
    from langcodes.data_dicts import MACROLANGUAGES

    try:
        base = langcodes.Language.get(code).language or code
    except (ValueError, LookupError):
        base = code
    return MACROLANGUAGES.get(base, base)


def hub_code(code: str) -> str:
    """The code the Hub's `language:` metadata uses: ISO 639-1 where the language has one, else ISO 639-3."""
    import langcodes

    return langcodes.Language.get(normalise_language(code)).language


def display_name(code: str) -> str:
    import langcodes

    return langcodes.Language.get(normalise_language(code)).display_name()


@lru_cache(maxsize=512)
def scripts(code: str) -> tuple[str, ...]:
    """ISO 15924 scripts `code` is written in: its script subtag if it has one (`sr-Latn`, `zh-Hant`), the one its
    region implies (`zh-TW`), else its likely script and every other script CLDR gives it in some region or variant
    (Serbian: Cyrillic and Latin; Punjabi: Gurmukhi and Arabic)."""
    import langcodes
    from langcodes.data_dicts import LIKELY_SUBTAGS

    language = langcodes.Language.get(normalise_language(code))
    if language.script:
        return (language.script,)
    found = [language.maximize().script]
    if not language.territory:
        base = language.language
        for key, value in LIKELY_SUBTAGS.items():
            if (key == base or key.startswith(base + "-")) and value.startswith(base + "-"):
                found.append(value.split("-")[1])
    return tuple(dict.fromkeys(script for script in found if script))


@lru_cache(maxsize=512)
def _letters_in(scripts_: tuple[str, ...]):
    """A `regex` pattern for letters of any of these scripts (Unicode script extensions), or None if none is a
    Unicode script (a code such as Zyyy, or one the regex module does not know)."""
    import regex

    parts = []
    for script in scripts_:
        for unicode_script in _UNICODE_SCRIPTS.get(script, (script,)):
            try:
                regex.compile(rf"\p{{scx={unicode_script}}}")
            except regex.error:
                continue
            parts.append(rf"\p{{scx={unicode_script}}}")
    return regex.compile(rf"[\p{{L}}&&[{''.join(parts)}]]", regex.V1) if parts else None


@lru_cache(maxsize=1)
def _every_letter() -> str:
    """Every letter of Unicode (general category L*), as one string to run script patterns over."""
    import unicodedata

    return "".join(chr(point) for point in range(0x110000)
                   if not 0xD800 <= point < 0xE000 and unicodedata.category(chr(point))[0] == "L")


@lru_cache(maxsize=512)
def letter_ranges(code: str) -> tuple[tuple[int, int], ...]:
    """Code point ranges of the letters of `code`'s scripts, derived from Unicode's script properties (the regex
    module's) once per process, so hot loops can count them with `re` or Arrow's RE2 character classes."""
    pattern = _letters_in(scripts(code))
    if pattern is None:
        return ()
    ranges: list[list[int]] = []
    for letter in pattern.findall(_every_letter()):
        point = ord(letter)
        if ranges and ranges[-1][1] + 1 == point:
            ranges[-1][1] = point
        else:
            ranges.append([point, point])
    return tuple((start, end) for start, end in ranges)


def letter_class(code: str, flavour: str = "re") -> str:
    """A character class (`[...]`) of `code`'s letters: for Python's `re`, or for RE2 (`flavour="re2"`, Arrow)."""
    spell = (lambda point: f"\\x{{{point:X}}}") if flavour == "re2" else (lambda point: f"\\U{point:08X}")
    return "[" + "".join(spell(a) if a == b else f"{spell(a)}-{spell(b)}" for a, b in letter_ranges(code)) + "]"


@lru_cache(maxsize=512)
def _compiled_class(code: str):
    """Runs of `code`'s letters (summing run lengths counts them at twice the speed of one match per letter)."""
    import re

    return re.compile(letter_class(code) + "+") if letter_ranges(code) else None


_LETTERS = None


def script_share(text: str, code: str) -> float | None:
    """Share of the letters of `text` written in a script of language `code`; None when it has no letters."""
    global _LETTERS
    if _LETTERS is None:
        import re

        _LETTERS = re.compile(r"[^\W\d_]+")
    pattern = _compiled_class(code)
    letters = sum(map(len, _LETTERS.findall(text)))
    if pattern is None or not letters:
        return None
    return sum(map(len, pattern.findall(text))) / letters


@lru_cache(maxsize=512)
def utf8_letter_bytes(code: str) -> int:
    """UTF-8 bytes of a common letter of `code` (1 for Latin, 2 for Arabic or Cyrillic, 3 for Devanagari or Han).
    A script's basic alphabet is its first run of letters in code point order (extensions come later), so the first
    run of at least 20 letters stands for it. Disk-space estimates scale text translated into another script by it."""
    for start, end in letter_ranges(code):
        if end - start >= 19:
            return len(chr(start).encode("utf-8"))
    return 1

"""Format-preserving segmentation: what a translator may touch, and what must come back byte-identical.

A text is cut into a sequence of pieces whose concatenation is the text itself:
- kept pieces (plain strings): fenced code, display math, table separators, markdown structure (heading and
  list markers, quote markers, table pipes), newlines and surrounding whitespace;
- segments: the translatable prose of one line (or part of a long line), in which inline protected spans
  (inline code and math, URLs, e-mail addresses, HTML tags, placeholders, emphasis markers) are replaced by
  numbered markers such as ``⟦0⟧`` that the model is asked to keep. Translating whole sentences with markers,
  rather than the fragments between spans, keeps context for the model; `restore` puts the spans back.

So an identity "translation" reproduces any input byte for byte, and a segment's marker text is a good
dedup/cache key: "Use the ⟦0⟧ function." is the same work whatever the code inside the marker.
"""

from __future__ import annotations

import re
from typing import NamedTuple
from functools import lru_cache

MARKER_OPEN, MARKER_CLOSE = "⟦", "⟧"
MARKER_RE = re.compile(r"⟦(\d+)⟧")
DEFAULT_MAX_CHARS = 1500

# Block-level regions kept whole. Fences close with the same fence string; an unclosed fence runs to the end.
_BLOCKS = re.compile(
    r"^[ \t]*(?P<fence>`{3,}|~{3,})[^\n]*\n(?:.*?\n)??[ \t]*(?P=fence)[ \t]*(?=\n|\Z)"
    r"|^[ \t]*(?:`{3,}|~{3,})[^\n]*(?:\n.*)?\Z"
    r"|\$\$.+?\$\$"
    r"|\\\[.+?\\\]",
    re.M | re.S,
)
_TABLE_SEPARATOR = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(?:\|\s*:?-{3,}:?\s*)*\|?\s*$")
_HORIZONTAL_RULE = re.compile(r"^\s*([-*_])(?:\s*\1){2,}\s*$")
_LINE_PREFIX = re.compile(r"^[ \t]*(?:>[ \t]?)*(?:#{1,6}[ \t]+|(?:[-*+]|\d{1,9}[.)])[ \t]+(?:\[[ xX]\][ \t]+)?)?")
_INLINE = re.compile(
    r"(?P<code>(`+).+?\2)"
    r"|(?P<math>\$(?=\S)[^$\n]*?(?<=\S)\$(?!\d)|\\\(.+?\\\))"
    r"|(?P<url>(?:https?|ftp)://[^\s<>\"'`]+[^\s<>\"'`.,;:!?)\]]|www\.[^\s<>\"'`]+[^\s<>\"'`.,;:!?)\]])"
    r"|(?P<email>[\w.+-]+@[\w-]+(?:\.[\w-]+)+)"
    r"|(?P<html></?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>|<!--.*?-->)"
    r"|(?P<placeholder>\{\{[^{}\n]*\}\}|\{[A-Za-z_][\w.]*\}|\{\d*\}|%(?:\(\w+\))?[-+ 0#]*\d*(?:\.\d+)?[sdifeEgGxXorc%])"
    r"|(?P<emphasis>\*{1,3}|(?<![\w])_{1,3}(?=\S)|(?<=\S)_{1,3}(?![\w])|~~)"
    r"|(?P<marker>[⟦⟧])"
)
# The same spans without links and e-mails, and with emphasis underscores checked in `_mark_inline` instead of by
# look-behinds: every branch then starts with a special character, which lets `re` skip plain text quickly. Used
# when the text cannot hold a link or an e-mail address (no "://", "www." or "@"); the result is the same.
_INLINE_NO_LINKS = re.compile(
    r"(?P<code>(`+).+?\2)"
    r"|(?P<math>\$(?=\S)[^$\n]*?(?<=\S)\$(?!\d)|\\\(.+?\\\))"
    r"|(?P<html></?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>|<!--.*?-->)"
    r"|(?P<placeholder>\{\{[^{}\n]*\}\}|\{[A-Za-z_][\w.]*\}|\{\d*\}|%(?:\(\w+\))?[-+ 0#]*\d*(?:\.\d+)?[sdifeEgGxXorc%])"
    r"|(?P<emphasis>\*{1,3}|_{1,3}|~~)"
    r"|(?P<marker>[⟦⟧])"
)
# Cheap test that lets plain prose skip the inline scan.
_MAYBE_SPECIAL = re.compile(r"[`$\\<{%*_~@⟦⟧]|://|www\.")
_LETTER = re.compile(r"[^\W\d_]")
_PREFIX_STARTS = frozenset(" \t>#-*+0123456789")
_SENTENCE_END = re.compile(r"(?<=[.!?؟。！？])\s+")


class Segment(NamedTuple):
    """Translatable text with ``⟦i⟧`` markers standing for `spans[i]` (a tuple: millions are made per run)."""

    text: str
    spans: tuple[str, ...] = ()


Piece = str | Segment


class LostSpanError(ValueError):
    """A translation dropped, duplicated or invented a protected-span marker."""


@lru_cache(maxsize=8192)
def split(text: str, max_chars: int = DEFAULT_MAX_CHARS) -> tuple[Piece, ...]:
    """Cut `text` into kept strings and translatable segments; ``join`` of them unchanged gives `text` back.

    Cached: instruction datasets repeat some texts (Open-Orca's system prompts) across millions of rows.
    """
    pieces: list[Piece] = []
    position = 0
    if "```" in text or "~~~" in text or "$$" in text or "\\[" in text:
        for block in _BLOCKS.finditer(text):
            _split_lines(text[position:block.start()], max_chars, pieces)
            pieces.append(block.group(0))
            position = block.end()
    _split_lines(text[position:], max_chars, pieces)
    return tuple(pieces)


def _split_lines(text: str, max_chars: int, pieces: list[Piece]) -> None:
    if not text:
        return
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        _split_line(body, max_chars, pieces)
        if len(body) < len(line):
            pieces.append(line[len(body):])


def _split_line(line: str, max_chars: int, pieces: list[Piece]) -> None:
    if not line:
        return
    # The str methods are cheap pre-checks that let most prose lines skip the regular expressions.
    if not line.strip(" \t|:-*_") and (_TABLE_SEPARATOR.match(line) or _HORIZONTAL_RULE.match(line)):
        pieces.append(line)
        return
    prefix = _LINE_PREFIX.match(line).group(0) if line[0] in _PREFIX_STARTS else ""
    if prefix:
        pieces.append(prefix)
    rest = line[len(prefix):]
    if "|" in rest and (rest.lstrip().startswith("|") or rest.count("|") >= 2):
        for index, cell in enumerate(re.split(r"(?<!\\)\|", rest)):
            if index:
                pieces.append("|")
            _split_content(cell, max_chars, pieces)
    else:
        _split_content(rest, max_chars, pieces)


def _split_content(content: str, max_chars: int, pieces: list[Piece]) -> None:
    """Leading/trailing whitespace kept; the core becomes one or more segments (or is kept if it has no words)."""
    core = content.strip()
    if not core:
        if content:
            pieces.append(content)
        return
    trail = ""
    if len(core) != len(content):
        lead = content[: len(content) - len(content.lstrip())]
        trail = content[len(content.rstrip()):]
        if lead:
            pieces.append(lead)
    marked, spans = _mark_inline(core)
    if not _LETTER.search(MARKER_RE.sub("", marked) if spans else marked):
        pieces.append(core)  # numbers, punctuation, lone code: nothing to translate
    elif len(core) <= max_chars:
        pieces.append(Segment(marked, tuple(spans)))  # markers are already numbered 0..n-1 in order
    else:
        _split_long(marked, spans, max_chars, pieces)
    if trail:
        pieces.append(trail)


def _mark_inline(core: str) -> tuple[str, list[str]]:
    if not _MAYBE_SPECIAL.search(core):
        return core, []
    spans: list[str] = []

    def mark(match: re.Match) -> str:
        span = match.group(0)
        if span[0] == "_" and not _underscore_is_emphasis(match.string, match.start(), match.end()):
            return span
        spans.append(span)
        return f"{MARKER_OPEN}{len(spans) - 1}{MARKER_CLOSE}"

    links_possible = "://" in core or "www." in core or "@" in core
    return (_INLINE if links_possible else _INLINE_NO_LINKS).sub(mark, core), spans


def _underscore_is_emphasis(text: str, start: int, end: int) -> bool:
    """Markdown's flanking rule, as `_INLINE`'s look-behinds state it: not inside a word like snake_case."""
    before = text[start - 1] if start else ""
    after = text[end] if end < len(text) else ""
    word = lambda ch: bool(ch) and (ch.isalnum() or ch == "_")  # what `re` means by \w
    left_flanking = not word(before) and bool(after) and not after.isspace()
    right_flanking = bool(before) and not before.isspace() and not word(after)
    return left_flanking or right_flanking


def _segment(marked: str, spans: list[str]) -> Segment:
    """A segment of part of a marked line, its markers renumbered from 0 so equal sentences share a key."""
    if not spans:
        return Segment(marked)
    used: list[str] = []

    def renumber(match: re.Match) -> str:
        used.append(spans[int(match.group(1))])
        return f"{MARKER_OPEN}{len(used) - 1}{MARKER_CLOSE}"

    return Segment(MARKER_RE.sub(renumber, marked), tuple(used))


def _split_long(marked: str, spans: list[str], max_chars: int, pieces: list[Piece]) -> None:
    """Pack sentences into segments of at most `max_chars` (a single longer sentence stays whole)."""
    parts = _SENTENCE_END.split(marked)
    gaps = _SENTENCE_END.findall(marked)
    chunk = parts[0]
    for gap, sentence in zip(gaps, parts[1:]):
        if len(chunk) + len(gap) + len(sentence) > max_chars:
            pieces.append(_segment(chunk, spans))
            pieces.append(gap)
            chunk = sentence
        else:
            chunk += gap + sentence
    pieces.append(_segment(chunk, spans))


def segments(pieces: "tuple[Piece, ...] | list[Piece]") -> list[Segment]:
    return [piece for piece in pieces if isinstance(piece, Segment)]


@lru_cache(maxsize=8192)
def split_segments(text: str, max_chars: int = DEFAULT_MAX_CHARS) -> tuple[tuple[Piece, ...], tuple[Segment, ...]]:
    """`split` and its segments together: the hot path of a translate run."""
    pieces = split(text, max_chars)
    return pieces, tuple(piece for piece in pieces if type(piece) is Segment)


def restore(segment: Segment, translation: str) -> str:
    """Put the protected spans back into a translated segment; every marker must appear exactly once."""
    if not segment.spans and MARKER_OPEN not in translation and MARKER_CLOSE not in translation:
        return translation
    found = [int(index) for index in MARKER_RE.findall(translation)]
    stray = translation.count(MARKER_OPEN) != len(found) or translation.count(MARKER_CLOSE) != len(found)
    if sorted(found) != list(range(len(segment.spans))) or stray:
        raise LostSpanError(f"expected markers 0..{len(segment.spans) - 1} once each, found {found}")
    return MARKER_RE.sub(lambda match: segment.spans[int(match.group(1))], translation)


def join(pieces: "tuple[Piece, ...] | list[Piece]", translations: dict[str, str] | None = None) -> str:
    """Reassemble pieces; a segment takes the translation of its marked text (restored) or stays as it was."""
    out = []
    for piece in pieces:
        if isinstance(piece, Segment):
            text = translations.get(piece.text, piece.text) if translations is not None else piece.text
            out.append(restore(piece, text))
        else:
            out.append(piece)
    return "".join(out)

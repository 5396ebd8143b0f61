"""Format-preserving segmentation: what a translator may touch, and what must come back byte-identical.

A text is cut into a sequence of pieces whose concatenation is the text itself:
- kept pieces (plain strings): code blocks (fenced and indented), math blocks (`$$`, `\\[...\\]`, math
  environments), front matter, raw HTML that holds no prose, link reference definitions, table delimiter rows,
  markdown structure (heading and list markers, quote markers, table pipes), newlines and surrounding whitespace;
- segments: the translatable prose of one line (or part of a long line), in which inline protected spans (code
  spans, math, link and image brackets and destinations, autolinks, bare URLs, e-mail addresses, HTML tags and
  entities, footnote references, placeholders, emphasis markers) are replaced by numbered markers such as ``⟦0⟧``
  that the model is asked to keep. Translating whole sentences with markers, rather than the fragments between
  spans, keeps context for the model; `restore` puts the spans back.

What is code, math or a link comes from a CommonMark parser with LaTeX rules (`markup.read`); a text with none of
the characters such things need is read with plain line rules and never parsed. Regular expressions only look
inside a line or block the parser has classified (bare URLs, placeholders, emphasis). HTML blocks: the tags, and
`pre`/`script`/`style`/`textarea` elements and comments whole, are kept; the text between tags is translated.

So an identity "translation" reproduces any input byte for byte, and a segment's marker text is a good
dedup/cache key: "Use the ⟦0⟧ function." is the same work whatever the code inside the marker.
"""

from __future__ import annotations

import re
from typing import NamedTuple
from functools import lru_cache

from hala_release.core.markup import Reading, needs_parser, read

MARKER_OPEN, MARKER_CLOSE = "⟦", "⟧"
MARKER_RE = re.compile(r"⟦(\d+)⟧")
DEFAULT_MAX_CHARS = 1500

_TABLE_SEPARATOR = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(?:\|\s*:?-{3,}:?\s*)*\|?\s*$")
_HORIZONTAL_RULE = re.compile(r"^\s*([-*_])(?:\s*\1){2,}\s*$")
_LINE_PREFIX = re.compile(r"^[ \t]*(?:>[ \t]?)*(?:#{1,6}[ \t]+|(?:[-*+]|\d{1,9}[.)])[ \t]+(?:\[[ xX]\][ \t]+)?)?")
_TASK_BOX = re.compile(r"\[[ xX]\][ \t]+")
_CODE_ELEMENT = r"<(code|kbd|samp|tt|var)\b[^<>]*>.*?</(?P=element)\s*>"
_URL = (r"(?:https?|ftp)://[^\s<>\"'`]+[^\s<>\"'`.,;:!?)\]]|www\.[^\s<>\"'`]+[^\s<>\"'`.,;:!?)\]]"
        r"|[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# Spans kept whole inside a line the parser did not read (plain prose, raw HTML lines, unmappable blocks).
_ATOMIC = re.compile(
    r"(`+).+?\1"
    r"|\$(?=\S)[^$\n]*?(?<=\S)\$(?!\d)|\\\(.+?\\\)"
    r"|\]\((?:[^()\s]|\([^()\s]*\))*(?:\s+(?:\"[^\"]*\"|'[^']*'))?\)|\]\[[^\[\]]*\]"
    r"|<(?:[A-Za-z][A-Za-z0-9+.-]{1,31}:[^\s<>]*|[\w.+-]+@[\w.-]+)>"
    rf"|{_URL}"
    r"|" + _CODE_ELEMENT.replace("(code", "(?P<element>code") +
    r"|</?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>|<!--.*?-->|&(?:#\d{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});"
)
# What the parser leaves as text but a translator must keep: bare URLs, e-mail addresses, code elements in HTML.
_AROUND_PARSED = re.compile(rf"{_URL}|" + _CODE_ELEMENT.replace("(code", "(?P<element>code"))
# Short spans inside prose: placeholders, emphasis markers, literal marker characters.
_PROSE_SPANS = re.compile(
    r"(?P<placeholder>\{\{[^{}\n]*\}\}|\{[A-Za-z_][\w.]*\}|\{\d*\}|%(?:\(\w+\))?[-+ 0#]*\d*(?:\.\d+)?[sdifeEgGxXorc%])"
    r"|(?P<emphasis>\*{1,3}|_{1,3}|~~)"
    r"|(?P<marker>[⟦⟧])"
)
# Cheap test that lets plain prose skip the inline scans.
_MAYBE_SPECIAL = re.compile(r"[`$\\<{%*_~@&⟦⟧]|://|www\.")
_MAYBE_LINK = re.compile(r"[@<&]|://|www\.")
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
    if needs_parser(text):
        _split_reading(text, read(text), max_chars, pieces)
    else:
        _split_lines(text, max_chars, pieces)
    return tuple(pieces)


def _split_reading(text: str, reading: Reading, max_chars: int, pieces: list[Piece]) -> None:
    """Blocks as the parser classified them; lines outside every block (blank lines, reference definitions,
    bare container markers) are kept as written."""
    lines = reading.lines
    done = 0  # lines emitted so far
    for block in reading.blocks:
        if block.first < done:
            continue  # never emit a line twice
        if block.first > done:
            pieces.append(text[lines[done][0]:lines[block.first][0]])
        if block.kind == "kept":
            pieces.append(text[lines[block.first][0]:lines[block.last - 1][2]])
        elif block.kind == "prose":
            _split_prose(text, lines, block, max_chars, pieces)
        elif block.kind == "table":
            _split_table_row(text, lines[block.first], block.parts, max_chars, pieces)
        else:  # raw HTML, or a block whose parsed text could not be placed on its lines: plain line rules
            _split_lines(text[lines[block.first][0]:lines[block.last - 1][2]], max_chars, pieces)
        done = block.last
    if done < len(lines):
        pieces.append(text[lines[done][0]:])


def _split_prose(text: str, lines, block, max_chars: int, pieces: list[Piece]) -> None:
    """A paragraph or heading: one segment per line, except where a protected span (a code span, math) runs
    across a line break; then the lines it joins are one segment and the break travels inside the span."""
    parts = block.parts
    number = 0
    while number < len(parts):
        last = number
        reach = max((end for _, end in parts[number][2]), default=0)
        while reach > parts[last][1] and last + 1 < len(parts):
            last += 1
            reach = max([reach, *(end for _, end in parts[last][2])])
        line_start = lines[block.first + number][0]
        begin, end = parts[number][0], parts[last][1]
        prefix = text[line_start:begin]
        box = _TASK_BOX.match(text, begin, end) if prefix.strip() in ("-", "*", "+") else None
        if box:
            prefix, begin = prefix + box.group(0), box.end()
        if prefix:
            pieces.append(prefix)
        ranges = [r for part in parts[number:last + 1] for r in part[2]]
        _split_content(text[begin:end], max_chars, pieces, [(a - begin, b - begin) for a, b in ranges])
        after = text[end:lines[block.first + last][2]]
        if after:
            pieces.append(after)
        number = last + 1


def _split_table_row(text: str, line, cells, max_chars: int, pieces: list[Piece]) -> None:
    position = line[0]
    for begin, end, ranges in cells:
        if begin > position:
            pieces.append(text[position:begin])
        _split_content(text[begin:end], max_chars, pieces, [(a - begin, b - begin) for a, b in ranges])
        position = end
    if position < line[2]:
        pieces.append(text[position:line[2]])


_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def _split_lines(text: str, max_chars: int, pieces: list[Piece]) -> None:
    """Plain line rules: line by line, markdown prefixes and table pipes kept, inline spans found by pattern."""
    position = 0
    for match in _LINE_BREAK.finditer(text):
        _split_line(text[position:match.start()], max_chars, pieces)
        pieces.append(match.group(0))
        position = match.end()
    _split_line(text[position:], max_chars, pieces)


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


def _split_content(content: str, max_chars: int, pieces: list[Piece],
                   ranges: list[tuple[int, int]] | None = None) -> None:
    """Leading/trailing whitespace kept; the core becomes one or more segments (or is kept if it has no words).

    `ranges` are the protected spans the parser found (offsets in `content`); without them, patterns find them."""
    core = content.strip()
    if not core:
        if content:
            pieces.append(content)
        return
    lead_length = len(content) - len(content.lstrip())
    trail = content[lead_length + len(core):]
    if lead_length:
        pieces.append(content[:lead_length])
    if ranges is None:
        ranges = [match.span() for match in _ATOMIC.finditer(core)] if _MAYBE_SPECIAL.search(core) else []
    else:
        if _MAYBE_LINK.search(core):
            ranges = ranges + [(a + lead_length, b + lead_length) for a, b in
                               (match.span() for match in _AROUND_PARSED.finditer(core))]
        ranges = [(max(a - lead_length, 0), min(b - lead_length, len(core))) for a, b in ranges]
    marked, spans = _mark_inline(core, _merged(ranges))
    if not _LETTER.search(MARKER_RE.sub("", marked) if spans else marked):
        pieces.append(core)  # numbers, punctuation, lone code: nothing to translate
    elif len(core) <= max_chars:
        pieces.append(Segment(marked, tuple(spans)))  # markers are already numbered 0..n-1 in order
    else:
        _split_long(marked, spans, max_chars, pieces)
    if trail:
        pieces.append(trail)


def _merged(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted, overlapping ranges joined (a URL inside a link destination is one span, not two)."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(r for r in ranges if r[1] > r[0]):
        if merged and start < merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _mark_inline(core: str, ranges: list[tuple[int, int]]) -> tuple[str, list[str]]:
    """`core` with each protected range and each short prose span (placeholder, emphasis) as a marker."""
    if not ranges and not _MAYBE_SPECIAL.search(core):
        return core, []
    spans: list[str] = []

    def marker(span: str) -> str:
        spans.append(span)
        return f"{MARKER_OPEN}{len(spans) - 1}{MARKER_CLOSE}"

    def mark(match: re.Match) -> str:
        span = match.group(0)
        if span[0] == "_" and not _underscore_is_emphasis(match.string, match.start(), match.end()):
            return span
        return marker(span)

    out = []
    position = 0
    for start, end in ranges:
        out.append(_PROSE_SPANS.sub(mark, core[position:start]))
        out.append(marker(core[start:end]))
        position = end
    out.append(_PROSE_SPANS.sub(mark, core[position:]))
    return "".join(out), spans


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


# What a translation must not hold for its text's code, math and links to be unchanged without reading it again:
# characters that open, close or escape them (backticks, tildes, dollars, backslashes, angle and square brackets,
# ampersands, pipes), line breaks, a digit against a marker (a digit beside `$x$` makes it plain text) and, at its
# start, what could begin a list, heading, quote or thematic break (and so move the lines after it).
_STRUCTURE_CHARACTERS = re.compile(r"[`~$\\<>\[\]&|\r\n]")
_DIGIT_BY_MARKER = re.compile(r"\d⟦|⟧\d")
_BLOCK_START = re.compile(r"\s*(?:[>=]|#{1,6}(?:\s|$)|[-+*_](?:\s|$|[-*_])|\d{1,9}[.)](?:\s|$))")


def _may_change_structure(text: str) -> bool:
    return (_STRUCTURE_CHARACTERS.search(text) is not None or _BLOCK_START.match(text) is not None
            or (MARKER_OPEN in text and _DIGIT_BY_MARKER.search(text) is not None))


def keeps_structure(segment: Segment, translation: str) -> bool:
    """True when restoring `translation` provably leaves the text's code blocks, inline code, link targets and math
    as they were: its markers in the source's order, and neither it nor the segment holds a character that can make
    or break such an item. False means only "read it again" (the structure gate parses the text)."""
    if _may_change_structure(translation) or _may_change_structure(segment.text):
        return False
    return not segment.spans or [int(n) for n in MARKER_RE.findall(translation)] == list(range(len(segment.spans)))


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

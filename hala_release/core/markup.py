"""Reading a document as CommonMark with LaTeX: which lines are code, math or prose, and where the protected
inline spans are.

One configured markdown-it-py parser (CommonMark + GFM tables, YAML front matter, footnotes,
dollar math from mdit-py-plugins, and `latex_*` rules below for `\\(...\\)`, `\\[...\\]` and math environments
with or without dollars) serves two readers:
- `read(text)` for segmentation: the leaf blocks with their source lines, and for each prose block the source
  offsets of what a translator must not touch (code spans, math, link destinations, autolinks, raw HTML tags,
  entities, footnote references). markdown-it keeps no source offsets inline, so its inline rules are wrapped to
  record where each one matched in the block's text, and those offsets are mapped back onto the source lines.
- `structure(text)`: what must come back unchanged after translation (code blocks, inline code, link targets,
  math), as a multiset, for the whole-row structure gate and the card's counts.

Standard library and markdown-it only, so the demo Space can carry this file (as `hala_markup.py`).
"""

from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache
from typing import NamedTuple

# A text needs the parser only if it holds something plain line rules cannot read. Each test below is the least
# that the construct needs: two backticks (a code span or fence), two dollars (math), a backslash (escapes, LaTeX),
# `<` before a letter, `/`, `!` or `?` (HTML, autolinks), `](`, `][`, `]:` or `[^` (links, references, footnotes), a
# pipe with a table delimiter row, `~~~` (fence), a tab or four spaces at a line start (indented code), front matter.
# Anything else (prose, headings, lists, quotes, emphasis, entities, bare URLs) is read line by line.
_PARSER_SEQUENCES = re.compile(r"\\|<[A-Za-z/!?]|\]\(|\]\[|\]:|\[\^|~~~|\t")
_TABLE_DELIMITER = re.compile(r"^[ \t>]*(?=[^\n]*\|)(?=[^\n]*-)[|: \t-]+$", re.M)
_INDENTED_CODE = re.compile(r"^(?:[ \t]*>)* {4}|^[ \t]*(?:[-+*]|\d{1,9}[.)]) {5}", re.M)

# Math environments that a writer may put straight into the text, without dollars (amsmath's list, its inner
# environments, and the ones LLM outputs use with them). Text environments (proof, itemize) stay prose.
MATH_ENVIRONMENTS = frozenset(
    "equation align alignat flalign gather multline eqnarray split aligned alignedat gathered multlined cases "
    "dcases rcases array subarray matrix pmatrix bmatrix Bmatrix vmatrix Vmatrix smallmatrix subequations "
    "displaymath math CD".split())
_LATEX_OPEN = re.compile(r"\\\[|\\\(|\\begin\{([A-Za-z]+)(\*?)\}")

KINDS = ("code_block", "inline_code", "link_target", "math")
KIND_NAMES = {"code_block": "code blocks", "inline_code": "inline code spans", "link_target": "link targets",
              "math": "math spans"}
_PROTECTED_BLOCKS = {"fence", "code_block", "math_block", "math_block_label", "latex_block", "front_matter", "hr"}
_MATH_TOKENS = {"math_inline", "math_inline_double", "math_block", "math_block_label", "latex_block",
                "latex_inline"}
# Inline rules whose whole match is kept as written; `link` and `image` keep their brackets and destination only.
_RECORDED_RULES = ("backticks", "math_inline", "latex_inline", "autolink", "html_inline", "entity",
                   "footnote_ref", "link", "image")
_SPANS = "hala_spans"  # env key the recording rules append to


def needs_parser(text: str) -> bool:
    """Cheap tests (counts, substrings, a prefix) before the patterns that read line starts."""
    return (text.count("`") > 1 or text.count("$") > 1 or _PARSER_SEQUENCES.search(text) is not None
            or text.startswith(("---", "+++")) or ("|" in text and _TABLE_DELIMITER.search(text) is not None)
            or ("    " in text and _INDENTED_CODE.search(text) is not None))


# ---- LaTeX rules (markdown-it plugin style: one syntax, a block rule and an inline rule) -----------------------

def _latex_close(src: str, opening: re.Match, limit: int) -> tuple[int, int] | None:
    """(start, end) of the delimiter that closes `opening` in src[:limit], nested environments counted."""
    if opening.group(0) == "\\(":
        close = src.find("\\)", opening.end(), limit)
        return None if close < 0 else (close, close + 2)
    if opening.group(0) == "\\[":
        close = src.find("\\]", opening.end(), limit)
        return None if close < 0 else (close, close + 2)
    name = re.escape(opening.group(1) + opening.group(2))
    depth = 1
    for match in re.finditer(rf"\\(begin|end)\{{{name}\}}", src[:limit]):
        if match.start() < opening.end():
            continue
        depth += 1 if match.group(1) == "begin" else -1
        if not depth:
            return match.start(), match.end()
    return None


def _latex_opening(src: str, pos: int) -> re.Match | None:
    match = _LATEX_OPEN.match(src, pos)
    if match and match.group(1) and match.group(1) not in MATH_ENVIRONMENTS:
        return None
    return match


def _latex_inline(state, silent: bool) -> bool:
    """`\\(...\\)`, `\\[...\\]` or a math environment inside a paragraph (before `escape` reads `\\(` as `(`)."""
    if state.src[state.pos] != "\\":
        return False
    opening = _latex_opening(state.src, state.pos)
    closing = opening and _latex_close(state.src, opening, state.posMax)
    if not closing:
        return False
    if not silent:
        token = state.push("latex_inline", "math", 0)
        token.markup = opening.group(0)
        token.content = state.src[opening.end():closing[0]]
    state.pos = closing[1]
    return True


def _latex_block(state, start_line: int, end_line: int, silent: bool) -> bool:
    """`\\[...\\]` or a math environment starting a line, through the line that closes it (blank lines allowed)."""
    if state.sCount[start_line] - state.blkIndent >= 4:
        return False  # an indented code block
    begin = state.bMarks[start_line] + state.tShift[start_line]
    opening = _latex_opening(state.src, begin)
    if not opening or opening.group(0) == "\\(":
        return False
    line = start_line
    while not _latex_close(state.src, opening, state.eMarks[line]):
        line += 1
        if line >= end_line:
            return False
        if state.sCount[line] < state.blkIndent and state.bMarks[line] + state.tShift[line] < state.eMarks[line]:
            return False  # a line outdented out of the container ends the search
    if silent:
        return True
    state.line = line + 1
    token = state.push("latex_block", "math", 0)
    token.block = True
    token.markup = opening.group(0)
    token.content = state.getLines(start_line, line + 1, state.sCount[start_line], False)
    token.map = [start_line, line + 1]
    return True


def latex_plugin(md) -> None:
    md.block.ruler.before("fence", "latex_block", _latex_block,
                          {"alt": ["paragraph", "reference", "blockquote", "list", "footnote_def"]})
    md.inline.ruler.before("escape", "latex_inline", _latex_inline)


# ---- the parser, with inline rules that record where they matched ----------------------------------------------

# The character each recorded rule starts at: the wrapper turns other positions away before calling the rule (the
# inline parser tries every rule at every special character, so this saves most calls).
_FIRST_CHARACTER = {"backticks": "`", "math_inline": "$", "latex_inline": "\\", "autolink": "<", "html_inline": "<",
                    "entity": "&", "footnote_ref": "[", "link": "[", "image": "!"}


def _recording(name: str, rule):
    first = _FIRST_CHARACTER[name]

    def recorded(state, silent: bool) -> bool:
        start = state.pos
        if state.src[start] != first or not rule(state, silent):
            return False
        spans = None if silent else state.env.get(_SPANS)
        if spans is not None:
            label_end = -1
            if name in ("link", "image"):
                # as the rules themselves find it: a link's label holds no link, an image's may
                label_end = state.md.helpers.parseLinkLabel(state, start + (name == "image"), name == "link")
            spans.append((name, start, state.pos, label_end, state.src))
        return True

    return recorded


@lru_cache(maxsize=1)
def parser():
    """The one configured parser (built once per process: building it takes milliseconds)."""
    from markdown_it import MarkdownIt
    from mdit_py_plugins.dollarmath import dollarmath_plugin
    from mdit_py_plugins.footnote import footnote_plugin
    from mdit_py_plugins.front_matter import front_matter_plugin

    # Emphasis changes no code, math or link (code spans and math bind tighter; segmentation marks emphasis
    # delimiters itself): its rules are off, which saves a tenth of the parse.
    md = MarkdownIt("commonmark").enable("table").disable("emphasis")
    # No space inside the dollars and no digit after the closing one: "$3 each and $5 each" stays prose.
    md.use(dollarmath_plugin, allow_space=False, allow_digits=False, double_inline=True)
    md.use(front_matter_plugin).use(footnote_plugin).use(latex_plugin)
    for name in _RECORDED_RULES:
        index = md.inline.ruler.__find__(name)
        if index >= 0:
            md.inline.ruler.at(name, _recording(name, md.inline.ruler.__rules__[index].fn))
    return md


# ---- structure: what must not change -----------------------------------------------------------------------

_STRUCTURES: dict[str, Counter] = {}  # recent texts' structure (`read` fills it too: a source is parsed once)
_STRUCTURES_KEPT = 8192


def structure(text: str) -> Counter:
    """Code blocks, inline code, link targets and math of `text` as the parser reads them, counted by (kind, value).

    A text the line rules can read has none of them, and is not parsed."""
    if not needs_parser(text):
        return Counter()
    found = _STRUCTURES.get(text)
    if found is None:
        found = _remember(text, _structure(parser().parse(text.replace("\0", "\ufffd"))))
    return found


def _remember(text: str, items: Counter) -> Counter:
    if len(_STRUCTURES) >= _STRUCTURES_KEPT:
        _STRUCTURES.pop(next(iter(_STRUCTURES), None), None)
    _STRUCTURES[text] = items
    return items


def _structure(tokens) -> Counter:
    items: Counter = Counter()
    for token in tokens:
        if token.type == "fence":
            items["code_block", f"{token.info}\n{token.content}"] += 1
        elif token.type == "code_block":
            items["code_block", token.content] += 1
        elif token.type in _MATH_TOKENS:
            items["math", token.content.strip()] += 1
        elif token.type == "inline" and token.children:
            for child in token.children:
                if child.type == "code_inline":
                    items["inline_code", child.content] += 1
                elif child.type == "link_open":
                    items["link_target", str(child.attrs.get("href", ""))] += 1
                elif child.type == "image":
                    items["link_target", str(child.attrs.get("src", ""))] += 1
                elif child.type in _MATH_TOKENS:
                    items["math", child.content.strip()] += 1
    return items


def kept_counts(source: Counter, output: Counter) -> dict[str, tuple[int, int]]:
    """Per kind: (items in the source, of them found unchanged in the output), multisets compared."""
    both = source & output
    return {kind: (sum(n for (k, _), n in source.items() if k == kind),
                   sum(n for (k, _), n in both.items() if k == kind)) for kind in KINDS}


# ---- reading for segmentation -------------------------------------------------------------------------------

class Block(NamedTuple):
    """Leaf block on source lines [first, last): `kind` is kept, prose, table, html or lines.

    `parts` (prose, table): per source line, (content start, content end, protected spans as source offsets)."""

    kind: str
    first: int
    last: int
    parts: tuple = ()


class Reading(NamedTuple):
    lines: tuple[tuple[int, int, int], ...]  # per line: start, end of its text, end with its line break
    blocks: tuple[Block, ...]
    structure: Counter


_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n|$)")


def source_lines(text: str) -> tuple[tuple[int, int, int], ...]:
    """Lines as CommonMark counts them (\\n, \\r\\n or \\r): (start, end of text, end with the line break)."""
    if "\r" not in text:
        lines, start = [], 0
        for line in text.split("\n"):
            end = start + len(line)
            lines.append((start, end, min(end + 1, len(text))))
            start = end + 1
        if len(lines) > 1 and lines[-1][0] == len(text):
            lines.pop()  # a final line break ends the last line; no empty line after it
        return tuple(lines)
    lines = []
    for match in _LINE.finditer(text):
        if match.start() == len(text) and lines:
            break
        body = match.group(0).rstrip("\r\n")
        lines.append((match.start(), match.start() + len(body), match.end()))
    return tuple(lines)


def read(text: str) -> Reading:
    """The blocks of `text` with source positions. A block whose parsed text cannot be mapped back onto its lines
    (tabs the parser expands, say) is a `lines` block, which the segmenter reads with its plain line rules."""
    env: dict = {_SPANS: []}
    normalised = text.replace("\0", "\ufffd")  # what markdown-it does, one character for one
    tokens = parser().parse(normalised, env)
    lines = source_lines(text)
    spans_by_src: dict[int, list] = {}
    for name, start, end, label_end, src in env[_SPANS]:
        spans_by_src.setdefault(id(src), []).append((name, start, end, label_end))
    blocks: list[Block] = []
    index = 0
    while index < len(tokens):
        token = tokens[index]
        kind = token.type
        if kind in _PROTECTED_BLOCKS and token.map:
            blocks.append(Block("kept", *token.map))
        elif kind == "html_block" and token.map:
            raw = token.content.lstrip().lower()
            verbatim = raw.startswith(("<pre", "<script", "<style", "<textarea", "<!", "<?"))
            blocks.append(Block("kept" if verbatim else "html", *token.map))
        elif kind in ("paragraph_open", "heading_open") and token.map:
            inline = tokens[index + 1]
            first, last = token.map
            if kind == "heading_open" and token.markup in ("=", "-"):
                last -= 1  # a setext heading's underline is kept
                blocks.append(Block("kept", last, last + 1))
            atx = kind == "heading_open" and token.markup.startswith("#")
            parts = _prose_parts(normalised, lines, first, last, inline.content,
                                 spans_by_src.get(id(inline.content), []), atx)
            blocks.append(Block("lines", first, last) if parts is None else Block("prose", first, last, parts))
        elif kind == "tr_open" and token.map:
            cells = []
            index += 1
            while tokens[index].type != "tr_close":
                if tokens[index].type == "inline":
                    cells.append(tokens[index])
                index += 1
            row = token.map[0]
            parts = _cell_parts(normalised, lines[row], cells, spans_by_src)
            blocks.append(Block("lines", row, row + 1) if parts is None else Block("table", row, row + 1, parts))
        elif kind == "thead_open" and token.map:
            blocks.append(Block("kept", token.map[0] + 1, token.map[0] + 2))  # the delimiter row
        index += 1
    return Reading(lines, tuple(sorted(blocks, key=lambda block: block.first)), _remember(text, _structure(tokens)))


def _protected(spans: list, base: int, content: str) -> list[tuple[int, int]]:
    """Recorded rule matches as protected ranges of `content` (a link keeps its brackets and destination only)."""
    ranges = []
    for name, start, end, label_end in spans:
        if name in ("link", "image"):
            after = label_end + 1  # what the rule read after the label: "(destination)", "[label]", "[]" or nothing
            if end > after and (content[after] == "(" or content[after:after + 2] not in ("[]", "")):
                ranges.append((start, start + 1 + (name == "image")))  # "[" or "!["
                ranges.append((label_end, end))  # "](destination "title")" or "][label]"
            else:
                ranges.append((start, end))  # [label] and [label][] name a reference: kept whole
        else:
            ranges.append((start, end))
    return [(start + base, end + base) for start, end in ranges]


def _prose_parts(src: str, lines, first: int, last: int, content: str, spans: list, atx: bool):
    """Per source line of a paragraph or heading: where its content sits, and the protected source ranges.

    The block's text as markdown-it holds it is each line's suffix (container markers and indentation removed),
    the whole stripped; a heading's text sits between its markers. Offsets in it map back line by line."""
    content_lines = content.split("\n")
    if len(content_lines) != last - first:
        return None
    where = []  # per line: source offset of the content's start, content length
    for number, piece in enumerate(content_lines):
        start, end, _ = lines[first + number]
        body = src[start:end]
        if atx:
            at = body.find(piece, body.find("#") + 1)
        else:
            trimmed = body.rstrip() if number == len(content_lines) - 1 else body
            at = len(trimmed) - len(piece) if trimmed.endswith(piece) else -1
        if at < 0:
            return None
        where.append((start + at, len(piece)))
    offsets = []  # content offset of each line's start
    position = 0
    for _, length in where:
        offsets.append(position)
        position += length + 1

    def to_source(offset: int) -> int:
        number = _line_of(offsets, offset)
        return where[number][0] + offset - offsets[number]

    ranges = [(to_source(a), to_source(b)) for a, b in _protected(spans, 0, content)]
    return tuple((begin, begin + length, tuple(r for r in ranges if begin <= r[0] < begin + length + 1))
                 for begin, length in where)


def _line_of(offsets: list[int], offset: int) -> int:
    low, high = 0, len(offsets) - 1
    while low < high:
        middle = (low + high + 1) // 2
        if offsets[middle] <= offset:
            low = middle
        else:
            high = middle - 1
    return low


def _cell_parts(src: str, line, cells, spans_by_src):
    """Per cell of a table row: where its text sits and its protected ranges. GFM reads `\\|` in a cell as `|`,
    so a cell's text is found with its pipes escaped again, and offsets after each pipe move by one."""
    start, end, _ = line
    body = src[start:end]
    parts = []
    position = 0
    for cell in cells:
        content = cell.content
        if not content:
            continue
        written = content.replace("|", "\\|")
        at = body.find(written, position)
        if at < 0:
            return None
        pipes = [index for index, char in enumerate(content) if char == "|"]
        shift = (lambda offset: offset + sum(1 for pipe in pipes if pipe < offset)) if pipes else (lambda offset: offset)
        ranges = [(start + at + shift(a), start + at + shift(b))
                  for a, b in _protected(spans_by_src.get(id(content), []), 0, content)]
        parts.append((start + at, start + at + len(written), tuple(ranges)))
        position = at + len(written)
    return tuple(parts)

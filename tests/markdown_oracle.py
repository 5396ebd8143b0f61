"""A second, independent reading of a document, to check the segmenter against (never the segmenter itself).

markdown-it-py with mdit-py-plugins' own math plugins (dollarmath, amsmath, texmath's bracket delimiters) and
footnotes, read through the token stream only: what a CommonMark reader sees as code, math and link targets, and
which letters it sees as prose. It shares no code with `hala_release.core.markup`, whose LaTeX rules are its own.

Two settings make it read LaTeX the way the datasets are written: amsmath's environment list gains the ones writers
put outside dollars (cases, aligned, array...), and texmath's `\\[...\\]` block may interrupt a paragraph (LLM
answers put display math on its own lines right after a sentence). Bare URLs, e-mail addresses and autolink texts
are not prose: they are left out of the letter count.
"""

from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache

from markdown_it import MarkdownIt
import mdit_py_plugins.amsmath as amsmath
from mdit_py_plugins.amsmath import amsmath_plugin
from mdit_py_plugins.dollarmath import dollarmath_plugin
from mdit_py_plugins.footnote import footnote_plugin
from mdit_py_plugins.front_matter import front_matter_plugin
from mdit_py_plugins.texmath import texmath_plugin

_ASCII_LETTER = re.compile(r"[A-Za-z]")
_NOT_PROSE = re.compile(r"(?:https?|ftp)://\S+|www\.\S+|[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_EXTRA_ENVIRONMENTS = ["cases", "dcases", "aligned", "gathered", "split", "array", "smallmatrix", "displaymath"]
_MATH = {"math_inline", "math_inline_double", "math_block", "math_block_label", "math_block_eqno", "amsmath"}


@lru_cache(maxsize=1)
def oracle_parser() -> MarkdownIt:
    amsmath.RE_OPEN = r"\\begin\{(" + "|".join(amsmath.ENVIRONMENTS + _EXTRA_ENVIRONMENTS) + r")([\*]?)\}"
    md = MarkdownIt("commonmark").enable(["table", "strikethrough"])
    md.use(front_matter_plugin).use(footnote_plugin).use(amsmath_plugin)
    md.use(texmath_plugin, delimiters="brackets")
    for name in ("math_block_eqno", "math_block"):  # texmath's (registered first, so found first by name)
        rule = md.block.ruler.__rules__[md.block.ruler.__find__(name)]
        md.block.ruler.at(name, rule.fn, {"alt": ["paragraph", "reference", "blockquote", "list"]})
    md.use(dollarmath_plugin, allow_space=False, allow_digits=False, double_inline=True)
    return md


def protected_items(text: str) -> Counter:
    """(kind, value) of every code block, inline code span, link or image target and math span."""
    items: Counter = Counter()
    for token in oracle_parser().parse(text):
        if token.type in ("fence", "code_block"):
            items["code_block", token.info + "\n" + token.content] += 1
        elif token.type in _MATH:
            items["math", token.content] += 1
        for child in token.children or ():
            if child.type == "code_inline":
                items["inline_code", child.content] += 1
            elif child.type == "link_open":
                items["link_target", child.attrs.get("href")] += 1
            elif child.type == "image":
                items["link_target", child.attrs.get("src")] += 1
            elif child.type in _MATH:
                items["math", child.content] += 1
    return items


def prose_ascii_letters(text: str) -> int:
    """ASCII letters in what the reader sees as prose text (text runs, image alt text), the ones a translation
    into another script must change."""
    count = 0
    for token in oracle_parser().parse(text):
        in_autolink = False
        for child in token.children or ():
            if child.type in ("link_open", "link_close"):
                in_autolink = child.type == "link_open" and child.markup == "autolink"
            elif child.type == "text" and not in_autolink:
                count += len(_ASCII_LETTER.findall(_NOT_PROSE.sub("", child.content)))
            elif child.type == "image":
                count += sum(len(_ASCII_LETTER.findall(c.content)) for c in child.children or () if c.type == "text")
    return count

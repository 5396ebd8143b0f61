"""Segmentation: identity reassembly for any input, protected spans untouched, long texts split safely."""

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hala_release.core.segment import LostSpanError, Segment, join, restore, segments, split

EXAMPLE = """# Getting started

Install it with `pip install hala-release` and read **the docs** at https://example.com/docs?page=1.

1. Open the file
2. Compute $a^2 + b^2 = c^2$ for each row
   - nested *item* with {name} and %s

```python
def greet(name):
    return f"Hello {name}!"  # keep me
```

| column | meaning |
|---|---|
| `id` | the row id |

$$\\int_0^1 x\\,dx = \\frac{1}{2}$$

Write to team@example.com or see <a href="https://example.org">this page</a>.
> Quoted text stays a quote.
---
\\[ e^{i\\pi} + 1 = 0 \\]"""

PROTECTED = ["`pip install hala-release`", "https://example.com/docs?page=1", "$a^2 + b^2 = c^2$", "{name}", "%s",
             '```python\ndef greet(name):\n    return f"Hello {name}!"  # keep me\n```', "|---|---|", "`id`",
             "$$\\int_0^1 x\\,dx = \\frac{1}{2}$$", "team@example.com", '<a href="https://example.org">', "</a>",
             "\\[ e^{i\\pi} + 1 = 0 \\]", "# ", "1. ", "   - ", "> ", "---", "**", "*"]


def shout(segment: Segment) -> str:
    """A stand-in translation that changes every letter but keeps the markers: uppercases words."""
    return re.sub(r"[a-z]+", lambda m: m.group(0).upper(), segment.text)


def test_identity_on_a_rich_example():
    assert join(split(EXAMPLE)) == EXAMPLE


def test_protected_spans_survive_a_translation_and_prose_changes():
    pieces = split(EXAMPLE)
    translated = join(pieces, {s.text: shout(s) for s in segments(pieces)})
    for span in PROTECTED:
        assert span in translated, span
    assert "GETTING STARTED" in translated and "Getting started" not in translated
    assert "def greet(name):" in translated  # code is never sent to the model
    assert "QUOTED TEXT STAYS A QUOTE." in translated


def test_no_segment_contains_code_or_structure():
    texts = [s.text for s in segments(split(EXAMPLE))]
    assert not any("def greet" in t or "|" in t or "```" in t or t.startswith(("#", "-", "1.")) for t in texts)
    assert "Install it with ⟦0⟧ and read ⟦1⟧the docs⟦2⟧ at ⟦3⟧." in texts


def test_equal_sentences_share_a_key_whatever_their_spans():
    first = segments(split("Use the `alpha` function."))[0]
    second = segments(split("Use the `beta` function."))[0]
    assert first.text == second.text == "Use the ⟦0⟧ function."
    assert first.spans != second.spans


def test_lines_without_words_are_kept_whole():
    for text in ["12:30 - 14:45", "https://example.com/page?id=3", "`x = 1`", "---", "   ", "42."]:
        assert segments(split(text)) == []
        assert join(split(text)) == text


def test_long_lines_split_at_sentences_and_never_inside_a_span():
    sentence = "This sentence has `some code` and a link https://example.com/x inside it. "
    text = (sentence * 30).strip()
    pieces = split(text, max_chars=200)
    segs = segments(pieces)
    assert len(segs) > 5 and all(len(s.text) <= 200 for s in segs)
    assert all(s.text.endswith(".") for s in segs)
    # Sentences are packed whole: each segment carries its own sentences' spans, renumbered from 0.
    assert all(s.spans == ("`some code`", "https://example.com/x") * s.text.count("inside it.") for s in segs)
    assert all(s.text.startswith("This sentence has ⟦0⟧ and a link ⟦1⟧") for s in segs)
    assert join(pieces) == text


def test_restore_rejects_lost_duplicated_and_invented_markers():
    segment = segments(split("Call `f` then `g`."))[0]
    assert restore(segment, "نادِ ⟦0⟧ ثم ⟦1⟧.") == "نادِ `f` ثم `g`."
    assert restore(segment, "⟦1⟧ بعد ⟦0⟧") == "`g` بعد `f`"  # reordering is allowed
    for bad in ["نادِ ⟦0⟧ ثم.", "⟦0⟧ ⟦0⟧ ⟦1⟧", "⟦0⟧ ⟦1⟧ ⟦2⟧", "⟦0⟧ ⟦1⟧ ⟦", "⟦0⟧ ⟦1⟧ ⟧"]:
        with pytest.raises(LostSpanError):
            restore(segment, bad)


def test_marker_characters_in_the_input_are_protected_too():
    text = "A literal ⟦0⟧ in the source text, and `code`."
    pieces = split(text)
    assert join(pieces) == text
    segment = segments(pieces)[0]
    assert segment.spans == ("⟦", "⟧", "`code`")
    assert join(pieces, {segment.text: shout(segment)}) == "A LITERAL ⟦0⟧ IN THE SOURCE TEXT, AND `code`."


_pieces = st.sampled_from([
    "Hello world. ", "مرحبا بالعالم. ", "\n", "\n\n", "  ", "# Title\n", "- item\n", "1. step\n", "> quote\n",
    "`code`", "``a ` b``", "$x+1$", "$$\\sum_i i$$", "\\[a\\]", "\\(b\\)", "https://example.com/a_b?c=1",
    "www.example.org", "me@example.com", "<br/>", "<b>", "</b>", "<!-- note -->", "{name}", "{0}", "{{jinja}}",
    "%s", "%(x)d", "**bold**", "*it*", "_u_", "~~del~~", "| a | b |\n", "|---|---|\n", "---\n",
    "```python\nprint('x')\n```\n", "~~~\nraw\n~~~\n", "```\nunclosed", "⟦", "⟧", "⟦3⟧", "\t", "\r\n", "$5 and $6",
    "snake_case_name", "2 * 3 = 6", "price: 100%", "😀", "\u2028", "é", "ß",
])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(_pieces, st.text(max_size=12)), max_size=25))
def test_identity_for_generated_markdown(parts):
    text = "".join(parts)
    pieces = split(text)
    assert join(pieces) == text
    # A marker-keeping "translation" (uppercasing ASCII words) must come back with every span restored in
    # place and everything else untouched, so only the case of segment letters may differ.
    translated = join(pieces, {s.text: shout(s) for s in segments(pieces)})
    assert translated.lower() == text.lower()
    for kept in (p for p in pieces if isinstance(p, str)):
        assert kept in translated


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_identity_for_any_text(text):
    assert join(split(text)) == text
    assert join(split(text, max_chars=20)) == text

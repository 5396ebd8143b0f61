"""The one "same text" normaliser, its Arrow column form and the text keys built on it."""

import unicodedata

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hala_release.core.text import normalise, normalise_array, text_key

ARABIC_BLOCKS = ((0x0600, 0x06FF), (0x0750, 0x077F), (0x0870, 0x08FF))


def reference(text: str) -> str:
    """The module docstring's rules, one character at a time, straight from the Unicode categories."""
    text = unicodedata.normalize("NFKC", text).casefold()
    out = []
    for ch in text:
        category = unicodedata.category(ch)
        arabic_mark = category == "Mn" and any(lo <= ord(ch) <= hi for lo, hi in ARABIC_BLOCKS)
        if ch == "\u0640" or category == "Cf" or arabic_mark:
            continue
        out.append(" " if category == "Cc" else str(unicodedata.decimal(ch)) if category == "Nd" else ch)
    words = []
    for word in unicodedata.normalize("NFKC", "".join(out)).split():
        chars = list(word)
        while chars and unicodedata.category(chars[0]).startswith("P"):
            chars.pop(0)
        while chars and unicodedata.category(chars[-1]).startswith("P"):
            chars.pop()
        if chars:
            words.append("".join(chars))
    return " ".join(words)


# Text that exercises every rule: Arabic letters and marks, tatweel, digits, punctuation, format characters.
PIECES = st.sampled_from(["كَتَبَ", "كـتـب", "ﻻ", "٣", "3", "؟", "،", "?", "!", "(", ")", "\u200f", "\u200d", "\u00ad",
                          "Straße", "ΣΊΣΥΦΟΣ", "ǰ", "e\u0301", "ﬁ", "２", "\t", "\n", " ", "  ", "x", "2*3", "don't",
                          "हिन्दी", "\u0654", "ا", "\x00", "\x7f", "İ", "ﷺ", "_"])
MIXED = st.one_of(st.text(), st.lists(st.one_of(PIECES, st.text(max_size=3)), max_size=12).map("".join))


@pytest.mark.parametrize("a, b", [
    ("Where are you going?", "where are you going ?"),
    ("إلى أين أنت ذاهب؟", "إلى أين أنت ذاهب ؟"),
    ("كَتَبَ الوَلَدُ", "كتب الولد"),  # diacritics
    ("كـتـب", "كتب"),  # tatweel
    ("لدي ٣ أطفال", "لدي 3 أطفال"),  # Arabic-Indic digits
    ("\u200fمرحبا\u200e", "مرحبا"),  # bidi marks
    ("ﻻ", "لا"),  # presentation form
    ("STRASSE", "Straße"),
    ("Hello,   world!", "hello world"),
    ("a\tb\nc", "a b c"),
])
def test_the_same_text(a, b):
    assert normalise(a) == normalise(b)


@pytest.mark.parametrize("a, b", [
    ("What is 2*3?", "What is 2/3?"),  # punctuation inside a word is kept
    ("x+1", "x-1"),
    ("therapist", "the rapist"),  # spaces still separate words
    ("हिन्दी", "हन्द"),  # marks of other scripts are their vowels
    ("علي", "على"),  # distinct Arabic letters stay distinct
])
def test_different_texts(a, b):
    assert normalise(a) != normalise(b)


@settings(max_examples=600, deadline=None)
@given(MIXED)
def test_normalise_follows_the_documented_rules(text):
    assert normalise(text) == reference(text)


@settings(max_examples=400, deadline=None)
@given(MIXED)
def test_normalise_is_idempotent(text):
    once = normalise(text)
    assert normalise(once) == once
    assert once == once.strip() and "  " not in once


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(st.none(), MIXED), max_size=40), st.integers(1, 7))
def test_normalise_array_equals_the_python_function(texts, batch):
    half = len(texts) // 2
    column = pa.chunked_array([pa.array(texts[:half], pa.string()), pa.array(texts[half:], pa.string())])
    assert normalise_array(column, batch=batch).to_pylist() == [None if t is None else normalise(t) for t in texts]


def test_text_key_is_per_kind_and_follows_normalise():
    assert text_key("en", "Hello, world!") == text_key("en", "hello world")
    assert text_key("en", "hello") != text_key("ar", "hello")
    assert text_key("en", "hello") != text_key("en", "hello there")
    assert 0 <= text_key("ar", "كتب") < 2 ** 128


def test_characters_the_table_changes_are_found_beyond_the_bmp():
    # U+E0001 (a format character) lies beyond the BMP, where the search for changed characters is separate.
    assert normalise("كتب\U000E0001 ١٢") == normalise("كتب 12") == "كتب 12"
    assert normalise("x\U000E0001y é") == "xy é"

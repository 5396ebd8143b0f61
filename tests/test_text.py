"""The one "same text" normaliser, its Arrow column form, the union-find over text keys and the held-out split."""

import unicodedata
from collections import defaultdict

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hala_release.core.text import SameTextGroups, hold_out, normalise, normalise_array, text_key

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


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.integers(0, 30), min_size=1, max_size=4), max_size=40))
def test_same_text_groups_are_the_connected_components(edges):
    groups = SameTextGroups()
    items = [(groups.join(keys), number) for number, keys in enumerate(edges)]
    found = groups.grouped(items)
    # The same components by a plain search over the graph whose edges join each item's keys.
    neighbours = defaultdict(set)
    for keys in edges:
        for key in keys:
            neighbours[key] |= set(keys)
    component = {}
    for start in neighbours:
        if start not in component:
            stack = [start]
            while stack:
                key = stack.pop()
                if key not in component:
                    component[key] = start
                    stack.extend(neighbours[key])
    expected = defaultdict(list)
    for number, keys in enumerate(edges):
        expected[component[keys[0]]].append(number)
    assert found == list(expected.values())  # same groups, ordered by their first item, items in order


def test_hold_out_keeps_groups_whole_and_bounds_eval():
    groups = [[f"big{i}" for i in range(50)]] + [[f"{g}a", f"{g}b"] for g in range(30)] + [[f"s{i}"] for i in range(5)]
    for seed in range(5):
        train, evaluation = hold_out(groups, 11, seed, slack=1)
        assert 10 <= len(evaluation) <= 12 and "big0" in train  # the big group never swamps eval
        assert sorted(train + evaluation) == sorted(x for g in groups for x in g)
        for group in groups:
            assert set(group) <= set(train) or set(group) <= set(evaluation)
        assert hold_out(groups, 11, seed, slack=1) == (train, evaluation)
    assert hold_out(groups, 0, 3) == (hold_out(groups, 0, 3)[0], [])

"""Quality gates: each one fires on the failure it is for, and passes a good translation."""

import pytest

from hala_release.engines.quality import GateConfig, check, script_ratio
from hala_release.core.segment import segments, split

GATES = GateConfig()


def seg(text):
    return segments(split(text))[0]


def test_a_good_translation_passes():
    source = seg("Use the `print` function to show the result on the screen.")
    assert check(source, "استخدم الدالة ⟦0⟧ لعرض النتيجة على الشاشة.", "en", "ar", GATES) == []


@pytest.mark.parametrize("source, translation, reason", [
    ("Use the `print` function to show the result.", "استخدم الدالة لعرض النتيجة.", "lost_spans"),
    ("Use the `print` function to show the result.", "استخدم ⟦0⟧ ⟦0⟧ لعرض النتيجة.", "lost_spans"),
    ("The weather is nice today in the city.", "The weather is nice today in the city!", "untranslated"),
    ("The weather is nice today in the city.", "Le temps est beau aujourd'hui en ville.", "target_script"),
    ("The weather is nice today in the city of Rabat.", "طقس", "length_ratio"),
    ("Hi there, how are you?", "مرحبا " * 40, "length_ratio"),
    ("The weather is nice today and tomorrow too.", "الطقس جميل جميل جميل جميل جميل جميل جميل اليوم", "repetition"),
    ("Say hello.", "   ", "empty"),
])
def test_each_gate_fires(source, translation, reason):
    assert reason in check(seg(source), translation, "en", "ar", GATES)


def test_disabled_gates_still_catch_lost_spans():
    off = GateConfig(enabled=False)
    source = seg("Use the `print` function.")
    assert check(source, "anything at all", "en", "ar", off) == ["lost_spans"]
    assert check(source, "anything ⟦0⟧ at all", "en", "ar", off) == []


def test_script_ratio_ignores_markers_and_knows_scripts():
    assert script_ratio("مرحبا ⟦0⟧ بالعالم", "ar") == 1.0
    assert script_ratio("مرحبا Python", "ar") == pytest.approx(5 / 11)
    assert script_ratio("Привет", "ru") == 1.0
    assert script_ratio("123", "ar") is None
    with pytest.raises(ValueError, match="unknown language code 'xx'"):
        script_ratio("hello", "xx")  # configs refuse such a code before any text is checked


def test_loops_already_in_the_source_are_not_flagged():
    source = seg("ha ha ha ha ha ha ha, said the clown.")
    assert "repetition" not in check(source, "ها ها ها ها ها ها ها، قال المهرج.", "en", "ar", GATES)

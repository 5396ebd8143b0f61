"""Schemas: auto-detection on every shipped sample, text extraction and same-structure rebuilding."""

import pytest

from hala_release.core.errors import UsageError
from hala_release.stages.sample_data.run import read_sample
from hala_release.core.schemas import SCHEMAS, choose_schema

EXPECTED = {"openorca": "openorca", "hermes3": "sharegpt", "tulu3": "messages", "realign-alpaca": "alpaca",
            "scp116k": "scp", "lamini": "lamini", "gptj-pairwise": "pairwise", "opus100-ar-en": "parallel"}


@pytest.mark.parametrize("sample, schema", sorted(EXPECTED.items()))
def test_auto_detects_each_sample(sample, schema):
    rows = read_sample(sample)
    chosen = choose_schema("auto", list(rows[0]))
    assert chosen.name == schema
    texts = chosen.texts(rows[0], "en")
    assert texts and all(isinstance(t, str) for group in texts for t in group)


def test_turns_are_rebuilt_with_the_same_structure():
    row = read_sample("hermes3")[0]
    schema = SCHEMAS["sharegpt"]
    (texts,) = schema.texts(row, "en")
    rebuilt = schema.locators[0].rebuild(row["conversations"], [t.upper() for t in texts])
    assert [turn["from"] for turn in rebuilt] == [turn["from"] for turn in row["conversations"]]
    assert [turn["value"] for turn in rebuilt] == [turn["value"].upper() for turn in row["conversations"]]
    assert row["conversations"][0]["value"] != row["conversations"][0]["value"].upper()  # original untouched


def test_parallel_reads_the_source_language_side():
    row = read_sample("opus100-ar-en")[0]
    schema = SCHEMAS["parallel"]
    assert schema.texts(row, "en") == [[row["translation"]["en"]]]
    assert schema.texts(row, "ar") == [[row["translation"]["ar"]]]
    assert schema.output_columns("ar") == ["translation_ar"]


def test_fields_schema_with_nested_lists():
    schema = choose_schema("fields", ["q", "turns"], ["q", "turns[].text"])
    row = {"q": "Why?", "turns": [{"speaker": "a", "text": "Hi"}, {"speaker": "b", "text": "Hello"}]}
    assert schema.texts(row, "en") == [["Why?"], ["Hi", "Hello"]]


@pytest.mark.parametrize("name, columns, fields, fragment", [
    ("auto", ["id", "body"], None, "no known layout matches the columns id, body: pass --schema fields"),
    ("openorca", ["id", "question"], None, "needs column(s) system_prompt, response"),
    ("fields", ["a"], None, "needs --fields"),
    ("nope", ["a"], None, "unknown schema 'nope'"),
    ("fields", ["a"], ["b"], "needs column(s) b"),
    ("fields", ["a"], ["a[0]"], "bad field"),
    ("openorca", ["a"], ["a"], "--fields only goes with --schema fields"),
])
def test_schema_errors_name_the_fix(name, columns, fields, fragment):
    with pytest.raises(UsageError, match=fragment.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        choose_schema(name, columns, fields)

"""Licence carry-forward: the most restrictive source wins and is named."""

from hala_release.licenses import carry_forward, rank


def test_most_restrictive_wins_and_names_its_source():
    carried = carry_forward({"Open-Orca/OpenOrca": "mit", "GAIR/ReAlign-Alpaca": "cc-by-nc-4.0",
                             "allenai/tulu-3-sft-mixture": "odc-by"})
    assert carried.license == "cc-by-nc-4.0"
    assert carried.imposed_by == "GAIR/ReAlign-Alpaca"
    assert "GAIR/ReAlign-Alpaca" in carried.note


def test_share_alike_and_non_commercial_order():
    assert rank("cc-by-nc-sa-4.0") > rank("cc-by-nc-4.0") > rank("cc-by-sa-4.0") > rank("apache-2.0") > rank("cc0-1.0")
    carried = carry_forward({"a": "cc-by-sa-4.0", "b": "EricLu-like-nc-sa", "c": "cc-by-nc-sa-4.0"})
    # An id we do not know counts as unknown, which beats everything and is published as "other".
    assert carried.license == "other" and carried.imposed_by == "b"
    assert carried.license_name == "ericlu-like-nc-sa"


def test_unknown_licence_becomes_other_with_a_warning():
    carried = carry_forward({"Helsinki-NLP/opus-100": None, "x": "mit"})
    assert carried.license == "other"
    assert carried.imposed_by == "Helsinki-NLP/opus-100"
    assert "unknown" in carried.note
    assert carried.license_name == "see Helsinki-NLP/opus-100"


def test_ties_keep_the_first_source_and_no_sources_uses_default():
    assert carry_forward({"first": "mit", "second": "apache-2.0"}).imposed_by == "first"
    carried = carry_forward({})
    assert carried.license == "apache-2.0" and carried.imposed_by is None


def test_no_derivatives_is_flagged():
    carried = carry_forward({"a": "mit", "b": "cc-by-nd-4.0"})
    assert carried.license == "cc-by-nd-4.0"
    assert "forbid derivative" in carried.note

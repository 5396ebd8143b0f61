"""Licence carry-forward: the most restrictive source wins and is named; terms no single id covers stay visible."""

from pathlib import Path

import pytest

from hala_release.artifacts.card import validate_metadata
from hala_release.core.licenses import KNOWN_LICENSES, LICENSE_NAME, SourceLicense, carry_forward, rank


def test_most_restrictive_wins_and_names_its_source():
    carried = carry_forward({"Open-Orca/OpenOrca": "mit", "GAIR/ReAlign-Alpaca": "cc-by-nc-4.0",
                             "allenai/tulu-3-sft-mixture": "odc-by"})
    assert carried.license == "cc-by-nc-4.0"
    assert carried.imposed_by == "GAIR/ReAlign-Alpaca"
    assert "GAIR/ReAlign-Alpaca" in carried.note


def test_share_alike_and_non_commercial_order():
    assert rank("cc-by-nc-sa-4.0") > rank("cc-by-nc-4.0") > rank("cc-by-sa-4.0") > rank("apache-2.0") > rank("cc0-1.0")
    carried = carry_forward({"a": "cc-by-sa-4.0", "b": "EricLu-like-nc-sa", "c": "cc-by-nc-sa-4.0"})
    # An id we do not know counts as unknown, which beats everything and is published as "other"; the NC-SA
    # licence it cannot be shown to cover is named beside it.
    assert carried.license == "other" and carried.imposed_by == "b"
    assert carried.license_name == "ericlu-like-nc-sa-and-cc-by-nc-sa-4.0"
    assert carried.tags == ("non-commercial",)


def test_unknown_licence_becomes_other_with_a_warning():
    carried = carry_forward({"Helsinki-NLP/opus-100": None, "x": "mit"})
    assert carried.license == "other"
    assert carried.imposed_by == "Helsinki-NLP/opus-100"
    assert "unknown" in carried.note
    assert carried.license_name == "helsinki-nlp-opus-100-license"  # a valid id, still naming the source
    assert not validate_metadata({"license": "other", "license_name": carried.license_name}, "dataset")


def test_ties_keep_the_first_source_and_no_sources_uses_default():
    assert carry_forward({"first": "mit", "second": "apache-2.0"}).imposed_by == "first"
    carried = carry_forward({})
    assert carried.license == "apache-2.0" and carried.imposed_by is None


def test_no_derivatives_is_flagged():
    carried = carry_forward({"a": "mit", "b": "cc-by-nd-4.0"})
    assert carried.license == "cc-by-nd-4.0"
    assert "forbid derivative" in carried.note


def test_custom_licence_with_non_commercial_data_keeps_both():
    """LFM2's own licence (`other`, lfm1.0) on a model trained on CC BY-NC data: the NC restriction must survive."""
    lfm = SourceLicense("other", "lfm1.0", "LICENSE", Path("/models/lfm2/LICENSE"))
    carried = carry_forward({"LiquidAI/LFM2-1.2B": lfm, "my-org/sft": "cc-by-nc-4.0"})
    assert (carried.license, carried.license_name, carried.license_link) == ("other", "lfm1.0-and-cc-by-nc-4.0",
                                                                             "LICENSE")
    assert carried.tags == ("non-commercial",) and carried.files == {"LICENSE": Path("/models/lfm2/LICENSE")}
    assert "lfm1.0 from LiquidAI/LFM2-1.2B; cc-by-nc-4.0 from my-org/sft" in carried.note
    # The same with the licence name only (as input cards were read before): the restriction is still kept.
    carried = carry_forward({"LiquidAI/LFM2-1.2B": "lfm1.0", "my-org/sft": "cc-by-nc-sa-4.0"})
    assert carried.license_name == "lfm1.0-and-cc-by-nc-sa-4.0" and carried.tags == ("non-commercial",)


@pytest.mark.parametrize("sources, license, name", [
    ({"a": "cc-by-nc-sa-4.0", "b": "cc-by-nc-4.0", "c": "mit"}, "cc-by-nc-sa-4.0", None),  # NC-SA covers NC
    ({"a": "cc-by-nc-nd-4.0", "b": "cc-by-nc-sa-4.0"}, "cc-by-nc-nd-4.0", None),  # nothing to share alike
    ({"a": "cc-by-nd-4.0", "b": "cc-by-nc-4.0"}, "other", "cc-by-nd-4.0-and-cc-by-nc-4.0"),  # ND allows commerce
    ({"m": "llama3", "d": "cc-by-nc-4.0"}, "other", "cc-by-nc-4.0-and-llama3"),
    ({"m": "llama3", "d": "cc-by-sa-4.0"}, "llama3", None),
    ({"x": None, "y": "unknown"}, "other", "x-license-and-y-license"),  # two unknown licences may differ
])
def test_which_combinations_need_other(sources, license, name):
    carried = carry_forward(sources)
    assert (carried.license, carried.license_name) == (license, name)
    assert carried.tags == (("non-commercial",) if name and "-nc-" in name else ())


def test_custom_names_become_valid_ids_and_urls_are_linked():
    carried = carry_forward({"org/m": SourceLicense("other", "Apple Sample Code License", "https://x.org/l")})
    assert carried.license_name == "apple-sample-code-license" and carried.license_link == "https://x.org/l"
    assert LICENSE_NAME.match(carried.license_name) and not carried.files


def test_hub_licence_ids_are_current():
    for added in ("apple-amlr", "grok2-community", "h-research", "intel-research", "lppl-1.3c", "openmdw-1.0",
                  "openmdw-1.1"):
        assert added in KNOWN_LICENSES, added
        assert not validate_metadata({"license": added}, "model")
    assert "cc-pdm-1.0" not in KNOWN_LICENSES  # not a Hub id: the Hub would reject the card
    assert any("not a Hub licence id" in p for p in validate_metadata({"license": "cc-pdm-1.0"}, "model"))
    assert rank("apple-amlr") == rank("cc-by-nc-4.0") and rank("openmdw-1.1") == rank("mit")


def test_invalid_license_names_are_refused():
    problems = validate_metadata({"license": "other", "license_name": "see Helsinki-NLP/opus-100"}, "dataset")
    assert any("license_name 'see Helsinki-NLP/opus-100' must be an id" in p for p in problems)


def test_input_licence_finds_the_text_and_links_hub_files_at_their_commit(tmp_path):
    from hala_release.artifacts.inputs import input_license
    from hala_release.core.refs import Ref, ResolvedRef

    (tmp_path / "README.md").write_text("---\nlicense: other\nlicense_name: custom-1.0\nlicense_link: ../secret\n---\n")
    (tmp_path.parent / "secret").write_text("not the input's")
    hub = ResolvedRef(Ref("org/m", "model", repo_id="org/m"), tmp_path, "a" * 40)
    assert input_license(hub) == SourceLicense("other", "custom-1.0", "../secret", None)  # never outside the folder
    (tmp_path / "README.md").write_text("---\nlicense: other\nlicense_name: custom-1.0\nlicense_link: LICENSE\n---\n")
    assert input_license(hub).link == f"https://huggingface.co/org/m/blob/{'a' * 40}/LICENSE"  # not in the snapshot
    (tmp_path / "LICENSE.txt").write_text("terms")
    assert input_license(hub).file == tmp_path / "LICENSE.txt"

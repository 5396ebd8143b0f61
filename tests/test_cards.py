"""Cards: Hub metadata field by field, pure rendering from provenance, and local validation."""

import pytest
from huggingface_hub import DatasetCard, ModelCard

from hala_release.artifacts.build import build_artifact
from hala_release.artifacts.card import card_metadata, render_card, size_category, validate_metadata, write_card
from hala_release.core.errors import HalaError
from hala_release.core.licenses import carry_forward
from hala_release.core.provenance import CardFacts, CardSection, read_provenance


def test_dataset_card_metadata_field_by_field(openorca_artifact):
    card = DatasetCard.load(openorca_artifact / "README.md")
    meta = card.data.to_dict()
    rows = read_provenance(openorca_artifact).card.splits["train"]
    assert meta["language"] == ["en"]
    assert meta["license"] == "apache-2.0"
    assert meta["task_categories"] == ["text-generation"]
    assert meta["size_categories"] == ["n<1K"] and 0 < rows < 1000
    assert meta["annotations_creators"] == ["expert-generated"]  # rows written for the package, not found
    assert meta["language_creators"] == ["expert-generated"]
    assert meta["multilinguality"] == ["monolingual"]
    assert meta["configs"] == [{"config_name": "default", "data_files": [{"split": "train", "path": "data/train-*"}]}]
    assert meta["pretty_name"] == "hala-release sample: openorca"
    assert "hala-release" in meta["tags"]
    body = card.text
    assert 'load_dataset("path/to/this/folder", split="train")' in body
    assert "## Sample records" in body and "```json" in body
    assert "## Exact configuration" in body and "sample: openorca" in body
    assert "Open-Orca/OpenOrca" in body


def test_model_card_metadata_field_by_field(tiny_lfm2):
    meta = ModelCard.load(tiny_lfm2 / "README.md").data.to_dict()
    assert meta == {"language": ["ar", "en"], "license": "apache-2.0", "library_name": "transformers",
                    "pipeline_tag": "text-generation", "tags": ["hala-release", "lfm2", "random-weights", "tiny"]}


def _derived_model(relation, bases, datasets=(), licences=None):
    carried = carry_forward(licences or {})
    return CardFacts(kind="model", title="derived", base_model=list(bases), base_model_relation=relation,
                     datasets=list(datasets), language=["ar"], license=carried.license,
                     license_note=carried.note, sections=[CardSection(title="Verification", markdown="top-1 agreement 0.98")])


@pytest.mark.parametrize("relation, bases", [
    ("quantized", ["CohereLabs/command-a-translate-08-2025"]),
    ("finetune", ["LiquidAI/LFM2-1.2B"]),
    ("merge", ["LiquidAI/LFM2-1.2B", "my-org/hala-1.2b-sft"]),
])
def test_derived_model_cards(tmp_path, relation, bases):
    facts = _derived_model(relation, bases, datasets=["my-org/hala-sft"],
                           licences={"my-org/hala-sft": "cc-by-nc-4.0", bases[0]: "apache-2.0"})
    with build_artifact(tmp_path / relation, stage=relation, config={"t": 0.5}, card=facts) as draft:
        (draft.path / "model.safetensors").write_bytes(b"")
    card = ModelCard.load(tmp_path / relation / "README.md")
    meta = card.data.to_dict()
    assert meta["base_model"] == (bases[0] if len(bases) == 1 else bases)
    assert meta["base_model_relation"] == relation
    assert meta["datasets"] == ["my-org/hala-sft"]
    assert meta["license"] == "cc-by-nc-4.0"
    assert "my-org/hala-sft" in card.text  # the card says which source imposed the licence
    assert "## Verification" in card.text and "top-1 agreement 0.98" in card.text
    assert "t: 0.5" in card.text


def test_other_licence_ships_its_text_and_names_it(tmp_path):
    """An `other` licence: license_name and license_link in the metadata, the source's LICENSE copied beside the
    weights (as the Hub asks), never recorded in the provenance by its machine-local path."""
    from hala_release.core.licenses import SourceLicense
    from hala_release.artifacts.inputs import license_fields

    source = tmp_path / "source"
    source.mkdir()
    (source / "LICENSE.md").write_text("# Custom Model Licence\n")
    carried = carry_forward({"org/custom": SourceLicense("other", "custom-1.0", "LICENSE.md", source / "LICENSE.md")})
    facts = CardFacts(kind="model", title="derived", language=["ar"], **license_fields(carried))
    with build_artifact(tmp_path / "out", stage="test", config={}, card=facts) as draft:
        (draft.path / "model.safetensors").write_bytes(b"")
    card = ModelCard.load(tmp_path / "out" / "README.md")
    assert {k: card.data.to_dict()[k] for k in ("license", "license_name", "license_link")} == {
        "license": "other", "license_name": "custom-1.0", "license_link": "LICENSE.md"}
    assert (tmp_path / "out" / "LICENSE.md").read_text() == "# Custom Model Licence\n"
    assert "`other` (`custom-1.0`, text: [LICENSE.md](LICENSE.md))" in card.text
    assert str(source) not in (tmp_path / "out" / "hala_provenance.json").read_text()


def test_cards_name_the_tool_without_linking_a_page_that_does_not_exist(openorca_artifact, tiny_lfm2):
    """hala-release has no page of its own to link (it is not on PyPI, pyproject.toml has no [project.urls]): the
    card names it in plain text rather than link a made-up address."""
    import re
    import tomllib
    from pathlib import Path

    project = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert "urls" not in project, "pyproject.toml has [project.urls] now: link 'Built by hala-release' to its source"
    for folder in (openorca_artifact, tiny_lfm2):
        text = (folder / "README.md").read_text(encoding="utf-8")
        (line,) = [line for line in text.splitlines() if line.startswith("Built by ")]
        assert line.startswith("Built by hala-release ") and "](" not in line and "http" not in line
        assert "pypi.org" not in text
        assert not re.search(r"\]\(https?://[^)]*hala-release", text)  # no link to the tool anywhere else either


def test_rendering_is_a_pure_function_of_provenance(openorca_artifact):
    prov = read_provenance(openorca_artifact)
    assert render_card(prov) == render_card(prov) == (openorca_artifact / "README.md").read_text()
    with_repo = render_card(prov, "my-org/openorca-sample")
    assert 'load_dataset("my-org/openorca-sample", split="train")' in with_repo
    assert card_metadata(prov) == DatasetCard(with_repo).data.to_dict()


@pytest.mark.parametrize("meta, kind, fragment", [
    ({"license": "mit-ish"}, "model", "not a Hub licence id"),
    ({}, "model", "license is missing"),
    ({"license": "other"}, "model", "needs license_name"),
    ({"license": "mit", "language": ["Arabic"]}, "model", "ISO 639"),
    ({"license": "mit", "base_model": "just-a-name"}, "model", "must be a Hub repo id"),
    ({"license": "other", "license_name": "My Licence"}, "model", "must be an id"),
    ({"license": "other", "license_name": "x", "license_link": "LICENSE"}, "model", "names no file"),
    ({"license": "mit", "base_model_relation": "finetune"}, "model", "base_model is missing"),
    ({"license": "mit", "base_model": "a/b", "base_model_relation": "distilled"}, "model", "must be one of"),
    ({"license": "mit", "size_categories": ["tiny"]}, "dataset", "size_categories"),
    ({"license": "mit", "task_categories": ["chatting"]}, "dataset", "not a known Hub task"),
    ({"license": "mit", "annotations_creators": ["robots"]}, "dataset", "annotations_creators"),
    ({"license": "mit", "multilinguality": ["bilingual"]}, "dataset", "multilinguality 'bilingual' must be one of"),
    ({"license": "mit", "configs": [{"config_name": "default", "data_files": [{"split": "train", "path": "data/train-*"}]}]},
     "dataset", "no file matches"),
])
def test_validation_catches_bad_metadata(tmp_path, meta, kind, fragment):
    problems = validate_metadata(meta, kind, tmp_path)
    assert any(fragment in p for p in problems), problems


def test_write_card_refuses_invalid_metadata(openorca_artifact, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(openorca_artifact, copy)
    (copy / "data" / "train-00000-of-00001.parquet").unlink()
    with pytest.raises(HalaError, match="no file matches 'data/train-\\*'"):
        write_card(copy)


def test_size_categories():
    assert [size_category(n) for n in (0, 999, 1000, 439_592, 4_060_000)] == [
        "n<1K", "n<1K", "1K<n<10K", "100K<n<1M", "1M<n<10M"]


def test_read_card_metadata_of_an_input(openorca_artifact, tmp_path):
    from hala_release.artifacts.card import read_card_metadata

    assert read_card_metadata(openorca_artifact)["license"] == "apache-2.0"
    assert read_card_metadata(tmp_path) == {}
    (tmp_path / "README.md").write_text("---\nlicense: [unclosed\n---\nbody")
    assert read_card_metadata(tmp_path) == {}

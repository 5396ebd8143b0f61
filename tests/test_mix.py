"""The mix stage: deterministic bytes, both directions, no eval/train overlap, a card that counts sources."""

import hashlib
import json
import unicodedata

import pytest
from datasets import Dataset
from huggingface_hub import DatasetCard

from hala_release.artifacts import build_artifact
from hala_release.cli import main
from stage_helpers import run_cli, split_rows
from hala_release.mix import PHRASINGS
from hala_release.provenance import CardFacts, read_provenance
from hala_release.sample_data import export_sample, read_sample


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """A dry-run translation of the Open-Orca sample (columns and their `_ar` twins) and the OPUS sample."""
    base = tmp_path_factory.mktemp("mix-inputs")
    orca = export_sample("openorca", base / "orca")
    assert main(["translate", str(orca), "--engine", "dry-run", "--output", str(base / "orca-ar")]) == 0
    card = CardFacts(kind="dataset", title="nc pairs", language=["en", "ar"], license="cc-by-nc-4.0",
                     task_categories=["translation"])
    pairs = [r for r in read_sample("opus100-ar-en") if r["translation"]["en"].strip() and r["translation"]["ar"].strip()]
    with build_artifact(base / "pairs", stage="unit", config={}, card=card) as draft:
        draft.write_splits({"train": Dataset.from_list(pairs)})
    return base / "orca-ar", base / "pairs"


def _mix(capsys, out, translated, parallel, *extra):
    return run_cli(capsys, "mix", "--translated", translated, "--parallel", parallel, "--output", out, *extra)


def test_same_inputs_and_seed_give_identical_bytes(inputs, tmp_path, capsys):
    for name in ("a", "b"):
        code, _, err = _mix(capsys, tmp_path / name, *inputs, "--eval-size", "10", "--seed", "3")
        assert code == 0, err
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a" / "data").glob("*.parquet"))
    assert [str(f) for f in files] == ["data/test-00000-of-00001.parquet", "data/train-00000-of-00001.parquet"]
    for f in files:
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()
    code, _, _ = _mix(capsys, tmp_path / "c", *inputs, "--eval-size", "10", "--seed", "4")
    digest = lambda root: hashlib.sha256((root / "data/train-00000-of-00001.parquet").read_bytes()).hexdigest()
    assert code == 0 and digest(tmp_path / "c") != digest(tmp_path / "a")  # the seed matters


def test_examples_both_directions_and_no_overlap(inputs, tmp_path, capsys):
    code, stdout, err = _mix(capsys, tmp_path / "m", *inputs, "--eval-size", "20")
    assert code == 0, err
    train, test = split_rows(tmp_path / "m", "train"), split_rows(tmp_path / "m", "test")
    assert 20 <= len(test) <= 21  # whole pairs: the last one may bring its second direction along
    assert {r["direction"] for r in train} == {"en-ar", "ar-en"} and {r["direction"] for r in test} <= {"en-ar", "ar-en"}
    for row in train + test:
        user, assistant = row["messages"]
        assert user["role"] == "user" and assistant["role"] == "assistant"
        instruction, _, text = user["content"].partition("\n\n")
        assert text and assistant["content"]
        src, tgt = ("English", "Arabic") if row["direction"] == "en-ar" else ("Arabic", "English")
        assert instruction in {p.format(src=src, tgt=tgt) for p in PHRASINGS}

    def texts(rows):
        norm = lambda t: " ".join(unicodedata.normalize("NFKC", t).casefold().split())
        return {norm(m["content"]) for r in rows for m in r["messages"][1:]} | {
            norm(r["messages"][0]["content"].partition("\n\n")[2]) for r in rows}

    assert not texts(train) & texts(test)  # no sentence is shared between the splits
    keys = [(r["direction"], r["messages"][0]["content"].partition("\n\n")[2]) for r in train + test]
    assert len(keys) == len(set(keys))  # deduplicated per direction
    assert len({p for r in train for p in [r["messages"][0]["content"].partition("\n\n")[0]]}) > 3  # varied phrasing


def test_one_direction_only(inputs, tmp_path, capsys):
    code, _, err = _mix(capsys, tmp_path / "m", *inputs, "--directions", "en-ar", "--eval-size", "0")
    assert code == 0, err
    rows = split_rows(tmp_path / "m", "train")
    assert {r["direction"] for r in rows} == {"en-ar"} and split_rows(tmp_path / "m", "test") == []


def test_card_field_by_field(inputs, tmp_path, capsys):
    assert _mix(capsys, tmp_path / "m", *inputs, "--eval-size", "10")[0] == 0
    meta = DatasetCard.load(tmp_path / "m" / "README.md").data.to_dict()
    assert meta["license"] == "cc-by-nc-4.0"  # the parallel input's licence is the most restrictive
    assert meta["language"] == ["ar", "en"] and meta["task_categories"] == ["translation", "text-generation"]
    assert [d["split"] for d in meta["configs"][0]["data_files"]] == ["train", "test"]
    text = (tmp_path / "m" / "README.md").read_text()
    assert "| source | ar-en | ar-en_duplicate | en-ar | en-ar_duplicate | skipped_empty |" in text
    assert "| pairs | 77 | 1 | 77 | 1 | 0 |" in text  # 78 non-empty OPUS pairs, one exact duplicate (row 41)
    prov = read_provenance(tmp_path / "m")
    assert set(prov.inputs) == {"translated_0", "parallel_0"}
    assert prov.inputs["translated_0"]["pin"] in text and prov.stats["train"] + prov.stats["test"] == prov.stats["examples"]
    assert json.loads(json.dumps(prov.card.sample_records))[0]["messages"][0]["role"] == "user"


@pytest.mark.parametrize("argv, code, fragment", [
    ([], 2, "nothing to mix"),
    (["--parallel", "{orca}"], 2, "no 'translation' column"),
    (["--translated", "{pairs}"], 2, "no translated columns"),
    (["--parallel", "{pairs}", "--directions", "en-fr"], 2, "direction 'en-fr' must be"),
    (["--parallel", "{pairs}", "--eval-size", "100000"], 1, "leaves no training examples"),
    (["--parallel", "{pairs}", "--eval-size", "-1"], 2, "give 0 or more"),
])
def test_mix_errors(argv, code, fragment, inputs, tmp_path, capsys):
    orca, pairs = inputs
    argv = [a.format(orca=orca, pairs=pairs) for a in argv]
    result, _, err = run_cli(capsys, "mix", "--output", tmp_path / "m", *argv)
    assert result == code and fragment in err

"""The mix stage: deterministic bytes, both directions, no eval/train overlap, a card that counts sources."""

import hashlib
import json
import os
import sys

import pytest
from datasets import Dataset
from huggingface_hub import DatasetCard
from hypothesis import given, settings
from hypothesis import strategies as st

from hala_release.artifacts.build import build_artifact
from hala_release.cli import main
from stage_helpers import run_cli, split_rows
from hala_release.stages.mix.config import MixConfig
from hala_release.executors.grouped_split import GroupedSplit
from hala_release.stages.mix.run import PHRASINGS, _schema, mix_examples, projection
from hala_release.core.provenance import CardFacts, read_provenance
from hala_release.stages.sample_data.run import export_sample, read_sample
from hala_release.core.text import normalise


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

    assert not _sentences(train) & _sentences(test)  # no sentence is shared between the splits
    keys = [(r["direction"], r["messages"][0]["content"].partition("\n\n")[2]) for r in train + test]
    assert len(keys) == len(set(keys))  # deduplicated per direction
    assert len({p for r in train for p in [r["messages"][0]["content"].partition("\n\n")[0]]}) > 3  # varied phrasing


def _sentences(rows) -> set[tuple[str, str]]:
    """(language, normalised text) of every source and target sentence in the rows."""
    found = set()
    for row in rows:
        src, tgt = row["direction"].split("-")
        found.add((src, normalise(row["messages"][0]["content"].partition("\n\n")[2])))
        found.add((tgt, normalise(row["messages"][1]["content"])))
    return found


# Small pools, so pairs share sentences: one English sentence with several Arabic translations and the reverse,
# spelled with the case, punctuation, diacritics and tatweel variations that normalisation folds.
ENGLISH = [["The cat sleeps.", "the cat sleeps"], ["Good morning!", "good morning"], ["I am here.", "I AM HERE ."],
           ["Where is it?", "where is it ?"], ["Open the door.", "open the door"], ["Thank you.", "thank you!"]]
ARABIC = [["القطة نائمة.", "القِطَّةُ نائمة"], ["صباح الخير!", "صباح الخـيـر"], ["أنا هنا.", "أنا هنا"],
          ["أين هو؟", "أين هو ؟"], ["افتح الباب.", "افتح البَاب"], ["شكرا لك.", "شكراً لك"]]


def _split_rows(tmp_path, sources, config):
    """Train and test rows of `sources` ([(name, [(sources, targets)])]) as the mix stage splits them."""
    with GroupedSplit(tmp_path / "work", config.seed) as split:
        mix_examples(split, sources, config)
        chosen = split.split(config.eval_size, slack=0)
        rows = {name: [r for b in split.batches(chosen, name, projection(config, ["pairs"]), _schema())
                       for r in b.to_pylist()] for name in ("train", "test")}
    assert len(rows["train"]) == chosen.train and len(rows["test"]) == chosen.test
    return rows["train"], rows["test"]


@settings(max_examples=150, deadline=None)
@given(pairs=st.lists(st.tuples(st.integers(0, 5), st.integers(0, 1), st.integers(0, 5), st.integers(0, 1)),
                      min_size=1, max_size=30),
       seed=st.integers(0, 7), eval_size=st.integers(1, 12), both=st.booleans())
def test_no_sentence_of_either_language_in_both_splits(tmp_path_factory, pairs, seed, eval_size, both):
    config = MixConfig(output="unused", seed=seed, eval_size=eval_size,
                       directions=["en-ar", "ar-en"] if both else ["ar-en"])
    chosen = [(ENGLISH[e][ev], ARABIC[a][av]) for e, ev, a, av in pairs]
    sources = [("pairs", [([en for en, _ in chosen], [ar for _, ar in chosen])])]
    tmp_path = tmp_path_factory.mktemp("split")
    train, test = _split_rows(tmp_path, sources, config)
    assert not _sentences(train) & _sentences(test)
    distinct = {(d, normalise(text)) for d in config.directions for pair in chosen
                for text in [pair[0] if d.startswith("en") else pair[1]]}
    assert len(train) + len(test) == len(distinct)  # one example per direction and distinct source sentence
    assert _split_rows(tmp_path, sources, config) == (train, test)  # again: the same rows in the same order
    assert not (tmp_path / "work").exists()  # the database and its spill files are gone


def test_shared_translations_stay_on_one_side(tmp_path, capsys):
    """OPUS often gives one Arabic sentence to several English ones: through the CLI, for several seeds."""
    arabic = ["القطة نائمة.", "صباح الخير!", "أنا هنا.", "أين هو؟", "افتح الباب.", "شكرا لك.", "الجو حار اليوم.",
              "أحب القراءة.", "السيارة جديدة.", "الطعام لذيذ."]
    rows = [{"translation": {"en": f"Sentence {i} said one way.", "ar": arabic[i % len(arabic)]}} for i in range(40)]
    rows += [{"translation": {"en": f"Sentence {i} said one way.", "ar": f"الجملة رقم {i}."}} for i in range(0, 40, 4)]
    card = CardFacts(kind="dataset", title="shared", language=["en", "ar"], license="mit", task_categories=["translation"])
    with build_artifact(tmp_path / "pairs", stage="unit", config={}, card=card) as draft:
        draft.write_splits({"train": Dataset.from_list(rows)})
    for seed in range(4):
        out = tmp_path / f"m{seed}"
        code, _, err = run_cli(capsys, "mix", "--parallel", tmp_path / "pairs", "--output", out, "--eval-size", "8",
                               "--seed", seed)
        assert code == 0, err
        train, test = split_rows(out, "train"), split_rows(out, "test")
        assert test and not _sentences(train) & _sentences(test)


def test_one_big_group_stays_in_train_with_a_warning(tmp_path, capsys, caplog):
    """Every pair shares one Arabic sentence: nothing can be held out without leaking it, so nothing is."""
    rows = [{"translation": {"en": f"Yes, number {i}.", "ar": "نعم."}} for i in range(12)]
    card = CardFacts(kind="dataset", title="one", language=["en", "ar"], license="mit", task_categories=["translation"])
    with build_artifact(tmp_path / "pairs", stage="unit", config={}, card=card) as draft:
        draft.write_splits({"train": Dataset.from_list(rows)})
    code, _, err = run_cli(capsys, "mix", "--parallel", tmp_path / "pairs", "--output", tmp_path / "m",
                           "--eval-size", "4")
    assert code == 0, err
    assert split_rows(tmp_path / "m", "test") == [] and len(split_rows(tmp_path / "m", "train")) == 13
    assert "only 0 of --eval-size 4 examples could be held out" in caplog.text and "largest group: 13" in caplog.text
    assert read_provenance(tmp_path / "m").stats["largest_group"] == 13


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
    # 78 non-empty OPUS pairs: row 41 repeats row 3 exactly, row 47 repeats row 0 up to case and spacing
    assert "| pairs | 76 | 2 | 76 | 2 | 0 |" in text
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


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/smaps")
def test_reading_pairs_gives_back_the_mapped_split(tmp_path):
    """A streamed corpus must not stay resident as it is read (RSS would grow with its size)."""
    from test_chunked import _resident_kb

    from hala_release.core.refs import resolve
    from hala_release.executors.chunks import load_split
    from hala_release.stages.mix.run import parallel_pairs

    folder = tmp_path / "pairs"
    folder.mkdir()
    (folder / "rows.jsonl").write_text("".join(json.dumps({"translation": {"en": f"{i} " + "x" * 300, "ar": "y" * 300}})
                                               + "\n" for i in range(20_000)))
    dataset = load_split(resolve(str(folder), "dataset"), "train")
    paths = {os.path.realpath(entry["filename"]) for entry in dataset.cache_files}
    assert sum(len(first) for first, _ in parallel_pairs(dataset, "en", "ar")) == 20_000
    assert _resident_kb(paths) < 500

"""Work files a rerun trusts prove themselves: each is damaged between runs (truncated, a byte flipped, emptied)
and the rerun must redo what it held, say so in one warning line naming it, and build the same artifact."""

import json
import logging
import time

import pytest

from hala_release.executors.chunks import work_dir_for
from hala_release.stages.sample_data.run import export_sample
from stage_helpers import run_cli, split_rows

DAMAGES = ["truncate", "flip", "empty"]


def damage(path, how: str) -> None:
    """What a node dying mid-copy (truncate), a bad disk (flip) or a lost write (empty) leaves behind."""
    data = path.read_bytes()
    middle = len(data) // 2
    if how == "truncate":
        path.write_bytes(data[:middle])
    elif how == "flip":
        path.write_bytes(data[:middle] + bytes([data[middle] ^ 0x5A]) + data[middle + 1:])
    else:
        path.write_bytes(b"")


def warnings_naming(caplog, path) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and str(path) in r.getMessage()]


@pytest.fixture(scope="module")
def tulu_source(tmp_path_factory):
    return export_sample("tulu3", tmp_path_factory.mktemp("tulu") / "src")


@pytest.fixture(scope="module")
def clean_translation(tulu_source, tmp_path_factory):
    """The artifact an undisturbed run builds, to compare every repaired run with."""
    import io
    from contextlib import redirect_stdout

    from hala_release.cli import main

    out = tmp_path_factory.mktemp("clean") / "out"
    with redirect_stdout(io.StringIO()):
        assert main([str(a) for a in ("translate", tulu_source, "--engine", "dry-run", "--output", out,
                                      "--chunk-size", "5")]) == 0
    return out


@pytest.mark.parametrize("target", ["chunk", "stats"])
@pytest.mark.parametrize("how", DAMAGES)
def test_a_damaged_chunk_is_redone_by_the_gather(how, target, tulu_source, clean_translation, tmp_path, capsys,
                                                 caplog):
    """The issue's case: shard 0 finishes, one of its chunks is damaged, shard 1 runs, then the gather."""
    out = tmp_path / "out"
    base = ["translate", tulu_source, "--engine", "dry-run", "--output", out, "--chunk-size", "5"]
    assert run_cli(capsys, *base, "--num-shards", "2", "--shard-index", "0")[0] == 0
    chunk = work_dir_for(out) / "chunk-000002.parquet"
    damage(chunk if target == "chunk" else chunk.with_suffix(".json"), how)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        # Shard 1 counts the finished chunks: it finds the damaged one and removes it, so that the gather redoes it.
        assert run_cli(capsys, *base, "--num-shards", "2", "--shard-index", "1")[0] == 0
        code, stdout, err = run_cli(capsys, *base)
    assert code == 0, err
    assert len(warnings_naming(caplog, chunk)) == 1 and "done again" in warnings_naming(caplog, chunk)[0]
    assert split_rows(out, "train") == split_rows(clean_translation, "train")  # every row once, in order
    assert split_rows(out, "rejected") == split_rows(clean_translation, "rejected")
    assert not work_dir_for(out).exists()


def test_a_damaged_chunk_is_redone_by_its_own_shard(tulu_source, clean_translation, tmp_path, capsys, caplog):
    out = tmp_path / "out"
    base = ["translate", tulu_source, "--engine", "dry-run", "--output", out, "--chunk-size", "5", "--num-shards",
            "2", "--shard-index", "0"]
    assert run_cli(capsys, *base)[0] == 0
    chunk = work_dir_for(out) / "chunk-000000.parquet"
    before = chunk.read_bytes()
    damage(chunk, "flip")
    with caplog.at_level(logging.WARNING):
        code, stdout, err = run_cli(capsys, *base)
    assert code == 0, err
    assert chunk.read_bytes() == before and len(warnings_naming(caplog, chunk)) == 1
    assert "(1 by this job)" in stdout  # only the damaged chunk was done again


def test_a_chunk_damaged_during_the_gather_stops_it_in_one_line(tulu_source, tmp_path, capsys, monkeypatch):
    """A file that breaks after it was checked (between the check and the read) is never written into the
    artifact: the gather stops with the fix, and the rerun redoes it."""
    from hala_release.executors import chunks

    out = tmp_path / "out"
    base = ["translate", tulu_source, "--engine", "dry-run", "--output", out, "--chunk-size", "5"]
    assert run_cli(capsys, *base, "--num-shards", "2", "--shard-index", "0")[0] == 0
    assert run_cli(capsys, *base, "--num-shards", "2", "--shard-index", "1")[0] == 0
    from hala_release.stages.translate import run as translate_run

    merge_cache = translate_run.merge_cache

    def then_damaged(config, plan):  # runs once every chunk was checked and found intact, before the gather reads
        damage(chunks.chunk_path(plan, 1), "flip")
        return merge_cache(config, plan)

    monkeypatch.setattr(translate_run, "merge_cache", then_damaged)
    code, _, err = run_cli(capsys, *base)
    assert code == 1 and "chunk-000001.parquet broke" in err and "rerun the same command" in err
    assert "Traceback" not in err and not out.exists()
    monkeypatch.undo()
    assert run_cli(capsys, *base)[0] == 0 and split_rows(out, "train")


@pytest.mark.parametrize("how", DAMAGES + ["checksum file"])
def test_a_damaged_cheap_filter_file_is_computed_again(how, tiny_llama, tmp_path, capsys, caplog):
    """judge's shared reason codes: a shard that finds them damaged recomputes them; so does the gather, whose
    card's language counts come from that file."""
    source = export_sample("opus100-ar-en", tmp_path / "opus")
    base = ["judge", source, "--judge", tiny_llama, "--engine", "transformers", "--threshold", "0", "--chunk-size",
            "40"]
    clean = tmp_path / "clean"
    assert run_cli(capsys, *base, "--output", clean)[0] == 0
    out = tmp_path / "out"
    stored = work_dir_for(out) / "cheap_filters.parquet"
    assert run_cli(capsys, *base, "--output", out, "--num-shards", "2", "--shard-index", "0")[0] == 0
    damage(stored if how != "checksum file" else stored.with_name(stored.name + ".sha256"),
           how if how != "checksum file" else "flip")
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert run_cli(capsys, *base, "--output", out, "--num-shards", "2", "--shard-index", "1")[0] == 0
    assert len(warnings_naming(caplog, stored)) == 1
    damage(stored, "truncate")
    assert run_cli(capsys, *base, "--output", out)[0] == 0  # the gather
    for split in ("train", "rejected"):
        assert split_rows(out, split) == split_rows(clean, split)
    clean_stats = json.loads((clean / "hala_provenance.json").read_text())["stats"]
    stats = json.loads((out / "hala_provenance.json").read_text())["stats"]
    assert stats["counts"] == clean_stats["counts"]
    assert (out / "README.md").read_text().count("Languages found") == 1


# ------------------------------------------------------------------------------------------ translation cache

CONTEXT = {"model": "m", "model_pin": "sha256:0", "prompt": "p", "sampling": {}, "source_lang": "en",
           "target_lang": "ar"}
ENTRIES = {f"source {n}": (f"translation number {n:02d}", n) for n in range(40)}


def _merged_cache(folder):
    from hala_release.engines.translation_cache import TranslationCache

    cache = TranslationCache(folder, CONTEXT)
    cache.put_many(ENTRIES)
    cache.close()
    assert cache.merge() == 1
    return cache.main_path


def _flip_inside(path, text: str) -> None:
    """Change one letter of a stored translation the way a bad disk does: the file stays a valid database."""
    data = path.read_bytes()
    at = data.index(text.encode()) + len("translation")
    path.write_bytes(data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1:])


def test_a_damaged_cache_entry_is_never_returned(tmp_path, caplog):
    from hala_release.engines.translation_cache import TranslationCache

    main = _merged_cache(tmp_path)
    _flip_inside(main, "translation number 17")
    with caplog.at_level(logging.WARNING):
        found = TranslationCache(tmp_path, CONTEXT).get_many(list(ENTRIES))
        TranslationCache(tmp_path, CONTEXT).get_many(list(ENTRIES))
    assert found == {k: v for k, v in ENTRIES.items() if k != "source 17"}  # the rest still hit
    assert len(warnings_naming(caplog, main)) == 2 and "1 damaged entry" in warnings_naming(caplog, main)[0]


@pytest.mark.parametrize("how", DAMAGES)
def test_a_damaged_main_cache_file_is_set_aside_at_merge(how, tmp_path, caplog):
    from hala_release.engines.translation_cache import TranslationCache

    main = _merged_cache(tmp_path)
    damage(main, how)
    cache = TranslationCache(tmp_path, CONTEXT)
    with caplog.at_level(logging.WARNING):
        found = cache.get_many(list(ENTRIES))  # only hits are lost: no error, and never a damaged entry
        assert all(found[key] == ENTRIES[key] for key in found)
        cache.put_many({"new": ("جديد", 1)})
        cache.close()
        assert cache.merge() == 1
    assert TranslationCache(tmp_path, CONTEXT).get_many(["new"]) == {"new": ("جديد", 1)}
    if how == "truncate":  # half a database: sqlite reports it damaged, and the merge starts a new main file
        assert found == {} and warnings_naming(caplog, main) and list(tmp_path.glob("translations.sqlite.damaged-*"))


@pytest.mark.parametrize("how", DAMAGES)
def test_a_damaged_pending_cache_file_is_skipped_and_removed_at_merge(how, tmp_path, caplog):
    from hala_release.engines.translation_cache import TranslationCache

    writer = TranslationCache(tmp_path, CONTEXT)
    writer.put_many(ENTRIES)
    writer.close()
    pending = next(writer.pending_dir.glob("*.sqlite"))
    if how == "flip":
        _flip_inside(pending, "translation number 03")
    else:
        damage(pending, how)
    reader = TranslationCache(tmp_path, CONTEXT)
    with caplog.at_level(logging.WARNING):
        found = reader.get_many(list(ENTRIES))
        assert "source 3" not in found and all(found[k] == ENTRIES[k] for k in found)
        assert reader.merge() == 1
    assert warnings_naming(caplog, pending) and not pending.exists()
    assert TranslationCache(tmp_path, CONTEXT).get_many(["source 3"]) == {}


def test_a_translation_rerun_over_a_damaged_cache_translates_the_damaged_entry_again(tmp_path, capsys, caplog):
    from hala_release.core.provenance import read_provenance

    source = export_sample("openorca", tmp_path / "src")
    cache = tmp_path / "cache"
    common = ["translate", source, "--engine", "echo", "--chunk-size", "5", "--cache-dir", cache]
    assert run_cli(capsys, *common, "--output", tmp_path / "first")[0] == 0
    first = split_rows(tmp_path / "first", "train")
    main = cache / "translations.sqlite"
    entry = next(row for row in first if len(row["question_ar"]) > 20)["question_ar"]
    data = main.read_bytes()
    at = data.index(entry.encode()) + 1  # inside the stored translation of that question
    main.write_bytes(data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1:])
    with caplog.at_level(logging.WARNING):
        assert run_cli(capsys, *common, "--output", tmp_path / "again")[0] == 0
    assert split_rows(tmp_path / "again", "train") == first
    assert read_provenance(tmp_path / "again").stats["generated_segments"] >= 1
    assert warnings_naming(caplog, main)


# ------------------------------------------------------------------------- pin cache (what uploads declare)

@pytest.fixture()
def pinned_folder(tmp_path, monkeypatch):
    """A folder pinned once, so its files' hashes are in a fresh pin cache."""
    import hala_release.core.pin_cache as pin_cache
    from hala_release.core.refs import folder_content_hash

    monkeypatch.setenv("HALA_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(pin_cache, "RACY_NS", 0)
    folder = tmp_path / "model"
    folder.mkdir()
    for name in ("a.safetensors", "b.json"):
        (folder / name).write_bytes(name.encode() * 1000)
    time.sleep(0.01)
    pin = folder_content_hash(folder)
    assert pin_cache.entry_count() == 2
    return folder, pin, pin_cache.cache_file()


def test_a_damaged_pin_cache_entry_is_hashed_again(pinned_folder, caplog):
    """The SHA-256 an upload declares comes from this cache: a flipped digit would publish the wrong bytes."""
    from hala_release.core.refs import file_sha256, folder_content_hash

    folder, pin, cache = pinned_folder
    digest = file_sha256(folder / "a.safetensors")
    data = cache.read_bytes()
    at = data.index(digest.encode()) + 5
    cache.write_bytes(data[:at] + (b"0" if data[at:at + 1] != b"0" else b"1") + data[at + 1:])
    with caplog.at_level(logging.WARNING):
        assert folder_content_hash(folder) == pin
    assert any("a.safetensors" in message and "damaged" in message for message in warnings_naming(caplog, ""))


@pytest.mark.parametrize("how", ["truncate", "flip"])
def test_a_damaged_pin_cache_file_is_set_aside_and_started_again(how, pinned_folder, caplog, monkeypatch):
    import hala_release.core.pin_cache as pin_cache
    import hala_release.core.refs as refs
    from hala_release.core.refs import folder_content_hash

    folder, pin, cache = pinned_folder
    data = cache.read_bytes()
    cache.write_bytes(data[:100] if how == "truncate" else data[:16] + bytes([data[16] ^ 0xFF]) + data[17:])
    with caplog.at_level(logging.WARNING):
        assert folder_content_hash(folder) == pin  # a pin is never wrong because of the cache
    assert warnings_naming(caplog, cache) and list(cache.parent.glob("files.sqlite3.damaged-*"))
    opened: list[str] = []
    monkeypatch.setattr(refs, "open", lambda path, *a, **k: opened.append(str(path)) or open(path, *a, **k),
                        raising=False)
    assert folder_content_hash(folder) == pin and opened == []  # the new cache works: nothing is read again
    assert pin_cache.entry_count() == 2


# ------------------------------------------------------------------------------------------ pipeline run state

def _small_pipeline(path):
    import yaml

    path.write_text(yaml.safe_dump({"name": "small", "version": "v1", "stages": {
        "data": {"uses": "sample-data", "with": {"name": "openorca"}},
        "copy": {"uses": "translate", "with": {"source": "${stages.data.output}", "engine": "dry-run"}},
        "mixed": {"uses": "mix", "with": {"translated": ["${stages.copy.output}"], "eval_size": 2}},
    }}, sort_keys=False))
    return path


@pytest.mark.parametrize("how", DAMAGES)
def test_a_pipeline_rerun_builds_again_an_artifact_damaged_on_disk(how, tmp_path):
    """Its provenance still says "up to date"; skipping it would hand the damage to every later stage."""
    from hala_release.core.refs import folder_content_hash
    from hala_release.pipeline.run import run_pipeline

    recipe, out = _small_pipeline(tmp_path / "small.yaml"), tmp_path / "out"
    run_pipeline(recipe, output_dir=out, echo=lambda line: None)
    rows = {name: split_rows(out / name, "train") for name in ("copy", "mixed")}
    data_pin = folder_content_hash(out / "data")
    damage(next((out / "copy" / "data").glob("train-*.parquet")), how)
    again = run_pipeline(recipe, output_dir=out, echo=lambda line: None)
    # The rebuilt artifact has a new pin (its card's build time), so what reads it is built again too.
    assert {r.name: r.status for r in again.results} == {"data": "skipped", "copy": "built", "mixed": "built"}
    assert "changed on disk" in again.result("copy").reason and again.result("mixed").reason == "inputs changed: copy"
    assert {name: split_rows(out / name, "train") for name in rows} == rows  # the rows as before the damage
    assert folder_content_hash(out / "data") == data_pin


def test_a_damaged_pipeline_state_file_is_recorded_again(tmp_path, caplog):
    from hala_release.pipeline.run import run_pipeline
    from hala_release.pipeline.state import STATE_FILE

    recipe, out = _small_pipeline(tmp_path / "small.yaml"), tmp_path / "out"
    run_pipeline(recipe, output_dir=out, echo=lambda line: None)
    state = out / STATE_FILE
    damage(state, "flip")
    with caplog.at_level(logging.WARNING):
        again = run_pipeline(recipe, output_dir=out, echo=lambda line: None)
    assert {r.status for r in again.results} == {"skipped"} and warnings_naming(caplog, state)
    damage(next((out / "copy" / "data").glob("train-*.parquet")), "truncate")  # the record works again
    assert run_pipeline(recipe, output_dir=out, echo=lambda line: None).result("copy").status == "built"


# ------------------------------------------------------------------------------- mix / chat-mix work folders

@pytest.mark.parametrize("stage", ["mix", "chat-mix"])
def test_mix_work_folder_left_damaged_by_a_killed_run_is_never_trusted(stage, tmp_path, capsys):
    """A killed mix leaves its DuckDB work folder behind; nothing in it is resumable, so a rerun starts it afresh
    and builds the same bytes as an undisturbed run."""
    from hala_release.cli import main
    from hala_release.core.refs import folder_content_hash

    source = export_sample("openorca", tmp_path / "orca")
    assert main(["translate", str(source), "--engine", "dry-run", "--output", str(tmp_path / "orca-ar")]) == 0
    argv = [stage, "--translated", tmp_path / "orca-ar", "--eval-size", "4", "--seed", "5"]
    if stage == "chat-mix":
        argv.append("--no-language-id")
    assert run_cli(capsys, *argv, "--output", tmp_path / "clean")[0] == 0
    out = tmp_path / "out"
    leftovers = work_dir_for(out) / "grouped-split"
    leftovers.mkdir(parents=True)
    for name in ("examples.parquet", "links.parquet", "grouped.duckdb"):
        (leftovers / name).write_bytes(b"PAR1" + b"\x00" * 100)  # a half-written file of a run killed mid-way
    code, _, err = run_cli(capsys, *argv, "--output", out)
    assert code == 0, err
    for split in ("train", "test"):
        assert split_rows(out, split) == split_rows(tmp_path / "clean", split)
    assert not work_dir_for(out).exists() or not any(work_dir_for(out).rglob("*.parquet"))
    clean_data = {p.name: p.read_bytes() for p in (tmp_path / "clean" / "data").glob("*.parquet")}
    assert {p.name: p.read_bytes() for p in (out / "data").glob("*.parquet")} == clean_data


# ------------------------------------------------------------------------------------------ train checkpoints

@pytest.mark.parametrize("how", ["truncate", "flip"])
def test_training_resumes_from_the_newest_checkpoint_that_is_intact(how, tiny_llama, tmp_path, caplog):
    """transformers writes no checksums: a damaged newest checkpoint would crash the resume inside torch, or
    (flipped bytes) resume from altered weights. Its manifest shows it; the previous one is used."""
    from pathlib import Path

    from hala_release.core.provenance import read_provenance
    from hala_release.stages.train.checkpoints import MANIFEST
    from hala_release.stages.train.run import train_model, work_dir_for

    recipe = Path(__file__).resolve().parents[1] / "recipes" / "train" / "tiny-sft.yaml"
    tulu = export_sample("tulu3", tmp_path / "tulu3")
    out = tmp_path / "sft"
    overrides = [f"--model_name_or_path={tiny_llama}", f"--dataset_name={tulu}", f"--output_dir={out}",
                 "--max_steps=4", "--save_steps=2", "--keep_checkpoints=true"]
    assert train_model(recipe, overrides).global_step == 4
    work = work_dir_for(out)
    assert sorted(p.name for p in work.glob("checkpoint-*")) == ["checkpoint-2", "checkpoint-4"]
    assert all((work / name / MANIFEST).exists() for name in ("checkpoint-2", "checkpoint-4"))
    import shutil

    shutil.rmtree(out)  # as if the run had stopped after its last save
    damage(work / "checkpoint-4" / "model.safetensors", how)
    with caplog.at_level(logging.WARNING):
        outcome = train_model(recipe, overrides)
    assert outcome.resumed_from_step == 2 and outcome.global_step == 4
    assert warnings_naming(caplog, work / "checkpoint-4") and "model.safetensors" in warnings_naming(
        caplog, work / "checkpoint-4")[0]
    assert read_provenance(out).stats["resumed_from_step"] == 2

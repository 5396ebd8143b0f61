"""Work files a rerun trusts prove themselves: each is damaged between runs (truncated, a byte flipped, emptied)
and the rerun must redo what it held, say so in one warning line naming it, and build the same artifact."""

import json
import logging

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
    checked = chunks.chunk_done

    def then_damaged(plan, index):
        done = checked(plan, index)
        if index == 1:
            damage(chunks.chunk_path(plan, index), "flip")
        return done

    monkeypatch.setattr("hala_release.stages.translate.run.chunk_done", then_damaged)
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

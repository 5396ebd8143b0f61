"""The translation cache: usable from any thread, one file per writer, merged at the gather step, never WAL."""

import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from hala_release.core.prompts import load_template
from hala_release.core.provenance import read_provenance
from hala_release.core.segment import Segment
from hala_release.engines import Sampling, make_engine
from hala_release.engines.echo import echo_text
from hala_release.engines.quality import GateConfig
from hala_release.engines.segment_translator import SegmentTranslator
from hala_release.engines.translation_cache import TranslationCache
from hala_release.stages.sample_data.run import export_sample, read_sample
from in_child import run_cli_in_child
from stage_helpers import run_cli, split_rows

CONTEXT = {"model": "m", "model_pin": "p", "prompt": "t", "sampling": {}, "source_lang": "en", "target_lang": "ar"}


def _in_thread(function):
    """Run `function` in a new thread; its result, or the exception it raised."""
    box = {}

    def target():
        try:
            box["value"] = function()
        except BaseException as error:  # handed back to the test thread
            box["value"] = error

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    return box["value"]


def _journal_mode(path: Path) -> str:
    with sqlite3.connect(path) as db:
        return db.execute("PRAGMA journal_mode").fetchone()[0]


def test_translator_built_in_one_thread_translates_in_another(tmp_path):
    # Ray Data builds an actor's runner on one thread and calls it on another.
    cache = TranslationCache(tmp_path / "cache", CONTEXT)
    translator = SegmentTranslator(make_engine("echo", None), load_template("hala-teacher"), Sampling(16), GateConfig(),
                                   "en", "ar", cache=cache)
    segments = [Segment("Hello world"), Segment("Good morning"), Segment("Hello world")]
    outcomes = _in_thread(lambda: translator.run(segments))
    assert not isinstance(outcomes, BaseException), outcomes
    assert [o.text for o in outcomes] == [echo_text(s.text) for s in segments]
    again = _in_thread(lambda: translator.run(segments))
    assert not isinstance(again, BaseException), again
    assert translator.stats["cache_hits"] == 2 and translator.stats["generated_segments"] == 2


def test_writers_use_their_own_files_and_merge_folds_them_into_the_main_file(tmp_path):
    first, second = TranslationCache(tmp_path, CONTEXT), TranslationCache(tmp_path, CONTEXT)
    first.put_many({"one": ("واحد", 1)})
    second.put_many({"two": ("اثنان", 1)})
    pending = sorted(first.pending_dir.glob("*.sqlite"))
    assert len(pending) == 2 and not first.main_path.exists()
    # Every reader sees what every writer wrote, before any merge.
    assert first.get_many(["one", "two", "three"]) == {"one": ("واحد", 1), "two": ("اثنان", 1)}
    assert all(_journal_mode(path) != "wal" for path in pending)
    first.close(), second.close()
    assert TranslationCache(tmp_path, CONTEXT).merge() == 2
    assert not list(first.pending_dir.glob("*.sqlite")) and _journal_mode(first.main_path) == "delete"
    assert TranslationCache(tmp_path, CONTEXT).get_many(["one", "two"]) == {"one": ("واحد", 1), "two": ("اثنان", 1)}
    other = TranslationCache(tmp_path, {**CONTEXT, "model": "other"})
    assert other.get_many(["one"]) == {}  # the key still covers the context


def test_a_main_file_left_in_wal_mode_is_converted(tmp_path):
    db = sqlite3.connect(tmp_path / "translations.sqlite")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE translations (key TEXT PRIMARY KEY, text TEXT, tokens INTEGER)")
    db.close()
    cache = TranslationCache(tmp_path, CONTEXT)
    cache.put_many({"one": ("واحد", 1)})
    cache.close()
    assert cache.merge() == 1 and _journal_mode(cache.main_path) == "delete"
    assert TranslationCache(tmp_path, CONTEXT).get_many(["one"]) == {"one": ("واحد", 1)}


def test_concurrent_shards_write_separate_files_then_gather_merges(tmp_path, capsys):
    source = export_sample("openorca", tmp_path / "src")
    cache, out = tmp_path / "cache", tmp_path / "out"
    common = ["translate", source, "--engine", "echo", "--output", out, "--chunk-size", "5", "--cache-dir", cache]
    shards = [subprocess.Popen([sys.executable, "-m", "hala_release.cli", *map(str, common), "--num-shards", "2",
                                "--shard-index", str(index)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
              for index in range(2)]
    for shard in shards:
        _, err = shard.communicate(timeout=300)
        assert shard.returncode == 0, err[-2000:]
    pending = list(cache.glob("pending/*/*.sqlite"))
    assert len(pending) == 2 and not (cache / "translations.sqlite").exists()
    assert all(_journal_mode(path) != "wal" for path in pending)
    code, stdout, err = run_cli(capsys, *common)  # the gather step
    assert code == 0 and "written to" in stdout, err
    assert not list(cache.glob("pending/*/*.sqlite")) and _journal_mode(cache / "translations.sqlite") == "delete"
    gathered = read_provenance(out).stats
    rerun = tmp_path / "rerun"
    code, _, err = run_cli(capsys, "translate", source, "--engine", "echo", "--output", rerun, "--chunk-size", "5",
                           "--cache-dir", cache)
    assert code == 0, err
    stats = read_provenance(rerun).stats
    assert stats["generated_segments"] == 0 and stats["cache_hits"] == gathered["unique_segments_per_chunk"] > 0
    assert split_rows(rerun, "train") == split_rows(out, "train")
    assert stats["rows"] == len(read_sample("openorca"))


@pytest.mark.slow
def test_ray_actor_translates_with_the_cache(tiny_lfm2, tmp_path, capsys):
    source = export_sample("lamini", tmp_path / "src")
    common = ["--model", tiny_lfm2, "--engine", "transformers", "--no-quality-gates", "--max-tokens", "4",
              "--cache-dir", tmp_path / "cache", "--limit", "6"]
    code, _, err = run_cli_in_child("translate", source, "--output", tmp_path / "ray", "--executor", "ray",
                                    "--ray-workers", "1", *common)  # a Ray driver: see in_child
    assert code == 0, err
    first = read_provenance(tmp_path / "ray").stats
    assert first["generated_segments"] > 0 and first["cache_hits"] == 0
    code, _, err = run_cli(capsys, "translate", source, "--output", tmp_path / "local", *common)
    assert code == 0, err
    second = read_provenance(tmp_path / "local").stats
    assert second["generated_segments"] == 0 and second["cache_hits"] == first["generated_segments"]

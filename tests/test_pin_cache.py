"""The pin cache: an unchanged folder re-pins without reading its files, the pin equals the uncached one, and
any change to a file (bytes with the mtime put back, a replaced file, a new size) is still noticed."""

import hashlib
import multiprocessing
import os
import time
from pathlib import Path

import pytest
import yaml

import hala_release.core.pin_cache as pin_cache
import hala_release.core.refs as refs
from hala_release.core.refs import combined_hash, folder_content_hash, resolve


@pytest.fixture()
def cache_dir(tmp_path, monkeypatch) -> Path:
    """A fresh cache, trusting files at once (the tests wait out the clock granularity themselves)."""
    monkeypatch.setenv("HALA_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(pin_cache, "RACY_NS", 0)
    return tmp_path / "cache"


@pytest.fixture()
def opens(monkeypatch) -> list[str]:
    """Every file the pin code opens for reading (a module-level `open` shadows the builtin in refs)."""
    seen: list[str] = []

    def counting_open(path, *args, **kwargs):
        seen.append(str(path))
        return open(path, *args, **kwargs)

    monkeypatch.setattr(refs, "open", counting_open, raising=False)
    return seen


def _folder(root: Path) -> Path:
    folder = root / "model"
    (folder / "sub").mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(os.urandom(3 << 20))
    (folder / "config.json").write_text('{"a": 1}')
    (folder / "sub" / "tokenizer.json").write_text('{"b": 2}')
    return folder


def _plain_pin(folder: Path) -> str:
    """The pin computed the way it always was: every byte of every content file, no cache involved."""
    hashes = {}
    for file in refs.iter_content_files(folder):
        hashes[file.relative_to(folder).as_posix()] = hashlib.sha256(file.read_bytes()).hexdigest()
    return combined_hash(hashes)


def _settle():
    time.sleep(0.05)  # past the file system's timestamp granularity, so a later change gets a new ctime


def test_repin_of_unchanged_folder_reads_no_file(tmp_path, cache_dir, opens):
    folder = _folder(tmp_path)
    _settle()
    first = folder_content_hash(folder)
    assert len(opens) == 3
    assert first == _plain_pin(folder)  # the cache never changes the value: old provenance stays comparable
    opens.clear()
    assert folder_content_hash(folder) == first
    assert resolve(str(folder)).pin == first
    assert opens == []
    assert (cache_dir / "pins").is_dir()


def test_same_size_rewrite_with_mtime_put_back_is_noticed(tmp_path, cache_dir, opens):
    folder = _folder(tmp_path)
    weights = folder / "model.safetensors"
    _settle()
    first = folder_content_hash(folder)
    before = weights.stat()
    _settle()
    with open(weights, "r+b") as handle:  # same inode, same size, other bytes
        handle.write(b"\xff" * 16)
    os.utime(weights, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = weights.stat()
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (before.st_size, before.st_mtime_ns, before.st_ino)
    opens.clear()
    second = folder_content_hash(folder)
    assert second != first and second == _plain_pin(folder)
    assert opens == [str(weights)]  # only the changed file is read again


def test_replaced_file_is_noticed(tmp_path, cache_dir, opens):
    folder = _folder(tmp_path)
    config = folder / "config.json"
    _settle()
    first = folder_content_hash(folder)
    before = config.stat()
    replacement = tmp_path / "new.json"
    replacement.write_text('{"a": 2}')  # same size
    os.replace(replacement, config)
    os.utime(config, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert config.stat().st_ino != before.st_ino
    opens.clear()
    assert folder_content_hash(folder) == _plain_pin(folder) != first
    assert opens == [str(config)]


def test_grown_renamed_and_new_files_are_noticed(tmp_path, cache_dir):
    folder = _folder(tmp_path)
    _settle()
    first = folder_content_hash(folder)
    (folder / "config.json").write_text('{"a": 10}')
    assert folder_content_hash(folder) == _plain_pin(folder) != first
    (folder / "sub" / "tokenizer.json").rename(folder / "tokenizer.json")
    (folder / "extra.txt").write_text("x")
    assert folder_content_hash(folder) == _plain_pin(folder)


def test_a_file_changed_just_now_is_not_trusted(tmp_path, monkeypatch, opens):
    """Timestamps are coarse: a file written in the last moments could change again without a new mtime/ctime."""
    monkeypatch.setenv("HALA_CACHE_DIR", str(tmp_path / "cache"))
    folder = _folder(tmp_path)
    folder_content_hash(folder)
    opens.clear()
    folder_content_hash(folder)
    assert len(opens) == 3


def test_an_unusable_cache_never_breaks_a_pin(tmp_path, cache_dir, opens):
    folder = _folder(tmp_path)
    (cache_dir / "pins").mkdir(parents=True)
    pin_cache.cache_file().write_bytes(b"this is not a database" * 100)
    assert folder_content_hash(folder) == _plain_pin(folder)
    assert len(opens) == 3


def _pin_many(folders: list[str], cache: str, rounds: int, queue) -> None:
    os.environ["HALA_CACHE_DIR"] = cache
    pin_cache.RACY_NS = 0
    queue.put([folder_content_hash(Path(folder)) for _ in range(rounds) for folder in folders])


def test_concurrent_pins_from_two_processes_share_the_cache(tmp_path, cache_dir):
    folders = []
    for index in range(6):
        folder = tmp_path / f"f{index}"
        folder.mkdir()
        for name in range(20):
            (folder / f"{name}.bin").write_bytes(os.urandom(4096))
        folders.append(str(folder))
    _settle()
    expected = [_plain_pin(Path(folder)) for folder in folders]
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    workers = [context.Process(target=_pin_many, args=(order, str(cache_dir), 3, queue))
               for order in (folders, folders[::-1])]
    for worker in workers:
        worker.start()
    results = [queue.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    assert sorted(results[0]) == sorted(results[1]) == sorted(expected * 3)
    assert pin_cache.entry_count() == 6 * 20  # every file cached once, the database intact


def test_pipeline_rerun_skips_without_reading_artifacts(tmp_path, cache_dir, opens):
    from hala_release.pipeline.run import run_pipeline

    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({"name": "p", "version": "v1", "stages": {
        "model": {"uses": "tiny-model", "with": {"arch": "lfm2", "layers": 2}},
        "data": {"uses": "sample-data", "with": {"name": "openorca"}},
    }}), encoding="utf-8")
    run_pipeline(recipe, output_dir=tmp_path / "out", echo=lambda line: None)
    _settle()
    folder_content_hash(tmp_path / "out" / "model")  # now settled, the files enter the cache
    folder_content_hash(tmp_path / "out" / "data")
    opens.clear()
    again = run_pipeline(recipe, output_dir=tmp_path / "out", echo=lambda line: None)
    assert {r.name: r.status for r in again.results} == {"model": "skipped", "data": "skipped"}
    assert not [path for path in opens if "safetensors" in path or path.endswith(".parquet")]
    assert opens == []

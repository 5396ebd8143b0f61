"""Out of space is one line, and foreseen: stages run against real small filesystems.

Each scenario is one shell script run by `unshare -rm` (a private mount namespace, as root or through a user
namespace): a tmpfs of a few hundred KB or MB is mounted over a test folder, the CLI runs in it, and nothing stays
mounted when the script ends. Every command's exit status, stdout and stderr land in a log folder outside the tmpfs.
"""

import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from stage_helpers import split_rows

CLI = f"{sys.executable} -m hala_release.cli"


def _small_disk(script: str, mount: Path, size: str, logs: Path, timeout: float = 600) -> None:
    """Run `script` (sh) with a `size` tmpfs mounted on `mount`; `run NAME ARGS...` runs the CLI and logs it."""
    if shutil.which("unshare") is None:
        pytest.fail("these tests need `unshare` (util-linux) to mount a small tmpfs in a private namespace")
    mount.mkdir(parents=True, exist_ok=True)
    logs.mkdir(parents=True, exist_ok=True)
    prelude = (f"set -u\nmount -t tmpfs -o size={size} tmpfs {mount} || exit 97\n"
               f"run() {{ name=$1; shift; {CLI} \"$@\" >{logs}/$name.out 2>{logs}/$name.err; "
               f"echo $? >{logs}/$name.rc; }}\n")
    done = subprocess.run(["unshare", "-rm", "sh", "-c", prelude + script], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "PYTHONPATH": _pythonpath()})
    if done.returncode != 0:
        pytest.fail(f"could not mount a {size} tmpfs with `unshare -rm` (exit {done.returncode}): these tests need "
                    f"root or unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1): "
                    f"{done.stderr.strip()[-500:]}")
    assert not any(line.split()[1:2] == [str(mount)] for line in Path("/proc/self/mounts").read_text().splitlines())


def _pythonpath() -> str:
    root = str(Path(__file__).resolve().parents[1])
    return os.pathsep.join([root, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))])


class Logged:
    """One logged CLI run of a small-disk script."""

    def __init__(self, logs: Path, name: str):
        self.rc = int((logs / f"{name}.rc").read_text())
        self.out = (logs / f"{name}.out").read_text()
        self.err = (logs / f"{name}.err").read_text()

    @property
    def last_line(self) -> str:
        return self.err.strip().splitlines()[-1]

    def stopped_with_one_line(self) -> str:
        assert self.rc == 1, self.err[-2000:]
        assert "Traceback" not in self.err, self.err[-2000:]
        assert self.last_line.startswith("error: "), self.err[-2000:]
        return self.last_line


def _instruction_rows(folder: Path, rows: int) -> Path:
    """Open-Orca-layout rows of random words (little for Parquet to compress): about 650 bytes each."""
    chooser = random.Random(0)
    words = ["".join(chooser.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(chooser.randint(2, 9)))
             for _ in range(5000)]
    folder.mkdir(parents=True)
    with open(folder / "data.jsonl", "w", encoding="utf-8") as handle:
        for index in range(rows):
            question = " ".join(chooser.choice(words) for _ in range(30)) + "?"
            response = " ".join(chooser.choice(words) for _ in range(60)) + "."
            handle.write(json.dumps({"id": str(index), "system_prompt": "", "question": question,
                                     "response": response}) + "\n")
    return folder


@pytest.fixture(scope="module")
def four_thousand_rows(tmp_path_factory) -> Path:
    return _instruction_rows(tmp_path_factory.mktemp("rows") / "src", 4000)


def test_translate_full_disk_is_foreseen_stops_with_one_line_and_resumes(four_thousand_rows, tmp_path):
    """The reported case: 4,000 rows into a 1 MB filesystem. The estimate refuses it before any work; forced to
    start, the run stops at the first chunk that does not fit with one line and keeps the finished chunk; once
    there is room, the same command resumes from it and completes."""
    disk, logs = tmp_path / "disk", tmp_path / "logs"
    translate = f"translate {four_thousand_rows} --output {disk}/out --engine echo --no-cache"
    _small_disk(f"""
run refused {translate}
ls -A {disk} > {logs}/after-refusal.ls
mount -t tmpfs -o size=16m tmpfs {disk}
head -c 15M /dev/zero > {disk}/ballast
(export HALA_IGNORE_SPACE_CHECK=1; run full {translate})
ls -A {disk}/.hala-work-out > {logs}/kept.ls
rm {disk}/ballast
run resumed {translate}
cp -r {disk}/out {logs}/out
ls -A {disk} > {logs}/after-resume.ls
""", disk, "1m", logs)

    refused = Logged(logs, "refused").stopped_with_one_line()
    assert "translate needs about" in refused and f"in {disk}, which has only" in refused, refused
    assert "free" in refused and "HALA_IGNORE_SPACE_CHECK=1" in refused, refused
    assert (logs / "after-refusal.ls").read_text() == ""  # refused before any work: no work folder left behind

    full = Logged(logs, "full")
    line = full.stopped_with_one_line()
    assert line.startswith(f"error: translate ran out of disk space in {disk} ("), line
    assert "free now); the run still needs about " in line and " MiB there" in line, line
    assert f"the 1 finished chunk in {disk}/.hala-work-out is kept" in line, line
    assert line.endswith("then rerun the same command to resume"), line
    assert "may not fit" in full.err  # the estimate warned before it started anyway
    assert "chunk-000000.parquet" in (logs / "kept.ls").read_text().split()

    resumed = Logged(logs, "resumed")
    assert resumed.rc == 0, resumed.err[-2000:]
    assert "resuming, 1 of 4 chunks already finished" in resumed.err
    assert "rows 4,000" in resumed.out
    rows = split_rows(logs / "out", "train") + split_rows(logs / "out", "rejected")
    assert sorted(int(row["id"]) for row in rows) == list(range(4000))
    assert (logs / "after-resume.ls").read_text().split() == ["out"]  # the work folder went once assembled


@pytest.fixture(scope="module")
def translated(four_thousand_rows, tmp_path_factory) -> Path:
    from hala_release.stages.registry import STAGES

    output = tmp_path_factory.mktemp("translated") / "orca-ar"
    STAGES["translate"].run({"source": str(four_thousand_rows), "output": str(output), "engine": "echo",
                             "cache": False})
    return output


@pytest.fixture(scope="module")
def saved_to_disk(four_thousand_rows, tmp_path_factory) -> Path:
    """A `datasets` save_to_disk dump (push-dataset converts it to Parquet in a staging folder)."""
    from datasets import load_dataset

    folder = tmp_path_factory.mktemp("saved") / "dump"
    load_dataset("json", data_files=str(four_thousand_rows / "data.jsonl"), split="train").save_to_disk(str(folder))
    return folder


def test_stages_refuse_to_start_when_their_output_cannot_fit(translated, saved_to_disk, tiny_lfm2, tmp_path):
    """mix, chat-mix, quantize, merge and push-dataset estimate their output before the slow part and refuse, with
    one line naming the folder, the estimate and the free space, when even the estimate's low end cannot fit."""
    disk, logs = tmp_path / "disk", tmp_path / "logs"
    tuned = tmp_path / "tuned"
    shutil.copytree(tiny_lfm2, tuned)
    _small_disk(f"""
run mix mix --translated {translated} --output {disk}/mix
run chat-mix chat-mix --translated {translated} --output {disk}/chat
run quantize quantize {tiny_lfm2} --output {disk}/fp8 --no-verify
run merge merge {tiny_lfm2} {tuned} --output {disk}/merged
(export TMPDIR={disk}; run push push-dataset {saved_to_disk} --repo-id hala-test/dump)
ls -A {disk} > {logs}/left.ls
""", disk, "256k", logs)

    for name, stage in (("mix", "mix"), ("chat-mix", "chat-mix"), ("quantize", "quantize"), ("merge", "merge")):
        line = Logged(logs, name).stopped_with_one_line()
        assert line.startswith(f"error: {stage} needs about "), line
        assert f" in {disk}, which has only " in line and " KiB free: free space there or choose another --output" \
            in line, line
    line = Logged(logs, "push").stopped_with_one_line()
    assert line.startswith("error: push-dataset (staging dump) needs about "), line
    assert f" in {disk}, which has only " in line and "set TMPDIR to a folder with room" in line, line
    assert (logs / "left.ls").read_text().split() == []


def test_stage_out_of_space_midway_removes_its_partial_output(translated, tmp_path):
    """A stage that does not resume (chat-mix: whose Parquet writer, pyarrow's, aborted the whole process on a full
    disk) stops with one line saying nothing partial was kept, and leaves nothing behind; sample-data (no
    estimate) likewise."""
    disk, logs = tmp_path / "disk", tmp_path / "logs"
    _small_disk(f"""
(export HALA_IGNORE_SPACE_CHECK=1; run chat-mix chat-mix --translated {translated} --output {disk}/chat)
ls -A {disk} > {logs}/left.ls
mount -t tmpfs -o size=8k tmpfs {disk}
run sample sample-data openorca {disk}/sample
ls -A {disk} >> {logs}/left.ls
""", disk, "2m", logs)

    line = Logged(logs, "chat-mix").stopped_with_one_line()
    assert line.startswith(f"error: chat-mix ran out of disk space in {disk} ("), line
    assert "the run still needs about " in line, line
    assert line.endswith("nothing partial was kept; free space there or choose another --output, then rerun the "
                         "same command"), line
    line = Logged(logs, "sample").stopped_with_one_line()
    assert line.startswith(f"error: sample-data ran out of disk space in {disk} ("), line
    assert (logs / "left.ls").read_text().split() == []


def test_estimates_track_what_the_stages_write(tiny_lfm2, tmp_path):
    """The estimates that decide a refusal, against the sizes the stages really write (here with room to spare).
    A merge in the base's own dtype writes every tensor of the base again, so the base's size is its output's."""
    from hala_release.stages.merge.run import space_need as merge_need
    from hala_release.stages.quantize.run import space_need as quantize_need
    from hala_release.stages.registry import STAGES

    def written(folder: Path) -> int:
        return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())

    quantized = STAGES["quantize"].run({"model": str(tiny_lfm2), "output": str(tmp_path / "fp8"), "verify": False})
    need = quantize_need(tiny_lfm2, "FP8_DYNAMIC", ["lm_head"], tmp_path / "fp8")
    assert need.at_least <= written(quantized) <= need.likely * 1.1
    dtype = json.loads((tiny_lfm2 / "config.json").read_text())["dtype"]
    need = merge_need(tiny_lfm2, dtype, tmp_path / "merged")
    assert need.at_least <= written(tiny_lfm2) <= need.likely * 1.1


def test_utf8_width_of_a_language_letters():
    from hala_release.core.languages import utf8_letter_bytes

    assert {code: utf8_letter_bytes(code) for code in ("en", "sw", "ar", "ru", "hi", "zh", "ja")} == {
        "en": 1, "sw": 1, "ar": 2, "ru": 2, "hi": 3, "zh": 3, "ja": 3}


def test_a_hub_input_that_cannot_fit_is_refused_before_downloading(hub, hub_token, translated, tmp_path):
    """A Hub input's files are sized from the repo listing before they are downloaded into the Hub cache, and a
    pulled copy before it is made."""
    from hala_release.hub.publish import push_artifact

    push_artifact(translated, "hala-test/orca-ar-sized", "dataset", token=hub_token)
    disk, logs = tmp_path / "disk", tmp_path / "logs"
    _small_disk(f"""
(export HF_HOME={disk}/hf; run download pull hf://datasets/hala-test/orca-ar-sized)
run copy pull hf://datasets/hala-test/orca-ar-sized --output {disk}/copy
ls -A {disk} > {logs}/left.ls
""", disk, "256k", logs)

    line = Logged(logs, "download").stopped_with_one_line()
    assert line.startswith("error: downloading hf://datasets/hala-test/orca-ar-sized needs about "), line
    assert f" MiB in {disk}, which has only " in line and "set HF_HOME to a disk with room" in line, line
    line = Logged(logs, "copy").stopped_with_one_line()
    assert line.startswith("error: pull needs about "), line
    assert f" in {disk}, which has only " in line, line
    assert (logs / "left.ls").read_text().split() == []


def test_a_full_translation_cache_disk_only_stops_caching(four_thousand_rows, tmp_path):
    """The cache is an optimisation, often on another filesystem than the output (the home folder): when its disk
    fills, the run goes on without adding to it (one warning), and the gather leaves its files for a later merge."""
    disk, logs, out = tmp_path / "disk", tmp_path / "logs", tmp_path / "out"
    _small_disk(f"""
run cached translate {four_thousand_rows} --output {out} --engine echo --cache-dir {disk}/cache --limit 1500
ls -A {disk}/cache > {logs}/cache.ls
""", disk, "192k", logs)
    run = Logged(logs, "cached")
    assert run.rc == 0, run.err[-2000:]
    assert "Traceback" not in run.err
    assert run.err.count("this run stops adding to the cache") == 1, run.err[-2000:]
    rows = split_rows(out, "train") + split_rows(out, "rejected")
    assert sorted(int(row["id"]) for row in rows) == list(range(1500))
    assert "pending" in (logs / "cache.ls").read_text().split()  # kept (and still read) for a later merge

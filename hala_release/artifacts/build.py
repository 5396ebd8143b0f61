"""Artifact folders: laid out like the Hub repo they become, and created atomically.

A stage writes into a hidden temporary folder beside the output; only when data, provenance and card are
all complete is it renamed into place. A crash therefore never leaves a half-written artifact that a later
run (or a push) could mistake for a finished one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import time
import uuid
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from hala_release import __version__
from hala_release.artifacts.card import write_card
from hala_release.core.files import prepare_output, write_atomic
from hala_release.core.provenance import CardFacts, Provenance

if TYPE_CHECKING:
    from hala_release.core.refs import ResolvedRef

SAMPLE_RECORDS = 3
# Set by `pipeline run` around a stage, so the stage's artifact records which recipe step built it (the stage
# code itself does not need to know it runs inside a pipeline).
PIPELINE_STEP: ContextVar[dict[str, Any] | None] = ContextVar("hala_pipeline_step", default=None)
SAMPLE_TEXT_CHARS = 400
# Which Hub commit a local folder's content is (pulled from it, or pushed as it). Under `.cache/`, which content
# pins and pushes skip (as huggingface_hub's own `.cache/huggingface/` in a --local-dir download), so writing it
# changes neither the folder's pin nor what a push uploads.
ORIGIN_FILE = Path(".cache") / "hala-release" / "origin.json"


def config_hash(config: dict[str, Any]) -> str:
    """Stable hash of a stage config, so reruns can tell whether anything changed."""
    canonical = json.dumps(config, sort_keys=True, ensure_ascii=False, default=str)
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class ArtifactDraft:
    """The artifact being built: a temp folder plus the facts that go into its provenance and card."""

    def __init__(self, path: Path, stage: str, config: dict[str, Any], inputs: dict[str, "ResolvedRef | dict"],
                 card: CardFacts):
        self.path = path
        self.stage = stage
        self.config = config
        self.inputs = inputs
        self.card = card
        self.stats: dict[str, Any] = {}
        self.timings: dict[str, float] = {}

    @contextmanager
    def timed(self, step: str) -> Iterator[None]:
        """Record how long a step took, for the provenance and the end-of-stage summary."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings[step] = round(self.timings.get(step, 0.0) + time.perf_counter() - start, 3)

    def write_splits(self, splits: dict[str, Any], **limits: int) -> None:
        """Write each split as Parquet shards where the Hub and `datasets` look for them; note rows and samples.

        A split is a `datasets.Dataset`, an Arrow table, or an iterable of Arrow tables/record batches (streamed:
        only one row group is in memory at a time). `limits` are `ShardedSplitWriter`'s byte budgets (tests).
        """
        from hala_release.artifacts.shards import write_split

        data_dir = self.path / "data"
        for index, (name, data) in enumerate(splits.items()):
            if index == 0 and not self.card.sample_records and hasattr(data, "select"):
                rows = data.select(range(min(SAMPLE_RECORDS, len(data)))).to_list()  # decoded, as users see them
                self.card.sample_records = [shorten_record(row) for row in rows]
            elif index == 0 and not self.card.sample_records:
                data = self._sampled(data)
            self.card.splits[name] = write_split(data_dir, name, data, **limits).rows

    def _sampled(self, batches: Any) -> Iterator[Any]:
        """Pass tables through, keeping the first rows as the card's sample records."""
        import pyarrow as pa

        for batch in [batches] if isinstance(batches, (pa.Table, pa.RecordBatch)) else batches:
            room = SAMPLE_RECORDS - len(self.card.sample_records)
            if room > 0:
                self.card.sample_records.extend(shorten_record(r) for r in batch.slice(0, room).to_pylist())
            yield batch

    def provenance(self, total_seconds: float) -> Provenance:
        return Provenance(
            stage=self.stage,
            tool_version=__version__,
            created_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            config=self.config,
            config_hash=config_hash(self.config),
            inputs={role: _input_record(item) for role, item in self.inputs.items()},
            stats=self.stats,
            timings={**self.timings, "total": round(total_seconds, 3)},
            card=self.card,
            pipeline=PIPELINE_STEP.get(),
        )


def _input_record(item: "ResolvedRef | dict") -> dict:
    """An input's provenance record; a local folder that is a Hub commit says which (`lineage` and cards show it)."""
    if isinstance(item, dict):
        return item
    record = item.provenance()
    origin = hub_origin(item)
    if origin:
        record["hub_origin"] = origin
    return record


def record_origin(folder: Path | str, repo_id: str, repo_type: str, revision: str, how: str) -> Path:
    """Note that a local folder holds the content of a Hub commit (`how`: pulled or pushed).

    The record carries the folder's content pin at this moment, so it stops counting as soon as the content
    changes. Pushed folders differ from their commit only in README.md, which push renders again with the repo id.
    """
    from hala_release.core.refs import folder_content_hash

    folder = Path(folder)
    record = {"repo_id": repo_id, "repo_type": repo_type, "revision": revision, "how": how,
              "content_pin": folder_content_hash(folder),
              "recorded_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    path = folder / ORIGIN_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(record, indent=2) + "\n")
    return path


def hub_origin(resolved: "ResolvedRef") -> dict[str, str] | None:
    """The Hub repo and commit a local input's content is, when recorded and unchanged since; else None."""
    if not resolved.ref.is_local:
        return None
    path = resolved.path / ORIGIN_FILE
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("content_pin") != resolved.pin:
        return None  # changed since it was pulled or pushed: it is a new local artifact now
    if record.get("repo_type") != resolved.ref.repo_type or not record.get("repo_id") or not record.get("revision"):
        return None
    return {"repo_id": str(record["repo_id"]), "revision": str(record["revision"]), "how": str(record.get("how"))}


def shorten_record(value: Any) -> Any:
    """Trim long strings in sample records so cards stay readable."""
    if isinstance(value, str) and len(value) > SAMPLE_TEXT_CHARS:
        return value[:SAMPLE_TEXT_CHARS] + " …"
    if isinstance(value, dict):
        return {k: shorten_record(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shorten_record(v) for v in value]
    return value


@contextmanager
def build_artifact(output: Path | str, *, stage: str, config: dict[str, Any], card: CardFacts,
                   inputs: dict[str, "ResolvedRef | dict"] | None = None, overwrite: bool = False,
                   started: float | None = None, render_card: bool = True) -> Iterator[ArtifactDraft]:
    """Build an artifact in a temp folder and move it to `output` only when complete.

    On success the folder holds the stage's files, `hala_provenance.json` and a validated `README.md` card.
    On failure the temp folder is removed and any existing `output` is left untouched. The provenance's `total`
    timing runs from `started` (a `time.perf_counter()` value) when the stage did its work before opening the
    artifact (translate, judge, train), else from here. `render_card=False` keeps a README.md the stage wrote
    itself (a Space's, whose YAML configures the Space).
    """
    output = prepare_output(output, overwrite)
    output.parent.mkdir(parents=True, exist_ok=True)
    temp = output.parent / f".hala-tmp-{output.name}-{uuid.uuid4().hex[:8]}"
    temp.mkdir()
    draft = ArtifactDraft(temp, stage, config, inputs or {}, card)
    start = time.perf_counter() if started is None else started
    try:
        yield draft
        for name, source in draft.card.license_files.items():  # after the stage, which may have written its own
            shutil.copyfile(source, temp / name)
        draft.provenance(time.perf_counter() - start).write(temp)
        if render_card:
            write_card(temp)
        _swap_into_place(temp, output)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise


def _swap_into_place(temp: Path, output: Path) -> None:
    """Rename the finished folder into place; an old artifact is moved aside first and removed last."""
    backup = None
    if output.exists():
        backup = output.parent / f".hala-old-{output.name}-{uuid.uuid4().hex[:8]}"
        output.rename(backup)
    try:
        temp.rename(output)
    except BaseException:
        if backup is not None:
            backup.rename(output)
        raise
    if backup is not None:
        shutil.rmtree(backup, ignore_errors=True)

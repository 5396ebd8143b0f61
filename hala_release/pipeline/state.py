"""What a pipeline remembers between runs of a recipe: each stage artifact's content pin when it was built (or last
found up to date), so a rerun tells an intact artifact from one damaged on disk since.

A stage is skipped when its artifact's provenance records the same fingerprint; that alone would also skip an
artifact whose data file a bad disk truncated, and the stages after it would read the damage. With this record the
rerun builds such a stage again. The record carries its own checksum: a damaged record is dropped with one warning
(the run then trusts the fingerprints, as without it, and records the artifacts afresh).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from hala_release.core.files import checksum, write_atomic

log = logging.getLogger(__name__)

STATE_FILE = ".hala-pipeline-state.json"


class RunState:
    def __init__(self, out_dir: Path):
        self.path = Path(out_dir) / STATE_FILE
        self.stages: dict[str, dict[str, str]] = self._load()

    def _load(self) -> dict[str, dict[str, str]]:
        if not self.path.exists():
            return {}
        try:
            record = json.loads(self.path.read_text(encoding="utf-8"))
            stages = record["stages"]
            if record["check"] != _check(stages):
                raise ValueError("checksum mismatch")
            return stages
        except (OSError, ValueError, KeyError, TypeError) as err:
            log.warning("%s is damaged (%s): the artifacts found up to date are recorded again", self.path, err)
            return {}

    def changed_on_disk(self, stage: str, fingerprint: str, content: str) -> bool:
        """Whether the artifact this stage built with `fingerprint` no longer holds what it held then."""
        recorded = self.stages.get(stage)
        return bool(recorded) and recorded["fingerprint"] == fingerprint and recorded["content"] != content

    def record(self, stage: str, fingerprint: str, content: str) -> None:
        self.stages[stage] = {"fingerprint": fingerprint, "content": content}
        write_atomic(self.path, json.dumps({"stages": self.stages, "check": _check(self.stages)}, indent=2) + "\n")


def _check(stages: dict) -> str:
    return checksum(json.dumps(stages, sort_keys=True).encode())

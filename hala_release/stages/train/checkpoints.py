"""Checkpoints that prove themselves: a rerun resumes only from a checkpoint whose files are the ones saved.

transformers writes no checksums, and `trainer_state.json` (written last) only says the save finished. A node that
died mid-copy or a bad disk can still leave weights or optimizer state damaged: resuming from them fails deep
inside torch, or worse, trains on quietly altered weights. So each save is followed by a manifest of its files'
sizes and SHA-256s, and the resume picks the newest checkpoint that still matches its manifest.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from hala_release.core.files import write_atomic
from hala_release.core.refs import file_sha256

log = logging.getLogger(__name__)

MANIFEST = "hala_checksums.json"


def write_manifest(checkpoint: Path) -> None:
    files = sorted(p for p in checkpoint.rglob("*") if p.is_file() and p.name != MANIFEST)
    record = {p.relative_to(checkpoint).as_posix(): {"bytes": p.stat().st_size, "sha256": file_sha256(p)}
              for p in files}
    write_atomic(checkpoint / MANIFEST, json.dumps(record, indent=1, sort_keys=True) + "\n")


def damage_in(checkpoint: Path) -> str | None:
    """Why the checkpoint no longer matches its manifest; None when it does (or was saved without one)."""
    manifest = checkpoint / MANIFEST
    if not manifest.exists():
        return None
    try:
        record = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        return f"its {MANIFEST} cannot be read ({err})"
    for name, expected in sorted(record.items()):
        path = checkpoint / name
        if not path.is_file():
            return f"{name} is missing"
        if path.stat().st_size != expected["bytes"]:
            return f"{name} holds {path.stat().st_size} bytes, {expected['bytes']} were saved"
        if file_sha256(path) != expected["sha256"]:
            return f"{name} does not match the checksum it was saved with"
    return None


def checksum_callback():
    """A TrainerCallback writing the manifest after every save (built lazily: transformers is heavy)."""
    from transformers import TrainerCallback

    class ChecksumCheckpoints(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):
            folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if state.is_world_process_zero and folder.is_dir():
                write_manifest(folder)

    return ChecksumCheckpoints()

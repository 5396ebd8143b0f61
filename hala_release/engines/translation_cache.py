"""A persistent, content-addressed cache of translations, so reruns and overlapping datasets cost nothing.

The key covers everything that decides the output: model and its pinned revision, prompt template text,
sampling parameters, language pair and the segment text. Only translations that passed the quality gates
are stored. SQLite in WAL mode lets the processes of a Slurm array share one cache file.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from pathlib import Path


def default_cache_dir() -> Path:
    return Path(os.environ.get("HALA_CACHE_DIR", Path.home() / ".cache" / "hala-release")).expanduser()


class TranslationCache:
    def __init__(self, folder: Path | str, context: dict):
        folder = Path(folder).expanduser()
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / "translations.sqlite"
        self._db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS translations (key TEXT PRIMARY KEY, text TEXT, tokens INTEGER)")
        # The context part of the key is hashed once; each lookup then hashes only the segment.
        self._prefix = hashlib.sha256(json.dumps(context, sort_keys=True, ensure_ascii=False).encode()).hexdigest()

    def key(self, segment_text: str) -> str:
        return hashlib.sha256(f"{self._prefix}\0{segment_text}".encode()).hexdigest()

    def get_many(self, texts: list[str]) -> dict[str, tuple[str, int]]:
        """Cached (translation, tokens) for the texts that have one."""
        keys = {self.key(text): text for text in texts}
        found: dict[str, tuple[str, int]] = {}
        items = list(keys)
        for start in range(0, len(items), 500):
            batch = items[start:start + 500]
            rows = self._db.execute(
                f"SELECT key, text, tokens FROM translations WHERE key IN ({','.join('?' * len(batch))})", batch)
            for key, text, tokens in rows:
                found[keys[key]] = (text, tokens)
        return found

    def put_many(self, items: dict[str, tuple[str, int]]) -> None:
        with self._db:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR REPLACE INTO translations VALUES (?, ?, ?)",
                                 [(self.key(src), text, tokens) for src, (text, tokens) in items.items()])

    def close(self) -> None:
        self._db.close()

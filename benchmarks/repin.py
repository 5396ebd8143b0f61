"""Re-pinning a big unchanged folder: the first pin reads every byte, the re-pin reads none (the pin cache).

Writes a folder of --gb GiB in 1 GiB shards (random 64 MiB blocks, written for real, not sparse), pins it once
(every byte hashed), again (unchanged: target under 1 s for 5 GiB), then after one shard's bytes change with its
mtime put back (only that shard is read again). The folder and its private pin cache are deleted afterwards.

    .venv/bin/python benchmarks/repin.py --gb 5
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

BLOCK = 64 << 20
SHARD = 1 << 30


def _write_folder(folder: Path, total: int) -> None:
    block = os.urandom(BLOCK)
    written, index = 0, 0
    while written < total:
        size = min(SHARD, total - written)
        with open(folder / f"model-{index:05d}.safetensors", "wb") as handle:
            for offset in range(0, size, BLOCK):
                handle.write(block[:min(BLOCK, size - offset)])
        written, index = written + size, index + 1
    (folder / "config.json").write_text('{"model_type": "bench"}')


def _timed(func, *args):
    began = time.perf_counter()
    value = func(*args)
    return value, time.perf_counter() - began


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gb", type=float, default=5.0, help="folder size in GiB (default 5)")
    parser.add_argument("--dir", default=tempfile.gettempdir(), help="where to create the folder (default: /tmp)")
    args = parser.parse_args(argv)
    total = int(args.gb * (1 << 30))
    free = shutil.disk_usage(args.dir).free
    if free < 2 * total:
        print(f"not enough free disk in {args.dir}: {free / (1 << 30):.1f} GiB free, {2 * args.gb:.1f} GiB wanted "
              f"(twice the folder); pass a smaller --gb or another --dir", file=sys.stderr)
        return 1
    root = Path(tempfile.mkdtemp(prefix="hala-repin-", dir=args.dir))
    os.environ["HALA_CACHE_DIR"] = str(root / "cache")  # a private cache: the first pin is really the first
    from hala_release.core import pin_cache
    from hala_release.core.refs import folder_content_hash

    try:
        folder = root / "model"
        folder.mkdir()
        _, seconds = _timed(_write_folder, folder, total)
        print(f"wrote {args.gb:g} GiB in {seconds:.1f} s ({args.gb / seconds:.2f} GiB/s)")
        wait = pin_cache.RACY_NS / 1e9
        time.sleep(wait)  # files changed in the last RACY_NS are hashed but not trusted; a real checkpoint is older
        print(f"waited {wait:g} s (the cache does not trust a file changed in the last {wait:g} s)")
        cold, seconds = _timed(folder_content_hash, folder)
        print(f"first pin (every byte hashed; likely from the page cache): {seconds:.2f} s "
              f"({args.gb / seconds:.2f} GiB/s), {pin_cache.entry_count()} files cached")
        warm, seconds = _timed(folder_content_hash, folder)
        print(f"re-pin, unchanged: {seconds * 1000:.1f} ms (target < 1 s) -- same pin: {warm == cold}")
        shard = folder / "model-00000.safetensors"
        before = shard.stat()
        with open(shard, "r+b") as handle:
            handle.write(b"\xff" * 16)
        os.utime(shard, ns=(before.st_atime_ns, before.st_mtime_ns))
        changed, seconds = _timed(folder_content_hash, folder)
        print(f"re-pin after one shard's bytes changed (mtime put back): {seconds:.2f} s -- change noticed: "
              f"{changed != cold}")
        return 0 if warm == cold and changed != cold else 1
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

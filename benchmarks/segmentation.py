"""Segmentation on the hot path: `translate --engine echo` rows/s with this checkout against an earlier one, on the
same rows in one run, and the CommonMark parser's share of the time. Prints figures, asserts nothing:

    git worktree add --detach /tmp/hala-before <revision>
    cp hala_release/engines/echo.py /tmp/hala-before/hala_release/engines/  # same answers in both trees
    .venv/bin/python benchmarks/segmentation.py --before /tmp/hala-before [--rows 10000] [--repeats 2]

Rows: Open-Orca-shaped (`translate.unique_rows`: mostly prose, some markdown and code) and SCP-116K-shaped (the
shipped sample's problems and four solutions, LaTeX in every row), each row made unique the same way. The echo
engine answers at once, so the time is the toolkit's own: segmentation, prompts, dedup, cache, gates, and since
issue 18 the whole-row structure gate. Runs alternate between the two trees, one process each, 1 worker, fresh cache.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from translate import _numbered, unique_rows, write_dataset  # noqa: E402

SCP_FIELDS = ("problem", "matched_solution", "o1_solution", "qwq_solution")


def scp_rows(count: int, seed: int = 0) -> list[dict]:
    from hala_release.stages.sample_data.run import read_sample

    sample = read_sample("scp116k")
    rng = random.Random(seed)
    rows = []
    for index in range(count):
        base = dict(sample[rng.randrange(len(sample))])
        for field in SCP_FIELDS:
            base[field] = _numbered(base[field], index) if base.get(field) else base.get(field)
        rows.append(base)
    return rows


def run_translate(tree: Path, source: Path, work: Path, tag: str) -> dict:
    output = work / f"out-{tag}"
    arguments = ["translate", str(source), "--engine", "echo", "--output", str(output), "--chunk-size", "5000",
                 "--overwrite", "--workers", "1", "--cache-dir", str(work / f"cache-{tag}")]
    began = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "hala_release.cli", *arguments], capture_output=True, text=True,
                            cwd=work, env={**os.environ, "PYTHONPATH": str(tree), "HF_HUB_OFFLINE": "1"})
    seconds = time.perf_counter() - began
    if result.returncode:
        raise SystemExit(result.stderr[-3000:])
    stats = json.loads((output / "hala_provenance.json").read_text())["stats"]
    return {"seconds": round(seconds, 2), "rows_rejected": stats["rows_rejected"],
            "translate_seconds": round(stats.get("seconds", 0) or 0, 2)}


def parser_share(rows: list[dict], fields: tuple[str, ...]) -> dict:
    """In this process, with this checkout: how many texts the parser reads, and the seconds it takes to read what a
    translate run reads (each such source once, and the echo translation of each text whose segments
    `keeps_structure` cannot vouch for)."""
    from hala_release.core.markup import needs_parser, parser
    from hala_release.core.segment import join, keeps_structure, segments, split
    from hala_release.engines.echo import echo_text

    texts = [row[field] for row in rows for field in fields if row.get(field)]
    parsed = [text for text in texts if needs_parser(text)]
    reread = []
    for text in parsed:
        pieces = split.__wrapped__(text)
        translations = {s.text: echo_text(s.text) for s in segments(pieces)}
        if not all(keeps_structure(s, translations[s.text]) for s in segments(pieces)):
            reread.append(join(pieces, translations))
    md = parser()
    began = time.perf_counter()
    for text in parsed + reread:
        md.parse(text)
    return {"texts": len(texts), "sources_parsed": len(parsed), "translations_parsed_again": len(reread),
            "parse_seconds": round(time.perf_counter() - began, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", type=Path, required=True, help="a checkout of the revision to compare with")
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    after = HERE.parent
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        shapes = {"openorca": (unique_rows(args.rows), ("system_prompt", "question", "response")),
                  "scp116k": (scp_rows(args.rows), SCP_FIELDS)}
        report = {}
        for shape, (rows, fields) in shapes.items():
            source = write_dataset(rows, work / shape)
            runs: dict[str, list] = {"before": [], "after": []}
            for repeat in range(args.repeats):
                for name, tree in (("before", args.before.resolve()), ("after", after)):
                    runs[name].append(run_translate(tree, source, work, f"{shape}-{name}-{repeat}"))
            best = {name: min(r["seconds"] for r in results) for name, results in runs.items()}
            share = parser_share(rows, fields)
            report[shape] = {
                "rows": args.rows, "runs": runs,
                "rows_per_second_before": round(args.rows / best["before"]),
                "rows_per_second_after": round(args.rows / best["after"]),
                "time_per_row_change": f"{best['after'] / best['before'] - 1:+.1%}",
                "parser": share,
                "parser_share_of_after_run": f"{share['parse_seconds'] / best['after']:.1%}"}
            print(json.dumps({shape: report[shape]}, indent=2), flush=True)


if __name__ == "__main__":
    main()

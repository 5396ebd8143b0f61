"""The dataset stages at HALA's sizes: wall time, rows/s and peak RSS on synthetic data in the real layouts.

For each size it writes Parquet data folders (`data/train-0000k-of-0000n.parquet`, the layout the stages read as
local refs), runs each stage in its own fresh interpreter through its public entry point
(`hala_release.stages.registry.STAGES[kind].run({...})`) and reads that child's peak RSS from `os.wait4`:

- translate: Open-Orca-shaped rows (id, system_prompt, question, response with markdown), `--engine dry-run`;
- judge-filters: the judge's cheap rule filters on OPUS-style `translation` {en, ar} pairs: the stage's own
  once-per-corpus pass (`judge.run.shared_reasons`) on the split `datasets` loads, no judge model (the pass runs
  before one is loaded);
- mix: the same OPUS-style pairs as `--parallel`;
- chat-mix: a translate output of Open-Orca-shaped rows (the `<column>_ar` twins in Arabic script,
  `translation_ok`, `translation_issues`);

then re-pins an unchanged folder of --repin-gb GiB (benchmarks/repin.py's folder, a private pin cache). Rows are
numbered at the front so most are distinct; some are exact or whitespace-only duplicates and some are bare shared
sentences, as in OPUS. Prints a markdown table and a verdict per target. Generated data is deleted unless --keep.

    .venv/bin/python benchmarks/scale.py --sizes 200000,1000000,5000000 --repin-gb 5
    .venv/bin/python benchmarks/scale.py --sizes 20000 --repin-gb 0.2      # a quick check
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STAGES = ("translate", "judge-filters", "mix", "chat-mix")
RSS_LIMIT_MB, GROWTH_LIMIT, RATE_TARGET, REPIN_LIMIT_S = 1536, 1.2, 50_000, 1.0
RATE_STAGES = ("judge-filters", "mix", "chat-mix")
BATCH_ROWS, SHARD_ROWS, POOL, SHARED = 100_000, 500_000, 50_000, 5_000

EN_WORDS = (
    "the of and to in is that for it with as was on be by this are from at or have an they which one you were her "
    "all she there would their we him been has when who will more no if out so said what up its about into than "
    "them can only other new some could time these two may then do first any my now such like our over man me even "
    "most made after also did many before must through back years where much your way well down should because each "
    "just those people how too little state good very make world still own see men work long get here between both "
    "life being under never day same another know while last might great old year off come since against go came "
    "right used take three river city market school question answer water house road teacher student language "
    "model data history music health doctor train plane mountain garden small large quick slow important simple "
    "write read think speak explain translate describe compare choose").split()
AR_WORDS = (
    "في من على إلى هذا التي الذي كان مع عن لا ما هو هي أن كل بين بعد قبل عند حتى لكن العالم الكتاب المدينة الناس "
    "اليوم الوقت الماء البيت العمل الطريق المدرسة السؤال الجواب الحياة الأرض السماء الشمس القمر الليل النهار الطعام "
    "اللغة العربية الإنجليزية الترجمة النص البيانات النموذج التعليم المعلم الطالب الحكومة الشركة السوق التاريخ العلم "
    "الفن الموسيقى الرياضة الصحة المستشفى الطبيب المريض السيارة القطار الطائرة البحر النهر الجبل الشجرة الزهرة "
    "الحديقة كبير صغير جديد قديم جميل سريع بطيء مهم صعب سهل يكتب يقرأ يذهب يعمل يفكر يتكلم يسأل يجيب يحب يريد "
    "يستطيع اشرح قارن اختر صف ترجم").split()
SYSTEM_EN = ["", "You are an AI assistant. Provide a detailed answer so the user does not need to search outside.",
             "You are a helpful assistant, who always provide explanation. Think like you are answering to a "
             "five year old.", "You are an AI assistant that follows instruction extremely well. Help as much as "
             "you can.", "Explain how you used the definition to come up with the answer.",
             "You are a teacher. Given a task, you explain in simple steps what the task is asking."]
SYSTEM_AR = ["", "أنت مساعد ذكي. قدم إجابة مفصلة حتى لا يحتاج المستخدم إلى البحث في مكان آخر.",
             "أنت مساعد مفيد يقدم الشرح دائما. فكر كأنك تجيب طفلا في الخامسة من عمره.",
             "أنت مساعد ذكي يتبع التعليمات جيدا. ساعد قدر ما تستطيع.",
             "اشرح كيف استخدمت التعريف للوصول إلى الإجابة.",
             "أنت معلم. عندما تعطى مهمة، تشرح بخطوات بسيطة ما تطلبه المهمة."]


# ---------------------------------------------------------------- synthetic data (vectorised, seeded)

def sentence_pools(seed: int):
    """POOL English sentences and their Arabic twins (same word count): the bricks every row is built from."""
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(seed)
    lengths = rng.integers(6, 20, POOL)
    en_ids = rng.integers(0, len(EN_WORDS), lengths.sum())
    ar_ids = rng.integers(0, len(AR_WORDS), lengths.sum())
    ends = np.cumsum(lengths)
    en, ar = [], []
    for stop, count in zip(ends, lengths):
        words = [EN_WORDS[i] for i in en_ids[stop - count:stop]]
        en.append(" ".join(words).capitalize() + ".")
        ar.append(" ".join(AR_WORDS[i] for i in ar_ids[stop - count:stop]) + ".")
    return pa.array(en), pa.array(ar)


def _join(*parts, sep=""):
    import pyarrow.compute as pc

    return pc.binary_join_element_wise(*parts, sep, null_handling="skip")


def _sentences(rng, pools, rows: int, low: int, high: int, bare=None):
    """low..high pool sentences per row, the same ones on both sides: (English, Arabic). `bare` rows get one of
    the first SHARED sentences alone: the same sentence pair recurs in many rows, as in OPUS."""
    count = rng.integers(low, high + 1, rows)
    if bare is not None:
        count[bare] = 1
    en, ar = [], []
    for k in range(high):
        index = rng.integers(0, POOL, rows)
        if bare is not None and k == 0:
            index[bare] = rng.integers(0, SHARED, bare.sum())
        used = count > k
        en.append(_pick_index(pools[0], index, used))
        ar.append(_pick_index(pools[1], index, used))
    return _join(*en, sep=" "), _join(*ar, sep=" ")


def _pick_index(pool, index, used):
    import pyarrow as pa

    return pool.take(pa.array(index, mask=~used))


def _numbered(rng, start: int, rows: int, shared: float):
    """'123. ' prefixes (the row number), null for the `shared` share of rows that are a bare pool sentence."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    bare = rng.random(rows) < shared
    numbers = pc.cast(pa.array(np.arange(start, start + rows)), pa.string())
    return pc.if_else(pa.array(bare), pa.scalar(None, pa.string()), _join(numbers, pa.scalar(". "))), bare


def _duplicated(rng, table, share: float):
    """`share` of the rows replaced by an earlier row of the batch (half of them with a trailing space added, so
    only the normalised text repeats)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    rows = table.num_rows
    index = np.arange(rows)
    repeat = (rng.random(rows) < share) & (index > 0)
    index[repeat] = (rng.random(repeat.sum()) * index[repeat]).astype(np.int64)
    table = table.take(pa.array(index))
    spaced = pa.array(repeat & (rng.random(rows) < 0.5))
    first = table.column_names[0]
    if pa.types.is_string(table.schema.field(first).type):
        column = table.column(first)
        table = table.set_column(0, first, pc.if_else(spaced, _join(column, pa.scalar(" ")), column))
    return table


def opus_batch(rng, pools, start: int, rows: int):
    """OPUS-style pairs: `translation` {en, ar}, 1-4 sentences, 5% bare shared sentences, 2% duplicates, a few
    empty or untranslated (identical) sides for the filters to catch."""
    import pyarrow as pa
    import pyarrow.compute as pc

    prefix, bare = _numbered(rng, start, rows, 0.05)
    en, ar = _sentences(rng, pools, rows, 1, 4, bare)
    en, ar = _join(prefix, en), _join(prefix, ar)
    noise = rng.random(rows)
    ar = pc.if_else(pa.array(noise < 0.003), pa.scalar(""), pc.if_else(pa.array(noise < 0.008), en, ar))
    table = pa.table({"en": en, "ar": ar})
    table = _duplicated(rng, table, 0.02)
    return pa.table({"translation": pa.StructArray.from_arrays([table.column("en").combine_chunks(),
                                                                table.column("ar").combine_chunks()], ["en", "ar"])})


def orca_batch(rng, pools, start: int, rows: int):
    """Open-Orca-shaped rows and their translate output: id, system_prompt, question, response (markdown), the
    `_ar` twins in Arabic script, `translation_ok` (1% failed, their response_ar null) and `translation_issues`."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    system = rng.integers(0, len(SYSTEM_EN), rows)
    prefix, _ = _numbered(rng, start, rows, 0.02)
    q_en, q_ar = _sentences(rng, pools, rows, 1, 2)
    options = pa.array(rng.random(rows) < 0.3)
    none = pa.scalar(None, pa.string())
    q_en = _join(prefix, q_en, pc.if_else(options, pa.scalar("\n\nOptions:\n- yes\n- no"), none))
    q_ar = _join(prefix, q_ar, pc.if_else(options, pa.scalar("\n\nالخيارات:\n- نعم\n- لا"), none))
    title = _sentences(rng, pools, rows, 1, 1)
    body = _sentences(rng, pools, rows, 1, 2)
    items = [_sentences(rng, pools, rows, 1, 1) for _ in range(2)]
    code = pa.array(rng.random(rows) < 0.15)
    block = pc.if_else(code, pa.scalar("\n\n```python\nprint(answer)\n```"), none)

    def response(side: int, bold: str):
        return _join(pa.scalar("## "), title[side], pa.scalar("\n\n"), body[side], pa.scalar(f" **{bold}**"),
                     pa.scalar("\n\n- "), items[0][side], pa.scalar("\n- "), items[1][side], block)

    ok = rng.random(rows) >= 0.01
    numbers = pc.cast(pa.array(np.arange(start, start + rows)), pa.string())
    origin = pa.array(np.array(["niv.", "flan.", "t0.", "cot."])[rng.integers(0, 4, rows)])
    table = pa.table({
        "id": _join(origin, numbers),
        "system_prompt": pa.array(SYSTEM_EN).take(pa.array(system)),
        "question": q_en, "response": response(0, "Answer"),
        "system_prompt_ar": pa.array(SYSTEM_AR).take(pa.array(system)),
        "question_ar": q_ar,
        "response_ar": pc.if_else(pa.array(ok), response(1, "الإجابة"), none),
        "translation_ok": pa.array(ok),
        "translation_issues": pa.array([[] if good else ["response: dry-run failure"] for good in ok],
                                       pa.list_(pa.string())),
    })
    table = _duplicated(rng, table.drop_columns(["id"]), 0.02)
    return table.add_column(0, "id", _join(origin, numbers))  # ids stay unique, as Open-Orca's are


LAYOUTS = {  # dataset -> (batch builder, columns written)
    "opus": (opus_batch, None),
    "orca": (orca_batch, ["id", "system_prompt", "question", "response"]),
    "orca-ar": (orca_batch, None),
}


def write_folder(folder: Path, layout: str, rows: int, seed: int, pools) -> dict:
    """A local dataset folder of `rows` rows in Parquet shards, batch by batch; its mean characters per row."""
    import numpy as np
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    build, columns = LAYOUTS[layout]
    rng = np.random.default_rng([seed, rows, list(LAYOUTS).index(layout)])
    shards = math.ceil(rows / SHARD_ROWS)
    (folder / "data").mkdir(parents=True)
    (folder / "README.md").write_text(f"---\nlicense: cc-by-4.0\n---\n# synthetic {layout} rows for scale.py\n")
    began, chars, source_chars, start = time.perf_counter(), 0, 0, 0
    for shard in range(shards):
        path = folder / "data" / f"train-{shard:05d}-of-{shards:05d}.parquet"
        writer = None
        for offset in range(0, min(SHARD_ROWS, rows - start), BATCH_ROWS):
            count = min(BATCH_ROWS, rows - start)
            table = build(rng, pools, start, count)
            if columns:
                table = table.select(columns)
            lengths = _text_chars(pc, table)
            chars += sum(lengths.values())
            source_chars += sum(n for name, n in lengths.items() if not name.endswith("_ar") and name != "ar")
            writer = writer or pq.ParquetWriter(path, table.schema, compression="zstd")
            writer.write_table(table, row_group_size=BATCH_ROWS)
            start += count
        writer.close()
    size = sum(p.stat().st_size for p in (folder / "data").iterdir())
    return {"rows": rows, "seconds": round(time.perf_counter() - began, 1), "mb": round(size / 1e6),
            "chars_per_row": round(chars / rows), "source_chars_per_row": round(source_chars / rows)}


def _text_chars(pc, table) -> dict[str, int]:
    """Characters of each text column (the struct's sides counted apart) in one batch."""
    import pyarrow as pa

    found = {}
    for name in table.column_names:
        column = table.column(name)
        sides = ([(field.name, pc.struct_field(column, field.name)) for field in column.type]
                 if pa.types.is_struct(column.type) else [(name, column)])
        for side, values in sides:
            if pa.types.is_string(values.type) and name != "id":
                found[side] = pc.sum(pc.utf8_length(values)).as_py() or 0
    return found


# ---------------------------------------------------------------- stage runs, each in a fresh interpreter

def child(stage: str, spec: dict) -> dict:
    """Run one stage in this process (started fresh by `measure`); its figures as JSON. The stage's time leaves out
    importing its module and the libraries every dataset stage loads (seconds on a busy machine, at any size)."""
    import importlib

    from hala_release.stages.registry import STAGES

    module = "hala_release.stages.judge.run" if stage == "judge-filters" else STAGES[stage].runner.split(":")[0]
    for name in (module, "datasets", "pyarrow.compute", "pyarrow.dataset", "pyarrow.parquet"):
        importlib.import_module(name)
    began = time.perf_counter()
    result = judge_filters(spec["source"], spec["output"]) if stage == "judge-filters" else STAGES[stage].run(spec)
    seconds = result.pop("seconds") if stage == "judge-filters" else time.perf_counter() - began
    return {"seconds": seconds, "result": result if isinstance(result, dict) else str(result)}


def judge_filters(folder: str, output: str) -> dict:
    """The judge's cheap-filter pass as the stage runs it (`judge.run.shared_reasons`, no judge model: the pass
    comes before one is loaded): the split loaded and memory-mapped by `datasets`, every filter once over the
    corpus, the reason codes written to the work folder. Its seconds leave out `datasets`' one-time conversion
    of the Parquet folder to its Arrow cache (the process's wall time has it)."""
    from hala_release.core.refs import resolve
    from hala_release.executors.chunks import load_split, open_plan
    from hala_release.stages.judge import filters
    from hala_release.stages.judge.config import JudgeConfig
    from hala_release.stages.judge.run import pair_columns, shared_reasons

    config = JudgeConfig(source=folder, judge="unused", output=output)
    source_ref = resolve(config.source, "dataset")
    dataset = load_split(source_ref, config.split)
    source, target = pair_columns(dataset, config)
    identity = {"source_pin": source_ref.pin, "filter_rules": filters.RULES}
    plan = open_plan(Path(output), identity, len(dataset), config.chunk_size)
    try:
        began = time.perf_counter()
        codes = shared_reasons(plan, config, dataset, source, target)
        seconds = time.perf_counter() - began
    finally:
        shutil.rmtree(plan["work_dir"], ignore_errors=True)
    counts = filters.count_reasons(filters.reasons_of(codes))
    return {"seconds": seconds, "rows": len(codes), "route": "judge.run.shared_reasons", "counts": dict(counts)}


def measure(stage: str, spec: dict, env: dict) -> dict:
    """The stage in a fresh interpreter: its wall time, its own time, and its peak RSS (`wait4`'s rusage covers the
    child and any workers it waited for)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        began = time.perf_counter()
        process = subprocess.Popen([sys.executable, __file__, "--child", stage, json.dumps(spec)], env=env,
                                   stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)  # not Popen.wait: wait4 also gives the child's rusage
        process.returncode = code = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - began
        out.seek(0), err.seek(0)
        if code != 0:  # reported, and the other stages still run
            lines = err.read().strip().splitlines() or [f"exit {code}"]
            print(f"  {stage} failed (exit {code}):\n    " + "\n    ".join(lines[-15:]), flush=True)
            return {"wall": wall, "error": lines[-1][:200], "rss_mb": usage.ru_maxrss / 1024}
        figures = json.loads(out.read().strip().splitlines()[-1])
    return {"wall": wall, "seconds": figures["seconds"], "rss_mb": usage.ru_maxrss / 1024, "result": figures["result"]}


def run_size(rows: int, root: Path, stages: list[str], seed: int, pools, env: dict) -> list[dict]:
    """Every stage at one size; each input folder is deleted once its stages are done."""
    plan = {"opus": [s for s in ("judge-filters", "mix") if s in stages],
            "orca": [s for s in ("translate",) if s in stages], "orca-ar": [s for s in ("chat-mix",) if s in stages]}
    measured = []
    for layout, users in plan.items():
        if not users:
            continue
        folder = root / f"{layout}-{rows}"
        made = write_folder(folder, layout, rows, seed, pools)
        print(f"  {rows:,} {layout} rows written in {made['seconds']} s: {made['mb']:,} MB of Parquet, "
              f"{made['chars_per_row']} characters a row ({made['source_chars_per_row']} on the source side)",
              flush=True)
        for stage in users:
            output = root / f"out-{stage}-{rows}"
            spec = ({"source": str(folder), "output": str(output)} if stage == "judge-filters" else
                    {"source": str(folder), "output": str(output), "engine": "dry-run"} if stage == "translate" else
                    {"parallel": [str(folder)], "output": str(output)} if stage == "mix" else
                    {"translated": [str(folder)], "output": str(output)})
            cache = root / f"hf-datasets-{stage}-{rows}"
            figures = measure(stage, spec, {**env, "HF_DATASETS_CACHE": str(cache)})
            figures.update(stage=stage, rows=rows, chars_per_row=made["chars_per_row"])
            measured.append(figures)
            shutil.rmtree(output, ignore_errors=True)
            shutil.rmtree(cache, ignore_errors=True)
            if "error" in figures:
                continue
            print(f"  {stage}: {figures['seconds']:.1f} s in the stage, {figures['wall']:.1f} s with start-up, "
                  f"peak RSS {figures['rss_mb']:,.0f} MB", flush=True)
            if stage == "judge-filters":
                print(f"    {figures['result']['route']}: {figures['result']['counts']}", flush=True)
        shutil.rmtree(folder, ignore_errors=True)
    return measured


def repin(gb: float, root: Path) -> dict:
    """benchmarks/repin.py's folder, pinned once (every byte) and again unchanged, with a private pin cache."""
    spec = importlib.util.spec_from_file_location("repin_bench", Path(__file__).with_name("repin.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    from hala_release.core import pin_cache
    from hala_release.core.refs import folder_content_hash

    folder = root / "model"
    folder.mkdir()
    module._write_folder(folder, int(gb * (1 << 30)))
    time.sleep(pin_cache.RACY_NS / 1e9)  # a file changed in the last RACY_NS is hashed but not trusted
    cold, first = module._timed(folder_content_hash, folder)
    warm, again = module._timed(folder_content_hash, folder)
    shutil.rmtree(folder, ignore_errors=True)
    return {"gb": gb, "first": first, "again": again, "same": warm == cold}


# ---------------------------------------------------------------- report

def table(measured: list[dict], pinned: dict | None) -> str:
    lines = ["| stage | rows | wall s (stage) | wall s (process) | rows/s | peak RSS MB | chars/row |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for m in measured:
        if "error" in m:
            lines.append(f"| {m['stage']} | {m['rows']:,} | failed: {m['error']} | {m['wall']:.1f} | | | |")
            continue
        lines.append(f"| {m['stage']} | {m['rows']:,} | {m['seconds']:.1f} | {m['wall']:.1f} | "
                     f"{m['rows'] / m['seconds']:,.0f} | {m['rss_mb']:,.0f} | {m['chars_per_row']} |")
    if pinned:
        lines.append(f"| re-pin {pinned['gb']:g} GiB (first pin {pinned['first']:.2f} s) | | "
                     f"{pinned['again']:.4f} | | | | |")
    return "\n".join(lines)


def verdicts(measured: list[dict], pinned: dict | None) -> list[str]:
    found = []
    by_stage: dict[str, list[dict]] = {}
    for m in measured:
        if "error" in m:
            found.append(f"- FAILED: {m['stage']} at {m['rows']:,} rows -- {m['error']}")
            continue
        by_stage.setdefault(m["stage"], []).append(m)
    for stage, runs in by_stage.items():
        top = max(runs, key=lambda m: m["rss_mb"])
        found.append(_verdict(top["rss_mb"] < RSS_LIMIT_MB, f"{stage}: peak RSS < {RSS_LIMIT_MB / 1024:g} GB at every "
                              f"size", f"highest {top['rss_mb']:,.0f} MB at {top['rows']:,} rows"))
        sizes = {m["rows"]: m for m in runs}
        if 1_000_000 in sizes and 5_000_000 in sizes:
            ratio = sizes[5_000_000]["rss_mb"] / sizes[1_000_000]["rss_mb"]
            found.append(_verdict(ratio <= GROWTH_LIMIT, f"{stage}: RSS(5M) <= {GROWTH_LIMIT}x RSS(1M)",
                                  f"{ratio:.2f}x"))
        elif len(sizes) >= 2:  # not the target's sizes: the growth is shown, not judged
            small, big = sorted(sizes)[-2:]
            found.append(f"- INFO: {stage}: RSS({big:,}) / RSS({small:,}) = "
                         f"{sizes[big]['rss_mb'] / sizes[small]['rss_mb']:.2f}x (the target compares 5M with 1M)")
        if stage in RATE_STAGES:
            big = [m for m in runs if m["rows"] >= 200_000] or runs  # start-up costs swamp smaller runs
            slow = min(big, key=lambda m: m["rows"] / m["seconds"])
            rate = slow["rows"] / slow["seconds"]
            found.append(_verdict(rate >= RATE_TARGET, f"{stage}: >= {RATE_TARGET:,} rows/s at every size from "
                                  f"{min(m['rows'] for m in big):,} rows", f"slowest {rate:,.0f} rows/s at {slow['rows']:,} rows"))
    if pinned:
        found.append(_verdict(pinned["again"] < REPIN_LIMIT_S and pinned["same"],
                              f"re-pin of an unchanged {pinned['gb']:g} GiB folder < {REPIN_LIMIT_S:g} s",
                              f"{pinned['again'] * 1000:.1f} ms, same pin: {pinned['same']}"))
    return found


def _verdict(met: bool, target: str, figure: str) -> str:
    return f"- {'MET' if met else 'MISSED'}: {target} -- {figure}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="200000,1000000,5000000", help="comma list of row counts")
    parser.add_argument("--stages", default=",".join(STAGES), help=f"comma list of: {', '.join(STAGES)}")
    parser.add_argument("--repin-gb", type=float, default=5.0, help="re-pin folder size in GiB (0 to skip)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dir", default=tempfile.gettempdir(), help="where to write the data (default: /tmp)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (inputs are still deleted once "
                                                            "measured, to bound the disk used)")
    parser.add_argument("--child", nargs=2, metavar=("STAGE", "SPEC"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child[0], json.loads(args.child[1]))))
        return 0
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        parser.error(f"unknown stage(s) {', '.join(unknown)}: choose from {', '.join(STAGES)}")
    free = shutil.disk_usage(args.dir).free
    if args.repin_gb * (1 << 30) * 1.2 > free:
        parser.error(f"not enough free disk in {args.dir} for --repin-gb {args.repin_gb:g}: {free / (1 << 30):.1f} "
                     f"GiB free; pass a smaller --repin-gb or another --dir")
    root = Path(tempfile.mkdtemp(prefix="hala-scale-", dir=args.dir))
    # Private caches: the pins, translation cache and `datasets`' Arrow copies of this run go with the folder.
    env = {**os.environ, "HALA_CACHE_DIR": str(root / "hala-cache"), "HF_HUB_OFFLINE": "1",
           "HF_DATASETS_OFFLINE": "1"}
    os.environ["HALA_CACHE_DIR"] = env["HALA_CACHE_DIR"]
    print(f"work folder {root}; load average {os.getloadavg()[0]:.2f} (1 min) on {os.cpu_count()} cores", flush=True)
    measured, pinned = [], None
    try:
        pools = sentence_pools(args.seed)
        for rows in sizes:
            print(f"{rows:,} rows:", flush=True)
            measured += run_size(rows, root, stages, args.seed, pools, env)
        if args.repin_gb > 0:
            pinned = repin(args.repin_gb, root)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    print(f"\nload average after: {' / '.join(f'{x:.2f}' for x in os.getloadavg())} (1, 5, 15 min)")
    print("chars/row: the mean characters of text per input row, every text column (both sides) counted")
    print("\n" + table(measured, pinned) + "\n")
    print("\n".join(verdicts(measured, pinned)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

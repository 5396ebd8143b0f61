"""Folders made outside hala-release (Parquet, JSON Lines or CSV files, a `save_to_disk` dump, safetensors
weights) staged as artifacts, so `push-dataset` and `push-model` publish any of them the way they publish a stage's.

The user's folder is only read. The artifact is laid out in a new staging folder: data files linked under
`data/<split>-NNNNN-of-NNNNN.<ext>` (split names as `datasets` infers them from file names), `save_to_disk` Arrow
converted to Parquet shards, weights and tokenizer files linked as they are, plus a card (licence, languages,
splits, row counts) and a provenance file that pins every source file by SHA-256. Staging unchanged input again
gives the same bytes, so a second push makes no commit.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from hala_release import __version__
from hala_release.artifacts.build import SAMPLE_RECORDS, config_hash, shorten_record
from hala_release.artifacts.card import CARD_FILE, read_card_metadata, write_card
from hala_release.artifacts.inputs import PICKLE_SUFFIXES
from hala_release.core.errors import HalaError, UsageError
from hala_release.core.files import link_file
from hala_release.core.provenance import PROVENANCE_FILE, CardFacts, CardSection, Provenance
from hala_release.core.refs import check_repo_id, combined_hash, content_hashes

if TYPE_CHECKING:
    from hala_release.core.disk_space import SpaceNeed

IMPORT_STAGE = "import"
DATA_FORMATS = {".parquet": "parquet", ".jsonl": "json", ".json": "json", ".csv": "csv"}
MAX_SHARD_BYTES = 500 * 1024**2  # as `datasets`' own push_to_hub: Parquet shards the Hub viewer handles well
NOT_PUBLISHED = {CARD_FILE, PROVENANCE_FILE, ".gitattributes"}  # replaced by ours, or the Hub's own
_LICENSE_TEXT = re.compile(r"^(licen[cs]e|copying|notice)([-._].*)?$", re.IGNORECASE)
# transformers architecture suffix -> Hub pipeline tag
_PIPELINES = [("ForCausalLM", "text-generation"), ("ForConditionalGeneration", "text2text-generation"),
              ("ForSeq2SeqLM", "text2text-generation"), ("ForSequenceClassification", "text-classification"),
              ("ForTokenClassification", "token-classification"), ("ForQuestionAnswering", "question-answering"),
              ("ForMaskedLM", "fill-mask")]


@dataclass(frozen=True)
class CardOptions:
    """What a user states about a folder made elsewhere; the folder's own README metadata fills the gaps."""

    license: str | None = None
    language: tuple[str, ...] = ()
    base_model: str | None = None
    task_categories: tuple[str, ...] = ()

    def given(self) -> list[str]:
        names = {"--license": self.license, "--language": self.language, "--base-model": self.base_model,
                 "--task-categories": self.task_categories}
        return [name for name, value in names.items() if value]


def is_artifact(folder: Path) -> bool:
    """True for a folder a hala-release stage built (it carries its provenance)."""
    return (Path(folder) / PROVENANCE_FILE).is_file()


def stage_folder(folder: Path | str, kind: str, staging: Path, options: CardOptions = CardOptions(),
                 echo: Callable[[str], None] = print) -> Path:
    """Lay out `folder` as a `kind` artifact inside `staging` and return the artifact folder."""
    folder = Path(folder).expanduser().resolve()
    if not folder.is_dir():
        raise HalaError(f"{folder} is not a folder: pass the folder that holds the {kind}'s files")
    if kind == "dataset":
        return stage_dataset(folder, staging, options, echo)
    if kind == "model":
        return stage_model(folder, staging, options, echo)
    raise UsageError(f"only datasets and models made elsewhere can be staged, not {kind}s")


def staging_need(folder: Path, kind: str, staging: Path) -> "SpaceNeed":
    """What staging writes into `staging`: a `save_to_disk` dump converted to Parquet (at most about its Arrow size,
    a quarter at best), else links (no data; copies only where the system refuses links), a card and a provenance
    file that lists every file."""
    from hala_release.core.disk_space import SpaceNeed

    folder = Path(folder).expanduser().resolve()
    files = [p for p in folder.rglob("*") if p.is_file()] if folder.is_dir() else []
    small = 64 * 1024 + 256 * len(files)
    arrow = sum(p.stat().st_size for p in files if p.suffix == ".arrow") if (
        kind == "dataset" and _is_saved_dataset(folder)) else 0
    return SpaceNeed(f"push-{kind} (staging {folder.name})", staging, arrow + small, arrow // 4 + small)


# --- datasets ---------------------------------------------------------------------------------------------------


def stage_dataset(folder: Path, staging: Path, options: CardOptions, echo: Callable[[str], None] = print) -> Path:
    """A dataset folder of any supported layout, as an artifact in `staging`."""
    own = read_card_metadata(folder)
    configs = own.get("configs")
    if isinstance(configs, list) and len(configs) > 1:
        raise HalaError(f"{folder}/README.md declares {len(configs)} configs, but push-dataset publishes one: push "
                        f"each config's files from a folder of their own, to a repo of their own")
    license_facts = _license(options, own, folder)  # fail on a missing licence before any heavy work
    task_categories = _task_categories(options, own, folder)
    hashes = content_hashes(folder)
    out = staging / folder.name
    (out / "data").mkdir(parents=True)
    if _is_saved_dataset(folder):
        fmt, used = "save_to_disk", {rel: {} for rel in hashes if rel not in NOT_PUBLISHED}
        splits, samples = _convert_saved(folder, out)
    else:
        fmt, used, splits, samples = _link_data_files(folder, out, hashes)
    left_out = sorted(rel for rel in hashes if rel not in used and rel not in NOT_PUBLISHED
                      and not _LICENSE_TEXT.match(Path(rel).name))
    _link_license_texts(folder, out, hashes)
    rows = sum(splits.values())
    facts = CardFacts(
        kind="dataset", title=folder.name, language=_languages(options, own), **license_facts,
        summary=(f"Published with `hala-release push-dataset` from a folder of {_FORMAT_NAMES[fmt]}; every source "
                 f"file is pinned by SHA-256 in `hala_provenance.json`."),
        tags=_strings(own.get("tags")), task_categories=task_categories,
        annotations_creators=_strings(own.get("annotations_creators")) or ["other"],
        language_creators=_strings(own.get("language_creators")) or ["other"],
        splits=splits, sample_records=[shorten_record(row) for row in samples],
        sections=[_files_section(fmt, used, left_out)],
    )
    stats = {"format": fmt, "rows": rows, "files": len(used),
             "bytes": sum((folder / rel).stat().st_size for rel in used)}
    _finish(out, folder, "dataset", fmt, facts, hashes, used, stats, options)
    echo(f"staged {folder} as a dataset artifact: {_FORMAT_NAMES[fmt]}, "
         + ", ".join(f"{name} {count:,} rows" for name, count in splits.items())
         + (f"; left out (not data): {', '.join(left_out[:5])}{' …' if len(left_out) > 5 else ''}" if left_out else ""))
    return out


_FORMAT_NAMES = {"parquet": "Parquet files", "json": "JSON Lines files", "csv": "CSV files",
                 "save_to_disk": "a `datasets` save_to_disk dump (converted to Parquet)"}


def _is_saved_dataset(folder: Path) -> bool:
    return (folder / "dataset_dict.json").is_file() or (
        (folder / "state.json").is_file() and (folder / "dataset_info.json").is_file())


def _convert_saved(folder: Path, out: Path) -> tuple[dict[str, int], list[dict]]:
    """Arrow files written by `save_to_disk` as Parquet shards of at most MAX_SHARD_BYTES each, per split."""
    from datasets import DatasetDict, load_from_disk

    try:
        loaded = load_from_disk(str(folder))
    except (FileNotFoundError, ValueError, KeyError) as err:
        raise HalaError(f"{folder} looks like a `save_to_disk` dataset but cannot be loaded ({err}); save it "
                        f"again with Dataset.save_to_disk / DatasetDict.save_to_disk") from None
    splits = dict(loaded) if isinstance(loaded, DatasetDict) else {str(loaded.split or "train"): loaded}
    counts, samples = {}, []
    for name, dataset in splits.items():
        shards = max(1, math.ceil(dataset.data.nbytes / MAX_SHARD_BYTES))
        for index in range(shards):
            part = dataset.shard(shards, index, contiguous=True)
            part.to_parquet(str(out / "data" / f"{name}-{index:05d}-of-{shards:05d}.parquet"))
        counts[name] = len(dataset)
        if not samples:
            samples = dataset.select(range(min(SAMPLE_RECORDS, len(dataset)))).to_list()
    return counts, samples


def _link_data_files(folder: Path, out: Path, hashes: dict[str, str]):
    """Link the folder's data files under the Hub layout; splits as `datasets` infers them from file names."""
    by_split = _split_files(folder)
    formats = {DATA_FORMATS[path.suffix.lower()] for paths in by_split.values() for path in paths}
    if not by_split:
        raise HalaError(f"{folder} holds no Parquet, JSON Lines or CSV files and no `save_to_disk` dataset: pass a "
                        f"folder of *.parquet, *.jsonl or *.csv files (for model weights use push-model)")
    if len(formats) > 1:
        raise HalaError(f"{folder} mixes {' and '.join(sorted(formats))} files, but a dataset repo is read with one "
                        f"format: convert them to one format (Parquet is best) first")
    fmt = formats.pop()
    used: dict[str, dict] = {}
    counts: dict[str, int] = {}
    samples: list[dict] = []
    columns: dict[tuple, str] = {}
    for split, paths in by_split.items():
        counts[split] = 0
        for index, path in enumerate(paths):
            rel = path.relative_to(folder).as_posix()
            rows, first, names = _read_counts(path, fmt)
            columns.setdefault(tuple(sorted(names)), rel)
            counts[split] += rows
            samples = samples or first
            target = f"data/{split}-{index:05d}-of-{len(paths):05d}{path.suffix.lower()}"
            link_file(path, out / target)
            used[rel] = {"published_as": target}
    if len(columns) > 1:
        described = "; ".join(f"{rel} has {', '.join(names) or 'none'}" for names, rel in columns.items())
        raise HalaError(f"the files of {folder} do not share one set of columns ({described}): `datasets` reads a "
                        f"dataset with one schema, so give every file the same columns")
    return fmt, used, counts, samples


def _split_files(folder: Path) -> dict[str, list[Path]]:
    """Data files per split, by the same file-name rules `load_dataset(folder)` uses."""
    from datasets.data_files import DataFilesDict, get_data_patterns

    try:
        found = DataFilesDict.from_patterns(get_data_patterns(str(folder)), base_path=str(folder))
    except FileNotFoundError:  # datasets' EmptyDatasetError / DataFilesNotFoundError
        return {}
    by_split = {}
    for split, files in found.items():
        paths = sorted(Path(f) for f in files if Path(f).suffix.lower() in DATA_FORMATS)
        if paths:
            by_split[str(split)] = paths
    return by_split


def _read_counts(path: Path, fmt: str) -> tuple[int, list[dict], list[str]]:
    """Rows, the first few records and the column names of one data file, streamed (memory stays small)."""
    import pyarrow as pa

    try:
        if fmt == "parquet":
            return _parquet_counts(path)
        if fmt == "csv":
            return _csv_counts(path)
        return _json_counts(path)
    except (pa.ArrowInvalid, ValueError, UnicodeDecodeError) as err:
        raise HalaError(f"{path} is not a readable {fmt} file ({_one_line(err)}): fix or remove it") from None


def _parquet_counts(path: Path):
    import pyarrow.parquet as pq

    handle = pq.ParquetFile(path)
    rows = handle.metadata.num_rows
    first = next(handle.iter_batches(batch_size=SAMPLE_RECORDS), None) if rows else None
    return rows, first.to_pylist()[:SAMPLE_RECORDS] if first is not None else [], handle.schema_arrow.names


def _csv_counts(path: Path):
    from pyarrow import csv

    reader = csv.open_csv(path)
    rows, first = 0, []
    for batch in reader:
        first = first or batch.to_pylist()[:SAMPLE_RECORDS]
        rows += batch.num_rows
    return rows, first, reader.schema.names


def _json_counts(path: Path):
    """JSON Lines (one object per line), or one JSON array of objects, as `datasets`' json builder reads both."""
    with open(path, "rb") as handle:
        head = handle.read(4096).lstrip()
    if head.startswith(b"["):
        records = json.loads(path.read_text(encoding="utf-8"))
        _check_objects(records[:SAMPLE_RECORDS], path, "array item")
        return len(records), records[:SAMPLE_RECORDS], list(records[0]) if records else []
    rows, first = 0, []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            rows += 1
            if len(first) < SAMPLE_RECORDS:
                try:
                    first.append(json.loads(line))
                except json.JSONDecodeError as err:
                    raise ValueError(f"line {number}: {err.msg}") from None
                _check_objects(first[-1:], path, f"line {number}")
    return rows, first, list(first[0]) if first else []


def _check_objects(records: list, path: Path, where: str) -> None:
    if any(not isinstance(record, dict) for record in records):
        raise ValueError(f"{where} is not a JSON object; JSON Lines holds one object per line")


# --- models -----------------------------------------------------------------------------------------------------


def stage_model(folder: Path, staging: Path, options: CardOptions, echo: Callable[[str], None] = print) -> Path:
    """A transformers model folder with safetensors weights, as an artifact in `staging`."""
    hashes = content_hashes(folder)
    _refuse_pickles(folder, hashes)
    config = _model_config(folder)
    weights = sorted(rel for rel in hashes if rel.endswith(".safetensors"))
    if not weights:
        raise HalaError(f"{folder} has no *.safetensors weights: save the model with "
                        f"`model.save_pretrained(DIR, safe_serialization=True)`")
    _check_index(folder, hashes)
    own = read_card_metadata(folder)
    license_facts = _license(options, own, folder)
    base_model = options.base_model or own.get("base_model")
    base = [check_repo_id(b, "--base-model") for b in ([base_model] if isinstance(base_model, str) else
                                                         _strings(base_model))]
    parameters = sum(_safetensors_parameters(folder / rel) for rel in weights)
    out = staging / folder.name
    out.mkdir(parents=True)
    used = {rel: {} for rel in hashes if rel not in NOT_PUBLISHED}
    for rel in used:
        link_file(folder / rel, out / rel)
    model_type = config.get("model_type")
    facts = CardFacts(
        kind="model", title=folder.name, language=_languages(options, own), **license_facts,
        summary=(f"A `{model_type}` model with {parameters:,} parameters (safetensors), published with "
                 f"`hala-release push-model` from a folder made elsewhere; every file is pinned by SHA-256 in "
                 f"`hala_provenance.json`."),
        tags=_strings(own.get("tags")), base_model=base, library_name="transformers",
        pipeline_tag=_pipeline_tag(config), sections=[_files_section("safetensors", used, [])],
    )
    stats = {"model_type": model_type, "parameters": parameters, "weight_files": len(weights),
             "files": len(used), "bytes": sum((folder / rel).stat().st_size for rel in used)}
    _finish(out, folder, "model", "safetensors", facts, hashes, used, stats, options)
    echo(f"staged {folder} as a model artifact: {model_type}, {parameters:,} parameters in {len(weights)} "
         f"safetensors file(s)")
    return out


def _refuse_pickles(folder: Path, hashes: dict[str, str]) -> None:
    pickles = sorted(rel for rel in hashes if rel.lower().endswith(PICKLE_SUFFIXES))
    if pickles:
        shown = ", ".join(pickles[:5]) + (" …" if len(pickles) > 5 else "")
        raise HalaError(f"{folder} holds pickle file(s) {shown}: hala-release publishes safetensors only (loading a "
                        f"pickle can run code). Convert the weights with `model.save_pretrained(DIR, "
                        f"safe_serialization=True)` and keep other pickles (training_args.bin, optimizer.pt) out "
                        f"of the folder")


def _model_config(folder: Path) -> dict[str, Any]:
    path = folder / "config.json"
    if not path.is_file():
        raise HalaError(f"{folder} has no config.json: push-model publishes a transformers model folder "
                        f"(config.json + *.safetensors), as `save_pretrained` writes it")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise HalaError(f"{path} is not valid JSON ({_one_line(err)}): save the model again") from None
    if not isinstance(config, dict) or not config.get("model_type"):
        raise HalaError(f"{path} has no model_type: it is not a transformers model config")
    return config


def _check_index(folder: Path, hashes: dict[str, str]) -> None:
    """Every shard a safetensors index names must be there, or the pushed model would not load."""
    for rel in hashes:
        if not rel.endswith(".safetensors.index.json"):
            continue
        weight_map = json.loads((folder / rel).read_text(encoding="utf-8")).get("weight_map", {})
        base = Path(rel).parent
        missing = sorted({name for name in weight_map.values() if (base / name).as_posix() not in hashes})
        if missing:
            raise HalaError(f"{rel} names shard(s) missing from {folder}: {', '.join(missing[:5])}; copy them in")


def _safetensors_parameters(path: Path) -> int:
    """Parameter count from a safetensors header (no tensor is read)."""
    try:
        with open(path, "rb") as handle:
            size = int.from_bytes(handle.read(8), "little")
            if not 0 < size <= 100 * 1024**2:
                raise ValueError("bad header length")
            header = json.loads(handle.read(size))
        return sum(math.prod(entry["shape"]) for key, entry in header.items() if key != "__metadata__")
    except (ValueError, KeyError, TypeError) as err:
        raise HalaError(f"{path} is not a valid safetensors file ({_one_line(err)}): save the weights again") from None


def _pipeline_tag(config: dict[str, Any]) -> str | None:
    for architecture in config.get("architectures") or []:
        for suffix, tag in _PIPELINES:
            if str(architecture).endswith(suffix):
                return tag
    return None


# --- shared -----------------------------------------------------------------------------------------------------


def _license(options: CardOptions, own: dict[str, Any], folder: Path) -> dict[str, Any]:
    """Licence facts: --license, else the folder's own card; one of them is required (the Hub asks for one)."""
    license_id = options.license or own.get("license")
    if not license_id:
        raise UsageError(f"{folder} states no licence: pass --license with a Hub licence id such as apache-2.0, "
                         f"cc-by-4.0 or mit (see https://huggingface.co/docs/hub/repositories-licenses)")
    facts: dict[str, Any] = {"license": str(license_id)}
    if not options.license or options.license == own.get("license"):
        facts.update({key: own[key] for key in ("license_name", "license_link") if own.get(key)})
    return facts


def _languages(options: CardOptions, own: dict[str, Any]) -> list[str]:
    from hala_release.core.languages import hub_code

    given = [code.strip() for item in options.language for code in item.split(",") if code.strip()]
    try:
        given = list(dict.fromkeys(hub_code(code) for code in given))
    except ValueError as err:
        raise UsageError(f"--language: {err}") from None
    return given or _strings(own.get("language"))


def _task_categories(options: CardOptions, own: dict[str, Any], folder: Path) -> list[str]:
    """--task-categories, else the folder's README `task_categories` (empty: the card's default, text-generation).

    The flag wins over the README, as --license and --language do. Each value must be a Hub task id (the list
    `artifacts.card.hub_task_ids` checks cards against), so a typo fails here in one line, not in the card check.
    """
    from hala_release.artifacts.card import hub_task_ids

    given = [task.strip() for item in options.task_categories for task in item.split(",") if task.strip()]
    tasks, where = (given, "--task-categories") if given else (_strings(own.get("task_categories")),
                                                               f"{folder}/README.md task_categories")
    known = hub_task_ids()
    for task in tasks:
        if task not in known:
            close = difflib.get_close_matches(task, sorted(known), n=3)
            raise UsageError(f"{where}: {task!r} is not a Hub task category; "
                             + (f"did you mean {', '.join(close)}? " if close else "")
                             + "see https://huggingface.co/tasks for the list"
                             + ("" if given else ", or pass --task-categories to replace it"))
    return list(dict.fromkeys(tasks))


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    return [str(item) for item in value] if isinstance(value, (list, tuple)) else []


def _link_license_texts(folder: Path, out: Path, hashes: dict[str, str]) -> None:
    """Licence texts travel with the data (a card's license_link may point at them)."""
    for rel in hashes:
        if "/" not in rel and _LICENSE_TEXT.match(rel) and not (out / rel).exists():
            link_file(folder / rel, out / rel)


def _files_section(fmt: str, used: dict[str, dict], left_out: list[str]) -> CardSection:
    lines = [f"{len(used)} source file(s) ({fmt}); their SHA-256 pins are under `inputs.source.files` in "
             f"`hala_provenance.json`."]
    if left_out:
        lines.append(f"Not published from the source folder: {', '.join(f'`{rel}`' for rel in left_out[:20])}"
                     + (" …" if len(left_out) > 20 else "") + ".")
    return CardSection(title="Source files", markdown="\n\n".join(lines))


def _finish(out: Path, folder: Path, kind: str, fmt: str, facts: CardFacts, hashes: dict[str, str],
            used: dict[str, dict], stats: dict[str, Any], options: CardOptions) -> None:
    """Write the provenance (deterministic: no wall-clock values) and the validated card."""
    files = {rel: {"sha256": hashes[rel], **used[rel]} for rel in sorted(used)}
    source = {"ref": str(folder), "source": "local", "repo_type": kind, "path": str(folder),
              "pin": combined_hash(hashes), "files": files}
    config = {"source": str(folder), "kind": kind, "format": fmt, "license": facts.license, "language": facts.language}
    if facts.base_model:
        config["base_model"] = facts.base_model
    Provenance(stage=IMPORT_STAGE, tool_version=__version__, created_at=_modified_at(folder, used), config=config,
               config_hash=config_hash(config), inputs={"source": source}, stats=stats, card=facts).write(out)
    write_card(out)


def _modified_at(folder: Path, used: dict[str, dict]) -> str:
    """When the newest source file changed: the date the content is from, and the same on every rerun."""
    newest = max((folder / rel).stat().st_mtime for rel in used) if used else 0.0
    return dt.datetime.fromtimestamp(int(newest), dt.timezone.utc).isoformat(timespec="seconds")


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split())

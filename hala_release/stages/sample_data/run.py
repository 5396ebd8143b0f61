"""Small sample datasets shipped with the package, in the real column layouts of HALA's sources.

They let tests, the demo and the tiny pipeline run offline: the rows are ours, only the layouts mimic the
Hub datasets HALA used, so code written against them works unchanged on the real data.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from hala_release.artifacts.build import build_artifact
from hala_release.core.errors import UsageError
from hala_release.core.provenance import CardFacts
from hala_release.stages.sample_data.config import SampleDataConfig


@dataclass(frozen=True)
class Sample:
    name: str
    file: str
    mimics: str  # the Hub dataset whose layout the rows follow
    mimics_license: str
    language: tuple[str, ...]
    task: str


SAMPLES: dict[str, Sample] = {s.name: s for s in [
    Sample("openorca", "openorca.jsonl", "Open-Orca/OpenOrca", "mit", ("en",), "text-generation"),
    Sample("hermes3", "hermes3.jsonl", "NousResearch/Hermes-3-Dataset", "apache-2.0", ("en",), "text-generation"),
    Sample("scp116k", "scp116k.jsonl", "EricLu/SCP-116K", "cc-by-nc-sa-4.0", ("en",), "text-generation"),
    Sample("realign-alpaca", "realign_alpaca.jsonl", "GAIR/ReAlign-Alpaca", "cc-by-nc-4.0", ("en",), "text-generation"),
    Sample("lamini", "lamini.jsonl", "MBZUAI/LaMini-instruction", "cc-by-nc-4.0", ("en",), "text-generation"),
    Sample("tulu3", "tulu3.jsonl", "allenai/tulu-3-sft-mixture", "odc-by", ("en",), "text-generation"),
    Sample("gptj-pairwise", "gptj_pairwise.jsonl", "Dahoas/synthetic-instruct-gptj-pairwise", "mit", ("en",),
           "text-generation"),
    Sample("opus100-ar-en", "opus100_ar_en.jsonl", "Helsinki-NLP/opus-100", "other", ("ar", "en"), "translation"),
    Sample("parallel-en-sw", "parallel_en_sw.jsonl", "Helsinki-NLP/opus-100", "other", ("en", "sw"), "translation"),
]}


def sample_path(name: str) -> Path:
    return Path(str(resources.files("hala_release.resources.samples").joinpath(get_sample(name).file)))


def get_sample(name: str) -> Sample:
    if name not in SAMPLES:
        raise UsageError(f"unknown sample {name!r}: choose one of {', '.join(SAMPLES)}")
    return SAMPLES[name]


def read_sample(name: str) -> list[dict]:
    """The sample's rows, in file order."""
    with open(sample_path(name), encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def export_sample(name: str, output: Path | str, **options) -> Path:
    """Keyword form of run_sample_data (options: SampleDataConfig's fields)."""
    return run_sample_data(SampleDataConfig(name=name, output=output, **options))


def run_sample_data(config: SampleDataConfig) -> Path:
    """Write a shipped sample as a dataset artifact folder (Parquet + card + provenance)."""
    from datasets import Dataset

    name, output, overwrite = config.name, config.output, config.overwrite
    sample = get_sample(name)
    path = sample_path(name)
    rows = read_sample(name)
    card = CardFacts(
        kind="dataset",
        title=f"hala-release sample: {sample.name}",
        summary=(f"{len(rows)} rows written by the hala-release authors in the column layout of "
                 f"[`{sample.mimics}`](https://huggingface.co/datasets/{sample.mimics}), for offline tests and "
                 f"demos. None of the rows come from {sample.mimics} itself."),
        language=list(sample.language),
        license="apache-2.0",
        license_note="the rows are original to hala-release and carry its licence",
        tags=["sample", "hala"],
        task_categories=[sample.task],
        # The rows were written for the package, not collected: expert-generated, not found. OPUS pairs are aligned.
        annotations_creators=["expert-generated"], language_creators=["expert-generated"],
        multilinguality=["translation"] if sample.task == "translation" else ["monolingual"],
    )
    digest = "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
    inputs = {"rows": {"ref": f"hala_release/samples/{sample.file}", "source": "package", "pin": digest}}
    config = {"sample": sample.name, "layout_of": sample.mimics}
    with build_artifact(output, stage="sample-data", config=config, card=card, inputs=inputs,
                        overwrite=overwrite) as draft:
        draft.write_splits({"train": Dataset.from_list(rows)})
        draft.stats["rows"] = len(rows)
    return Path(output).expanduser().resolve()

"""Cards: README.md with Hub metadata, rendered from an artifact's provenance and validated locally.

Rendering is a pure function of the provenance (plus the repo id, once known at push time), so a card can
always be regenerated and is easy to test. The Hub's own validate-yaml endpoint is not reachable from every
setup, so metadata is checked here before any push.
"""

from __future__ import annotations

import functools
import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from hala_release.core.errors import HalaError
from hala_release.core.files import write_atomic
from hala_release.core.licenses import KNOWN_LICENSES, LICENSE_NAME
from hala_release.core.provenance import PROVENANCE_FILE, Provenance, read_provenance

CARD_FILE = "README.md"
TEMPLATES = {"dataset": ("hala_release.artifacts.templates", "dataset_card.md.j2"),
             "model": ("hala_release.artifacts.templates", "model_card.md.j2")}
SIZE_CATEGORIES = ["n<1K", "1K<n<10K", "10K<n<100K", "100K<n<1M", "1M<n<10M", "10M<n<100M", "100M<n<1B",
                   "1B<n<10B", "10B<n<100B", "100B<n<1T", "n>1T"]
BASE_MODEL_RELATIONS = {"adapter", "merge", "quantized", "finetune"}
# Hub task ids that hala-release artifacts use or are likely to use.
TASK_CATEGORIES = {"text-generation", "translation", "text-classification", "question-answering",
                   "summarization", "fill-mask", "sentence-similarity", "text2text-generation",
                   "token-classification", "zero-shot-classification", "feature-extraction", "table-question-answering"}
PIPELINE_TAGS = TASK_CATEGORIES
CREATORS = {"machine-generated", "expert-generated", "crowdsourced", "found", "no-annotation", "other"}
MULTILINGUALITY = {"monolingual", "multilingual", "translation", "other"}
_LANGUAGE_CODE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@functools.lru_cache(maxsize=1)
def hub_task_ids() -> frozenset[str]:
    """Task ids a dataset card may name: ours plus `datasets`' list of Hub task ids, the one list an installed
    library ships (huggingface_hub has none). It is older than the Hub's own (huggingface.js pipelines.ts), so a
    task added since is refused: rather that than accept any typo."""
    try:
        from datasets.utils.metadata import known_task_ids
    except ImportError:  # a later `datasets` may drop it (it is marked deprecated there)
        return frozenset(TASK_CATEGORIES)
    return frozenset(TASK_CATEGORIES) | frozenset(known_task_ids)


def size_category(rows: int) -> str:
    """The Hub's size bucket for a row count."""
    bounds = [1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000, 10**9, 10**10, 10**11, 10**12]
    for bound, category in zip(bounds, SIZE_CATEGORIES):
        if rows < bound:
            return category
    return SIZE_CATEGORIES[-1]


def card_metadata(prov: Provenance) -> dict[str, Any]:
    """The YAML header of the card, following Hub conventions for the artifact kind."""
    facts = prov.card
    meta: dict[str, Any] = {}
    if facts.language:
        meta["language"] = list(facts.language)
    meta["license"] = facts.license
    if facts.license_name:
        meta["license_name"] = facts.license_name
    if facts.license_link:
        meta["license_link"] = facts.license_link
    if facts.kind == "model":
        if facts.base_model:
            meta["base_model"] = facts.base_model[0] if len(facts.base_model) == 1 else list(facts.base_model)
        if facts.base_model_relation:
            meta["base_model_relation"] = facts.base_model_relation
        if facts.datasets:
            meta["datasets"] = list(facts.datasets)
        meta["library_name"] = facts.library_name or "transformers"
        meta["pipeline_tag"] = facts.pipeline_tag or "text-generation"
        if facts.eval_results:
            meta["model-index"] = model_index(facts)
    else:
        meta["pretty_name"] = facts.title
        if facts.source_datasets:
            meta["source_datasets"] = list(facts.source_datasets)
        meta["task_categories"] = list(facts.task_categories or ["text-generation"])
        meta["size_categories"] = [size_category(sum(facts.splits.values()))]
        meta["annotations_creators"] = list(facts.annotations_creators or ["machine-generated"])
        meta["language_creators"] = list(facts.language_creators or ["machine-generated"])
        meta["multilinguality"] = list(facts.multilinguality
                                       or ["multilingual" if len(facts.language) > 1 else "monolingual"])
        if facts.splits:
            meta["configs"] = [{
                "config_name": "default",
                "data_files": [{"split": name, "path": f"data/{name}-*"} for name in facts.splits],
            }]
    meta["tags"] = sorted({"hala-release", *facts.tags, *facts.license_tags})
    return meta


def model_index(facts) -> list[dict[str, Any]]:
    """The card's `model-index` from its eval results, built by huggingface_hub's own converter."""
    from huggingface_hub import EvalResult
    from huggingface_hub.repocard_data import eval_results_to_model_index

    try:
        results = [EvalResult(**record) for record in facts.eval_results]
    except TypeError as err:
        raise HalaError(f"an eval result of {facts.title!r} is not a huggingface_hub EvalResult ({err}); "
                        f"fix eval_results in hala_provenance.json") from None
    return eval_results_to_model_index(facts.model_index_name or facts.title, results)


def validate_metadata(meta: dict[str, Any], kind: str, folder: Path | None = None) -> list[str]:
    """Problems that would make the Hub reject or misread the card; empty when it is fine."""
    problems: list[str] = []
    lic = meta.get("license")
    if not lic:
        problems.append("license is missing")
    elif lic not in KNOWN_LICENSES:
        problems.append(f"license {lic!r} is not a Hub licence id (use 'other' with license_name/license_link)")
    elif lic == "other" and not meta.get("license_name"):
        problems.append("license 'other' needs license_name (and ideally license_link)")
    name = meta.get("license_name")
    if name is not None and not (isinstance(name, str) and LICENSE_NAME.match(name)):
        problems.append(f"license_name {name!r} must be an id: lowercase letters, digits, '-' and '.' only")
    link = meta.get("license_link")
    if isinstance(link, str) and folder is not None and "://" not in link and not (Path(folder) / link).is_file():
        problems.append(f"license_link {link!r} names no file in {folder}: copy the licence text there")
    for code in _as_list(meta.get("language")):
        if not isinstance(code, str) or not _LANGUAGE_CODE.match(code):
            problems.append(f"language {code!r} is not an ISO 639-1/639-3 code such as 'ar' or 'en'")
    for tag in _as_list(meta.get("tags")):
        if not isinstance(tag, str) or not tag.strip():
            problems.append(f"tag {tag!r} must be a non-empty string")
    if kind == "model":
        for base in _as_list(meta.get("base_model")):
            if not isinstance(base, str) or not _REPO_ID.match(base):
                problems.append(f"base_model {base!r} must be a Hub repo id org/name")
        relation = meta.get("base_model_relation")
        if relation is not None and relation not in BASE_MODEL_RELATIONS:
            problems.append(f"base_model_relation {relation!r} must be one of {sorted(BASE_MODEL_RELATIONS)}")
        if relation is not None and not meta.get("base_model"):
            # A merge lists every merged model that has a Hub id; one is enough when the other input is local.
            problems.append("base_model_relation is set but base_model is missing")
        if meta.get("pipeline_tag") and meta["pipeline_tag"] not in PIPELINE_TAGS:
            problems.append(f"pipeline_tag {meta['pipeline_tag']!r} is not a known Hub task")
        for dataset in _as_list(meta.get("datasets")):
            if not isinstance(dataset, str) or not _REPO_ID.match(dataset):
                problems.append(f"datasets entry {dataset!r} must be a Hub dataset id org/name")
        if "model-index" in meta:
            problems.extend(_check_model_index(meta["model-index"]))
    elif kind == "dataset":
        for size in _as_list(meta.get("size_categories")):
            if size not in SIZE_CATEGORIES:
                problems.append(f"size_categories {size!r} must be one of {SIZE_CATEGORIES}")
        for task in _as_list(meta.get("task_categories")):
            if task not in hub_task_ids():
                problems.append(f"task_categories {task!r} is not a known Hub task")
        for key in ("annotations_creators", "language_creators"):
            for value in _as_list(meta.get(key)):
                if value not in CREATORS:
                    problems.append(f"{key} {value!r} must be one of {sorted(CREATORS)}")
        for value in _as_list(meta.get("multilinguality")):
            if value not in MULTILINGUALITY:
                problems.append(f"multilinguality {value!r} must be one of {sorted(MULTILINGUALITY)}")
        problems.extend(_check_configs(meta.get("configs"), folder))
    return problems


def _check_model_index(model_index: Any) -> list[str]:
    """Problems with a `model-index` block, judged by huggingface_hub's own parser."""
    from huggingface_hub.repocard_data import model_index_to_eval_results

    try:
        _, results = model_index_to_eval_results(model_index)
    except (KeyError, TypeError, AttributeError, IndexError) as err:
        return [f"model-index is malformed ({err.__class__.__name__}: {err}): each entry needs name and results "
                f"with task.type, dataset.type, dataset.name and metrics[].type/value"]
    problems = []
    for result in results:
        if not isinstance(result.metric_value, (int, float)) or isinstance(result.metric_value, bool):
            problems.append(f"model-index metric {result.metric_type!r} on {result.dataset_type!r} must be a number")
    return problems


def _check_configs(configs: Any, folder: Path | None) -> list[str]:
    problems = []
    for config in _as_list(configs):
        if not isinstance(config, dict) or "config_name" not in config:
            problems.append("each configs entry needs a config_name")
            continue
        for entry in _as_list(config.get("data_files")):
            pattern = entry.get("path") if isinstance(entry, dict) else entry
            if not isinstance(pattern, str):
                problems.append(f"config {config['config_name']!r} has a data_files entry without a path")
            elif folder is not None and not any(folder.glob(pattern)):
                problems.append(f"config {config['config_name']!r}: no file matches {pattern!r} in {folder}")
    return problems


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def load_snippet(prov: Provenance, repo_id: str | None) -> str:
    """The few lines a reader copies to use the artifact."""
    target = repo_id or "path/to/this/folder"
    if prov.card.kind == "dataset":
        split = next(iter(prov.card.splits), "train")
        return f'from datasets import load_dataset\n\nds = load_dataset("{target}", split="{split}")\nprint(ds[0])'
    return (
        "from transformers import AutoModelForCausalLM, AutoTokenizer\n\n"
        f'tokenizer = AutoTokenizer.from_pretrained("{target}")\n'
        f'model = AutoModelForCausalLM.from_pretrained("{target}")\n'
        'messages = [{"role": "user", "content": "ما هي عاصمة المغرب؟"}]\n'
        "inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors=\"pt\", return_dict=True)\n"
        "output = model.generate(**inputs, max_new_tokens=128)\n"
        "print(tokenizer.decode(output[0][inputs['input_ids'].shape[1]:], skip_special_tokens=True))"
    )


def render_card(prov: Provenance, repo_id: str | None = None) -> str:
    """README.md text for an artifact: Hub metadata header and a body from the kind's Jinja template."""
    from huggingface_hub import DatasetCard, DatasetCardData, ModelCard, ModelCardData

    kind = prov.card.kind
    if kind not in TEMPLATES:
        raise HalaError(f"no card template for {kind!r} artifacts")
    package, name = TEMPLATES[kind]
    template = resources.files(package).joinpath(name).read_text(encoding="utf-8")
    meta = card_metadata(prov)
    card_cls, data_cls = (DatasetCard, DatasetCardData) if kind == "dataset" else (ModelCard, ModelCardData)
    card = card_cls.from_template(
        data_cls(**meta),
        template_str=template,
        prov=prov,
        facts=prov.card,
        repo_id=repo_id,
        load_snippet=load_snippet(prov, repo_id),
        config_yaml=yaml.safe_dump(prov.config, sort_keys=False, allow_unicode=True).rstrip(),
        inputs=prov.inputs,
        samples=[_json(record) for record in prov.card.sample_records],
    )
    return str(card)


def _json(record: Any) -> str:
    return json.dumps(record, ensure_ascii=False, indent=2, default=str)


def write_card(folder: Path, repo_id: str | None = None) -> Path:
    """Render the card from the folder's provenance, validate it, and write README.md."""
    prov = read_provenance(folder)
    text = render_card(prov, repo_id)
    check_card_text(text, prov.card.kind, folder)
    path = Path(folder) / CARD_FILE
    path.write_text(text, encoding="utf-8")
    return path


def update_card_facts(folder: Path, facts) -> Path:
    """Replace an artifact's card facts in its provenance and render README.md again from it.

    The new card is rendered and validated before anything is written, and each file is replaced atomically
    (temp file + rename), so a failed update leaves the artifact as it was.
    """
    folder = Path(folder)
    prov = read_provenance(folder).model_copy(update={"card": facts})
    text = render_card(prov)
    check_card_text(text, facts.kind, folder)
    write_atomic(folder / PROVENANCE_FILE, prov.model_dump_json(indent=2) + "\n")
    write_atomic(folder / CARD_FILE, text)
    return folder / CARD_FILE


def parse_card_metadata(text: str) -> dict[str, Any]:
    """The YAML header of a card, parsed the way huggingface_hub (and so the Hub) parses it."""
    from huggingface_hub import RepoCard

    return RepoCard(text).data.to_dict()


def read_card_metadata(folder: Path) -> dict[str, Any]:
    """An input's card metadata (empty when it has no card), e.g. to carry its licence forward."""
    path = Path(folder) / CARD_FILE
    if not path.exists():
        return {}
    try:
        return parse_card_metadata(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, ValueError):
        return {}


def check_card_text(text: str, kind: str, folder: Path | None = None) -> dict[str, Any]:
    """Validate a card's metadata; raise one error that lists every problem."""
    try:
        meta = parse_card_metadata(text)
    except (yaml.YAMLError, ValueError) as err:
        raise HalaError(f"card metadata is not valid YAML ({err}); fix the README.md header") from None
    problems = validate_metadata(meta, kind, folder)
    if problems:
        where = f" in {folder}" if folder else ""
        raise HalaError(f"card metadata{where} is not valid for the Hub: " + "; ".join(problems))
    return meta

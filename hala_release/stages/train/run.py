"""train: supervised fine-tuning with TRL's SFTTrainer, driven by a YAML recipe that `trl sft --config` also runs.

A recipe is a flat YAML mapping parsed by TRL's own `TrlParser` with the classes `trl sft` uses (`ScriptArguments`,
`SFTConfig`, `ModelConfig`, `DatasetMixtureConfig`) plus `HalaArguments`, our few keys beside them. So a recipe
`trl sft` accepts is one we accept; ours only adds keys (a recipe setting one of them is one `trl sft` refuses).
`--key=value` after the recipe overrides any key. The model and dataset refs are resolved and pinned (Hub commit or
folder hash) before training, so the card and provenance say exactly what was trained on.

`output_dir` is the artifact folder: the model, or with `use_peft` the LoRA adapter. Checkpoints go to a work folder
beside it (`<output_dir>.checkpoints`) and the artifact is moved into place only when training completes, so a
half-trained model is never mistaken for a finished one. Rerunning the same command resumes from the last complete
checkpoint there; a different recipe or different inputs are refused rather than silently mixed. TRL writes its own
README into checkpoints; the artifact gets our card instead (TRL's lacks `language`/`license`).

Multi-GPU: run the same command under `accelerate launch` (see recipes/README.md); only the main process
writes the artifact.
"""

from __future__ import annotations

import argparse
import copy
import difflib
import enum
import importlib.util
import json
import logging
import math
import shutil
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Sequence

from hala_release.artifacts.build import build_artifact, config_hash
from hala_release.core.chat_format import TurnError, to_messages, turn_layout
from hala_release.core.errors import HalaError, UsageError, yaml_problem
from hala_release.core.files import prepare_output
from hala_release.artifacts.inputs import (carried_license, describe_quantization, display_name, hub_link, hub_parents, input_languages,
                       license_fields, quantization_of, read_config, remove_pickles, require_safetensors)
from hala_release.core.provenance import CardFacts, CardSection
from hala_release.core.refs import ResolvedRef, parse_ref, resolve
from hala_release.stages.train.config import TrainConfig
from hala_release.stages.train.checkpoints import checksum_callback, damage_in

log = logging.getLogger(__name__)

RECIPE_FILE = "train_recipe.yaml"
WORK_STATE_FILE = "hala_train_state.json"
# SFTConfig fields shown in the card's hyperparameter table, in this order.
CARD_HYPERPARAMETERS = ("learning_rate", "lr_scheduler_type", "warmup_steps", "num_train_epochs",
                        "max_steps", "per_device_train_batch_size", "gradient_accumulation_steps", "max_length",
                        "packing", "assistant_only_loss", "loss_type", "optim", "weight_decay", "max_grad_norm",
                        "bf16", "gradient_checkpointing", "seed")
# ModelConfig fields shown in the card of an adapter.
CARD_LORA = ("lora_r", "lora_alpha", "lora_dropout", "lora_target_modules", "use_rslora", "use_dora",
             "load_in_4bit", "load_in_8bit")


@dataclass
class HalaArguments:
    """hala-release's own recipe keys, parsed beside TRL's; `trl sft` refuses a recipe that sets one of them."""

    messages_column: str = field(default="messages", metadata={
        "help": "Column with the chat turns: [{role, content}] or ShareGPT [{from, value}]; a dataset without "
                "`messages` but with `conversations` uses that one, as TRL does."})
    max_train_samples: int | None = field(default=None, metadata={"help": "Train on the first N rows only."})
    language: list[str] | None = field(default=None, metadata={
        "help": "Card languages; default: the dataset card's, else the model card's."})
    keep_checkpoints: bool = field(default=False, metadata={
        "help": "Keep the <output_dir>.checkpoints work folder after training completes."})
    overwrite: bool = field(default=False, metadata={"help": "Replace an existing artifact at output_dir."})
    hub_model_revision: str = field(default="main", metadata={
        "help": "Branch that --push-to-hub publishes the artifact to (open-r1's key)."})


def recipe_classes() -> tuple:
    """The dataclasses a recipe is parsed into: `trl sft`'s own, in its order, then ours."""
    from trl import DatasetMixtureConfig, ModelConfig, ScriptArguments, SFTConfig

    return ScriptArguments, SFTConfig, ModelConfig, DatasetMixtureConfig, HalaArguments


@dataclass
class Recipe:
    """A parsed recipe: TRL's four argument objects, ours, and the effective values of every key that was set."""

    path: Path
    script: Any  # trl.ScriptArguments
    sft: Any  # trl.SFTConfig
    model: Any  # trl.ModelConfig
    mixture: Any  # trl.DatasetMixtureConfig
    args: HalaArguments
    effective: dict[str, Any]
    overrides: list[str]
    parser: Any

    def sft_with_output_dir(self, output_dir: Path):
        """The same SFTConfig, parsed again with the trainer writing to `output_dir` (the work folder)."""
        parsed = self.parser.parse_args_and_config(
            ["--config", str(self.path), *self.overrides, f"--output_dir={output_dir}"], return_remaining_strings=True)
        return parsed[1]

    @property
    def model_ref(self) -> str:
        """The base model as one ref: model_name_or_path, at model_revision when that is not `main`."""
        name, revision = self.model.model_name_or_path, self.model.model_revision
        if not revision or revision == "main":
            return name
        ref = parse_ref(name, "model")
        if ref.is_local:
            raise UsageError(f"model_revision {revision!r} names a Hub revision but {name} is a local folder: "
                             f"drop model_revision")
        if ref.revision and ref.revision != revision:
            raise UsageError(f"model_name_or_path {name} and model_revision {revision!r} disagree: keep one")
        return f"{ref.repo_id}@{revision}"


def load_recipe(recipe: Path | str, overrides: Sequence[str] = ()) -> Recipe:
    """Parse a recipe YAML plus `--key=value` overrides with `trl sft`'s argument classes and ours."""
    import yaml
    from trl import TrlParser

    path = Path(recipe).expanduser().resolve()
    if not path.is_file():
        raise UsageError(f"recipe {recipe} not found: pass a YAML file such as recipes/train/tiny-sft.yaml")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        raise UsageError(f"recipe {path} is not valid YAML ({yaml_problem(err)}): fix the file") from None
    if not isinstance(raw, dict):
        raise UsageError(f"recipe {path} must be a YAML mapping of keys to values")
    overrides = list(overrides)
    for item in overrides:
        if item == "--config" or item.startswith("--config="):
            raise UsageError("--config is not an override: the recipe is the first argument")
    parser = TrlParser(recipe_classes(), exit_on_error=False, allow_abbrev=False)
    try:
        *parsed, rest = parser.parse_args_and_config(["--config", str(path), *overrides],
                                                     return_remaining_strings=True)
    except ValueError as err:
        hint = (" (on a machine without a GPU pass --bf16=false --use_cpu=true, as the tiny recipes do)"
                if "bf16" in str(err) or "use_cpu" in str(err) else "")
        raise UsageError(f"recipe {path}: {err}{hint}") from None
    except (argparse.ArgumentError, TypeError) as err:
        raise UsageError(f"recipe {path}: {err}") from None
    if rest:
        raise UsageError(_unknown_keys_message(path, rest, parser))
    script, sft, model, mixture, args = parsed
    # The recipe as written, with each overridden key replaced by its parsed value (post-init rewrites such as
    # report_to "none" -> [] are not applied to keys the YAML set).
    effective = {key: _plain(value) for key, value in raw.items() if key != "env"}
    for key in _override_keys(overrides):
        value = next((getattr(obj, key) for obj in parsed if hasattr(obj, key)), None)
        effective[key] = _plain(value)
    spec = Recipe(path=path, script=script, sft=sft, model=model, mixture=mixture, args=args, effective=effective,
                  overrides=overrides, parser=parser)
    _check_recipe(spec)
    return spec


def _check_recipe(spec: Recipe) -> None:
    """Refuse, before anything loads, what the run could not honour."""
    path, sft, model = spec.path, spec.sft, spec.model
    if not model.model_name_or_path:
        raise UsageError(f"recipe {path} sets no model_name_or_path: add it to the recipe or pass "
                         f"--model_name_or_path=REF")
    if not spec.script.dataset_name and not spec.mixture.datasets:
        raise UsageError(f"recipe {path} sets no dataset_name (nor a `datasets:` mixture): add one or pass "
                         f"--dataset_name=REF")
    if "output_dir" not in spec.effective:
        raise UsageError(f"recipe {path} sets no output_dir (the artifact folder): add it or pass --output_dir=DIR")
    if sft.push_to_hub:
        raise UsageError("push_to_hub in the recipe would publish TRL's own card and checkpoints: remove it and "
                         "pass --push-to-hub REPO_ID to `hala-release train` to publish the finished artifact")
    if spec.script.dataset_streaming or spec.mixture.streaming:
        raise UsageError(f"recipe {path}: streaming is not supported (the dataset is pinned and cached as Arrow "
                         f"files, which reads a 5M-row split without holding it in memory): remove it")
    kbit = "load_in_4bit" if model.load_in_4bit else "load_in_8bit" if model.load_in_8bit else None
    if kbit and not model.use_peft:
        raise UsageError(f"recipe {path}: {kbit} loads the base quantized, which trains only through an adapter: "
                         f"set use_peft: true (QLoRA)")
    _ = spec.model_ref  # refuses a model_revision that contradicts the model ref


def _check_kbit_machine(model) -> None:
    """QLoRA needs bitsandbytes and a CUDA GPU; say so in one line instead of a bitsandbytes traceback."""
    import torch

    kbit = "load_in_4bit" if model.load_in_4bit else "load_in_8bit" if model.load_in_8bit else None
    if kbit is None:
        return
    if importlib.util.find_spec("bitsandbytes") is None:
        raise UsageError(f"{kbit} (QLoRA) needs bitsandbytes: `pip install bitsandbytes` on a CUDA GPU machine, "
                         f"or set {kbit}: false to train plain LoRA")
    if not torch.cuda.is_available():
        raise UsageError(f"{kbit} (QLoRA) needs a CUDA GPU and this machine has none: run on a GPU, or set "
                         f"{kbit}: false to train plain LoRA")


def _override_keys(overrides: Sequence[str]) -> list[str]:
    return [item[2:].split("=", 1)[0].replace("-", "_") for item in overrides if item.startswith("--")]


def _unknown_keys_message(path: Path, rest: Sequence[str], parser) -> str:
    known = [action.dest for action in parser._actions]
    unknown = [item[2:].split("=", 1)[0] for item in rest if item.startswith("--")] or list(rest)
    hints = []
    for key in unknown:
        close = difflib.get_close_matches(key.replace("-", "_"), known, n=1)
        hints.append(f"{key} (did you mean {close[0]}?)" if close else key)
    return (f"recipe {path}: unknown key(s) {', '.join(hints)}: a recipe takes the keys of `trl sft` (ScriptArguments, "
            f"SFTConfig, ModelConfig, DatasetMixtureConfig) plus {', '.join(f.name for f in fields(HalaArguments))}")


def _plain(value: Any) -> Any:
    """A JSON/YAML-safe copy of a parsed value (enums become their values)."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def work_dir_for(output: Path) -> Path:
    return output.parent / f"{output.name}.checkpoints"


def _step(checkpoint: Path) -> int:
    try:
        return int(checkpoint.name.rsplit("-", 1)[1])
    except (IndexError, ValueError):
        return -1


def prepare_work_dir(work: Path, fingerprint: str) -> Path | None:
    """Create or reopen the work folder; return the last complete checkpoint to resume from, if any.

    A checkpoint is complete once `trainer_state.json` is written (transformers writes it last); newer incomplete
    ones, left by a kill mid-save, are removed so they cannot be picked up later, and so are complete ones whose
    files no longer match their manifest (checkpoints.py).
    """
    state_file = work / WORK_STATE_FILE
    if work.exists():
        saved = json.loads(state_file.read_text(encoding="utf-8")) if state_file.exists() else None
        if saved is None and any(work.iterdir()):
            raise HalaError(f"{work} exists but was not made by `hala-release train`: move it away or choose "
                            f"another output_dir")
        if saved is not None and saved.get("fingerprint") != fingerprint:
            raise HalaError(f"{work} holds checkpoints of a different recipe or different inputs: rerun the exact "
                            f"command that made them to resume, or delete {work} to start over")
    work.mkdir(parents=True, exist_ok=True)
    state_file.write_text(json.dumps({"fingerprint": fingerprint}) + "\n", encoding="utf-8")
    checkpoints = sorted((p for p in work.glob("checkpoint-*") if p.is_dir() and _step(p) >= 0), key=_step)
    complete = [p for p in checkpoints if (p / "trainer_state.json").exists()]
    while complete and (problem := damage_in(complete[-1])):
        log.warning("checkpoint %s is damaged (%s): removed, resuming from the one before", complete[-1], problem)
        shutil.rmtree(complete.pop())
    last = complete[-1] if complete else None
    for partial in checkpoints:
        if partial not in complete and (last is None or _step(partial) > _step(last)):
            log.warning("removing incomplete checkpoint %s (the run was stopped while saving it)", partial)
            shutil.rmtree(partial, ignore_errors=True)
    return last


def load_chat_split(source: "ResolvedRef", split: str, column: str, limit: int | None = None,
                    subset: str | None = None):
    """One split of a chat dataset as a single `messages` column of {role, content} turns.

    Loaded through `chunked.load_split`, whose Arrow cache is keyed on the input's pin: a rebuilt dataset folder
    of the same name is never served from a stale cache. `subset` is the recipe's `dataset_config`.
    """
    from hala_release.executors.chunks import load_split

    ref_text = source.ref.text
    try:
        dataset = load_split(source, split, subset)
    except HalaError as err:
        if str(err).startswith("cannot load split"):
            raise HalaError(f"dataset {ref_text} has no split {split!r} (dataset_config {subset!r}): set "
                            f"dataset_train_split / dataset_test_split / dataset_config in the recipe") from None
        if str(err).endswith("has no rows"):
            raise HalaError(f"split {split!r} of dataset {ref_text} is empty: nothing to train on") from None
        raise
    return chat_rows(dataset, column, ref_text, limit)


def chat_rows(dataset, column: str, ref_text: str, limit: int | None = None):
    """The dataset's chat column as `messages` of {role, content} turns (ShareGPT from/value converted)."""
    if column == "messages" and column not in dataset.column_names and "conversations" in dataset.column_names:
        column = "conversations"  # TRL's own fallback (maybe_convert_to_chatml)
    if column not in dataset.column_names:
        raise HalaError(f"column {column!r} not in dataset {ref_text}: found {', '.join(dataset.column_names)}; "
                        f"set messages_column to the column holding the chat turns (a list of role/content "
                        f"messages), e.g. the `messages` column `hala-release mix` writes")
    dataset = dataset.select_columns([column])
    if limit is not None:
        dataset = dataset.select(range(min(limit, len(dataset))))
    turns = dataset[0][column]
    if not isinstance(turns, list) or not turns or not isinstance(turns[0], dict):
        raise HalaError(f"column {column!r} of dataset {ref_text} does not hold chat turns (a list of "
                        f"{{role, content}} messages): set messages_column to the right column")
    layout = turn_layout(turns[0])
    if layout == "messages":
        return dataset.rename_column(column, "messages") if column != "messages" else dataset
    if layout is None:
        raise HalaError(f"column {column!r} of dataset {ref_text} holds turns with keys {sorted(turns[0])}: "
                        f"expected role/content (chat messages) or from/value (ShareGPT)")
    return dataset.map(lambda row: {"messages": _sharegpt_messages(row[column], ref_text)},
                       remove_columns=[column], desc="ShareGPT turns -> messages")


def load_mixture(mixture, refs: dict[str, ResolvedRef]):
    """A `datasets:` mixture through TRL's own `get_dataset`, each entry's path replaced by its pinned folder."""
    from trl import get_dataset

    pinned = copy.deepcopy(mixture)
    for entry, source in zip(pinned.datasets, refs.values()):
        entry.path = str(source.path)
    try:
        return get_dataset(pinned)
    except ValueError as err:
        raise HalaError(f"dataset mixture: {str(err).splitlines()[0]}; check the `datasets:` entries") from None


def dataset_refs(spec: Recipe) -> dict[str, ResolvedRef]:
    """The recipe's datasets, resolved and pinned: `dataset`, or `dataset-1`, `dataset-2`, ... for a mixture."""
    if spec.mixture.datasets:  # as `trl sft`: a mixture wins over dataset_name
        if spec.script.dataset_name:
            log.warning("both `datasets` and `dataset_name` are set: the `datasets` mixture is used, as trl sft does")
        return {f"dataset-{i}": resolve(entry.path, "dataset") for i, entry in enumerate(spec.mixture.datasets, 1)}
    return {"dataset": resolve(spec.script.dataset_name, "dataset")}


def load_splits(spec: Recipe, refs: dict[str, ResolvedRef], evaluate: bool):
    """The train split and, when the run evaluates, the test split, both as `messages` chat rows."""
    script, args = spec.script, spec.args
    if not spec.mixture.datasets:
        source = refs["dataset"]
        train = load_chat_split(source, script.dataset_train_split, args.messages_column, args.max_train_samples,
                                script.dataset_config)
        test = (load_chat_split(source, script.dataset_test_split, args.messages_column,
                                subset=script.dataset_config) if evaluate else None)
        return train, test
    splits = load_mixture(spec.mixture, refs)
    name = "the `datasets` mixture"
    for split in [script.dataset_train_split] + ([script.dataset_test_split] if evaluate else []):
        if split not in splits:
            raise HalaError(f"{name} has no split {split!r} (it has {', '.join(splits)}): set dataset_train_split / "
                            f"dataset_test_split, or test_split_size for a test split")
    train = chat_rows(splits[script.dataset_train_split], args.messages_column, name, args.max_train_samples)
    test = chat_rows(splits[script.dataset_test_split], args.messages_column, name) if evaluate else None
    return train, test


def _sharegpt_messages(turns: list[dict], ref_text: str) -> list[dict]:
    try:
        return to_messages(turns)
    except TurnError as err:
        raise HalaError(f"dataset {ref_text} has {err}") from None


@dataclass
class TrainOutcome:
    """What a finished run reports back (the artifact folder, and figures for the summary line)."""

    output: Path
    global_step: int
    final_loss: float | None
    resumed_from_step: int | None
    seconds: float
    adapter: bool = False
    hub_revision: str = "main"  # the branch --push-to-hub publishes to (hub_model_revision)

    @property
    def summary(self) -> str:
        """The one line the CLI ends with: steps, loss, time and where the artifact is."""
        resumed = f", resumed from step {self.resumed_from_step}" if self.resumed_from_step is not None else ""
        what = "LoRA adapter" if self.adapter else "model"
        return (f"trained to step {self.global_step} in {self.seconds:.1f} s{resumed}; final train loss "
                f"{self.final_loss}; {what} written to {self.output}")


def run_train(config: TrainConfig) -> TrainOutcome:
    """Train from the config's recipe file with its `--key=value` overrides."""
    return train_model(config.recipe, config.overrides)


def train_model(recipe: Path | str, overrides: Sequence[str] = ()) -> TrainOutcome:
    """Run a training recipe to completion (resuming if a checkpoint exists) and write the model or adapter."""
    from accelerate import PartialState

    started = time.perf_counter()
    spec = load_recipe(recipe, overrides)
    args, model_args = spec.args, spec.model
    adapter = bool(model_args.use_peft)
    _check_kbit_machine(model_args)
    state = PartialState()
    output = prepare_output(spec.sft.output_dir, args.overwrite, what="output_dir", fix="--overwrite=true",
                            option="output_dir")
    model_text = spec.model_ref
    model_r = resolve(model_text, "model")
    data_rs = dataset_refs(spec)
    model_cfg = read_config(model_r.path, model_text)
    quant = quantization_of(model_cfg)
    if quant:
        raise HalaError(f"{model_text} is quantized ({describe_quantization(quant)}): training needs the "
                        f"unquantized weights; train the original checkpoint (with load_in_4bit for QLoRA) and "
                        f"quantize afterwards")
    require_safetensors(model_r.path, model_text)

    stage_config = {"recipe_file": spec.path.name, "overrides": spec.overrides, "recipe": spec.effective}
    fingerprint = config_hash({"recipe": spec.effective, "model_pin": model_r.pin,
                               "dataset_pins": [r.pin for r in data_rs.values()]})
    work = work_dir_for(output)
    with state.main_process_first():
        resume = prepare_work_dir(work, fingerprint)

    # As `trl sft`, the test split is read when the run evaluates; a recipe naming dataset_test_split also gets
    # one evaluation at the end (its loss goes into the card).
    evaluate = spec.sft.eval_strategy != "no" or "dataset_test_split" in spec.effective
    train_ds, eval_ds = load_splits(spec, data_rs, evaluate)
    sft = spec.sft_with_output_dir(work)
    sft.model_init_kwargs = _model_init_kwargs(sft, model_args)
    sft.chat_template_path = _chat_template_file(sft.chat_template_path, spec.path)
    trainer, eval_metrics, seconds = _run_trainer(sft, model_args, model_r, train_ds, eval_ds, resume)
    final_dir = work / "final"
    trainer.save_model(str(final_dir))
    trainer.accelerator.wait_for_everyone()
    resumed_step = _step(resume) if resume else None
    figures = _figures(trainer, eval_metrics)
    outcome = TrainOutcome(output, trainer.state.global_step, figures.get("final_train_loss"), resumed_step, seconds,
                           adapter=adapter, hub_revision=args.hub_model_revision)
    if not trainer.is_world_process_zero():
        return outcome

    inputs = {"model": model_r, **data_rs}
    card = _card(spec, output, model_text, model_r, data_rs, sft)
    with build_artifact(output, stage="train", config=stage_config, card=card, inputs=inputs,
                        overwrite=args.overwrite, started=started) as draft:
        for item in final_dir.iterdir():
            if item.is_file() and item.name != "README.md":  # TRL's card is not the one we publish
                shutil.copy2(item, draft.path / item.name)
        remove_pickles(draft.path)  # training_args.bin: the recipe below says the same, without pickle
        if adapter:
            _point_adapter_at_base(draft.path, model_text, model_r)
        _write_recipe(draft.path / RECIPE_FILE, spec.effective)
        draft.timings["train"] = round(seconds, 3)
        draft.stats.update(figures, train_rows=len(train_ds), eval_rows=len(eval_ds) if eval_ds is not None else 0,
                           resumed_from_step=resumed_step, world_size=sft.world_size,
                           effective_batch_size=_effective_batch(sft))
        card.sections.append(CardSection(title="Training", markdown=_training_markdown(sft, spec, figures,
                                                                                      resumed_step, seconds)))
    if not args.keep_checkpoints:
        shutil.rmtree(work, ignore_errors=True)
    return outcome


def _model_init_kwargs(sft, model_args) -> dict[str, Any]:
    """`trl sft`'s model_init_kwargs (ModelConfig's dtype and attention, SFTConfig's trust_remote_code, then the
    recipe's own model_init_kwargs on top), loading safetensors only. No `revision`: the path is the pinned snapshot."""
    kwargs = {"trust_remote_code": sft.trust_remote_code, "attn_implementation": model_args.attn_implementation,
              "dtype": model_args.dtype}
    kwargs.update(sft.model_init_kwargs or {})
    kwargs.pop("revision", None)
    return {**kwargs, "use_safetensors": True}


def _card(spec: Recipe, output: Path, model_text: str, model_r: ResolvedRef, data_rs: dict[str, ResolvedRef],
          sft) -> CardFacts:
    """The card's facts: a fine-tune of its base, or with use_peft an adapter of it (library `peft`)."""
    args, model_args = spec.args, spec.model
    adapter = bool(model_args.use_peft)
    links = ", ".join(f"[{r.ref.text}]({hub_link(r)})" for r in data_rs.values())
    where = (f"the `datasets` mixture of {links}" if spec.mixture.datasets else
             f"{links} (split `{spec.script.dataset_train_split}`)")
    loss = ", loss on assistant turns only" if sft.assistant_only_loss else ""
    what = (f"A LoRA adapter (r={model_args.lora_r}, alpha={model_args.lora_alpha}) for [{model_text}]"
            f"({hub_link(model_r)}), trained" if adapter else f"[{model_text}]({hub_link(model_r)}) fine-tuned")
    languages = args.language or next((langs for r in data_rs.values() if (langs := input_languages(r))), None) \
        or input_languages(model_r)
    base_ids = hub_parents(model_r)
    datasets = list(dict.fromkeys(repo for r in data_rs.values() for repo in hub_parents(r)))
    tags = ["sft", "trl", *(["lora", "peft"] if adapter else []),
            *(["assistant-only-loss"] if sft.assistant_only_loss else [])]
    return CardFacts(
        kind="model",
        title=display_name(str(output)),
        summary=f"{what} with TRL's SFTTrainer on {where} in chat format{loss}, with the recipe "
                f"`{spec.path.name}` embedded below."
                + (" Load it with `peft.PeftModel.from_pretrained(base_model, this_repo)`, or fold it into the base "
                   "with `hala-release merge`." if adapter else ""),
        language=languages,
        **license_fields(carried_license({model_text: model_r, **{r.ref.text: r for r in data_rs.values()}})),
        tags=tags,
        base_model=base_ids,
        base_model_relation=("adapter" if adapter else "finetune") if base_ids else None,
        datasets=datasets, library_name="peft" if adapter else "transformers", pipeline_tag="text-generation",
    )


def _chat_template_file(value: str | None, recipe: Path) -> str | None:
    """A template file path as `trl sft` reads it (from the working folder), else beside the recipe; a missing
    .jinja file is a one-line error rather than TRL taking it for a Hub model id."""
    if not value or not value.endswith((".jinja", ".j2")) or Path(value).is_file():
        return value
    beside = recipe.parent / Path(value).name
    if beside.is_file():
        return str(beside)
    raise UsageError(f"chat_template_path {value} not found (from {Path.cwd()} or beside {recipe.name}): run from "
                     f"the folder the recipe's paths are relative to, or fix the path")


def _point_adapter_at_base(folder: Path, model_text: str, model_r: ResolvedRef) -> None:
    """PEFT records the folder it loaded the base from (here a cache snapshot); record the Hub id at its pinned
    commit instead, or the local base's absolute folder, so the adapter (and `merge`) find the base from anywhere."""
    path = folder / "adapter_config.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    if model_r.hub_id:
        config["base_model_name_or_path"], config["revision"] = model_r.hub_id, model_r.pin
    else:
        config["base_model_name_or_path"] = str(model_r.path)
    path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")


class _ProgressLines:
    """A TrainerCallback (built lazily: transformers is heavy) logging one line per logging step."""

    @staticmethod
    def make():
        from transformers import TrainerCallback

        class ProgressLines(TrainerCallback):
            def on_train_begin(self, args, state, control, **kwargs):
                self.started = time.perf_counter()

            def on_log(self, args, state, control, logs=None, **kwargs):
                if state.is_world_process_zero and logs and "loss" in logs:
                    elapsed = time.perf_counter() - getattr(self, "started", time.perf_counter())
                    log.info("step %d/%d: loss %.4f (%.1f s)", state.global_step, state.max_steps, logs["loss"],
                             elapsed)

        return ProgressLines()


def _run_trainer(sft, model_args, model_r, train_ds, eval_ds, resume: Path | None):
    import torch
    from trl import SFTTrainer, get_peft_config, get_quantization_config

    try:
        trainer = SFTTrainer(model=str(model_r.path), args=sft, train_dataset=train_ds, eval_dataset=eval_ds,
                             quantization_config=get_quantization_config(model_args),
                             peft_config=get_peft_config(model_args),
                             callbacks=[_ProgressLines.make(), checksum_callback()])
    except ValueError as err:  # e.g. assistant_only_loss with a chat template TRL cannot patch
        raise HalaError(f"TRL refused the training setup: {str(err).splitlines()[0]}") from None
    start = time.perf_counter()
    if resume is not None:
        log.info("resuming from %s", resume)
    with torch.enable_grad():  # other libraries in the same process may have switched autograd off (lighteval does)
        trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    eval_metrics = trainer.evaluate() if eval_ds is not None else {}
    return trainer, eval_metrics, time.perf_counter() - start


def _figures(trainer, eval_metrics: dict) -> dict[str, Any]:
    """Final losses from the trainer's log history (restored from the checkpoint on resume, so it spans the run)."""
    history = trainer.state.log_history
    losses = [entry["loss"] for entry in history if "loss" in entry]
    tokens = [entry["num_tokens"] for entry in history if "num_tokens" in entry]
    figures: dict[str, Any] = {
        "global_step": trainer.state.global_step,
        "epochs": round(float(trainer.state.epoch or 0), 4),
        "final_train_loss": round(float(losses[-1]), 6) if losses else None,
        "mean_logged_train_loss": round(sum(losses) / len(losses), 6) if losses else None,
        "logged_loss_steps": len(losses),
        "train_tokens": int(tokens[-1]) if tokens else None,
    }
    if eval_metrics.get("eval_loss") is not None and math.isfinite(eval_metrics["eval_loss"]):
        figures["final_eval_loss"] = round(float(eval_metrics["eval_loss"]), 6)
    return figures


def _effective_batch(sft) -> int:
    return sft.per_device_train_batch_size * sft.gradient_accumulation_steps * max(sft.world_size, 1)


def _write_recipe(path: Path, effective: dict[str, Any]) -> None:
    import yaml

    header = "# The effective recipe this model was trained with (recipe file + command-line overrides).\n"
    path.write_text(header + yaml.safe_dump(effective, sort_keys=False, allow_unicode=True), encoding="utf-8")


def _training_markdown(sft, spec: Recipe, figures: dict[str, Any], resumed_step: int | None, seconds: float) -> str:
    from importlib.metadata import version

    rows = ["| hyperparameter | value |", "|---|---|"]
    for name in CARD_HYPERPARAMETERS:
        rows.append(f"| {name} | {_plain(getattr(sft, name, None))} |")
    if spec.model.use_peft:
        rows.extend(f"| {name} | {_plain(getattr(spec.model, name, None))} |" for name in CARD_LORA)
    rows.append(f"| effective batch size | {_effective_batch(sft)} (per device x accumulation x {sft.world_size} "
                f"process(es)) |")
    results = ["| result | value |", "|---|---|",
               f"| steps | {figures['global_step']} ({figures['epochs']} epochs) |",
               f"| final train loss | {figures['final_train_loss']} |",
               f"| mean logged train loss | {figures['mean_logged_train_loss']} ({figures['logged_loss_steps']} "
               f"logged steps) |"]
    if "final_eval_loss" in figures:
        results.append(f"| final eval loss | {figures['final_eval_loss']} |")
    resumed = f"resumed from step {resumed_step}" if resumed_step is not None else "one uninterrupted run"
    results.append(f"| wall time of the last run | {seconds:.1f} s ({resumed}) |")
    overrides = " ".join(f"`{o}`" for o in spec.overrides) or "none"
    return "\n".join([
        f"TRL {version('trl')}, transformers {version('transformers')}. Recipe `{spec.path.name}`, command-line "
        f"overrides: {overrides}. The effective recipe is saved beside the weights as `{RECIPE_FILE}` and shown "
        f"under Exact configuration.", "", *rows, "", *results])

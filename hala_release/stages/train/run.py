"""train: supervised fine-tuning with TRL's SFTTrainer, driven by a YAML recipe.

A recipe is a flat YAML mapping in the alignment-handbook / open-r1 style: TRL `SFTConfig` fields plus a few keys
of ours (`RecipeArguments`: which model and dataset refs, which split and chat column). `--key=value` after the
recipe overrides any of them, parsed by TRL's own `TrlParser`, so types and field names are TRL's.

`output_dir` is the artifact folder. Checkpoints go to a work folder beside it (`<output_dir>.checkpoints`) and
the artifact is moved into place only when training completes, so a half-trained model is never mistaken for a
finished one. Rerunning the same command resumes from the last complete checkpoint there; a different recipe or
different inputs are refused rather than silently mixed. TRL writes its own README into checkpoints; the artifact
gets our card instead (TRL's lacks `language`/`license`).

Multi-GPU: run the same command under `accelerate launch` (see recipes/README.md); only the main process
writes the artifact.
"""

from __future__ import annotations

import argparse
import difflib
import enum
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
from hala_release.core.refs import ResolvedRef, resolve
from hala_release.stages.train.config import TrainConfig

log = logging.getLogger(__name__)

RECIPE_FILE = "train_recipe.yaml"
WORK_STATE_FILE = "hala_train_state.json"
# SFTConfig fields shown in the card's hyperparameter table, in this order.
CARD_HYPERPARAMETERS = ("learning_rate", "lr_scheduler_type", "warmup_steps", "num_train_epochs",
                        "max_steps", "per_device_train_batch_size", "gradient_accumulation_steps", "max_length",
                        "packing", "assistant_only_loss", "loss_type", "optim", "weight_decay", "max_grad_norm",
                        "bf16", "gradient_checkpointing", "seed")


@dataclass
class RecipeArguments:
    """hala-release's own recipe keys; every other key is a TRL `SFTConfig` field (`output_dir` is the artifact)."""

    model_name_or_path: str | None = field(default=None, metadata={
        "help": "Base model ref: org/name[@revision] or a local folder."})
    dataset_name: str | None = field(default=None, metadata={
        "help": "Chat-format dataset ref: hf://datasets/org/name[@revision], org/name or a local folder."})
    dataset_train_split: str = field(default="train", metadata={"help": "Split to train on."})
    dataset_test_split: str | None = field(default=None, metadata={
        "help": "Optional split to evaluate on at the end; its loss goes into the card."})
    messages_column: str = field(default="messages", metadata={
        "help": "Column with the chat turns: [{role, content}] or ShareGPT [{from, value}]."})
    max_train_samples: int | None = field(default=None, metadata={"help": "Train on the first N rows only."})
    language: list[str] | None = field(default=None, metadata={
        "help": "Card languages; default: the dataset card's, else the model card's."})
    keep_checkpoints: bool = field(default=False, metadata={
        "help": "Keep the <output_dir>.checkpoints work folder after training completes."})
    overwrite: bool = field(default=False, metadata={"help": "Replace an existing artifact at output_dir."})


@dataclass
class Recipe:
    """A parsed recipe: our keys, TRL's config, and the effective values of every key that was set."""

    path: Path
    args: RecipeArguments
    sft: Any  # trl.SFTConfig
    effective: dict[str, Any]
    overrides: list[str]
    parser: Any

    def sft_with_output_dir(self, output_dir: Path):
        """The same SFTConfig, parsed again with the trainer writing to `output_dir` (the work folder)."""
        parsed = self.parser.parse_args_and_config(
            ["--config", str(self.path), *self.overrides, f"--output_dir={output_dir}"], return_remaining_strings=True)
        return parsed[1]


def load_recipe(recipe: Path | str, overrides: Sequence[str] = ()) -> Recipe:
    """Parse a recipe YAML plus `--key=value` overrides into our arguments and a TRL SFTConfig."""
    import yaml
    from trl import SFTConfig, TrlParser

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
    parser = TrlParser([RecipeArguments, SFTConfig], exit_on_error=False, allow_abbrev=False)
    try:
        args, sft, rest = parser.parse_args_and_config(["--config", str(path), *overrides],
                                                       return_remaining_strings=True)
    except ValueError as err:
        hint = (" (on a machine without a GPU pass --bf16=false --use_cpu=true, as the tiny recipes do)"
                if "bf16" in str(err) or "use_cpu" in str(err) else "")
        raise UsageError(f"recipe {path}: {err}{hint}") from None
    except (argparse.ArgumentError, TypeError) as err:
        raise UsageError(f"recipe {path}: {err}") from None
    if rest:
        raise UsageError(_unknown_keys_message(path, rest, parser))
    # The recipe as written, with each overridden key replaced by its parsed value (post-init rewrites such as
    # report_to "none" -> [] are not applied to keys the YAML set).
    effective = {key: _plain(value) for key, value in raw.items() if key != "env"}
    for key in _override_keys(overrides):
        effective[key] = _plain(getattr(args, key, getattr(sft, key, None)))
    if not args.model_name_or_path or not args.dataset_name:
        missing = "model_name_or_path" if not args.model_name_or_path else "dataset_name"
        raise UsageError(f"recipe {path} sets no {missing}: add it to the recipe or pass --{missing}=REF")
    if "output_dir" not in effective:
        raise UsageError(f"recipe {path} sets no output_dir (the artifact folder): add it or pass --output_dir=DIR")
    if sft.push_to_hub:
        raise UsageError("push_to_hub in the recipe would publish TRL's own card and checkpoints: remove it and "
                         "pass --push-to-hub REPO_ID to `hala-release train` to publish the finished artifact")
    return Recipe(path=path, args=args, sft=sft, effective=effective, overrides=overrides, parser=parser)


def _override_keys(overrides: Sequence[str]) -> list[str]:
    return [item[2:].split("=", 1)[0].replace("-", "_") for item in overrides if item.startswith("--")]


def _unknown_keys_message(path: Path, rest: Sequence[str], parser) -> str:
    known = [action.dest for action in parser._actions]
    unknown = [item[2:].split("=", 1)[0] for item in rest if item.startswith("--")] or list(rest)
    hints = []
    for key in unknown:
        close = difflib.get_close_matches(key.replace("-", "_"), known, n=1)
        hints.append(f"{key} (did you mean {close[0]}?)" if close else key)
    return (f"recipe {path}: unknown key(s) {', '.join(hints)}: a recipe takes TRL SFTConfig fields plus "
            f"{', '.join(f.name for f in fields(RecipeArguments))}")


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
    ones, left by a kill mid-save, are removed so they cannot be picked up later.
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
    last = complete[-1] if complete else None
    for partial in checkpoints:
        if partial not in complete and (last is None or _step(partial) > _step(last)):
            log.warning("removing incomplete checkpoint %s (the run was stopped while saving it)", partial)
            shutil.rmtree(partial, ignore_errors=True)
    return last


def load_chat_split(source: "ResolvedRef", split: str, column: str, limit: int | None = None):
    """One split of a chat dataset as a single `messages` column of {role, content} turns.

    Loaded through `chunked.load_split`, whose Arrow cache is keyed on the input's pin: a rebuilt dataset folder
    of the same name is never served from a stale cache.
    """
    from hala_release.executors.chunks import load_split

    ref_text = source.ref.text
    try:
        dataset = load_split(source, split)
    except HalaError as err:
        if str(err).startswith("cannot load split"):
            raise HalaError(f"dataset {ref_text} has no split {split!r}: set dataset_train_split / "
                            f"dataset_test_split in the recipe") from None
        if str(err).endswith("has no rows"):
            raise HalaError(f"split {split!r} of dataset {ref_text} is empty: nothing to train on") from None
        raise
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


def run_train(config: TrainConfig) -> TrainOutcome:
    """Train from the config's recipe file with its `--key=value` overrides."""
    return train_model(config.recipe, config.overrides)


def train_model(recipe: Path | str, overrides: Sequence[str] = ()) -> TrainOutcome:
    """Run a training recipe to completion (resuming if a checkpoint exists) and write the model artifact."""
    from accelerate import PartialState

    started = time.perf_counter()
    spec = load_recipe(recipe, overrides)
    args = spec.args
    state = PartialState()
    output = prepare_output(spec.sft.output_dir, args.overwrite, what="output_dir", fix="--overwrite=true",
                            option="output_dir")
    model_r = resolve(args.model_name_or_path, "model")
    dataset_r = resolve(args.dataset_name, "dataset")
    model_cfg = read_config(model_r.path, args.model_name_or_path)
    quant = quantization_of(model_cfg)
    if quant:
        raise HalaError(f"{args.model_name_or_path} is quantized ({describe_quantization(quant)}): full fine-tuning "
                        f"needs the unquantized weights; train the original checkpoint and quantize afterwards")
    require_safetensors(model_r.path, args.model_name_or_path)

    stage_config = {"recipe_file": spec.path.name, "overrides": spec.overrides, "recipe": spec.effective}
    fingerprint = config_hash({"recipe": spec.effective, "model_pin": model_r.pin, "dataset_pin": dataset_r.pin})
    work = work_dir_for(output)
    with state.main_process_first():
        resume = prepare_work_dir(work, fingerprint)

    train_ds = load_chat_split(dataset_r, args.dataset_train_split, args.messages_column,
                               args.max_train_samples)
    eval_ds = (load_chat_split(dataset_r, args.dataset_test_split, args.messages_column)
               if args.dataset_test_split else None)
    sft = spec.sft_with_output_dir(work)
    sft.model_init_kwargs = {**(sft.model_init_kwargs or {}), "use_safetensors": True}
    trainer, eval_metrics, seconds = _run_trainer(sft, model_r, train_ds, eval_ds, resume)
    final_dir = work / "final"
    trainer.save_model(str(final_dir))
    trainer.accelerator.wait_for_everyone()
    resumed_step = _step(resume) if resume else None
    figures = _figures(trainer, eval_metrics)
    if not trainer.is_world_process_zero():
        return TrainOutcome(output, trainer.state.global_step, figures.get("final_train_loss"), resumed_step, seconds)

    languages = args.language or input_languages(dataset_r) or input_languages(model_r)
    base_ids = hub_parents(model_r)
    card = CardFacts(
        kind="model",
        title=display_name(str(output)),
        summary=(f"[{args.model_name_or_path}]({hub_link(model_r)}) fine-tuned with TRL's SFTTrainer on "
                 f"[{args.dataset_name}]({hub_link(dataset_r)}) (split `{args.dataset_train_split}`, chat "
                 f"format{', loss on assistant turns only' if sft.assistant_only_loss else ''}), with the recipe "
                 f"`{spec.path.name}` embedded below."),
        language=languages,
        **license_fields(carried_license({args.model_name_or_path: model_r, args.dataset_name: dataset_r})),
        tags=["sft", "trl", *(["assistant-only-loss"] if sft.assistant_only_loss else [])],
        base_model=base_ids, base_model_relation="finetune" if base_ids else None,
        datasets=hub_parents(dataset_r), library_name="transformers", pipeline_tag="text-generation",
    )
    with build_artifact(output, stage="train", config=stage_config, card=card,
                        inputs={"model": model_r, "dataset": dataset_r}, overwrite=args.overwrite,
                        started=started) as draft:
        for item in final_dir.iterdir():
            if item.is_file() and item.name != "README.md":  # TRL's card is not the one we publish
                shutil.copy2(item, draft.path / item.name)
        remove_pickles(draft.path)  # training_args.bin: the recipe below says the same, without pickle
        _write_recipe(draft.path / RECIPE_FILE, spec.effective)
        draft.timings["train"] = round(seconds, 3)
        draft.stats.update(figures, train_rows=len(train_ds), eval_rows=len(eval_ds) if eval_ds is not None else 0,
                           resumed_from_step=resumed_step, world_size=sft.world_size,
                           effective_batch_size=_effective_batch(sft))
        card.sections.append(CardSection(title="Training", markdown=_training_markdown(sft, spec, figures,
                                                                                      resumed_step, seconds)))
    if not args.keep_checkpoints:
        shutil.rmtree(work, ignore_errors=True)
    return TrainOutcome(output, trainer.state.global_step, figures.get("final_train_loss"), resumed_step, seconds)


def _run_trainer(sft, model_r, train_ds, eval_ds, resume: Path | None):
    import torch
    from trl import SFTTrainer

    try:
        trainer = SFTTrainer(model=str(model_r.path), args=sft, train_dataset=train_ds, eval_dataset=eval_ds)
    except ValueError as err:  # e.g. assistant_only_loss with a chat template TRL cannot patch
        raise HalaError(f"TRL refused the training setup: {err}") from None
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

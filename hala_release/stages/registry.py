"""Stage kinds for `pipeline run`: what each `uses:` value means, how its `with:` options are checked, and how it
runs. Each kind wraps a stage's own Python API or config model, so the pipeline never duplicates their options.
"""

from __future__ import annotations

import datetime as dt
import inspect
import json
import os
import shutil
import typing
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from pydantic import BaseModel, ConfigDict, create_model

from hala_release.core.errors import HalaError, UsageError

# Options the pipeline sets itself (where the artifact goes, replacing it, publishing) or that split one stage
# across separate jobs, which a pipeline run does not do.
RESERVED = {"output": "the pipeline writes each stage to OUTPUT_DIR/STAGE",
            "output_dir": "the pipeline writes each stage to OUTPUT_DIR/STAGE",
            "overwrite": "the pipeline replaces an artifact only when its stage must rerun",
            "push_to_hub": "pass --push-to-hub ORG to `pipeline run`",
            "results_repo": "pass --push-to-hub ORG to `pipeline run`",
            "num_shards": "a pipeline run does every chunk itself (use workers or executor: ray)",
            "shard_index": "a pipeline run does every chunk itself (use workers or executor: ray)",
            "update_model_card": "it would change the evaluated model after its pin was recorded",
            "token": "log in with `hf auth login` or set HF_TOKEN"}


# ---------------------------------------------------------------------------------------------------- stage kinds

@dataclass(frozen=True)
class StageKind:
    """What a `uses:` value means: the artifact it makes, the `with:` keys that read artifacts, how to run it."""

    name: str
    artifact: str  # model | dataset | space
    about: str
    refs: dict[str, str]  # with-key -> repo type it reads
    check: Callable[[dict[str, Any]], None]  # validates `with:` (references replaced by placeholders)
    run: Callable[[dict[str, Any], Path, bool], dict[str, Any]]
    files: dict[str, bool] = field(default_factory=dict)  # with-keys naming recipe files -> required to exist
    resumes: bool = False


def _signature_model(func: Callable, skip: set[str]) -> type[BaseModel]:
    """A pydantic model of a stage function's keyword options, so `with:` is checked against the real API."""
    try:
        hints = typing.get_type_hints(func)
    except Exception:  # a hint only importable under TYPE_CHECKING: fall back to no type checks
        hints = {}
    fields: dict[str, Any] = {}
    for name, param in inspect.signature(func).parameters.items():
        if name in skip or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[name] = (hints.get(name, Any), default)
    return create_model(f"{func.__name__}_options", __config__=ConfigDict(extra="forbid",
                                                                           arbitrary_types_allowed=True), **fields)


def _function_kind(name: str, artifact: str, about: str, loader: Callable[[], Callable], refs: dict[str, str],
                   call: Callable[[Callable, dict, Path, bool], dict], **extra) -> StageKind:
    def options_model():
        return _signature_model(loader(), set(RESERVED))

    def check(values):
        options_model().model_validate(values)

    def run(values, output, overwrite):
        options = options_model().model_validate(values).model_dump(exclude_unset=True)
        return call(loader(), options, output, overwrite)

    return StageKind(name, artifact, about, refs, check, run, **extra)


def _config_kind(name: str, about: str, loader: Callable[[], tuple[type[BaseModel], Callable]],
                 refs: dict[str, str], summarize: Callable[[dict], dict], **extra) -> StageKind:
    """Stages driven by a pydantic config (translate, judge, mix, chat-mix): `with:` is that config minus the output."""

    def check(values):
        config_cls, _ = loader()
        config_cls.model_validate({**values, "output": "placeholder"})

    def run(values, output, overwrite):
        config_cls, runner = loader()
        summary = runner(config_cls.model_validate({**values, "output": str(output), "overwrite": overwrite}))
        if summary.get("status", "complete") != "complete":
            raise HalaError(f"the stage stopped with {summary.get('chunks_done')} of {summary.get('chunks')} chunks "
                            f"done; run the same command again to finish them")
        return summarize(summary)

    return StageKind(name, "dataset", about, refs, check, run, **extra)


def _tiny(func, options, output, overwrite):
    func(output, overwrite=overwrite, **options)
    return {"note": f"tiny {options.get('arch', 'lfm2')} model"}


def _sample(func, options, output, overwrite):
    func(options["name"], output, overwrite=overwrite)
    return {"note": f"sample {options['name']}"}


def _quantize(func, options, output, overwrite):
    from hala_release.core.provenance import read_provenance

    func(options.pop("model"), output, overwrite=overwrite, **options)
    stats = read_provenance(output).stats
    agreement = stats.get("top1_agreement")
    return {"note": f"top-1 agreement with the original {agreement:.1%}" if agreement is not None else ""}


def _merge(func, options, output, overwrite):
    func(options.pop("base"), options.pop("tuned"), output, overwrite=overwrite, **options)
    return {"note": f"{options.get('method', 'slerp')} t = {options.get('t', 0.5)}"}


def _eval(func, options, output, overwrite):
    outcome = func(options.pop("model"), output=output, overwrite=overwrite, **options)
    average = outcome.summary.get("average") or {}
    value = average.get("value")
    return {"note": f"average {100 * value:.2f}" if value is not None else ""}


def _translate_summary(summary):
    return {"note": f"{summary['rows_ok']:,} of {summary['rows']:,} rows passed, {summary['generated_tokens']:,} "
                    f"tokens generated", "resumed": summary["chunks_this_run"] < summary["chunks"]}


def _judge_summary(summary):
    return {"note": f"kept {summary['counts']['kept']:,} of {summary['rows']:,} pairs",
            "resumed": summary["chunks_this_run"] < summary["chunks"]}


def _mix_summary(summary):
    return {"note": f"train {summary['train']:,}, test {summary['test']:,}"}


def _chat_mix_loader():
    from hala_release.stages.chat_mix.run import ChatMixConfig, run_chat_mix

    return ChatMixConfig, run_chat_mix


def _translate_loader():
    from hala_release.stages.translate.run import TranslateConfig, run_translate

    return TranslateConfig, run_translate


def _judge_loader():
    from hala_release.stages.judge.run import JudgeConfig, run_judge

    return JudgeConfig, run_judge


def _mix_loader():
    from hala_release.stages.mix.run import MixConfig, run_mix

    return MixConfig, run_mix


# ---- train: a TRL recipe file plus overrides (the same `--key=value` the train command takes)

def _train_fields() -> set[str]:
    from dataclasses import fields

    from trl import SFTConfig

    from hala_release.stages.train.run import RecipeArguments

    return {f.name for f in fields(RecipeArguments)} | {f.name for f in fields(SFTConfig)}


def _train_overrides(values: dict[str, Any]) -> list[str]:
    overrides = []
    for key, value in values.items():
        if key == "recipe" or value is None:
            continue
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif not isinstance(value, (str, int, float)):
            raise UsageError(f"train option {key!r} must be a single value in a pipeline recipe; put lists and "
                             f"mappings in the training recipe file")
        overrides.append(f"--{key}={value}")
    return overrides


def _check_train(values):
    if not values.get("recipe"):
        raise UsageError("a train stage needs `recipe:` (a training recipe file such as train/tiny-sft.yaml)")
    known = _train_fields()
    unknown = [key for key in values if key != "recipe" and key not in known]
    if unknown:
        import difflib

        hints = [f"{k} (did you mean {m[0]}?)" if (m := difflib.get_close_matches(k, known, n=1)) else k
                 for k in unknown]
        raise UsageError(f"unknown train option(s) {', '.join(hints)}: a train stage takes `recipe:` plus TRL "
                         f"SFTConfig fields and hala-release's recipe keys")
    _train_overrides(values)


def _run_train(values, output, overwrite):
    from hala_release.stages.train.run import train_model

    overrides = _train_overrides(values) + [f"--output_dir={output}", f"--overwrite={str(overwrite).lower()}"]
    outcome = train_model(values["recipe"], overrides)
    return {"note": f"{outcome.global_step} steps, final train loss {outcome.final_loss}",
            "resumed": outcome.resumed_from_step is not None, "main_process": _is_main_process()}


# ---- demo: the Gradio Space folder, serving the chat model and the translator

class DemoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    chat_model: str
    translator: str
    space: str | None = None  # the Space folder to stage (default: the repo's spaces/demo)


def _check_demo(values):
    DemoOptions.model_validate(values)


def _run_demo(values, output, overwrite):
    """Stage the Space with its models: Hub refs are written into its card and models.json (a pushable Space);
    local folders only into models.json, for `hala-release demo --space` on this machine."""
    from hala_release import __version__
    from hala_release.artifacts.build import PIPELINE_STEP, _swap_into_place, config_hash
    from hala_release.stages.demo.run import MODELS_FILE, default_space_dir, stage_space
    from hala_release.core.provenance import CardFacts, Provenance
    from hala_release.core.refs import folder_content_hash, parse_ref, resolve

    options = DemoOptions.model_validate(values)
    space = Path(options.space).expanduser().resolve() if options.space else default_space_dir()
    models = {"chat": options.chat_model, "translator": options.translator}
    resolved = {role: resolve(ref, "model") for role, ref in models.items()}
    on_hub = all(not parse_ref(ref, "model").is_local for ref in models.values())
    temp = output.parent / f".hala-tmp-{output.name}-{uuid.uuid4().hex[:8]}"
    try:
        if on_hub:
            stage_space(space, temp, chat_model=models["chat"], translator=models["translator"])
        else:
            stage_space(space, temp, check_models=False)
            _local_models(temp, {role: str(resolved[role].path) if resolved[role].ref.is_local else ref
                                 for role, ref in models.items()}, MODELS_FILE)
        config = {"chat_model": options.chat_model, "translator": options.translator, "space": str(space)}
        inputs = {"chat_model": resolved["chat"].provenance(), "translator": resolved["translator"].provenance(),
                  "space": {"ref": str(space), "source": "local", "repo_type": "space", "path": str(space),
                            "pin": folder_content_hash(space)}}
        card = CardFacts(kind="space", title="HALA demo Space",
                         summary="The Gradio Space serving the chat model and the translator of this recipe.",
                         tags=["demo", "gradio"])
        Provenance(stage="demo", tool_version=__version__,
                   created_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), config=config,
                   config_hash=config_hash(config), inputs=inputs, card=card, pipeline=PIPELINE_STEP.get()).write(temp)
        _swap_into_place(temp, output)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    where = "Hub models, ready to push" if on_hub else "local models, for `hala-release demo --space`"
    return {"note": where}


def _local_models(folder: Path, models: dict[str, str], models_file: str) -> None:
    """models.json naming local folders; the card no longer claims the released HALA models it defaults to."""
    from huggingface_hub import SpaceCard

    (folder / models_file).write_text(json.dumps(models, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    card = SpaceCard.load(folder / "README.md")
    card.data.models = None
    card.data.preload_from_hub = None
    card.save(folder / "README.md")


def _tiny_loader():
    from hala_release.stages.tiny_model.run import build_tiny_model

    return build_tiny_model


def _sample_loader():
    from hala_release.stages.sample_data.run import export_sample

    return export_sample


def _quantize_loader():
    from hala_release.stages.quantize.run import quantize_model

    return quantize_model


def _merge_loader():
    from hala_release.stages.merge.run import merge_models

    return merge_models


def _eval_loader():
    from hala_release.stages.eval.run import run_eval

    return run_eval


KINDS: dict[str, StageKind] = {kind.name: kind for kind in [
    _function_kind("tiny-model", "model", "a tiny random model built on the spot", _tiny_loader, {}, _tiny),
    _function_kind("sample-data", "dataset", "a shipped sample dataset", _sample_loader, {}, _sample),
    _function_kind("quantize", "model", "llm-compressor quantization, verified against the original",
                   _quantize_loader, {"model": "model"}, _quantize),
    _config_kind("translate", "translate a dataset's text fields", _translate_loader,
                 {"source": "dataset", "model": "model"}, _translate_summary, files={"prompt_template": False},
                 resumes=True),
    _config_kind("judge", "filter a parallel corpus with an LLM judge", _judge_loader,
                 {"source": "dataset", "judge": "model"}, _judge_summary, files={"prompt_template": False},
                 resumes=True),
    _config_kind("mix", "bilingual translator SFT set", _mix_loader, {"translated": "dataset", "parallel": "dataset"},
                 _mix_summary),
    _config_kind("chat-mix", "target-language chat SFT set from translated instruction data", _chat_mix_loader,
                 {"translated": "dataset"}, _mix_summary),
    StageKind("train", "model", "TRL SFT from a training recipe", {"model_name_or_path": "model",
                                                                   "dataset_name": "dataset"},
              _check_train, _run_train, files={"recipe": True}, resumes=True),
    _function_kind("merge", "model", "mergekit slerp with the base", _merge_loader,
                   {"base": "model", "tuned": "model"}, _merge),
    _function_kind("eval", "dataset", "lighteval on HALA's benchmarks", _eval_loader, {"model": "model"}, _eval,
                   files={"suite": False}),
    StageKind("demo", "space", "the Gradio demo Space for the chat model and translator",
              {"chat_model": "model", "translator": "model"}, _check_demo, _run_demo, files={"space": False}),
]}


def _is_main_process() -> bool:
    """False in the extra processes of a multi-GPU launch (accelerate/torchrun set RANK)."""
    return os.environ.get("RANK", "0") == "0"


def _multi_process() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1") or 1) > 1

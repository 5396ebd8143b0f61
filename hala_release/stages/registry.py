"""The stage kinds: one registry read by the CLI (its commands are generated from each kind's config), by
`pipeline run` (a recipe's `uses:` names a kind; its `with:` is validated against the same config) and by Python:

    from hala_release.stages.registry import STAGES
    summary = STAGES["mix"].run({"translated": ["./orca-ar"], "output": "./mix"})

Configs are light (pydantic only); a kind imports its run module when it runs.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from pydantic import BaseModel

from hala_release.core.errors import HalaError, UsageError
from hala_release.stages.chat_mix.config import ChatMixConfig
from hala_release.stages.demo.config import DemoSpaceConfig
from hala_release.stages.eval.config import EvalConfig
from hala_release.stages.judge.config import JudgeConfig
from hala_release.stages.merge.config import MergeConfig
from hala_release.stages.mix.config import MixConfig
from hala_release.stages.quantize.config import QuantizeConfig
from hala_release.stages.sample_data.config import SampleDataConfig
from hala_release.stages.tiny_model.config import TinyModelConfig
from hala_release.stages.train.config import TrainConfig
from hala_release.stages.translate.config import TranslateConfig

# Options the pipeline sets itself (where the artifact goes, replacing it, publishing) or that split one stage
# across separate jobs, which a pipeline run does not do.
RESERVED = {"output": "the pipeline writes each stage to OUTPUT_DIR/STAGE",
            "output_dir": "the pipeline writes each stage to OUTPUT_DIR/STAGE",
            "overwrite": "the pipeline replaces an artifact only when its stage must rerun",
            "push_to_hub": "pass --push-to-hub ORG to `pipeline run`",
            "results_repo": "eval's old name for push_to_hub; pass --push-to-hub ORG to `pipeline run`",
            "tag": "the pipeline tags each pushed artifact with the recipe's version",
            "create_pr": "the pipeline commits each artifact it pushes; open a pull request with push-model "
                         "--create-pr",
            "num_shards": "a pipeline run does every chunk itself (use workers or executor: ray)",
            "shard_index": "a pipeline run does every chunk itself (use workers or executor: ray)",
            "update_model_card": "it would change the evaluated model after its pin was recorded",
            "overrides": "write the training options as keys of the train stage's `with:`",
            "token": "log in with `hf auth login` or set HF_TOKEN"}


@dataclass(frozen=True)
class StageKind:
    """A stage kind: the artifact it makes, its config model, its run function, which options read artifacts."""

    name: str
    artifact: str  # model | dataset | space
    about: str
    config: type[BaseModel]
    runner: str  # "module:function", imported when the stage runs; the function takes one `config`
    refs: dict[str, str]  # option -> repo type it reads
    summarize: Callable[[BaseModel, Any], dict[str, Any]] = lambda config, result: {}
    files: dict[str, bool] = field(default_factory=dict)  # options naming recipe files -> required to exist
    resumes: bool = False

    def run(self, config: BaseModel | dict[str, Any]) -> Any:
        """The Python API: run the stage with its config (or the config's fields as a dict). A full disk stops it
        with one line saying where, how much is free, and what was kept."""
        from hala_release.core.disk_space import explain_full_disk

        module, _, function = self.runner.partition(":")
        config = self.validate(config)
        output = getattr(config, "output", None)
        with explain_full_disk(output, self.name, lambda: self._after_full_disk(output)):
            return getattr(importlib.import_module(module), function)(config)

    def _after_full_disk(self, output: Any) -> str:
        """What survives a full disk, and how to go on."""
        if self.resumes and output is not None:
            from hala_release.executors.chunks import work_dir_for

            work = work_dir_for(Path(output).expanduser().resolve())
            done = len(list(work.glob("chunk-*.parquet")))
            return (f"the {done} finished chunk{'s' * (done != 1)} in {work} {'is' if done == 1 else 'are'} kept; "
                    f"free space there, then rerun the same command to resume")
        if self.resumes:
            return "the checkpoints saved so far are kept; free space, then rerun the same command to resume"
        return ("nothing partial was kept; free space there or choose another --output, then rerun the same "
                "command")

    def validate(self, config: BaseModel | dict[str, Any]) -> BaseModel:
        return config if isinstance(config, self.config) else self.config.model_validate(config)

    def check(self, values: dict[str, Any]) -> None:
        """A recipe's `with:` (references replaced by placeholders), checked before anything runs."""
        self.config.model_validate({**values, "output": "placeholder"})

    def run_step(self, values: dict[str, Any], output: Path, overwrite: bool) -> dict[str, Any]:
        """One pipeline step: the recipe's `with:` plus where the pipeline puts the artifact; a summary back."""
        config = self.validate({**values, "output": str(output), "overwrite": overwrite})
        return self.summarize(config, self.run(config))

    def push_branch(self, output: Path) -> str:
        """The branch `pipeline run --push-to-hub` commits the built artifact at `output` to."""
        return "main"


def _chunked(note: Callable[[dict], str]) -> Callable[[BaseModel, dict], dict]:
    """Summary of a resumable chunked stage; a stop before the last chunk is an error in a pipeline."""

    def summarize(config, summary):
        if summary.get("status", "complete") != "complete":
            raise HalaError(f"the stage stopped with {summary.get('chunks_done')} of {summary.get('chunks')} chunks "
                            f"done; run the same command again to finish them")
        return {"note": note(summary), "resumed": summary["chunks_this_run"] < summary["chunks"]}

    return summarize


def _quantized(config, path):
    from hala_release.core.provenance import read_provenance

    agreement = read_provenance(path).stats.get("top1_agreement")
    return {"note": f"top-1 agreement with the original {agreement:.1%}" if agreement is not None else ""}


def _evaluated(config, outcome):
    value = (outcome.summary.get("average") or {}).get("value")
    return {"note": f"average {100 * value:.2f}" if value is not None else ""}


def _mixed(config, summary):
    return {"note": f"train {summary['train']:,}, test {summary['test']:,}"}


def _demo_staged(config, path):
    from hala_release.stages.demo.artifact import on_hub

    return {"note": "Hub models, ready to push" if on_hub(config) else
            "local models, for `hala-release demo --space`"}


# ---- train: a TRL recipe file plus overrides (the same `--key=value` the train command takes)

class _TrainKind(StageKind):
    """`with:` is `recipe:` plus any TRL SFTConfig field or recipe key, passed as `--key=value` overrides."""

    def check(self, values):
        if not values.get("recipe"):
            raise UsageError("a train stage needs `recipe:` (a training recipe file such as train/tiny-sft.yaml)")
        known = _train_fields()
        unknown = [key for key in values if key != "recipe" and key not in known]
        if unknown:
            import difflib

            hints = [f"{k} (did you mean {m[0]}?)" if (m := difflib.get_close_matches(k, known, n=1)) else k
                     for k in unknown]
            raise UsageError(f"unknown train option(s) {', '.join(hints)}: a train stage takes `recipe:` plus "
                             f"`trl sft`'s recipe keys and hala-release's")
        _train_overrides(values)

    def run_step(self, values, output, overwrite):
        overrides = _train_overrides(values) + [f"--output_dir={output}", f"--overwrite={str(overwrite).lower()}"]
        outcome = self.run(TrainConfig(recipe=values["recipe"], overrides=overrides))
        return {"note": f"{outcome.global_step} steps, final train loss {outcome.final_loss}",
                "resumed": outcome.resumed_from_step is not None, "main_process": _is_main_process()}

    def push_branch(self, output):
        """The training recipe's hub_model_revision, as `hala-release train --push-to-hub` and open-r1 push to."""
        from hala_release.core.provenance import read_provenance

        recipe = read_provenance(output).config.get("recipe") or {}
        return str(recipe.get("hub_model_revision") or "main")


def _train_fields() -> set[str]:
    from dataclasses import fields

    from hala_release.stages.train.run import recipe_classes

    return {f.name for cls in recipe_classes() for f in fields(cls)}


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


def _run(stage: str, function: str) -> str:
    return f"hala_release.stages.{stage}:{function}"


STAGES: dict[str, StageKind] = {kind.name: kind for kind in [
    StageKind("tiny-model", "model", "a tiny random model built on the spot", TinyModelConfig,
              _run("tiny_model.run", "run_tiny_model"), {},
              lambda config, path: {"note": f"tiny {config.arch} model"}),
    StageKind("sample-data", "dataset", "a shipped sample dataset", SampleDataConfig,
              _run("sample_data.run", "run_sample_data"), {}, lambda config, path: {"note": f"sample {config.name}"}),
    StageKind("quantize", "model", "llm-compressor quantization, verified against the original", QuantizeConfig,
              _run("quantize.run", "run_quantize"), {"model": "model"}, _quantized),
    StageKind("translate", "dataset", "translate a dataset's text fields", TranslateConfig,
              _run("translate.run", "run_translate"), {"source": "dataset", "model": "model"},
              _chunked(lambda s: f"{s['rows_ok']:,} of {s['rows']:,} rows passed, {s['generated_tokens']:,} tokens "
                                 f"generated"), files={"prompt_template": False}, resumes=True),
    StageKind("judge", "dataset", "filter a parallel corpus with an LLM judge", JudgeConfig,
              _run("judge.run", "run_judge"), {"source": "dataset", "judge": "model"},
              _chunked(lambda s: f"kept {s['counts']['kept']:,} of {s['rows']:,} pairs"),
              files={"prompt_template": False}, resumes=True),
    StageKind("mix", "dataset", "bilingual translator SFT set", MixConfig, _run("mix.run", "run_mix"),
              {"translated": "dataset", "parallel": "dataset"}, _mixed),
    StageKind("chat-mix", "dataset", "target-language chat SFT set from translated instruction data", ChatMixConfig,
              _run("chat_mix.run", "run_chat_mix"), {"translated": "dataset"}, _mixed),
    _TrainKind("train", "model", "TRL SFT from a training recipe", TrainConfig, _run("train.run", "run_train"),
               {"model_name_or_path": "model", "dataset_name": "dataset"}, files={"recipe": True}, resumes=True),
    StageKind("merge", "model", "mergekit slerp with the base", MergeConfig, _run("merge.run", "run_merge"),
              {"base": "model", "tuned": "model"}, lambda config, path: {"note": f"{config.method} t = {config.t}"}),
    StageKind("eval", "dataset", "lighteval on HALA's benchmarks", EvalConfig, _run("eval.run", "evaluate"),
              {"model": "model"}, _evaluated, files={"suite": False}),
    StageKind("demo", "space", "the Gradio demo Space for the chat model and translator", DemoSpaceConfig,
              _run("demo.artifact", "run_demo"), {"chat_model": "model", "translator": "model"}, _demo_staged,
              files={"space": False}),
]}


def _is_main_process() -> bool:
    """False in the extra processes of a multi-GPU launch (accelerate/torchrun set RANK)."""
    return os.environ.get("RANK", "0") == "0"


def _multi_process() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1") or 1) > 1

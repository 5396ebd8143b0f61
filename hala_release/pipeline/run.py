"""pipeline: a whole recipe as one command, each stage's output wired into later stages' inputs.

A recipe (YAML) names stages in order. Each stage `uses:` a stage kind (quantize, translate, judge, ...) and sets
that stage's options under `with:`, by the names of its Python API / config model (the one source of truth, as for
the CLI). A value written exactly as `${stages.NAME.output}` is the output of the earlier stage NAME: its local
folder, or with `--push-to-hub ORG` its Hub repo pinned to the commit it was pushed as (`ORG/repo@sha`), so the
downstream stage reads it from the Hub and its card links to it (`base_model`, `datasets`, `source_datasets`).

Reruns are incremental. Every artifact's provenance records the step that built it: the recipe, the stage's
`with:` as written, the pins of the stage outputs it read and the content hashes of the recipe files it names
(training recipes, prompt files, the Space folder); together, its fingerprint. A stage whose artifact exists with
the same fingerprint is skipped. A change anywhere upstream changes a pin, so everything downstream reruns. A
failed stage stops the run; running the same command again resumes (translate and judge keep finished chunks,
train keeps checkpoints). An artifact whose content changed on disk since it was built (a damaged file) is built
again whatever its provenance says (pipeline/state.py).

Each stage that runs, runs in a fresh Python process (pipeline/child.py): what it holds, GPU memory above all
(vLLM does not give it back while its process lives), is returned before the next stage starts. Planning,
pinning and pushing stay in this process.
"""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hala_release.core.errors import HalaError, UsageError, yaml_problem
from hala_release.pipeline.references import REFERENCE, training_recipe_inputs, walk as _walk
from hala_release.pipeline.state import RunState
from hala_release.stages.registry import RESERVED, STAGES, StageKind, _is_main_process, _multi_process

log = logging.getLogger(__name__)

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
RUN_LOG = "pipeline_run.json"
# --------------------------------------------------------------------------------------------------- recipe model

class Estimate(BaseModel):
    """Planning figures shown by --dry-run (nothing is downloaded to count them)."""

    model_config = ConfigDict(extra="forbid")

    rows: int | None = None
    tokens_per_row: float | None = None
    note: str = ""


class StageSpec(BaseModel):
    """One stage of a recipe."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    uses: str
    with_: dict[str, Any] = Field(default_factory=dict, alias="with")
    repo: str | None = None  # Hub repo name under --push-to-hub ORG (default: <recipe name>-<stage name>)
    estimate: Estimate | None = None
    description: str = ""


class Recipe(BaseModel):
    """A pipeline recipe: stages in run order; `version` is the tag every pushed artifact gets."""

    model_config = ConfigDict(extra="forbid")

    name: str
    version: str
    description: str = ""
    output_dir: str | None = None  # default ./runs/<name>; --output-dir wins
    stages: dict[str, StageSpec]


# ---------------------------------------------------------------------------------------------------------- plan

@dataclass
class PlannedStage:
    name: str
    spec: StageSpec
    kind: StageKind
    values: dict[str, Any]  # `with:` with recipe-file paths made absolute; references still as written
    upstream: list[str]  # stages whose outputs it reads, in order of first use
    files: dict[str, str]  # with-key -> content hash of the recipe file it names


@dataclass
class Plan:
    recipe: Recipe
    path: Path
    stages: list[PlannedStage]

    def get(self, name: str) -> PlannedStage:
        for stage in self.stages:
            if stage.name == name:
                return stage
        raise UsageError(f"no stage {name!r} in {self.path.name}: stages are {', '.join(s.name for s in self.stages)}")


def _validation_message(err: ValidationError) -> str:
    parts = []
    for item in err.errors():
        where = ".".join(str(p) for p in item["loc"] if p != "with")
        parts.append(f"{where}: {item['msg']}" if where else item["msg"])
    return "; ".join(parts)


def load_plan(path: Path | str) -> Plan:
    """Parse and check a recipe without running or downloading anything."""
    import yaml

    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise UsageError(f"recipe {path} not found: pass a pipeline recipe such as recipes/tiny.yaml")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise UsageError(f"recipe {path} is not valid YAML ({yaml_problem(err)}): fix the file") from None
    try:
        recipe = Recipe.model_validate(raw)
    except ValidationError as err:
        raise UsageError(f"recipe {path.name}: {_validation_message(err)}") from None
    for label, value in (("name", recipe.name), ("version", recipe.version)):
        if not NAME.match(value):
            raise UsageError(f"recipe {path.name}: {label} {value!r} must be letters, digits, '-', '_' or '.' (it "
                             f"names Hub repos and tags)")
    if not recipe.stages:
        raise UsageError(f"recipe {path.name} has no stages")
    planned: list[PlannedStage] = []
    for name, spec in recipe.stages.items():
        planned.append(_plan_stage(path, recipe, name, spec, {s.name: s for s in planned}))
    return Plan(recipe, path, planned)


def _plan_stage(path: Path, recipe: Recipe, name: str, spec: StageSpec, earlier: dict[str, PlannedStage]) -> PlannedStage:
    where = f"recipe {path.name}, stage {name!r}"
    if not NAME.match(name):
        raise UsageError(f"{where}: a stage name must be letters, digits, '-', '_' or '.' (it names a folder and a "
                         f"Hub repo)")
    kind = STAGES.get(spec.uses)
    if kind is None:
        raise UsageError(f"{where}: unknown stage kind uses: {spec.uses!r}; choose one of {', '.join(STAGES)}")
    for key in spec.with_:
        if key in RESERVED:
            raise UsageError(f"{where}: `{key}` cannot be set in a pipeline recipe ({RESERVED[key]})")
    upstream: list[str] = []
    placeholders: dict[str, Any] = {}
    for key, value in spec.with_.items():
        try:
            placeholders[key] = _walk(value, lambda ref: _check_reference(ref, key, kind, earlier, upstream, where))
        except UsageError as err:
            raise UsageError(str(err) if str(err).startswith(where) else f"{where}: {key}: {err}") from None
    values = dict(spec.with_)
    files: dict[str, str] = {}
    for key, required in kind.files.items():
        text = values.get(key)
        if not isinstance(text, str) or REFERENCE.match(text):
            if required:
                raise UsageError(f"{where}: needs `{key}:` (a file path, relative to the recipe file)")
            continue
        found = _recipe_file(path, text)
        if found is None:
            if required:
                raise UsageError(f"{where}: {key} {text!r} not found next to {path.name} or in the working directory")
            continue
        values[key] = placeholders[key] = str(found)
        files[key] = _content_hash(found)
    try:
        kind.check(placeholders)
    except ValidationError as err:
        raise UsageError(f"{where} (uses: {kind.name}): {_validation_message(err)}") from None
    except UsageError as err:
        raise UsageError(f"{where}: {err}") from None
    return PlannedStage(name, spec, kind, values, upstream, files)


def _check_reference(ref: str, key: str, kind: StageKind, earlier: dict[str, PlannedStage], upstream: list[str],
                     where: str) -> str:
    if ref not in earlier:
        raise UsageError(f"{where}: {key} refers to stage {ref!r}, which is not an earlier stage of the recipe "
                         f"(stages run in the order written)")
    wanted = kind.refs.get(key)
    if wanted is None:
        raise UsageError(f"{where}: {key} does not read an artifact, so it cannot be ${{stages.{ref}.output}}")
    made = earlier[ref].kind.artifact
    if made != wanted:
        raise UsageError(f"{where}: {key} reads a {wanted}, but stage {ref!r} ({earlier[ref].kind.name}) makes a {made}")
    if ref not in upstream:
        upstream.append(ref)
    return f"./{ref}"


def _recipe_file(recipe_path: Path, text: str) -> Path | None:
    """A file named in a recipe: next to the recipe first, else relative to the working directory."""
    for candidate in (recipe_path.parent / text, Path(text)):
        candidate = candidate.expanduser()
        if candidate.exists():
            return candidate.resolve()
    return None


def _content_hash(path: Path) -> str:
    from hala_release.core.refs import cached_file_sha256, folder_content_hash

    return folder_content_hash(path) if path.is_dir() else "sha256:" + cached_file_sha256(path)


# ----------------------------------------------------------------------------------------------------------- run

@dataclass
class StageResult:
    name: str
    uses: str
    status: str  # built | skipped | used | failed
    seconds: float
    output: str
    reason: str = ""
    note: str = ""
    pin: str | None = None
    hub_ref: str | None = None
    repo_id: str | None = None
    revision: str | None = None
    report: str | None = None
    demo: str | None = None
    pid: int | None = None  # the process the stage ran in (each built stage runs in its own)


@dataclass
class PipelineRun:
    recipe: str
    version: str
    output_dir: Path
    results: list[StageResult] = field(default_factory=list)
    seconds: float = 0.0
    push_to_hub: str | None = None

    def result(self, name: str) -> StageResult:
        return next(r for r in self.results if r.name == name)

    def write_log(self) -> Path:
        path = self.output_dir / RUN_LOG
        record = {"recipe": self.recipe, "version": self.version, "push_to_hub": self.push_to_hub,
                  "seconds": round(self.seconds, 2), "stages": [asdict(r) for r in self.results]}
        path.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        return path


def repo_name(recipe: Recipe, stage: PlannedStage) -> str:
    return stage.spec.repo or f"{recipe.name}-{stage.name}"


def hub_ref(repo_id: str, repo_type: str, revision: str) -> str:
    """How a downstream stage names a pushed artifact: pinned to the exact commit."""
    return f"{repo_id}@{revision}" if repo_type == "model" else f"hf://{repo_type}s/{repo_id}@{revision}"


def run_pipeline(recipe: Path | str, *, output_dir: Path | str | None = None, push_to_hub: str | None = None,
                 from_stage: str | None = None, only: str | None = None, private: bool = False,
                 echo: Callable[[str], None] = print) -> PipelineRun:
    """Run a recipe's stages in order, skipping those already built with the same fingerprint."""
    from hala_release.stages.eval.report import REPORT_FILE
    from hala_release.core.refs import folder_content_hash

    plan = load_plan(recipe)
    if from_stage and only:
        raise UsageError("pass --from or --only, not both")
    names = [s.name for s in plan.stages]
    selected = set(names)
    forced: set[str] = set()
    if from_stage:
        plan.get(from_stage)
        selected = set(names[names.index(from_stage):])
        forced = set(selected)
    if only:
        plan.get(only)
        selected = forced = {only}
    needed = {ref for stage in plan.stages if stage.name in selected for ref in stage.upstream}
    if push_to_hub and "/" in push_to_hub:
        raise UsageError(f"--push-to-hub takes an organisation or user name (repos are named after the stages), "
                         f"not {push_to_hub!r}")
    main = _is_main_process()
    if _multi_process() and not (only and plan.get(only).kind.name == "train"):
        raise UsageError("under a multi-process launcher (accelerate launch, torchrun) only one train stage can run: "
                         "pass --only NAME for a train stage, and run the other stages without the launcher")
    out_dir = _output_dir(plan, output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    run = PipelineRun(plan.recipe.name, plan.recipe.version, out_dir, push_to_hub=push_to_hub)
    state = RunState(out_dir)
    started = time.perf_counter()
    produced: dict[str, tuple[str, str]] = {}  # stage -> (ref downstream stages read, pin)
    shown_once: set[str] = set()  # library notices a stage's process showed: the next ones stay quiet
    for stage in plan.stages:
        if stage.name not in selected and stage.name not in needed:
            continue
        output = out_dir / stage.name
        began = time.perf_counter()
        result = StageResult(stage.name, stage.kind.name, "", 0.0, str(output))
        run.results.append(result)
        try:
            if stage.name not in selected:
                if not output.exists():
                    raise HalaError(f"stage {stage.name!r} has no artifact at {output} yet: run without --from/--only "
                                    f"first")
                result.status, result.reason = "used", "not selected; its artifact is used as it is"
            else:
                values = {key: _walk(value, lambda ref: produced[ref][0]) for key, value in stage.values.items()}
                step = {"recipe": plan.recipe.name, "version": plan.recipe.version, "stage": stage.name,
                        "uses": stage.kind.name, "with": stage.spec.with_,
                        "upstream": {ref: produced[ref][1] for ref in stage.upstream}, "files": stage.files}
                step["fingerprint"] = _fingerprint(step)
                fresh, reason = _up_to_date(output, step)  # also refuses to replace a folder it did not build
                if fresh and state.changed_on_disk(stage.name, step["fingerprint"], folder_content_hash(output)):
                    fresh, reason = False, "its artifact changed on disk since it was built (damaged or edited)"
                if stage.name in forced:
                    fresh, reason = False, "forced by --from/--only"
                if fresh:
                    result.status, result.reason = "skipped", "up to date"
                else:
                    echo(f"[{stage.name}] {stage.kind.name}: running ({reason})")
                    outcome, result.pid = _run_stage(stage, values, output, step, shown_once)
                    result.status, result.reason = "built", reason
                    result.note = outcome.get("note", "")
                    if outcome.get("resumed"):
                        result.note = f"resumed; {result.note}"
                    if outcome.get("main_process") is False:
                        result.seconds = round(time.perf_counter() - began, 2)
                        continue  # a non-main training process: the main one writes, pins and pushes
            result.report = str(output / REPORT_FILE) if stage.kind.name == "eval" else None
            result.demo = f"hala-release demo --space {output}" if stage.kind.name == "demo" else None
            ref, pin = str(output), folder_content_hash(output)
            if main and stage.name in selected:
                state.record(stage.name, step["fingerprint"], pin)
            if push_to_hub and main:
                ref, pin = _push(plan, stage, output, push_to_hub, private, result)
            elif push_to_hub:  # the other processes of a multi-GPU launch read what the main one pushed
                ref, pin = _hub_pin_of_pushed(plan, stage, push_to_hub)
            result.pin = pin
            produced[stage.name] = (ref, pin)
        except HalaError as err:
            result.status, result.seconds = "failed", round(time.perf_counter() - began, 2)
            run.seconds = time.perf_counter() - started
            if main:
                run.write_log()
            resume = (" and this stage continues from its finished chunks/checkpoints" if stage.kind.resumes else "")
            raise type(err)(f"stage {stage.name!r} ({stage.kind.name}) failed: {err}. Fix it and run the same command "
                            f"again: finished stages are skipped{resume}") from None
        except BaseException:
            result.status, result.seconds = "failed", round(time.perf_counter() - began, 2)
            run.seconds = time.perf_counter() - started
            if main:
                run.write_log()
            raise
        result.seconds = round(time.perf_counter() - began, 2)
        echo(_result_line(result))
    run.seconds = time.perf_counter() - started
    if main:
        run.write_log()
    return run


def _output_dir(plan: Plan, output_dir: Path | str | None) -> Path:
    chosen = output_dir or plan.recipe.output_dir or f"./runs/{plan.recipe.name}"
    return Path(chosen).expanduser().resolve()


def _fingerprint(step: dict[str, Any]) -> str:
    """What decides a stage's artifact. A recipe file counts by its content, not by where it was found."""
    from hala_release.artifacts.build import config_hash

    options = {key: value for key, value in step["with"].items() if key not in step["files"]}
    return config_hash({"uses": step["uses"], "with": options, "upstream": step["upstream"], "files": step["files"]})


def _up_to_date(output: Path, step: dict[str, Any]) -> tuple[bool, str]:
    """Whether the artifact at `output` was built by this very step; if not, why (for the log line)."""
    from hala_release.core.provenance import PROVENANCE_FILE, read_provenance

    if not output.exists():
        return False, "no artifact yet"
    if not (output / PROVENANCE_FILE).exists():
        raise HalaError(f"{output} exists but was not built by hala-release: move it away or choose another "
                        f"--output-dir")
    recorded = read_provenance(output).pipeline or {}
    if recorded.get("recipe") != step["recipe"] or recorded.get("stage") != step["stage"]:
        raise HalaError(f"{output} was not built by stage {step['stage']!r} of recipe {step['recipe']!r}: move it "
                        f"away or choose another --output-dir")
    if recorded.get("fingerprint") == step["fingerprint"]:
        pins = set(_recorded_pins(output))
        stale = [name for name, pin in step["upstream"].items() if pin not in pins]
        if not stale:
            return True, "up to date"
        return False, f"inputs changed: {', '.join(stale)}"
    if recorded.get("uses") != step["uses"]:
        return False, f"stage kind changed ({recorded.get('uses')} -> {step['uses']})"
    before = recorded.get("with", {})
    changed = [f"{key}: {_short(before.get(key))} -> {_short(step['with'].get(key))}"
               for key in sorted(set(before) | set(step["with"]))
               if key not in step["files"] and before.get(key) != step["with"].get(key)]
    if changed:
        return False, "config changed (" + "; ".join(changed) + ")"
    inputs = [name for name, pin in step["upstream"].items() if recorded.get("upstream", {}).get(name) != pin]
    if inputs:
        return False, f"inputs changed: {', '.join(inputs)}"
    files = [key for key in step["files"] if recorded.get("files", {}).get(key) != step["files"][key]]
    return False, f"recipe file changed: {', '.join(files)}" if files else "fingerprint changed"


def _recorded_pins(output: Path) -> list[str]:
    from hala_release.core.provenance import read_provenance

    return [record.get("pin") for record in read_provenance(output).inputs.values()]


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _run_stage(stage: PlannedStage, values: dict[str, Any], output: Path, step: dict[str, Any],
               shown_once: set[str]) -> tuple[dict, int]:
    """In a process of its own (see pipeline/child.py), so the next stage starts with the GPU memory free."""
    from hala_release.pipeline.child import run_in_child

    return run_in_child(stage.kind.name, values, output, output.exists(), step, shown_once)


def _push(plan: Plan, stage: PlannedStage, output: Path, org: str, private: bool,
          result: StageResult) -> tuple[str, str]:
    """One commit per artifact, tagged with the recipe's version; returns the pinned ref downstream stages read."""
    from hala_release.hub.publish import push_artifact

    repo_id = f"{org}/{repo_name(plan.recipe, stage)}"
    branch = stage.kind.push_branch(output)
    try:
        pushed = push_artifact(output, repo_id, stage.kind.artifact, tag=plan.recipe.version, private=private,
                               branch=branch,
                               commit_message=f"hala-release pipeline {plan.recipe.name} {plan.recipe.version}: "
                                              f"stage {stage.name} ({stage.kind.name})")
    except HalaError as err:
        bump = " (a changed artifact needs a new `version:` in the recipe)" if "tag" in str(err) else ""
        raise HalaError(f"push to {repo_id} failed: {err}{bump}") from None
    result.repo_id, result.revision = repo_id, pushed.revision
    result.hub_ref = hub_ref(repo_id, stage.kind.artifact, pushed.revision)
    where = f" (branch {branch})" if branch != "main" else ""
    result.note = (result.note + "; " if result.note else "") + (
        f"pushed{where}" if pushed.created_commit else f"already on the Hub{where}")
    return result.hub_ref, pushed.revision


def _hub_pin_of_pushed(plan: Plan, stage: PlannedStage, org: str) -> tuple[str, str]:
    """In a non-main process: the commit the main process pushed (by the recipe's version tag), without pushing."""
    from huggingface_hub import HfApi

    from hala_release.core.refs import hub_errors

    repo_id = f"{org}/{repo_name(plan.recipe, stage)}"
    with hub_errors(repo_id=repo_id, repo_type=stage.kind.artifact, revision=plan.recipe.version):
        sha = HfApi().repo_info(repo_id, repo_type=stage.kind.artifact, revision=plan.recipe.version).sha
    return hub_ref(repo_id, stage.kind.artifact, sha), sha


def _result_line(result: StageResult) -> str:
    where = result.hub_ref or result.output
    extra = f" ({result.note})" if result.note else ""
    return f"[{result.name}] {result.status} in {result.seconds:.1f} s -> {where}{extra}"


def summary_lines(run: PipelineRun) -> list[str]:
    """The closing summary: one row per stage, then where the artifacts, the eval report and the demo are."""
    width = max(len(r.name) for r in run.results) if run.results else 5
    lines = [f"{'stage':{width}}  {'uses':11}  {'status':7}  {'seconds':>8}  output"]
    for r in run.results:
        lines.append(f"{r.name:{width}}  {r.uses:11}  {r.status:7}  {r.seconds:8.1f}  {r.hub_ref or r.output}")
    lines.append(f"total {run.seconds:.1f} s")
    lines.append("")
    lines.append(f"artifacts: {run.output_dir}/<stage> (each with a README.md card and hala_provenance.json); "
                 f"run log: {run.output_dir / RUN_LOG}")
    for r in run.results:
        if r.report:
            lines.append(f"eval report ({r.name}): {r.report}")
    for r in run.results:
        if r.demo:
            lines.append(f"demo ({r.name}): {r.demo}")
    last = next((r for r in reversed(run.results) if r.uses != "demo"), None)
    if last is not None:
        lines.append(f"lineage: hala-release lineage {last.output}")
    return lines


# ------------------------------------------------------------------------------------------------------- dry run

def explain(recipe: Path | str, *, output_dir: Path | str | None = None, push_to_hub: str | None = None,
            calibrate: int | None = None, tokens_per_second: float | None = None,
            echo: Callable[[str], None] = print) -> list[str]:
    """What a run would do, stage by stage, without running or downloading anything; with `calibrate`, each
    generating stage is also run on that many rows to price the run in device hours (pipeline/calibrate.py)."""
    plan = load_plan(recipe)
    out_dir = _output_dir(plan, output_dir)
    recipe_ = plan.recipe
    lines = [f"recipe {recipe_.name} (version {recipe_.version}): {len(plan.stages)} stages, output "
             f"{out_dir}" + (f", each pushed to {push_to_hub}/<repo> and tagged {recipe_.version}" if push_to_hub else "")]
    if recipe_.description:
        lines.append(recipe_.description.strip())
    totals: dict[str, float] = {}
    unknown: dict[str, list[str]] = {}
    by_name = {s.name: s for s in plan.stages}
    status = _dry_statuses(plan, out_dir) if not push_to_hub else {}
    for number, stage in enumerate(plan.stages, start=1):
        target = f"{stage.kind.artifact} {out_dir / stage.name}"
        if push_to_hub:
            target += f" -> {push_to_hub}/{repo_name(recipe_, stage)}@{recipe_.version}"
        state = f"  [{status[stage.name]}]" if stage.name in status else ""
        lines.append(f"{number:2}. {stage.name} ({stage.kind.name}: {stage.kind.about}) -> {target}{state}")
        if stage.spec.description:
            lines.append(f"      {stage.spec.description.strip()}")
        for key, value in stage.values.items():
            lines.append(f"      {key}: {_describe_value(value, key in stage.kind.refs)}")
        if stage.kind.name == "train":
            for key, value in training_recipe_inputs(stage).items():
                lines.append(f"      {key}: {_describe_value(value, True)} (from the training recipe)")
        estimate = _estimate(stage, by_name)
        if estimate:
            label, tokens, text = estimate
            lines.append(f"      estimate: {text}")
            if tokens is None:
                unknown.setdefault(label, []).append(stage.name)
            else:
                totals[label] = totals.get(label, 0) + tokens
    for label in sorted(set(totals) | set(unknown)):
        missing = f" (not counted, no row count: {', '.join(unknown[label])})" if unknown.get(label) else ""
        lines.append(f"estimated tokens to generate ({label}): {totals.get(label, 0):,.0f}{missing}")
    if not calibrate and not tokens_per_second:
        lines.append("hours: add --calibrate N to time each generating stage on N rows on this machine, or "
                     "--tokens-per-second R to price the tokens at a rate you know")
        lines.append("dry run: nothing was run or downloaded")
        return lines
    from hala_release.pipeline import calibrate as calibration

    measured = calibration.calibrate(plan, out_dir, calibrate, echo) if calibrate else {}
    estimates = {stage.name: (stage.kind.name, (_estimate(stage, by_name) or ("", None, ""))[1],
                              _full_rows(stage, by_name))
                 for stage in plan.stages if stage.kind.name in calibration.GENERATING}
    device = calibration.device_label() if measured else None
    lines.append("hours" + (f" (calibrated on {calibrate} rows per stage, {device})" if measured else "") + ":")
    lines += calibration.hours_lines(estimates, measured, tokens_per_second, device)
    lines.append("dry run: nothing was built" + (" (the calibration runs wrote to a scratch folder, now removed)"
                                                  if measured else ""))
    return lines


def _describe_value(value: Any, is_ref: bool) -> str:
    def one(item):
        if isinstance(item, str) and REFERENCE.match(item):
            return f"<- stage {REFERENCE.match(item).group(1)}"
        if is_ref and isinstance(item, str):
            from hala_release.core.refs import parse_ref

            return f"{item} ({'local folder' if parse_ref(item).is_local else 'Hub'})"
        return json.dumps(item, ensure_ascii=False) if not isinstance(item, str) else item

    if isinstance(value, list) and is_ref:
        return ", ".join(one(item) for item in value) or "[]"
    return one(value)


def _full_rows(stage: PlannedStage, by_name: dict[str, PlannedStage]) -> int | None:
    """The rows a full run of a generating stage reads: `estimate.rows`, else `limit`, else a shipped sample's."""
    spec = stage.spec.estimate or Estimate()
    return spec.rows or stage.values.get("limit") or _sample_rows(stage.values.get("source"), by_name)


def _estimate(stage: PlannedStage, by_name: dict[str, PlannedStage]) -> tuple[str, float | None, str] | None:
    """Tokens to generate: rows x tokens per row (the recipe's `estimate:`; rows also from `limit` or a sample)."""
    if stage.kind.name not in ("translate", "judge"):
        return None
    spec = stage.spec.estimate or Estimate()
    rows = _full_rows(stage, by_name)
    note = f" ({spec.note})" if spec.note else ""
    if stage.kind.name == "judge":
        if rows is None:
            return "judge", None, "rows unknown: set limit or estimate.rows"
        return "judge", float(rows), f"{rows:,} pairs x 1 scored token (the verdict's probabilities){note}"
    if rows is None:
        return "translate", None, "rows unknown: set limit or estimate.rows"
    if spec.tokens_per_row is None:
        return "translate", None, f"{rows:,} rows; tokens unknown: set estimate.tokens_per_row"
    tokens = rows * spec.tokens_per_row
    return "translate", tokens, f"{rows:,} rows x {spec.tokens_per_row:,.0f} tokens/row = {tokens:,.0f} tokens{note}"


def _sample_rows(source: Any, by_name: dict[str, PlannedStage]) -> int | None:
    if isinstance(source, str) and REFERENCE.match(source):
        upstream = by_name.get(REFERENCE.match(source).group(1))
        if upstream is not None and upstream.kind.name == "sample-data":
            from hala_release.stages.sample_data.run import read_sample

            return len(read_sample(upstream.values["name"]))
    return None


def _dry_statuses(plan: Plan, out_dir: Path) -> dict[str, str]:
    """Which stages an incremental run would skip, judged from the local artifacts (no Hub access)."""
    from hala_release.core.refs import folder_content_hash

    statuses: dict[str, str] = {}
    pins: dict[str, str] = {}
    for stage in plan.stages:
        output = out_dir / stage.name
        if any(ref not in pins for ref in stage.upstream):
            statuses[stage.name] = "will run"
            continue
        step = {"recipe": plan.recipe.name, "stage": stage.name, "uses": stage.kind.name, "with": stage.spec.with_,
                "upstream": {ref: pins[ref] for ref in stage.upstream}, "files": stage.files}
        step["fingerprint"] = _fingerprint(step)
        try:
            fresh, reason = _up_to_date(output, step)
        except HalaError as err:
            fresh, reason = False, str(err)
        statuses[stage.name] = "up to date: would be skipped" if fresh else f"will run: {reason}"
        if fresh:
            pins[stage.name] = folder_content_hash(output)
    return statuses

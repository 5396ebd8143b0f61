"""The `hala-release` command line: one command per stage, thin wrappers over the Python API.

Every option comes from a model: a stage's config (stages/<kind>/config.py, through stages.registry) or a small
options model of a Hub or pipeline command; `cli_options.command` builds the flags, help and defaults from it.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Optional

import typer

from hala_release import __version__
from hala_release.cli_options import command
from hala_release.core.disk_space import explain_full_disk
from hala_release.core.errors import HalaError, UsageError, as_user_error
from hala_release.hub.options import (LineageOptions, PullOptions, PushDatasetOptions, PushModelOptions,
                                      PushSpaceOptions)
from hala_release.hub.submit import SubmitOptions
from hala_release.pipeline.options import NewRecipeOptions, PipelineRunOptions
from hala_release.stages.demo.config import DemoConfig
from hala_release.stages.eval.config import ReportOptions
from hala_release.stages.registry import STAGES


def _example(*lines: str) -> str:
    """An epilog of example commands, one per line. Click's `\\b` line marks the block as preformatted, so --help
    never rewraps or splits a command: each prints whole, ready to copy (tests/test_help_examples.py runs them all)."""
    return "Example:\n\n\b\n" + "\n".join(f"  {line}" for line in lines)


app = typer.Typer(
    name="hala-release",
    help=("Build, version and publish translate-and-tune artifacts (the HALA recipe). The first example runs every "
          "stage on tiny models, offline; then one stage by hand, and its push."),
    epilog=_example("hala-release pipeline run recipes/tiny.yaml",
                    "hala-release tiny-model ./runs/tiny-lfm2",
                    "hala-release push-model ./runs/tiny-lfm2 --repo-id my-org/tiny-lfm2 --tag v1"),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},  # as `hf`; every command and sub-command inherits it
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"hala-release {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the version and exit.")) -> None:
    """Build, version and publish translate-and-tune artifacts (the HALA recipe)."""


def _stage(name: str, **settings):
    """A stage's command: its options are the registered stage kind's config fields."""
    return command(app, name, STAGES[name].config, **settings)


@_stage("tiny-model", epilog=_example("hala-release tiny-model ./runs/tiny-lfm2 --arch lfm2",
                                      "hala-release tiny-model ./runs/tiny-llama --arch llama --layers 2"))
def tiny_model(config) -> None:
    """Build a tiny random causal LM with a bilingual tokenizer and chat template, offline."""
    path = STAGES["tiny-model"].run(config)
    typer.echo(f"tiny {config.arch} model written to {path}")


@_stage("sample-data", raw=True, epilog=_example("hala-release sample-data openorca ./runs/openorca-sample",
                                                 "hala-release sample-data --list"),
        utility={"list_": (bool, typer.Option(False, "--list", help="List the shipped samples and exit."))})
def sample_data(values: dict, list_: bool) -> None:
    """Write one of the shipped sample datasets (HALA source layouts) as a dataset artifact."""
    from hala_release.stages.sample_data.run import SAMPLES, read_sample

    if list_ or values.get("name") is None:
        for sample in SAMPLES.values():
            typer.echo(f"{sample.name:16} {len(read_sample(sample.name)):4} rows  layout of {sample.mimics}")
        return
    if values.get("output") is None:
        raise HalaError("missing OUTPUT folder: hala-release sample-data NAME OUTPUT")
    path = STAGES["sample-data"].run(values)
    typer.echo(f"sample {values['name']!r} written to {path}")


def _push(folder: Path, repo_id: str, repo_type: str, tag: Optional[str] = None, private: bool = False,
          branch: str = "main", options=None, **commit) -> None:
    """Publish, then say what landed where; `commit` is commit_message, commit_description and create_pr."""
    from hala_release.hub.publish import publish_folder

    result = publish_folder(folder, repo_id, repo_type, options=options, echo=typer.echo, tag=tag, private=private,
                            branch=branch, **commit)
    if result.created_commit:
        where = f"a pull request against {branch}" if result.pr_url else "one commit"
        typer.echo(f"pushed {len(result.changed_files)} changed and {len(result.deleted_files)} deleted file(s) "
                   f"in {where}")
        if result.commit_url:
            typer.echo(f"commit: {result.commit_url}")
        if result.pr_url:
            typer.echo(f"pull request: {result.pr_url} (revision {result.pr_revision})")
    else:
        typer.echo("remote already up to date: no new commit")
    if tag:
        typer.echo(f"tag: {tag}")
    prefix = "" if repo_type == "model" else f"hf://{repo_type}s/"
    typer.echo(f"pinned revision: {prefix}{repo_id}@{result.revision}")


def _check_push(config) -> None:
    """A stage that publishes when done (quantize, train, merge) checks its publishing options before it starts."""
    from hala_release.core.refs import check_repo_id
    from hala_release.hub.publish import _check_no_tag_on_pr

    if config.create_pr and not config.push_to_hub:
        raise UsageError("--create-pr opens a pull request with the pushed artifact: add --push-to-hub ORG/NAME, or "
                         "drop --create-pr")
    if config.push_to_hub:
        _check_no_tag_on_pr(check_repo_id(config.push_to_hub, "--push-to-hub"), config.tag, config.create_pr)


def _push_options(options, repo_type: str, card=None) -> None:
    _push(options.folder, options.repo_id, repo_type, options.tag, options.private, options.revision, card,
          commit_message=options.commit_message, commit_description=options.commit_description,
          create_pr=options.create_pr)


def _shards_pending(summary: dict, output) -> bool:
    """Say how far a sharded chunked run is, when it is not complete yet; True if so."""
    if summary["status"] == "complete":
        return False
    typer.echo(f"{summary['chunks_done']} of {summary['chunks']} chunks done ({summary['chunks_this_run']} by this "
               f"job). Run the same command without --num-shards/--shard-index once all shards finish, to "
               f"gather them into {output}.")
    return True


def _written(summary: dict, push_to_hub: Optional[str]) -> None:
    """Where a dataset stage wrote its artifact, then push it when asked."""
    typer.echo(f"written to {summary['output']}")
    if push_to_hub:
        _push(Path(summary["output"]), push_to_hub, "dataset")


def _card_options(options, base_model: Optional[str] = None):
    from hala_release.hub.foreign import CardOptions

    return CardOptions(license=options.license, language=tuple(options.language), base_model=base_model,
                       task_categories=tuple(getattr(options, "task_categories", ())))


@command(app, "push-dataset", PushDatasetOptions, epilog=_example(
    "hala-release push-dataset ./runs/openorca-ar --repo-id my-org/openorca-ar --tag v1",
    "hala-release push-dataset ./my-parquet-or-jsonl-or-save_to_disk --repo-id my-org/my-data --license cc-by-4.0 "
    "--language ar",
    "hala-release push-dataset ./runs/openorca-ar --repo-id my-org/my-data --create-pr --commit-message "
    "'Replace with the translated set'"))
def push_dataset(options: PushDatasetOptions) -> None:
    """Publish a dataset to the Hub as one commit (no-op if unchanged); a folder made elsewhere gets a card and
    provenance first, staged outside the folder."""
    _push_options(options, "dataset", _card_options(options))


@command(app, "push-model", PushModelOptions, epilog=_example(
    "hala-release push-model ./runs/hala-350m --repo-id my-org/hala-350m --tag v1",
    "hala-release push-model ./my-finetune --repo-id my-org/my-finetune --license apache-2.0 --language ar "
    "--base-model LiquidAI/LFM2-350M",
    "hala-release push-model ./runs/hala-350m --repo-id my-org/hala-350m --revision dev --commit-message "
    "'Dev build'"))
def push_model(options: PushModelOptions) -> None:
    """Publish a model to the Hub as one commit (no-op if unchanged); a folder made elsewhere gets a card and
    provenance first, staged outside the folder; safetensors only."""
    _push_options(options, "model", _card_options(options, options.base_model))


@command(app, "push-space", PushSpaceOptions, epilog=_example(
    "hala-release push-space --repo-id my-org/hala-demo",
    "hala-release push-space --repo-id my-org/hala-demo --chat-model my-org/hala-350m "
    "--translator hammh0a/Hala-1.2B-EN-AR-Translator"))
def push_space(options: PushSpaceOptions) -> None:
    """Publish a Gradio Space folder to the Hub as one commit (no-op if unchanged)."""
    import tempfile

    from hala_release.stages.demo.run import default_space_dir, needs_staging, stage_space

    folder = options.folder or default_space_dir()
    if not needs_staging(folder, options.chat_model, options.translator):
        _push_options(options.model_copy(update={"folder": folder}), "space")
        return
    with tempfile.TemporaryDirectory(prefix="hala-space-") as work:
        # Pushed from a staged copy: vendored modules (hala_segment.py) and the chosen models written in.
        staged = stage_space(folder, Path(work) / Path(folder).resolve().name, chat_model=options.chat_model,
                             translator=options.translator)
        _push_options(options.model_copy(update={"folder": staged}), "space")


@command(app, "demo", DemoConfig, epilog=_example(
    "hala-release demo",
    "hala-release demo --chat-model ./runs/tiny/chat --translator ./runs/tiny/translator --port 7861"))
def demo(config: DemoConfig) -> None:
    """Run the Gradio demo Space (chat + translate) locally; Ctrl-C stops it."""
    from hala_release.stages.demo.run import launch_demo

    launch_demo(block=True, **config.model_dump())


@command(app, "pull", PullOptions, epilog=_example("hala-release pull my-org/tiny-lfm2@v1 --output ./tiny",
                                                   "hala-release pull hf://datasets/my-org/openorca-ar@v1"))
def pull(options: PullOptions) -> None:
    """Fetch an artifact by ref and print the exact revision it was pinned to."""
    import shutil

    from hala_release.core.refs import resolve

    ref, output = options.ref, options.output
    resolved = resolve(ref, options.repo_type)
    path = resolved.path
    if output is not None:
        output = output.expanduser().resolve()
        if output.exists():
            raise HalaError(f"{output} already exists: choose another --output")
        from hala_release.core.disk_space import SpaceNeed, check_room, folder_bytes

        size = folder_bytes(path)
        check_room(SpaceNeed("pull", output.parent, size, size))
        shutil.copytree(path, output)
        path = output
        if resolved.hub_id and not resolved.ref.path_in_repo:  # a whole Hub repo: later cards name it
            from hala_release.artifacts.build import record_origin

            record_origin(output, resolved.ref.repo_id, resolved.ref.repo_type, resolved.pin, "pulled")
    typer.echo(f"{ref} -> {resolved.pin}")
    typer.echo(f"files: {path}")


@_stage("translate", epilog=_example(
    "hala-release translate Open-Orca/OpenOrca --model hammh0a/command-a-translate-FP8-Dynamic "
    "--output ./runs/openorca-ar --limit 405000 --engine vllm",
    "hala-release translate ./runs/tiny/openorca --engine dry-run --output ./runs/dry",
    "hala-release translate ./data --schema fields --fields 'question,turns[].text' --model ./runs/tiny/translator "
    "--engine transformers --output ./out --num-shards 8 --shard-index $SLURM_ARRAY_TASK_ID"))
def translate(config) -> None:
    """Translate a dataset's text fields, keeping code, math, links and markdown intact; resumable."""
    summary = STAGES["translate"].run(config)
    if _shards_pending(summary, config.output):
        return
    typer.echo(f"rows {summary['rows']:,} (ok {summary['rows_ok']:,}, rejected {summary['rows_rejected']:,}) | "
               f"segments {summary['segments']:,}, unique per chunk {summary['unique_segments_per_chunk']:,}, "
               f"cache hits {summary['cache_hits']:,}, failed {summary['failed_segments']:,} | "
               f"{summary['tokens_per_second']:,} tokens/s, {summary['rows_per_second']:,} rows/s")
    if summary["failures_by_reason"]:
        typer.echo("failures by reason: " + ", ".join(f"{k} {v}" for k, v in summary["failures_by_reason"].items()))
    _written(summary, config.push_to_hub)


@_stage("quantize", epilog=_example(
    "hala-release quantize CohereLabs/command-a-translate-08-2025 --output ./runs/teacher-fp8 --model-free "
    "--max-workers 4",
    "hala-release quantize ./runs/tiny/chat --output ./runs/tiny/chat-fp8 --scheme FP8_DYNAMIC"))
def quantize(config) -> None:
    """Quantize a model with llm-compressor (FP8 by default) and verify it against the original."""
    import time

    from hala_release.core.provenance import read_provenance

    _check_push(config)
    began = time.perf_counter()
    path = STAGES["quantize"].run(config)
    stats = read_provenance(path).stats
    summary = (f"quantized to {stats['scheme']} in {time.perf_counter() - began:.1f} s; model written to {path} "
               f"(weights {stats['size_ratio']:.2f}x the original")
    if config.verify:
        summary += (f"; max abs logit diff {stats['logits_max_abs_diff']:.4g}, top-1 agreement "
                    f"{stats['top1_agreement']:.1%}")
    typer.echo(summary + ")")
    if config.push_to_hub:
        _push(path, config.push_to_hub, "model", config.tag, create_pr=config.create_pr)


@_stage("train", pass_context=True, context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
        epilog=_example("hala-release train recipes/train/tiny-sft.yaml --model_name_or_path=./runs/tiny/base "
                        "--max_steps=20 --learning_rate=5e-4",
                        "accelerate launch --config_file recipes/accelerate/zero3.yaml -m hala_release.cli "
                        "train recipes/train/hala-9b-fanar.yaml"))
def train(config, ctx: typer.Context) -> None:
    """Fine-tune with TRL SFT from a recipe; --key=value overrides any recipe key; rerun to resume."""
    _check_push(config)
    outcome = STAGES["train"].run(config.model_copy(update={"overrides": list(ctx.args)}))
    typer.echo(outcome.summary)
    if config.push_to_hub:
        _push(outcome.output, config.push_to_hub, "model", config.tag, branch=outcome.hub_revision,
              create_pr=config.create_pr)


@_stage("merge", epilog=_example(
    "hala-release merge LiquidAI/LFM2-1.2B ./runs/hala-1.2b-sft --output ./runs/hala-1.2b --t 0.5 "
    "--out-shard-size 1B --lazy-unpickle"))
def merge(config) -> None:
    """Merge a fine-tuned model with its base using mergekit (slerp)."""
    import time

    _check_push(config)
    began = time.perf_counter()
    path = STAGES["merge"].run(config)
    typer.echo(f"{config.method} merge (t = {config.t}) in {time.perf_counter() - began:.1f} s; model written to "
               f"{path}")
    if config.push_to_hub:
        _push(path, config.push_to_hub, "model", config.tag, create_pr=config.create_pr)


@_stage("eval", raw=True, epilog=_example(
    "hala-release eval my-org/hala-350m --suite hala --output ./runs/eval-hala-350m --push-to-hub my-org/hala-350m-evals",
    "hala-release eval ./runs/tiny/chat --suite hala --fixtures --max-samples 2 --output ./runs/eval-tiny",
    "hala-release eval ./runs/tiny/translator --suite translation --data-dir ./benchmarks-mirror --max-samples 2 "
    "--output ./runs/eval-mt --update-model-card",
    "hala-release eval --list-tasks"),
        utility={"list_tasks": (bool, typer.Option(False, "--list-tasks",
                                                   help="List suites, benchmarks and task names, and exit."))})
def eval_(values: dict, list_tasks: bool) -> None:
    """Score a model on HALA's Arabic benchmarks or MMLU EN<->AR translation with lighteval, offline-safe."""
    from hala_release.stages.eval.report import summary_markdown
    from hala_release.stages.eval.run import list_tasks as task_lines

    if list_tasks:
        typer.echo("\n".join(task_lines()))
        return
    if values.get("model") is None or values.get("output") is None:
        raise HalaError("missing MODEL or --output: hala-release eval MODEL --suite hala --output DIR")
    config = STAGES["eval"].validate(values)
    outcome = STAGES["eval"].run(config)
    typer.echo(summary_markdown(outcome.summary))
    if outcome.summary.get("partial"):
        typer.echo(f"partial run ({'; '.join(outcome.summary['partial_reasons'])}): not comparable with full results")
    typer.echo(outcome.summary_line())
    if outcome.model_card:
        typer.echo(f"model-index written into {outcome.model_card} (and .eval_results/ beside it)")
    if config.push_to_hub:
        _push(outcome.path, config.push_to_hub, "dataset")


@command(app, "report", ReportOptions, epilog=_example(
    "hala-release report ./runs/tiny/eval --output ./runs/report-tiny",
    "hala-release report hf://datasets/my-org/hala-350m-evals ./runs/tiny/eval --output ./runs/report --no-published"))
def report(options: ReportOptions) -> None:
    """Compare evaluated models of one suite: a markdown report with a bar chart (PNG) and a scores table."""
    from hala_release.stages.eval.report import REPORT_FILE, build_report

    path = build_report(options.results, options.output, published=options.published, overwrite=options.overwrite)
    typer.echo(f"report of {len(options.results)} result(s) written to {path / REPORT_FILE}")


@command(app, "submit", SubmitOptions, epilog=_example(
    "hala-release submit my-org/hala-350m@v1 --leaderboard oall-v2 --model-type chat --requests-repo my-org/oall-requests"))
def submit(options: SubmitOptions) -> None:
    """Queue a model on a leaderboard: check it (pinned Hub commit, licence, safetensors), then commit the request
    file the leaderboard's own submission form writes."""
    from hala_release.hub.submit import submit_model

    result = submit_model(options)
    request = result.request
    typer.echo(f"queued {request['model']}@{request['revision']} ({request['precision']}, {request['weight_type']}, "
               f"{request['params']}B params, licence {request['license']}): status {request['status']}")
    typer.echo(f"request: hf://datasets/{result.requests_repo}/{result.path_in_repo}")
    if result.commit_url:
        typer.echo(f"commit: {result.commit_url}")


@_stage("judge", epilog=_example(
    "hala-release judge Helsinki-NLP/opus-100 --subset ar-en --judge Qwen/Qwen2.5-3B-Instruct --output ./runs/opus-judged",
    "hala-release judge ./runs/tiny/opus --judge ./runs/tiny/judge-model --engine transformers --output ./runs/judged "
    "--threshold 0.45"))
def judge(config) -> None:
    """Filter a parallel corpus: cheap rule-based filters, then an LLM judge's ACCEPT probability."""
    summary = STAGES["judge"].run(config)
    if _shards_pending(summary, config.output):
        return
    counts = summary["counts"]
    typer.echo(f"pairs {summary['rows']:,}: kept {counts['kept']:,}, below threshold {counts['judge']:,}, "
               + ", ".join(f"{name} {counts[name]:,}" for name in counts if name not in ("kept", "judge")))
    _written(summary, config.push_to_hub)


def _mixed(summary: dict, push_to_hub: Optional[str]) -> None:
    typer.echo(f"train {summary['train']:,}, test {summary['test']:,} | " +
               ", ".join(f"{k} {v:,}" for k, v in summary["counts"].items()))
    _written(summary, push_to_hub)


@_stage("mix", epilog=_example(
    "hala-release mix --translated ./runs/tiny/openorca-ar --parallel ./runs/tiny/opus-judged --eval-size 20 "
    "--output ./runs/translator-sft",
    "hala-release mix --translated my-org/openorca-ar@v1 --directions en-ar --eval-size 0 --seed 7 --output ./mix"))
def mix(config) -> None:
    """Build a bilingual translator SFT set (chat messages) from translated data and parallel pairs."""
    _mixed(STAGES["mix"].run(config), config.push_to_hub)


@_stage("chat-mix", epilog=_example(
    "hala-release chat-mix --translated ./runs/tiny/openorca-ar --translated ./runs/tiny/tulu3-ar --include-source "
    "--eval-size 4 --output ./runs/chat-sft-data"))
def chat_mix(config) -> None:
    """Build one target-language chat SFT set (`messages`) from translated instruction datasets of any layout."""
    _mixed(STAGES["chat-mix"].run(config), config.push_to_hub)


pipeline_app = typer.Typer(help="Run a whole recipe of stages (YAML), incrementally.", no_args_is_help=True,
                            rich_markup_mode=None, pretty_exceptions_enable=False)
app.add_typer(pipeline_app, name="pipeline", epilog=_example("hala-release pipeline run recipes/tiny.yaml"))


@command(pipeline_app, "run", PipelineRunOptions, epilog=_example(
    "hala-release pipeline run recipes/tiny.yaml --output-dir ./runs/tiny",
    "hala-release pipeline run recipes/hala.yaml --dry-run --push-to-hub my-org",
    "hala-release pipeline run recipes/tiny.yaml --dry-run --calibrate 8 --tokens-per-second 2500",
    "hala-release pipeline run recipes/tiny.yaml --push-to-hub my-org --from chat"))
def pipeline_run(options: PipelineRunOptions) -> None:
    """Run a recipe's stages in order; a stage whose artifact exists with the same config and input pins is skipped."""
    from hala_release.pipeline.run import explain, run_pipeline, summary_lines

    if options.dry_run:
        typer.echo("\n".join(explain(options.recipe, output_dir=options.output_dir, push_to_hub=options.push_to_hub,
                                     calibrate=options.calibrate, tokens_per_second=options.tokens_per_second,
                                     echo=typer.echo)))
        return
    if options.calibrate or options.tokens_per_second:
        raise UsageError("--calibrate and --tokens-per-second price a run before it starts: add --dry-run")
    run = run_pipeline(options.recipe, output_dir=options.output_dir, push_to_hub=options.push_to_hub,
                       from_stage=options.from_stage, only=options.only, private=options.private, echo=typer.echo)
    typer.echo("")
    typer.echo("\n".join(summary_lines(run)))


@command(app, "new-recipe", NewRecipeOptions, epilog=_example(
    "hala-release new-recipe --target-lang tr --output recipes/hala-tr.yaml",
    "hala-release new-recipe --target-lang sw --teacher google/gemma-3-27b-it --parallel my-org/en-sw-pairs "
    "--output recipes/hala-sw.yaml"))
def new_recipe(options: NewRecipeOptions) -> None:
    """Write HALA's recipe for another language: teacher, parallel corpus, bases and that language's benchmarks."""
    from hala_release.core.languages import hub_code
    from hala_release.pipeline.new_recipe import write_recipe

    output = options.output or Path("recipes") / f"hala-{hub_code(options.target_lang)}.yaml"
    path = write_recipe(options.target_lang, output, teacher=options.teacher, parallel=options.parallel,
                        parallel_subset=options.parallel_subset, overwrite=options.overwrite)
    typer.echo(f"recipe written to {path}; check and price it with: hala-release pipeline run {path} --dry-run "
               f"--calibrate 200")


@command(app, "lineage", LineageOptions, epilog=_example(
    "hala-release lineage ./runs/tiny/eval",
    "hala-release lineage my-org/hala-350m@v1 --format mermaid --output lineage.md",
    "hala-release lineage hf://datasets/my-org/openorca-ar@v1 --format json"))
def lineage(options: LineageOptions) -> None:
    """Print the tree of everything an artifact was built from, with pins, read from provenance files."""
    from hala_release.hub.lineage import build_lineage, render

    text = render(build_lineage(options.ref, options.repo_type), options.format)
    if options.output is None:
        typer.echo(text)
        return
    options.output.write_text(text + "\n", encoding="utf-8")
    typer.echo(f"lineage of {options.ref} written to {options.output}")


def main(argv: list[str] | None = None) -> int:
    """Entry point: user mistakes print one line on stderr and exit non-zero, never a traceback."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per HTTP request otherwise
    try:
        # Standalone mode: Typer prints usage errors and --help itself, then raises SystemExit. A full disk that no
        # stage explained itself (a push, a pull, a download) still ends in one line.
        with explain_full_disk(None, "the command", "free space on the disk it writes to, then rerun the command"):
            app(args=argv, prog_name="hala-release")
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    except HalaError as err:
        typer.echo(f"error: {err}", err=True)
        return err.exit_code
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        return 130
    except Exception as exc:
        error = as_user_error(exc)  # library exceptions caused by user mistakes; anything else is a bug
        if error is None:
            raise
        typer.echo(f"error: {error}", err=True)
        return error.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())

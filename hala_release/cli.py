"""The `hala-release` command line: one command per stage, thin wrappers over the Python API."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Optional

import typer

from hala_release import __version__
from hala_release.core.errors import HalaError, as_user_error


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
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"hala-release {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the version and exit.")) -> None:
    """Build, version and publish translate-and-tune artifacts (the HALA recipe)."""


@app.command("tiny-model", epilog=_example("hala-release tiny-model ./runs/tiny-lfm2 --arch lfm2",
                                           "hala-release tiny-model ./runs/tiny-llama --arch llama --layers 2"))
def tiny_model(
    output: Path = typer.Argument(..., help="Folder to write the model artifact to."),
    arch: str = typer.Option("lfm2", help="Architecture: lfm2 (HALA's small bases) or llama."),
    seed: int = typer.Option(0, help="Random seed for the weights."),
    vocab_size: int = typer.Option(2048, help="Tokenizer vocabulary size."),
    hidden_size: int = typer.Option(128, help="Hidden size (head size = hidden / heads, at least 32)."),
    layers: int = typer.Option(4, help="Number of layers."),
    heads: int = typer.Option(4, help="Attention heads."),
    overwrite: bool = typer.Option(False, help="Replace an existing output folder."),
) -> None:
    """Build a tiny random causal LM with a bilingual tokenizer and chat template, offline."""
    from hala_release.stages.tiny_model.run import build_tiny_model

    path = build_tiny_model(output, arch=arch, seed=seed, vocab_size=vocab_size, hidden_size=hidden_size,
                            layers=layers, heads=heads, overwrite=overwrite)
    typer.echo(f"tiny {arch} model written to {path}")


@app.command("sample-data", epilog=_example("hala-release sample-data openorca ./runs/openorca-sample",
                                            "hala-release sample-data --list"))
def sample_data(
    name: Optional[str] = typer.Argument(None, help="Sample name (see --list)."),
    output: Optional[Path] = typer.Argument(None, help="Folder to write the dataset artifact to."),
    list_: bool = typer.Option(False, "--list", help="List the shipped samples and exit."),
    overwrite: bool = typer.Option(False, help="Replace an existing output folder."),
) -> None:
    """Write one of the shipped sample datasets (HALA source layouts) as a dataset artifact."""
    from hala_release.stages.sample_data.run import SAMPLES, export_sample, read_sample

    if list_ or name is None:
        for sample in SAMPLES.values():
            typer.echo(f"{sample.name:16} {len(read_sample(sample.name)):4} rows  layout of {sample.mimics}")
        return
    if output is None:
        raise HalaError("missing OUTPUT folder: hala-release sample-data NAME OUTPUT")
    path = export_sample(name, output, overwrite=overwrite)
    typer.echo(f"sample {name!r} written to {path}")


def _push(folder: Path, repo_id: str, repo_type: str, tag: Optional[str], private: bool, branch: str,
          options=None) -> None:
    from hala_release.hub.publish import publish_folder

    result = publish_folder(folder, repo_id, repo_type, options=options, echo=typer.echo, tag=tag, private=private,
                            branch=branch)
    if result.created_commit:
        typer.echo(f"pushed {len(result.changed_files)} changed and {len(result.deleted_files)} deleted file(s) "
                   f"in one commit")
        if result.commit_url:
            typer.echo(f"commit: {result.commit_url}")
    else:
        typer.echo("remote already up to date: no new commit")
    if tag:
        typer.echo(f"tag: {tag}")
    prefix = "" if repo_type == "model" else f"hf://{repo_type}s/"
    typer.echo(f"pinned revision: {prefix}{repo_id}@{result.revision}")


def _shards_pending(summary: dict, output: Path) -> bool:
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
        _push(Path(summary["output"]), push_to_hub, "dataset", None, False, "main")


_PUSH_OPTIONS = dict(
    repo_id=typer.Option(..., "--repo-id", help="Target repo, org/name."),
    tag=typer.Option(None, help="Tag to create on the pushed commit (never moved once created)."),
    private=typer.Option(False, help="Create the repo as private if it does not exist yet."),
    branch=typer.Option("main", help="Branch to commit to (created from main if missing)."),
    license=typer.Option(None, "--license", help="Folder made elsewhere: its Hub licence id, e.g. cc-by-4.0 "
                                                 "(default: the folder's own README license)."),
    language=typer.Option([], "--language", help="Folder made elsewhere: a language code for the card "
                                                  "(repeatable, or comma-separated: ar,en)."),
)


def _card_options(license: Optional[str], language: list[str], base_model: Optional[str] = None):
    from hala_release.hub.foreign import CardOptions

    return CardOptions(license=license, language=tuple(language), base_model=base_model)


@app.command("push-dataset", epilog=_example(
    "hala-release push-dataset ./runs/openorca-ar --repo-id my-org/openorca-ar --tag v1",
    "hala-release push-dataset ./my-parquet-or-jsonl-or-save_to_disk --repo-id my-org/my-data --license cc-by-4.0 "
    "--language ar"))
def push_dataset(folder: Path = typer.Argument(..., help="Dataset artifact folder, or any folder of Parquet, JSON "
                                                         "Lines or CSV files, or a `save_to_disk` dataset."),
                 repo_id: str = _PUSH_OPTIONS["repo_id"], tag: Optional[str] = _PUSH_OPTIONS["tag"],
                 private: bool = _PUSH_OPTIONS["private"], branch: str = _PUSH_OPTIONS["branch"],
                 license: Optional[str] = _PUSH_OPTIONS["license"],
                 language: list[str] = _PUSH_OPTIONS["language"]) -> None:
    """Publish a dataset to the Hub as one commit (no-op if unchanged); a folder made elsewhere gets a card and
    provenance first, staged outside the folder."""
    _push(folder, repo_id, "dataset", tag, private, branch, _card_options(license, language))


@app.command("push-model", epilog=_example(
    "hala-release push-model ./runs/hala-350m --repo-id my-org/hala-350m --tag v1",
    "hala-release push-model ./my-finetune --repo-id my-org/my-finetune --license apache-2.0 --language ar "
    "--base-model LiquidAI/LFM2-350M"))
def push_model(folder: Path = typer.Argument(..., help="Model artifact folder, or any transformers model folder "
                                                       "(config.json + *.safetensors)."),
               repo_id: str = _PUSH_OPTIONS["repo_id"], tag: Optional[str] = _PUSH_OPTIONS["tag"],
               private: bool = _PUSH_OPTIONS["private"], branch: str = _PUSH_OPTIONS["branch"],
               license: Optional[str] = _PUSH_OPTIONS["license"], language: list[str] = _PUSH_OPTIONS["language"],
               base_model: Optional[str] = typer.Option(None, help="Folder made elsewhere: the Hub id it was "
                                                                   "fine-tuned from, org/name.")) -> None:
    """Publish a model to the Hub as one commit (no-op if unchanged); a folder made elsewhere gets a card and
    provenance first, staged outside the folder; safetensors only."""
    _push(folder, repo_id, "model", tag, private, branch, _card_options(license, language, base_model))


@app.command("push-space", epilog=_example(
    "hala-release push-space spaces/demo --repo-id my-org/hala-demo",
    "hala-release push-space spaces/demo --repo-id my-org/hala-demo --chat-model my-org/hala-350m "
    "--translator hammh0a/Hala-1.2B-EN-AR-Translator"))
def push_space(folder: Path = typer.Argument(..., help="Space folder (README.md with Space YAML, app file)."),
               repo_id: str = _PUSH_OPTIONS["repo_id"], tag: Optional[str] = _PUSH_OPTIONS["tag"],
               private: bool = _PUSH_OPTIONS["private"], branch: str = _PUSH_OPTIONS["branch"],
               chat_model: Optional[str] = typer.Option(None, help="Chat model the Space serves: Hub id "
                                                        "org/name[@rev], written into README models: and models.json."),
               translator: Optional[str] = typer.Option(None, help="Translator model the Space serves, likewise.")) -> None:
    """Publish a Gradio Space folder to the Hub as one commit (no-op if unchanged)."""
    import tempfile

    from hala_release.stages.demo.run import needs_staging, stage_space

    if not needs_staging(folder, chat_model, translator):
        _push(folder, repo_id, "space", tag, private, branch)
        return
    with tempfile.TemporaryDirectory(prefix="hala-space-") as work:
        # Pushed from a staged copy: vendored modules (hala_segment.py) and the chosen models written in.
        staged = stage_space(folder, Path(work) / Path(folder).resolve().name, chat_model=chat_model,
                             translator=translator)
        _push(staged, repo_id, "space", tag, private, branch)


@app.command("demo", epilog=_example(
    "hala-release demo",
    "hala-release demo --chat-model ./runs/tiny/chat --translator ./runs/tiny/translator --port 7861"))
def demo(
    chat_model: Optional[str] = typer.Option(None, help="Chat model ref: org/name[@rev] or a local folder "
                                                        "(default: $HALA_CHAT_MODEL, else the released HALA model)."),
    translator: Optional[str] = typer.Option(None, help="Translator model ref (default: $HALA_TRANSLATOR_MODEL, "
                                                        "else HALA's EN-AR translator)."),
    host: str = typer.Option("127.0.0.1", help="Address to serve on (0.0.0.0 to share on your network)."),
    port: int = typer.Option(7860, help="Port to serve on."),
    space: Optional[Path] = typer.Option(None, help="Space folder to run (default: the repo's spaces/demo)."),
) -> None:
    """Run the Gradio demo Space (chat + translate) locally; Ctrl-C stops it."""
    from hala_release.stages.demo.run import launch_demo

    launch_demo(chat_model, translator, host=host, port=port, space=space, block=True)


@app.command("pull", epilog=_example("hala-release pull my-org/tiny-lfm2@v1 --output ./tiny",
                                     "hala-release pull hf://datasets/my-org/openorca-ar@v1"))
def pull(
    ref: str = typer.Argument(..., help="org/name[@rev], hf://datasets/org/name[@rev], or a local folder."),
    repo_type: str = typer.Option("model", help="Repo type when REF does not say: model, dataset or space."),
    output: Optional[Path] = typer.Option(None, help="Copy the snapshot here (default: print the cache path)."),
) -> None:
    """Fetch an artifact by ref and print the exact revision it was pinned to."""
    import shutil

    from hala_release.core.refs import resolve

    resolved = resolve(ref, repo_type)
    path = resolved.path
    if output is not None:
        output = output.expanduser().resolve()
        if output.exists():
            raise HalaError(f"{output} already exists: choose another --output")
        shutil.copytree(path, output)
        path = output
        if resolved.hub_id and not resolved.ref.path_in_repo:  # a whole Hub repo: later cards name it
            from hala_release.artifacts.build import record_origin

            record_origin(output, resolved.ref.repo_id, resolved.ref.repo_type, resolved.pin, "pulled")
    typer.echo(f"{ref} -> {resolved.pin}")
    typer.echo(f"files: {path}")


@app.command("translate", epilog=_example(
    "hala-release translate Open-Orca/OpenOrca --model hammh0a/command-a-translate-FP8-Dynamic "
    "--output ./runs/openorca-ar --limit 405000 --engine vllm",
    "hala-release translate ./runs/tiny/openorca --engine dry-run --output ./runs/dry",
    "hala-release translate ./data --schema fields --fields 'question,turns[].text' --model ./runs/tiny/translator "
    "--engine transformers --output ./out --num-shards 8 --shard-index $SLURM_ARRAY_TASK_ID"))
def translate(
    source: str = typer.Argument(..., help="Dataset ref: org/name[@rev], hf://datasets/..., or a local folder."),
    output: Path = typer.Option(..., help="Folder to write the translated dataset artifact to."),
    model: Optional[str] = typer.Option(None, help="Translator model ref (or the served name for --engine openai)."),
    source_lang: str = typer.Option("en", help="Language code of the source text."),
    target_lang: str = typer.Option("ar", help="Language code to translate into."),
    schema: str = typer.Option("auto", help="auto, fields, or one of: openorca, sharegpt, messages, alpaca, "
                                             "alpaca-classic, scp, lamini, pairwise, parallel."),
    fields: Optional[str] = typer.Option(None, help="With --schema fields: comma list, e.g. 'question,turns[].text'."),
    split: str = typer.Option("train", help="Split to translate."),
    subset: Optional[str] = typer.Option(None, help="Dataset config name, e.g. ar-en."),
    limit: Optional[int] = typer.Option(None, help="Translate only the first N rows."),
    engine: str = typer.Option("vllm", help="vllm, openai, transformers or dry-run (echo: for benchmarks only)."),
    prompt_template: str = typer.Option("hala-teacher", help="hala-teacher, hala-translator, or a YAML file."),
    batch_size: Optional[int] = typer.Option(None, help="Segments per engine call (default: 1024 for vllm, 64 for transformers)."),
    max_tokens: int = typer.Option(1024, help="Maximum new tokens per segment."),
    max_chars: int = typer.Option(1500, help="Longer lines are split at sentence ends into segments of this size."),
    temperature: float = typer.Option(0.0, help="Sampling temperature of the first attempt."),
    max_retries: int = typer.Option(2, help="Retries for segments failing a quality gate."),
    quality_gates: bool = typer.Option(True, help="Check script, copies, length ratio and loops (lost spans are always checked)."),
    dedup: bool = typer.Option(True, help="Translate identical segments once."),
    cache: bool = typer.Option(True, help="Use the persistent translation cache."),
    cache_dir: Optional[str] = typer.Option(None, help="Cache folder (default $HALA_CACHE_DIR or ~/.cache/hala-release)."),
    chunk_size: int = typer.Option(1000, help="Rows per resumable chunk."),
    num_shards: int = typer.Option(1, help="Split the chunks among N jobs (e.g. a Slurm array)."),
    shard_index: int = typer.Option(0, help="Which of the N shards this job runs."),
    executor: str = typer.Option("local", help="local or ray."),
    workers: int = typer.Option(1, help="Local worker processes (helps CPU-bound engines: dry-run, openai)."),
    ray_address: Optional[str] = typer.Option(None, help="Ray cluster address (default: start a local Ray)."),
    ray_workers: int = typer.Option(1, help="Ray workers, each holding one engine."),
    api_base: Optional[str] = typer.Option(None, help="OpenAI-compatible server URL, e.g. http://localhost:8000/v1."),
    concurrency: int = typer.Option(32, help="Concurrent requests to an OpenAI-compatible server."),
    tensor_parallel_size: int = typer.Option(1, help="vLLM: GPUs one engine spans (e.g. 8 for a 111B teacher)."),
    trust_remote_code: bool = typer.Option(False, help="Allow model code from the model repo (off by default)."),
    overwrite: bool = typer.Option(False, help="Replace an existing output folder."),
    push_to_hub: Optional[str] = typer.Option(None, help="Push the finished artifact to this dataset repo."),
) -> None:
    """Translate a dataset's text fields, keeping code, math, links and markdown intact; resumable."""
    from hala_release.engines.quality import GateConfig
    from hala_release.stages.translate.run import TranslateConfig, run_translate

    config = TranslateConfig(
        source=source, output=str(output), model=model, source_lang=source_lang, target_lang=target_lang,
        schema=schema, fields=[f for f in (fields or "").split(",") if f.strip()], split=split, subset=subset,
        limit=limit, engine=engine, prompt_template=prompt_template, batch_size=batch_size, max_tokens=max_tokens,
        max_chars=max_chars, temperature=temperature, max_retries=max_retries, gates=GateConfig(enabled=quality_gates), dedup=dedup,
        cache=cache, cache_dir=cache_dir, chunk_size=chunk_size, num_shards=num_shards, shard_index=shard_index,
        executor=executor, workers=workers, ray_address=ray_address, ray_workers=ray_workers, api_base=api_base,
        concurrency=concurrency, tensor_parallel_size=tensor_parallel_size, trust_remote_code=trust_remote_code,
        overwrite=overwrite, push_to_hub=push_to_hub)
    summary = run_translate(config)
    if _shards_pending(summary, output):
        return
    typer.echo(f"rows {summary['rows']:,} (ok {summary['rows_ok']:,}, rejected {summary['rows_rejected']:,}) | "
               f"segments {summary['segments']:,}, unique per chunk {summary['unique_segments_per_chunk']:,}, "
               f"cache hits {summary['cache_hits']:,}, failed {summary['failed_segments']:,} | "
               f"{summary['tokens_per_second']:,} tokens/s, {summary['rows_per_second']:,} rows/s")
    if summary["failures_by_reason"]:
        typer.echo("failures by reason: " + ", ".join(f"{k} {v}" for k, v in summary["failures_by_reason"].items()))
    _written(summary, push_to_hub)


@app.command("quantize", epilog=_example(
    "hala-release quantize CohereLabs/command-a-translate-08-2025 --output ./runs/teacher-fp8 --model-free",
    "hala-release quantize ./runs/tiny/chat --output ./runs/tiny/chat-fp8 --scheme FP8_DYNAMIC"))
def quantize(
    model: str = typer.Argument(..., help="Model ref: org/name[@rev] or a local folder."),
    output: Path = typer.Option(..., "--output", help="Folder to write the quantized model artifact to."),
    scheme: str = typer.Option("FP8_DYNAMIC", help="compressed-tensors preset (data-free), e.g. FP8_DYNAMIC, W8A16."),
    ignore: list[str] = typer.Option(["lm_head"], help="Module to leave unquantized (repeatable; 're:' for regex)."),
    model_free: bool = typer.Option(False, "--model-free", help="Quantize straight from the safetensors shards "
                                    "without loading the model (for 100B+ models)."),
    verify: bool = typer.Option(True, help="Reload the result and compare logits with the original."),
    trust_remote_code: bool = typer.Option(False, help="Allow custom modelling code from the model repo."),
    overwrite: bool = typer.Option(False, help="Replace an existing output folder."),
    push_to_hub: Optional[str] = typer.Option(None, "--push-to-hub", help="Publish the artifact to this repo id."),
    tag: Optional[str] = typer.Option(None, help="Tag for the pushed commit (with --push-to-hub)."),
) -> None:
    """Quantize a model with llm-compressor (FP8 by default) and verify it against the original."""
    from hala_release.core.provenance import read_provenance
    from hala_release.stages.quantize.run import quantize_model

    path = quantize_model(model, output, scheme=scheme, ignore=ignore, model_free=model_free, verify=verify,
                          trust_remote_code=trust_remote_code, overwrite=overwrite)
    stats = read_provenance(path).stats
    summary = f"{scheme} model written to {path} (weights {stats['size_ratio']:.2f}x the original"
    if verify:
        summary += (f"; max abs logit diff {stats['logits_max_abs_diff']:.4g}, top-1 agreement "
                    f"{stats['top1_agreement']:.1%}")
    typer.echo(summary + ")")
    if push_to_hub:
        _push(path, push_to_hub, "model", tag, False, "main")


@app.command("train", context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
             epilog=_example("hala-release train recipes/train/tiny-sft.yaml --model_name_or_path=./runs/tiny/base "
                             "--max_steps=20 --learning_rate=5e-4",
                             "accelerate launch --config_file recipes/accelerate/zero3.yaml -m hala_release.cli "
                             "train recipes/train/hala-9b-fanar.yaml"))
def train(
    ctx: typer.Context,
    recipe: Path = typer.Argument(..., help="Training recipe YAML (TRL SFTConfig fields + model/dataset refs)."),
    push_to_hub: Optional[str] = typer.Option(None, "--push-to-hub", help="Publish the artifact to this repo id."),
    tag: Optional[str] = typer.Option(None, help="Tag for the pushed commit (with --push-to-hub)."),
) -> None:
    """Fine-tune with TRL SFT from a recipe; --key=value overrides any recipe key; rerun to resume."""
    from hala_release.stages.train.run import train_model

    outcome = train_model(recipe, list(ctx.args))
    resumed = f", resumed from step {outcome.resumed_from_step}" if outcome.resumed_from_step is not None else ""
    typer.echo(f"trained to step {outcome.global_step} in {outcome.seconds:.1f} s{resumed}; final train loss "
               f"{outcome.final_loss}; model written to {outcome.output}")
    if push_to_hub:
        _push(outcome.output, push_to_hub, "model", tag, False, "main")


@app.command("merge", epilog=_example(
    "hala-release merge LiquidAI/LFM2-1.2B ./runs/hala-1.2b-sft --output ./runs/hala-1.2b --t 0.5"))
def merge(
    base: str = typer.Argument(..., help="Base model ref (t = 0)."),
    tuned: str = typer.Argument(..., help="Fine-tuned model ref (t = 1)."),
    output: Path = typer.Option(..., "--output", help="Folder to write the merged model artifact to."),
    method: str = typer.Option("slerp", help="Merge method (slerp)."),
    t: float = typer.Option(0.5, "--t", help="Interpolation factor: 0 = base, 1 = tuned."),
    dtype: Optional[str] = typer.Option(None, help="Output dtype (default: the base model's)."),
    trust_remote_code: bool = typer.Option(False, help="Allow custom modelling code from the model repos."),
    overwrite: bool = typer.Option(False, help="Replace an existing output folder."),
    push_to_hub: Optional[str] = typer.Option(None, "--push-to-hub", help="Publish the artifact to this repo id."),
    tag: Optional[str] = typer.Option(None, help="Tag for the pushed commit (with --push-to-hub)."),
) -> None:
    """Merge a fine-tuned model with its base using mergekit (slerp)."""
    from hala_release.stages.merge.run import merge_models

    path = merge_models(base, tuned, output, method=method, t=t, dtype=dtype, trust_remote_code=trust_remote_code,
                        overwrite=overwrite)
    typer.echo(f"{method} merge (t = {t}) written to {path}")
    if push_to_hub:
        _push(path, push_to_hub, "model", tag, False, "main")


@app.command("eval", epilog=_example(
    "hala-release eval my-org/hala-350m --suite hala --output ./runs/eval-hala-350m --push-results my-org/hala-350m-evals",
    "hala-release eval ./runs/tiny/chat --suite hala --fixtures --max-samples 2 --output ./runs/eval-tiny",
    "hala-release eval ./runs/tiny/translator --suite translation --data-dir ./benchmarks-mirror --max-samples 2 "
    "--output ./runs/eval-mt --update-model-card",
    "hala-release eval --list-tasks"))
def eval_(
    model: Optional[str] = typer.Argument(None, help="Model to evaluate: org/name[@rev] or a local folder."),
    suite: str = typer.Option("hala", help="hala, oall-v2, translation, or a file listing tasks (one per line)."),
    output: Optional[Path] = typer.Option(None, help="Folder to write the results artifact to."),
    backend: str = typer.Option("transformers", help="transformers (CPU or GPU) or vllm (GPU)."),
    max_samples: Optional[int] = typer.Option(None, help="Score at most N samples per task (quick, not comparable)."),
    data_dir: Optional[Path] = typer.Option(None, help="Read benchmarks from DIR/<org>/<name>/ instead of the Hub."),
    fixtures: bool = typer.Option(False, help="Use the shipped tiny fixture benchmarks (tests, demos; implies "
                                              "--allow-partial)."),
    allow_partial: bool = typer.Option(False, help="Score the subsets present under --data-dir, skipping missing ones."),
    batch_size: Optional[int] = typer.Option(None, help="Batch size (default: lighteval picks one)."),
    dtype: Optional[str] = typer.Option(None, help="Model dtype, e.g. bfloat16 (default: the backend's)."),
    model_name: Optional[str] = typer.Option(None, help="org/name in results and leaderboard files (default: the Hub "
                                                        "id, or local/<folder>)."),
    cache_dir: Optional[Path] = typer.Option(None, help="Keep per-sample predictions here between runs (keyed by the "
                                                        "model's and data's pins)."),
    update_model_card: bool = typer.Option(False, help="Write model-index entries into the (local) model's card."),
    push_results: Optional[str] = typer.Option(None, help="Push the results artifact to this dataset repo, ORG/NAME."),
    published: bool = typer.Option(True, "--published/--no-published", help="Show HALA's published scores in the "
                                                                           "report."),
    overwrite: bool = typer.Option(False, help="Replace an existing output folder."),
    list_tasks: bool = typer.Option(False, "--list-tasks", help="List suites, benchmarks and task names, and exit."),
) -> None:
    """Score a model on HALA's Arabic benchmarks or MMLU EN<->AR translation with lighteval, offline-safe."""
    from hala_release.stages.eval.run import list_tasks as task_lines, run_eval
    from hala_release.stages.eval.report import summary_markdown

    if list_tasks:
        typer.echo("\n".join(task_lines()))
        return
    if model is None or output is None:
        raise HalaError("missing MODEL or --output: hala-release eval MODEL --suite hala --output DIR")
    outcome = run_eval(model, suite=suite, output=output, backend=backend, max_samples=max_samples,
                       data_dir=data_dir, fixtures=fixtures, allow_partial=allow_partial, batch_size=batch_size,
                       dtype=dtype, model_name=model_name, cache_dir=cache_dir, update_model_card=update_model_card,
                       results_repo=push_results, published=published, overwrite=overwrite)
    typer.echo(summary_markdown(outcome.summary))
    if outcome.summary.get("partial"):
        typer.echo(f"partial run ({'; '.join(outcome.summary['partial_reasons'])}): not comparable with full results")
    typer.echo(f"results written to {outcome.path}")
    if outcome.model_card:
        typer.echo(f"model-index written into {outcome.model_card}")
    if push_results:
        _push(outcome.path, push_results, "dataset", None, False, "main")


@app.command("report", epilog=_example(
    "hala-release report ./runs/tiny/eval --output ./runs/report-tiny",
    "hala-release report hf://datasets/my-org/hala-350m-evals ./runs/tiny/eval --output ./runs/report --no-published"))
def report(
    results: list[str] = typer.Argument(..., help="Eval results: `hala-release eval` output folders or pushed repos."),
    output: Path = typer.Option(..., help="Folder to write the report artifact to."),
    published: bool = typer.Option(True, "--published/--no-published", help="Add HALA's published scores, labelled "
                                                                           "as published."),
    overwrite: bool = typer.Option(False, help="Replace an existing output folder."),
) -> None:
    """Compare evaluated models of one suite: a markdown report with a bar chart (PNG) and a scores table."""
    from hala_release.stages.eval.report import REPORT_FILE, build_report

    path = build_report(results, output, published=published, overwrite=overwrite)
    typer.echo(f"report of {len(results)} result(s) written to {path / REPORT_FILE}")


@app.command("judge", epilog=_example(
    "hala-release judge Helsinki-NLP/opus-100 --subset ar-en --judge Qwen/Qwen2.5-3B-Instruct --output ./runs/opus-judged",
    "hala-release judge ./runs/tiny/opus --judge ./runs/tiny/judge-model --engine transformers --output ./runs/judged "
    "--threshold 0.45"))
def judge(
    source: str = typer.Argument(..., help="Parallel corpus ref (a `translation` {lang: text} column, or see --source-field)."),
    judge_model: str = typer.Option(..., "--judge", help="Judge model ref (a chat model)."),
    output: Path = typer.Option(..., help="Folder to write the filtered corpus artifact to."),
    source_lang: str = typer.Option("en", help="Source language code."),
    target_lang: str = typer.Option("ar", help="Target language code."),
    source_field: Optional[str] = typer.Option(None, help="Column with the source side (instead of `translation`)."),
    target_field: Optional[str] = typer.Option(None, help="Column with the target side."),
    split: str = typer.Option("train", help="Split to filter."),
    subset: Optional[str] = typer.Option(None, help="Dataset config name, e.g. ar-en."),
    limit: Optional[int] = typer.Option(None, help="Only the first N pairs."),
    threshold: float = typer.Option(0.5, help="Keep pairs whose P(accept) is at least this."),
    engine: str = typer.Option("vllm", help="vllm or transformers."),
    prompt_template: str = typer.Option("hala-judge", help="hala-judge, or a YAML file with {source} and {target}."),
    verdicts: str = typer.Option("ACCEPT,REJECT", help="The accepting and rejecting verdict words."),
    batch_size: Optional[int] = typer.Option(None, help="Pairs per engine call (default: 1024 for vllm, 64 for transformers)."),
    chunk_size: int = typer.Option(1000, help="Pairs per resumable chunk."),
    num_shards: int = typer.Option(1, help="Split the chunks among N jobs."),
    shard_index: int = typer.Option(0, help="Which of the N shards this job runs."),
    dtype: str = typer.Option("auto", help="Model dtype (auto, float32, bfloat16)."),
    tensor_parallel_size: int = typer.Option(1, help="vLLM: GPUs one engine spans."),
    trust_remote_code: bool = typer.Option(False, help="Allow model code from the model repo (off by default)."),
    overwrite: bool = typer.Option(False, help="Replace an existing output folder."),
    push_to_hub: Optional[str] = typer.Option(None, help="Push the finished artifact to this dataset repo."),
) -> None:
    """Filter a parallel corpus: cheap rule-based filters, then an LLM judge's ACCEPT probability."""
    from hala_release.stages.judge.run import JudgeConfig, run_judge

    words = tuple(w.strip() for w in verdicts.split(",") if w.strip())
    if len(words) != 2:
        raise HalaError("--verdicts takes exactly two words, the accepting one first (e.g. ACCEPT,REJECT)")
    config = JudgeConfig(
        source=source, judge=judge_model, output=str(output), source_lang=source_lang, target_lang=target_lang,
        source_field=source_field, target_field=target_field, split=split, subset=subset, limit=limit,
        threshold=threshold, engine=engine, prompt_template=prompt_template, verdicts=words, batch_size=batch_size,
        chunk_size=chunk_size, num_shards=num_shards, shard_index=shard_index, dtype=dtype,
        tensor_parallel_size=tensor_parallel_size, trust_remote_code=trust_remote_code, overwrite=overwrite,
        push_to_hub=push_to_hub)
    summary = run_judge(config)
    if _shards_pending(summary, output):
        return
    counts = summary["counts"]
    typer.echo(f"pairs {summary['rows']:,}: kept {counts['kept']:,}, below threshold {counts['judge']:,}, "
               + ", ".join(f"{name} {counts[name]:,}" for name in counts if name not in ("kept", "judge")))
    _written(summary, push_to_hub)


@app.command("mix", epilog=_example(
    "hala-release mix --translated ./runs/tiny/openorca-ar --parallel ./runs/tiny/opus-judged --eval-size 20 "
    "--output ./runs/translator-sft",
    "hala-release mix --translated my-org/openorca-ar@v1 --directions en-ar --eval-size 0 --seed 7 --output ./mix"))
def mix(
    translated: list[str] = typer.Option([], help="Translated dataset ref (output of translate); repeatable."),
    parallel: list[str] = typer.Option([], help="Parallel corpus ref (OPUS layout or judge output); repeatable."),
    output: Path = typer.Option(..., help="Folder to write the SFT dataset artifact to."),
    source_lang: str = typer.Option("en", help="Source language code."),
    target_lang: str = typer.Option("ar", help="Target language code."),
    directions: str = typer.Option("en-ar,ar-en", help="Comma list of directions, e.g. en-ar,ar-en."),
    eval_size: int = typer.Option(200, help="Held-out examples (whole pairs, both directions)."),
    seed: int = typer.Option(0, help="Seed for instruction phrasing, shuffling and the split."),
    overwrite: bool = typer.Option(False, help="Replace an existing output folder."),
    push_to_hub: Optional[str] = typer.Option(None, help="Push the finished artifact to this dataset repo."),
) -> None:
    """Build a bilingual translator SFT set (chat messages) from translated data and parallel pairs."""
    from hala_release.stages.mix.run import MixConfig, run_mix

    config = MixConfig(translated=translated, parallel=parallel, output=str(output), source_lang=source_lang,
                       target_lang=target_lang, directions=[d.strip() for d in directions.split(",") if d.strip()],
                       eval_size=eval_size, seed=seed, overwrite=overwrite, push_to_hub=push_to_hub)
    summary = run_mix(config)
    typer.echo(f"train {summary['train']:,}, test {summary['test']:,} | " +
               ", ".join(f"{k} {v:,}" for k, v in summary["counts"].items()))
    _written(summary, push_to_hub)


@app.command("chat-mix", epilog=_example(
    "hala-release chat-mix --translated ./runs/tiny/openorca-ar --translated ./runs/tiny/tulu3-ar --include-source "
    "--eval-size 4 --output ./runs/chat-sft-data")
)
def chat_mix(
    translated: list[str] = typer.Option([], help="Translated instruction dataset ref (output of translate); "
                                                  "repeatable."),
    output: Path = typer.Option(..., help="Folder to write the chat SFT dataset artifact to."),
    target_lang: str = typer.Option("ar", help="Language of the translated columns to read (<column>_<lang>)."),
    include_source: bool = typer.Option(False, help="Also keep each row's original conversation (bilingual set)."),
    source_lang: str = typer.Option("en", help="Language code recorded for the originals (with --include-source)."),
    eval_size: int = typer.Option(200, help="Held-out examples."),
    seed: int = typer.Option(0, help="Seed for the shuffle and the split."),
    overwrite: bool = typer.Option(False, help="Replace an existing output folder."),
    push_to_hub: Optional[str] = typer.Option(None, help="Push the finished artifact to this dataset repo."),
) -> None:
    """Build one target-language chat SFT set (`messages`) from translated instruction datasets of any layout."""
    from hala_release.stages.chat_mix.run import ChatMixConfig, run_chat_mix

    config = ChatMixConfig(translated=translated, output=str(output), target_lang=target_lang,
                           include_source=include_source, source_lang=source_lang, eval_size=eval_size, seed=seed,
                           overwrite=overwrite, push_to_hub=push_to_hub)
    summary = run_chat_mix(config)
    typer.echo(f"train {summary['train']:,}, test {summary['test']:,} | " +
               ", ".join(f"{k} {v:,}" for k, v in summary["counts"].items()))
    _written(summary, push_to_hub)


pipeline_app = typer.Typer(help="Run a whole recipe of stages (YAML), incrementally.", no_args_is_help=True,
                            rich_markup_mode=None, pretty_exceptions_enable=False)
app.add_typer(pipeline_app, name="pipeline", epilog=_example("hala-release pipeline run recipes/tiny.yaml"))


@pipeline_app.command("run", epilog=_example(
    "hala-release pipeline run recipes/tiny.yaml --output-dir ./runs/tiny",
    "hala-release pipeline run recipes/hala.yaml --dry-run --push-to-hub my-org",
    "hala-release pipeline run recipes/tiny.yaml --push-to-hub my-org --from chat"))
def pipeline_run(
    recipe: Path = typer.Argument(..., help="Pipeline recipe YAML (stages with uses:/with:)."),
    output_dir: Optional[Path] = typer.Option(None, help="Folder for the stage artifacts (default: the recipe's "
                                                         "output_dir, else ./runs/<name>)."),
    push_to_hub: Optional[str] = typer.Option(None, help="Push each artifact to ORG/<repo> as it completes (one "
                                                         "commit, tagged with the recipe's version)."),
    from_stage: Optional[str] = typer.Option(None, "--from", help="Rebuild this stage and every later one; earlier "
                                                                  "ones are used as they are."),
    only: Optional[str] = typer.Option(None, help="Rebuild only this stage (its inputs must exist)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Validate and explain the recipe; run and download nothing."),
    private: bool = typer.Option(False, help="Create pushed repos as private."),
) -> None:
    """Run a recipe's stages in order; a stage whose artifact exists with the same config and input pins is skipped."""
    from hala_release.pipeline.run import explain, run_pipeline, summary_lines

    if dry_run:
        typer.echo("\n".join(explain(recipe, output_dir=output_dir, push_to_hub=push_to_hub)))
        return
    run = run_pipeline(recipe, output_dir=output_dir, push_to_hub=push_to_hub, from_stage=from_stage, only=only,
                       private=private, echo=typer.echo)
    typer.echo("")
    typer.echo("\n".join(summary_lines(run)))


@app.command("lineage", epilog=_example(
    "hala-release lineage ./runs/tiny/eval",
    "hala-release lineage my-org/hala-350m@v1 --format mermaid --output lineage.md",
    "hala-release lineage hf://datasets/my-org/openorca-ar@v1 --format json"))
def lineage(
    ref: str = typer.Argument(..., help="Artifact: a local folder, org/name[@rev] or hf://datasets/org/name[@rev]."),
    repo_type: str = typer.Option("model", help="Repo type when REF does not say: model, dataset or space."),
    format_: str = typer.Option("text", "--format", help="text (a tree), mermaid (a diagram for a card) or json."),
    output: Optional[Path] = typer.Option(None, help="Write to this file instead of printing."),
) -> None:
    """Print the tree of everything an artifact was built from, with pins, read from provenance files."""
    from hala_release.hub.lineage import build_lineage, render

    text = render(build_lineage(ref, repo_type), format_)
    if output is None:
        typer.echo(text)
        return
    output.write_text(text + "\n", encoding="utf-8")
    typer.echo(f"lineage of {ref} written to {output}")


def main(argv: list[str] | None = None) -> int:
    """Entry point: user mistakes print one line on stderr and exit non-zero, never a traceback."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per HTTP request otherwise
    try:
        # Standalone mode: Typer prints usage errors and --help itself, then raises SystemExit.
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

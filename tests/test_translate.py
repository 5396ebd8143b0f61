"""The translate stage end to end: engines on tiny models, gates, dedup and cache, resume, shards, Ray, card."""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from huggingface_hub import DatasetCard

from hala_release.artifacts.build import build_artifact
from in_child import run_cli_in_child
from stage_helpers import kill_after_chunks, run_cli, split_rows
from hala_release.core.provenance import CardFacts, read_provenance
from hala_release.core.refs import folder_content_hash
from hala_release.stages.sample_data.run import SAMPLES, export_sample, read_sample
from hala_release.executors.chunks import work_dir_for

FORMATTED = [
    {"id": "a", "text": "# Binary search\n\n```python\ndef search(xs, x):\n    return xs.index(x)\n```\n\nIt is fast."},
    {"id": "b", "text": "Area of a circle\n\n$$A = \\pi r^2$$\n\n| shape | area |\n|---|---|\n| circle | pi |"},
    {"id": "c", "text": "Read more\nhttps://example.com/guide?page=2\nThanks for reading"},
]


def _jsonl_dataset(folder: Path, rows: list[dict]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "data.jsonl", "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return folder


@pytest.mark.parametrize("sample", sorted(SAMPLES))
def test_dry_run_is_byte_identical_for_every_sample(sample, tmp_path, capsys):
    source = export_sample(sample, tmp_path / "source")
    out = tmp_path / "out"
    code, stdout, err = run_cli(capsys, "translate", source, "--engine", "dry-run", "--output", out, "--chunk-size", "7")
    assert code == 0, err
    rows = split_rows(out, "train")
    original = split_rows(source, "train")  # as Arrow holds them (missing struct keys become None)
    assert len(rows) == len(original) == len(read_sample(sample)) and split_rows(out, "rejected") == []
    for row, before in zip(rows, original):
        assert {k: row[k] for k in before} == before  # every original column, in order
        assert row["translation_ok"] is True and row["translation_issues"] == []
        for column in [c for c in row if c.endswith("_ar") and c[:-3] in before]:
            expected = before[column[:-3]]
            if isinstance(expected, dict):  # parallel: the source-language side, "translated"
                expected = expected["en"]
            assert row[column] == expected
    assert f"rows {len(original):,} (ok {len(original):,}, rejected 0)" in stdout


def test_transformers_engine_keeps_protected_spans(tiny_lfm2, tmp_path, capsys):
    source = _jsonl_dataset(tmp_path / "src", FORMATTED)
    out = tmp_path / "out"
    code, _, err = run_cli(capsys, "translate", source, "--model", tiny_lfm2, "--engine", "transformers", "--output",
                        out, "--schema", "fields", "--fields", "text", "--no-quality-gates", "--max-tokens", "6")
    assert code == 0, err
    rows = {row["id"]: row for row in split_rows(out, "train")}
    assert set(rows) == {"a", "b", "c"}
    a, b, c = rows["a"]["text_ar"], rows["b"]["text_ar"], rows["c"]["text_ar"]
    assert "```python\ndef search(xs, x):\n    return xs.index(x)\n```" in a and a.startswith("# ")
    assert "$$A = \\pi r^2$$" in b and "\n|---|---|\n" in b
    assert "\nhttps://example.com/guide?page=2\n" in c
    assert (a, b, c) != (FORMATTED[0]["text"], FORMATTED[1]["text"], FORMATTED[2]["text"])  # the model did write


def test_gates_route_failures_to_rejected_with_reasons(tiny_lfm2, tmp_path, capsys):
    source = export_sample("lamini", tmp_path / "src")
    out = tmp_path / "out"
    code, stdout, err = run_cli(capsys, "translate", source, "--model", tiny_lfm2, "--engine", "transformers",
                             "--output", out, "--limit", "6", "--max-tokens", "8", "--max-retries", "1")
    assert code == 0, err
    rejected = split_rows(out, "rejected")
    kept = split_rows(out, "train")
    assert len(rejected) + len(kept) == 6  # nothing dropped silently
    assert rejected and all(r["translation_issues"] and r["translation_ok"] is False for r in rejected)
    assert any("target_script" in issue for r in rejected for issue in r["translation_issues"])
    prov = read_provenance(out)
    assert prov.stats["rows_rejected"] == len(rejected) and prov.stats["retries"] > 0
    assert prov.stats["failures_by_reason"]["target_script"] > 0
    card = (out / "README.md").read_text()
    assert "## Failures by reason" in card and "| target_script |" in card
    assert "failures by reason: " in stdout


def test_dedup_and_persistent_cache(tiny_lfm2, tmp_path, capsys):
    source = export_sample("openorca", tmp_path / "src")  # a handful of system prompts repeat over 34 rows
    common = ["--model", tiny_lfm2, "--engine", "transformers", "--schema", "fields", "--fields", "system_prompt",
              "--no-quality-gates", "--max-tokens", "4", "--cache-dir", tmp_path / "cache"]
    assert run_cli(capsys, "translate", source, "--output", tmp_path / "first", *common)[0] == 0
    first = read_provenance(tmp_path / "first").stats
    unique = len({r["system_prompt"] for r in read_sample("openorca") if r["system_prompt"]})
    assert first["segments"] > first["generated_segments"] == unique and first["cache_hits"] == 0
    assert run_cli(capsys, "translate", source, "--output", tmp_path / "second", *common)[0] == 0
    second = read_provenance(tmp_path / "second").stats
    assert second["generated_segments"] == 0 and second["cache_hits"] == unique
    assert split_rows(tmp_path / "first", "train") == split_rows(tmp_path / "second", "train")
    assert run_cli(capsys, "translate", source, "--output", tmp_path / "third", "--no-dedup", "--no-cache", *common)[0] == 0
    third = read_provenance(tmp_path / "third").stats
    assert third["generated_segments"] == third["segments"] > unique


def _many_rows(count: int) -> list[dict]:
    sample = read_sample("openorca")
    return [{"id": f"row-{i}", "question": sample[i % len(sample)]["question"] + f" #{i}",
             "response": sample[i % len(sample)]["response"]} for i in range(count)]


def test_kill_and_resume_is_exactly_once(tmp_path):
    rows = _many_rows(60_000)
    source = _jsonl_dataset(tmp_path / "src", rows)
    out = tmp_path / "out"
    argv = ["translate", source, "--engine", "dry-run", "--output", out, "--schema", "fields", "--fields",
            "question,response", "--chunk-size", "1000"]
    assert 3 <= kill_after_chunks(argv, out, chunks=3, timeout=120) < 60 and not out.exists()
    rerun = subprocess.run([sys.executable, "-m", "hala_release.cli", *map(str, argv)], capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    ids = [row["id"] for row in split_rows(out, "train")]
    assert ids == [row["id"] for row in rows]  # every row exactly once, in input order
    assert read_provenance(out).stats["rows"] == len(rows)
    assert not work_dir_for(out).exists()


def test_shards_then_gather(tmp_path, capsys):
    source = export_sample("tulu3", tmp_path / "src")
    out = tmp_path / "out"
    common = ["translate", source, "--engine", "dry-run", "--output", out, "--chunk-size", "5"]
    code, stdout, _ = run_cli(capsys, *common, "--num-shards", "2", "--shard-index", "0")
    assert code == 0 and "chunks done" in stdout and not out.exists()
    code, stdout, _ = run_cli(capsys, *common, "--num-shards", "2", "--shard-index", "1")
    assert code == 0 and not out.exists()
    chunks = len(list(work_dir_for(out).glob("chunk-*.parquet")))
    code, stdout, _ = run_cli(capsys, *common)  # the gather step: no chunk is redone
    assert code == 0 and "written to" in stdout
    assert read_provenance(out).stats["rows"] == len(read_sample("tulu3")) and chunks == 7
    single = tmp_path / "single"
    assert run_cli(capsys, "translate", source, "--engine", "dry-run", "--output", single)[0] == 0
    assert split_rows(out, "train") == split_rows(single, "train")


def test_resume_refuses_chunks_from_another_config(tmp_path, capsys):
    source = export_sample("tulu3", tmp_path / "src")
    out = tmp_path / "out"
    base = ["translate", source, "--engine", "dry-run", "--output", out, "--chunk-size", "5", "--num-shards", "2"]
    assert run_cli(capsys, *base, "--shard-index", "0")[0] == 0
    code, _, err = run_cli(capsys, *base, "--shard-index", "1", "--max-chars", "50")
    assert code == 1 and "different configuration" in err and "delete it" in err


def test_card_and_provenance_of_a_translation(tmp_path, tiny_llama, capsys):
    from datasets import Dataset

    card = CardFacts(kind="dataset", title="nc source", language=["en"], license="cc-by-nc-4.0",
                     task_categories=["text-generation"])
    source = tmp_path / "nc-source"
    with build_artifact(source, stage="unit", config={}, card=card) as draft:
        draft.write_splits({"train": Dataset.from_list(FORMATTED)})
    out = tmp_path / "out"
    code, _, err = run_cli(capsys, "translate", source, "--model", tiny_llama, "--engine", "transformers", "--output",
                        out, "--schema", "fields", "--fields", "text", "--no-quality-gates", "--max-tokens", "4",
                        "--prompt-template", "hala-translator")
    assert code == 0, err
    prov = read_provenance(out)
    assert prov.stage == "translate"
    assert prov.inputs["source"]["pin"] == folder_content_hash(source)
    assert prov.inputs["model"]["pin"].startswith("sha256:") and prov.inputs["model"]["path"] == str(tiny_llama)
    assert prov.config["prompt_template"] == "hala-translator" and prov.config["gates"]["enabled"] is False
    meta = DatasetCard.load(out / "README.md").data.to_dict()
    assert meta["license"] == "cc-by-nc-4.0" and meta["language"] == ["ar", "en"]
    assert meta["task_categories"] == ["text-generation", "translation"]
    assert {c["split"] for c in meta["configs"][0]["data_files"]} == {"train"}
    text = (out / "README.md").read_text()
    assert "cc-by-nc-4.0 is the most restrictive licence among the sources; it comes from nc-source" in text
    assert "Translate from {source_name} to {target_name}: {text}" in text  # the prompt template, verbatim
    assert "max_tokens=4, temperature=0.0" in text and prov.inputs["model"]["pin"] in text


@pytest.mark.parametrize("argv, code, fragment", [
    (["--engine", "dry-run", "--schema", "openorca"], 2, "needs column(s) system_prompt, question, response"),
    (["--engine", "dry-run"], 2, "no known layout matches the columns id, text"),
    (["--engine", "dry-run", "--split", "test"], 1, "cannot load split 'test'"),
    (["--engine", "transformers"], 2, "needs --model"),
    (["--engine", "warp-drive"], 2, "unknown engine 'warp-drive'"),
    (["--engine", "dry-run", "--num-shards", "2", "--shard-index", "2"], 2, "--shard-index must be in 0..1"),
    (["--engine", "dry-run", "--workers", "0"], 2, "--workers must be at least 1"),
    (["--engine", "dry-run", "--chunk-size", "0"], 2, "--chunk-size, --batch-size and --workers must be at least 1"),
])
def test_bad_input_gives_one_line_errors(argv, code, fragment, tmp_path, capsys):
    source = _jsonl_dataset(tmp_path / "src", FORMATTED)
    result, _, err = run_cli(capsys, "translate", source, "--output", tmp_path / "out", *argv)
    assert result == code and fragment in err and "Traceback" not in err


@pytest.mark.parametrize("model, fragment", [
    ("artifact", "is a dataset artifact, not a model: pass a model folder (config.json + *.safetensors) or a Hub "
                 "model id to --model"),
    ("data files", "has no config.json, so it is not a transformers model: pass a model folder"),
    ("pickled", "has no *.safetensors weights (found pytorch_model.bin)"),
])
def test_a_model_that_is_not_one_is_refused_in_one_line(model, fragment, openorca_artifact, tmp_path, capsys):
    """A dataset (or a pickled checkpoint) given as --model is named with the fix, before anything loads it."""
    source = _jsonl_dataset(tmp_path / "src", FORMATTED)
    folder = {"artifact": openorca_artifact, "data files": source, "pickled": tmp_path / "pickled"}[model]
    if model == "pickled":
        folder.mkdir()
        (folder / "config.json").write_text('{"model_type": "llama"}', encoding="utf-8")
        (folder / "pytorch_model.bin").write_bytes(b"not loaded")
    code, _, err = run_cli(capsys, "translate", source, "--engine", "transformers", "--model", folder, "--output",
                           tmp_path / "out", "--schema", "fields", "--fields", "text")
    assert code in (1, 2) and fragment in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_a_dataset_given_as_the_judge_is_refused_in_one_line(openorca_artifact, tmp_path, capsys):
    source = _jsonl_dataset(tmp_path / "src", FORMATTED)
    code, _, err = run_cli(capsys, "judge", source, "--judge", openorca_artifact, "--engine", "transformers",
                           "--output", tmp_path / "out")
    assert code == 2 and "is a dataset artifact, not a model" in err and "to --judge" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.slow
def test_vllm_engine_on_cpu(tiny_lfm2, tmp_path, capsys):
    source = _jsonl_dataset(tmp_path / "src", FORMATTED)
    out = tmp_path / "out"
    code, _, err = run_cli(capsys, "translate", source, "--model", tiny_lfm2, "--engine", "vllm", "--output", out,
                        "--schema", "fields", "--fields", "text", "--no-quality-gates", "--max-tokens", "6",
                        "--no-cache")  # the cache key has no engine: the transformers test's results would be reused
    assert code == 0, err
    rows = {row["id"]: row["text_ar"] for row in split_rows(out, "train")}
    assert "```python\ndef search(xs, x):\n    return xs.index(x)\n```" in rows["a"]
    assert "$$A = \\pi r^2$$" in rows["b"]
    prov = read_provenance(out)
    assert prov.stats["generated_tokens"] > 0
    # `total` covers the whole run (engine start and chunks included), not only writing the artifact
    assert prov.timings["total"] >= prov.timings["translate_chunks"] + prov.timings["assemble"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_openai_engine_against_a_vllm_server(tiny_llama, tmp_path, capsys):
    import httpx

    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(tiny_llama), "--served-model-name",
         "tiny", "--port", str(port), "--host", "127.0.0.1", "--gpu-memory-utilization", "0.1", "--enforce-eager"],
        stdout=subprocess.DEVNULL, stderr=open(tmp_path / "server.log", "w"), env={**os.environ})
    try:
        deadline = time.time() + 240
        while time.time() < deadline:
            assert server.poll() is None, (tmp_path / "server.log").read_text()[-3000:]
            try:
                if httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(1)
        source = _jsonl_dataset(tmp_path / "src", FORMATTED)
        out = tmp_path / "out"
        code, _, err = run_cli(capsys, "translate", source, "--model", "tiny", "--engine", "openai", "--api-base",
                            f"http://127.0.0.1:{port}/v1", "--output", out, "--schema", "fields", "--fields", "text",
                            "--no-quality-gates", "--max-tokens", "6", "--concurrency", "4", "--no-cache")
        assert code == 0, err
        rows = {row["id"]: row["text_ar"] for row in split_rows(out, "train")}
        assert "\nhttps://example.com/guide?page=2\n" in rows["c"]
        prov = read_provenance(out)
        assert prov.inputs["model"] == {"ref": "tiny", "source": "server", "repo_type": "model", "pin": "unpinned"}
        assert prov.stats["generated_tokens"] > 0
        code, _, err = run_cli(capsys, "translate", source, "--model", "not-served", "--engine", "openai", "--api-base",
                            f"http://127.0.0.1:{port}/v1", "--output", tmp_path / "x", "--schema", "fields",
                            "--fields", "text", "--no-cache")
        assert code == 1 and "does not serve model 'not-served'" in err
    finally:
        server.terminate()
        server.wait(timeout=60)


@pytest.mark.slow
def test_ray_executor_matches_local(tmp_path, capsys):
    source = export_sample("hermes3", tmp_path / "src")
    local, ray_out = tmp_path / "local", tmp_path / "ray"
    assert run_cli(capsys, "translate", source, "--engine", "dry-run", "--output", local, "--chunk-size", "8")[0] == 0
    code, _, err = run_cli_in_child("translate", source, "--engine", "dry-run", "--output", ray_out, "--chunk-size",
                                    "8", "--executor", "ray", "--ray-workers", "2")  # a Ray driver: see in_child
    assert code == 0, err
    assert split_rows(ray_out, "train") == split_rows(local, "train")
    assert read_provenance(ray_out).stats["rows"] == len(read_sample("hermes3"))


def test_push_to_hub_after_translating(tmp_path, hub, hub_token, monkeypatch, capsys):
    from huggingface_hub import HfApi

    monkeypatch.setenv("HF_TOKEN", hub_token)
    source = export_sample("lamini", tmp_path / "src")
    code, stdout, err = run_cli(capsys, "translate", source, "--engine", "dry-run", "--output", tmp_path / "out",
                             "--push-to-hub", "hala-test/lamini-dry")
    assert code == 0, err
    assert "pinned revision: hf://datasets/hala-test/lamini-dry@" in stdout
    files = HfApi().list_repo_files("hala-test/lamini-dry", repo_type="dataset")
    assert {"README.md", "hala_provenance.json", "data/train-00000-of-00001.parquet"} <= set(files)


def test_tensor_parallel_is_a_vllm_option(tmp_path, tiny_lfm2, capsys):
    source = _jsonl_dataset(tmp_path / "src", FORMATTED)
    code, _, err = run_cli(capsys, "translate", source, "--model", tiny_lfm2, "--engine", "transformers", "--output",
                           tmp_path / "out", "--schema", "fields", "--fields", "text", "--tensor-parallel-size", "2")
    assert code == 2 and "--tensor-parallel-size is a vLLM option" in err


def test_a_failed_start_does_not_block_the_corrected_run(tmp_path, capsys):
    source = export_sample("lamini", tmp_path / "src")
    out = tmp_path / "out"
    code, _, err = run_cli(capsys, "translate", source, "--engine", "dry-run", "--output", out, "--schema", "openorca")
    assert code == 2 and "needs column(s)" in err and not work_dir_for(out).exists()
    code, _, err = run_cli(capsys, "translate", source, "--engine", "dry-run", "--output", out)
    assert code == 0, err

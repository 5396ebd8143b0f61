"""The echo engine (benchmarks, tests): unlike dry-run it goes through prompts, dedup, cache, batches and gates."""

import pytest

from hala_release.engines import Request, Sampling, make_engine
from hala_release.engines.echo import echo_text
from hala_release.core.errors import HalaError
from hala_release.core.provenance import read_provenance
from hala_release.stages.sample_data.run import export_sample
from hala_release.core.segment import join, split_segments
from stage_helpers import run_cli, split_rows


def _translate(capsys, source, out, cache, *extra):
    argv = ["translate", source, "--engine", "echo", "--output", out, "--cache-dir", cache, "--overwrite", *extra]
    code, _, err = run_cli(capsys, *argv)
    assert code == 0, err
    return read_provenance(out).stats


def test_echo_dedups_fills_and_hits_the_cache(tmp_path, capsys):
    source = export_sample("openorca", tmp_path / "source")
    out, cache = tmp_path / "out", tmp_path / "cache"
    first = _translate(capsys, source, out, cache, "--chunk-size", "100")
    # Open-Orca's system prompts repeat: dedup sends fewer segments than there are, and none come from the cache.
    assert first["unique_segments_per_chunk"] < first["segments"]
    assert first["generated_segments"] == first["unique_segments_per_chunk"] and first["cache_hits"] == 0
    assert first["rows_rejected"] == 0 and first["failed_segments"] == 0  # the gates pass Arabic-script output
    row = split_rows(out, "train")[0]
    pieces, segments = split_segments(row["response"])
    assert row["response_ar"] == join(pieces, {s.text: echo_text(s.text) for s in segments})
    assert row["response_ar"] != row["response"]
    second = _translate(capsys, source, out, cache, "--chunk-size", "100")
    assert second["cache_hits"] == first["unique_segments_per_chunk"] and second["generated_segments"] == 0


def test_echo_answers_are_checked_by_the_gates(tmp_path, capsys):
    source = export_sample("openorca", tmp_path / "source")
    # Arabic letters are the wrong script for Russian: every segment fails, is retried, and its row is rejected.
    stats = _translate(capsys, source, tmp_path / "out", tmp_path / "cache", "--target-lang", "ru",
                       "--max-retries", "1")
    assert stats["rows_ok"] == 0 and stats["failures_by_reason"]["target_script"] == stats["failed_segments"] > 0
    assert stats["retries"] == stats["generated_segments"] / 2 and stats["cache_hits"] == 0


def test_echo_reads_the_segment_from_the_prompt():
    engine = make_engine("echo")
    request = Request([{"role": "user", "content": "Translate: Keep ⟦0⟧ here."}], "Keep ⟦0⟧ here.")
    assert engine.generate([request], Sampling())[0].text == "زججط ⟦0⟧ دجعج."  # letters mapped, marker kept
    with pytest.raises(HalaError, match="could not find the segment in the prompt"):
        engine.generate([Request([{"role": "user", "content": "Translate."}], "Keep")], Sampling())

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
    answer = engine.generate([request], Sampling())[0].text
    assert answer == echo_text("Keep ⟦0⟧ here.") and answer.endswith(".") and " ⟦0⟧ " in answer  # marker kept
    assert answer.split(" ⟦0⟧ ")[0] == echo_text("KEEP") != echo_text("here")  # words by checksum, case aside
    assert all("\u0600" <= letter <= "\u06ff" for letter in answer.replace(" ⟦0⟧ ", "").rstrip("."))
    with pytest.raises(HalaError, match="could not find the segment in the prompt"):
        engine.generate([Request([{"role": "user", "content": "Translate."}], "Keep")], Sampling())


def test_echo_answers_read_as_arabic():
    """Real Arabic words, so the language check takes its normal path (the screen), as for a good translation."""
    from hala_release.engines import language_id

    english = ("The weather is pleasant today, so we will walk to the market together. Please bring your "
               "umbrella because the forecast says it may rain this evening.")
    assert language_id._screen(echo_text(english), "ar") is not None

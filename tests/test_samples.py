"""The shipped samples keep the real column layouts of HALA's sources, and export as dataset artifacts."""

import pytest

from hala_release.core.provenance import read_provenance
from hala_release.stages.sample_data.run import SAMPLES, export_sample, read_sample

LAYOUTS = {
    "openorca": {"id", "system_prompt", "question", "response"},
    "hermes3": {"conversations"},
    "scp116k": {"domain", "problem", "matched_solution", "o1_solution", "qwq_solution",
                "is_o1_solution_same_with_matched_solution", "is_qwq_solution_same_with_matched_solution"},
    "realign-alpaca": {"id", "items"},
    "lamini": {"instruction", "response", "instruction_source"},
    "tulu3": {"id", "messages", "source"},
    "gptj-pairwise": {"prompt", "chosen", "rejected"},
    "opus100-ar-en": {"translation"},
    "parallel-en-sw": {"translation"},
}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_sample_columns_match_the_real_layout(name):
    rows = read_sample(name)
    assert len(rows) >= 30
    assert all(set(row) == LAYOUTS[name] for row in rows)


def test_nested_layouts():
    assert {turn["from"] for row in read_sample("hermes3") for turn in row["conversations"]} <= {"system", "human", "gpt"}
    assert {m["role"] for row in read_sample("tulu3") for m in row["messages"]} <= {"system", "user", "assistant"}
    assert all(set(row["translation"]) == {"ar", "en"} for row in read_sample("opus100-ar-en"))


def test_openorca_repeats_system_prompts_and_has_formatting():
    rows = read_sample("openorca")
    prompts = [row["system_prompt"] for row in rows]
    assert len(set(prompts)) < len(prompts) / 4  # a handful repeated, as in the real dataset
    text = "\n".join(row["question"] + row["response"] for row in rows)
    assert "```" in text and "$" in text and "|" in text


def test_export_keeps_every_row_in_order(tmp_path):
    from datasets import load_dataset

    path = export_sample("opus100-ar-en", tmp_path / "opus")
    loaded = load_dataset(str(path), split="train")
    assert loaded.to_list() == read_sample("opus100-ar-en")
    prov = read_provenance(path)
    assert prov.card.language == ["ar", "en"] and prov.card.task_categories == ["translation"]
    assert prov.inputs["rows"]["pin"].startswith("sha256:")

"""The chat-mix stage: every instruction layout becomes target-language chat turns, nothing failed or doubled."""

import hashlib
import json
import os
import sys

import pytest
from datasets import Dataset
from huggingface_hub import DatasetCard

from hala_release.artifacts.build import build_artifact
from hala_release.cli import main
from hala_release.core.provenance import CardFacts, read_provenance
from hala_release.stages.sample_data.run import export_sample, read_sample
from hala_release.core.text import normalise
from stage_helpers import run_cli, split_rows

# Shipped instruction samples and the layout chat-mix must recognise in their translate outputs.
LAYOUTS = {"openorca": "openorca", "hermes3": "sharegpt", "tulu3": "messages", "realign-alpaca": "alpaca",
           "lamini": "lamini", "scp116k": "scp", "gptj-pairwise": "pairwise"}


@pytest.fixture(scope="module")
def translated(tmp_path_factory):
    """Dry-run translations (each `<column>_ar` equals its source) of every shipped instruction sample."""
    base = tmp_path_factory.mktemp("chat-mix-inputs")
    outputs = {}
    for name in LAYOUTS:
        sample = export_sample(name, base / name)
        assert main(["translate", str(sample), "--engine", "dry-run", "--output", str(base / f"{name}-ar")]) == 0
        outputs[name] = base / f"{name}-ar"
    return outputs


def _artifact(folder, rows):
    card = CardFacts(kind="dataset", title="hand-made translate output", language=["en", "ar"], license="mit")
    with build_artifact(folder, stage="unit", config={}, card=card) as draft:
        draft.write_splits({"train": Dataset.from_list(rows)})
    return folder


def test_every_instruction_layout_becomes_chat_turns(translated, tmp_path, capsys):
    refs = [arg for path in translated.values() for arg in ("--translated", path)]
    code, stdout, err = run_cli(capsys, "chat-mix", "--no-language-id", *refs, "--output", tmp_path / "chat", "--eval-size", "10")
    assert code == 0, err
    train, test = split_rows(tmp_path / "chat", "train"), split_rows(tmp_path / "chat", "test")
    assert len(test) == 10
    rows = train + test
    assert {r["language"] for r in rows} == {"ar"}
    assert {r["source"] for r in rows} == {f"{name}-ar" for name in LAYOUTS}
    for row in rows:
        roles = [m["role"] for m in row["messages"]]
        assert "user" in roles and roles[-1] == "assistant" and set(roles) <= {"system", "user", "assistant"}
        assert all(m["content"].strip() for m in row["messages"])
    prov = read_provenance(tmp_path / "chat")
    kept = {name: prov.stats["counts"].get(f"{name}-ar kept_ar", 0) for name in LAYOUTS}
    duplicates = sum(n for key, n in prov.stats["counts"].items() if key.endswith(" duplicate"))
    assert sum(kept.values()) == len(rows) and all(kept.values())
    assert sum(len(read_sample(name)) for name in LAYOUTS) == len(rows) + duplicates

    # Column roles: Open-Orca's three fields, ShareGPT's from/value turns, in conversation order.
    by_id = {(r["source"], r["source_id"]): r["messages"] for r in rows}
    orca = next(r for r in read_sample("openorca") if r["system_prompt"].strip())
    assert by_id[("openorca-ar", str(orca["id"]))] == [
        {"role": "system", "content": orca["system_prompt"].strip()},
        {"role": "user", "content": orca["question"].strip()},
        {"role": "assistant", "content": orca["response"].strip()}]
    hermes = read_sample("hermes3")[0]
    roles = {"system": "system", "human": "user", "gpt": "assistant"}
    assert by_id[("hermes3-ar", "0")] == [{"role": roles[t["from"]], "content": t["value"]}
                                          for t in hermes["conversations"] if t["value"].strip()]

    card = DatasetCard.load(tmp_path / "chat" / "README.md")
    assert card.data.language == ["ar"] and card.data.task_categories == ["text-generation"]
    assert "| hermes3-ar | sharegpt (NousResearch/Hermes-3-Dataset) |" in card.text
    assert all(str(prov.inputs[f"translated_{i}"]["pin"]) in card.text for i in range(len(LAYOUTS)))


def test_reads_the_translation_and_skips_failed_incomplete_and_repeated_rows(tmp_path, capsys):
    rows = [
        {"id": "a", "instruction": "Add 2 and 3.", "input": "", "output": "5",
         "instruction_ar": "اجمع 2 و 3.", "input_ar": "", "output_ar": "5", "translation_ok": True},
        {"id": "b", "instruction": "Translate.", "input": "cat", "output": "chat",
         "instruction_ar": "ترجم.", "input_ar": "قطة", "output_ar": "chat", "translation_ok": True},
        {"id": "c", "instruction": "Bad.", "input": "", "output": "x",
         "instruction_ar": "سيئ.", "input_ar": "", "output_ar": "س", "translation_ok": False},
        {"id": "d", "instruction": "Empty answer.", "input": "", "output": "",
         "instruction_ar": "إجابة فارغة.", "input_ar": "", "output_ar": "  ", "translation_ok": True},
        {"id": "e", "instruction": "Add 2 and 3!", "input": "", "output": "five",
         "instruction_ar": "  اجمع 2 و 3. ", "input_ar": "", "output_ar": "خمسة", "translation_ok": True},
    ]
    source = _artifact(tmp_path / "alpaca-ar", rows)
    code, stdout, err = run_cli(capsys, "chat-mix", "--no-language-id", "--translated", source, "--output", tmp_path / "out",
                                "--eval-size", "0")
    assert code == 0, err
    out = {r["source_id"]: r["messages"] for r in split_rows(tmp_path / "out", "train")}
    assert out == {
        "a": [{"role": "user", "content": "اجمع 2 و 3."}, {"role": "assistant", "content": "5"}],
        # instruction and input are one user turn, in the target language
        "b": [{"role": "user", "content": "ترجم.\n\nقطة"}, {"role": "assistant", "content": "chat"}],
    }
    assert ("alpaca-ar duplicate 1, alpaca-ar incomplete 1, alpaca-ar kept_ar 2, alpaca-ar translation_failed 1"
            in stdout)
    assert not (tmp_path / "out" / "data" / "test-00000-of-00001.parquet").exists()


def test_same_inputs_and_seed_give_identical_bytes(translated, tmp_path, capsys):
    args = ["--translated", translated["tulu3"], "--translated", translated["openorca"], "--eval-size", "5"]
    for name, seed in (("a", "1"), ("b", "1"), ("c", "2")):
        code, _, err = run_cli(capsys, "chat-mix", "--no-language-id", *args, "--seed", seed, "--output", tmp_path / name)
        assert code == 0, err
    digest = lambda name, split: hashlib.sha256(
        (tmp_path / name / "data" / f"{split}-00000-of-00001.parquet").read_bytes()).hexdigest()
    assert digest("a", "train") == digest("b", "train") and digest("a", "test") == digest("b", "test")
    assert digest("c", "train") != digest("a", "train")


@pytest.mark.parametrize("case, fragment", [
    ("parallel", "parallel corpora go to `hala-release mix --parallel`"),
    ("untranslated", "no translated column(s) system_prompt_ar, question_ar, response_ar"),
    ("none", "nothing to mix: pass --translated"),
    ("too-big-eval", "--eval-size 999 leaves no training examples"),
    ("negative-eval", "give 0 or more"),
])
def test_errors_name_the_fix(case, fragment, translated, tmp_path, capsys):
    if case == "parallel":
        args = ["--translated", export_sample("opus100-ar-en", tmp_path / "opus")]
    elif case == "untranslated":
        args = ["--translated", export_sample("openorca", tmp_path / "orca")]
    elif case == "none":
        args = []
    else:
        args = ["--translated", translated["lamini"], "--eval-size", "999" if case == "too-big-eval" else "-1"]
    code, _, err = run_cli(capsys, "chat-mix", "--no-language-id", *args, "--output", tmp_path / "out")
    assert code != 0 and fragment in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_include_source_adds_the_original_conversations(tmp_path, capsys):
    rows = [{"id": "a", "prompt": "Hi?", "chosen": "Hello.", "rejected": "Go away.", "prompt_ar": "مرحبا؟",
             "chosen_ar": "أهلا.", "rejected_ar": "ارحل."},
            {"id": "b", "prompt": "Bye?", "chosen": "Bye.", "rejected": "No.", "prompt_ar": "وداعا؟",
             "chosen_ar": "", "rejected_ar": "لا."}]  # its translated answer is empty: only the original is usable
    source = _artifact(tmp_path / "pairwise-ar", rows)
    code, stdout, err = run_cli(capsys, "chat-mix", "--no-language-id", "--translated", source, "--include-source", "--output",
                                tmp_path / "out", "--eval-size", "0")
    assert code == 0, err
    out = {(r["source_id"], r["language"]): r["messages"] for r in split_rows(tmp_path / "out", "train")}
    assert out == {("a", "ar"): [{"role": "user", "content": "مرحبا؟"}, {"role": "assistant", "content": "أهلا."}],
                   ("a", "en"): [{"role": "user", "content": "Hi?"}, {"role": "assistant", "content": "Hello."}],
                   ("b", "en"): [{"role": "user", "content": "Bye?"}, {"role": "assistant", "content": "Bye."}]}
    assert "pairwise-ar incomplete 1, pairwise-ar kept_ar 1, pairwise-ar kept_en 2" in stdout
    card = DatasetCard.load(tmp_path / "out" / "README.md")
    assert card.data.language == ["ar", "en"] and "| kept_ar | kept_en |" in card.text


QUESTIONS = [("What is the capital of France?", "ما عاصمة فرنسا؟"), ("Name a primary colour.", "سمِّ لوناً أساسياً."),
             ("How many days are in a week?", "كم يوماً في الأسبوع؟"), ("Who wrote Hamlet?", "من كتب هاملت؟"),
             ("What is 2*3?", "كم يساوي 2*3؟"), ("Define gravity.", "عرّف الجاذبية."),
             ("Why is the sky blue?", "لماذا السماء زرقاء؟"), ("What do bees make?", "ماذا يصنع النحل؟")]


def _user_turns(rows) -> set[tuple[str, str]]:
    return {(r["language"], normalise(m["content"])) for r in rows for m in r["messages"] if m["role"] == "user"}


@pytest.mark.parametrize("seed", range(4))
def test_no_user_turn_and_no_source_row_in_both_splits(seed, tmp_path, capsys):
    """A question asked on its own in one source and as the opening of a longer conversation in another (so not a
    duplicate) must not be trained on and tested on; nor may a row's original and its translation be split."""
    single = [{"id": f"q{i}", "instruction": en, "response": "Answer.", "instruction_ar": ar, "response_ar": "جواب."}
              for i, (en, ar) in enumerate(QUESTIONS)]
    longer = [{"id": f"c{i}", "messages": [{"role": "user", "content": en.upper()},
                                           {"role": "assistant", "content": "Answer."},
                                           {"role": "user", "content": f"And follow-up {i}?"},
                                           {"role": "assistant", "content": "More."}],
               "messages_ar": [{"role": "user", "content": f"  {ar} "}, {"role": "assistant", "content": "جواب."},
                               {"role": "user", "content": f"وسؤال متابعة {i}؟"},
                               {"role": "assistant", "content": "المزيد."}]}
              for i, (en, ar) in enumerate(QUESTIONS)]
    args = ["--translated", _artifact(tmp_path / "single-ar", single), "--translated",
            _artifact(tmp_path / "longer-ar", longer), "--include-source", "--eval-size", "6", "--seed", seed]
    code, _, err = run_cli(capsys, "chat-mix", "--no-language-id", *args, "--output", tmp_path / "out")
    assert code == 0, err
    train, test = split_rows(tmp_path / "out", "train"), split_rows(tmp_path / "out", "test")
    # Nothing was a duplicate; each question's two rows, in both languages, are one group of four.
    assert len(train) + len(test) == 32 and len(test) == 4
    assert not _user_turns(train) & _user_turns(test)
    assert not {(r["source"], r["source_id"]) for r in train} & {(r["source"], r["source_id"]) for r in test}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/smaps")
def test_reading_conversations_gives_back_the_mapped_split(tmp_path):
    """A streamed translate output must not stay resident as it is read (RSS would grow with its size)."""
    from test_chunked import _resident_kb

    from hala_release.core.refs import resolve
    from hala_release.executors.chunks import load_split
    from hala_release.stages.chat_mix.run import conversations

    folder = tmp_path / "orca-ar"
    folder.mkdir()
    row = {"system_prompt": "", "question": "q", "response": "r", "system_prompt_ar": "",
           "question_ar": "س" * 200, "response_ar": "ج" * 200}
    (folder / "rows.jsonl").write_text("".join(json.dumps({**row, "id": str(i)}) + "\n" for i in range(20_000)))
    dataset = load_split(resolve(str(folder), "dataset"), "train")
    paths = {os.path.realpath(entry["filename"]) for entry in dataset.cache_files}
    assert sum(len(row) for row in conversations(dataset, "orca", "openorca", {"ar": "_ar"})) == 20_000
    assert _resident_kb(paths) < 500

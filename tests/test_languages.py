"""Every language checked as a language: codes through langcodes, scripts from CLDR data, letters by Unicode script.

Sentences are written for these tests (real sentences, not generated letters)."""

from __future__ import annotations

import json

import pytest

from hala_release.core.languages import display_name, hub_code, normalise_language, script_share, scripts
from stage_helpers import run_cli, split_rows

SENTENCES = {
    "en": "The weather is pleasant today, so we will walk to the market together.",
    "fr": "Il fait beau aujourd'hui, alors nous irons au marché ensemble.",
    "sw": "Hali ya hewa ni nzuri leo, kwa hivyo tutatembea sokoni pamoja.",
    "tr": "Bugün hava güzel, bu yüzden pazara birlikte yürüyeceğiz.",
    "ar": "الطقس جميل اليوم، لذلك سنمشي إلى السوق معًا.",
    "fa": "امروز هوا خوب است، پس با هم به بازار پیاده می‌رویم.",
    "ur": "آج موسم اچھا ہے، اس لیے ہم اکٹھے بازار پیدل جائیں گے۔",
    "hi": "आज मौसम अच्छा है, इसलिए हम साथ में बाज़ार पैदल जाएँगे।",
    "zh-Hans": "今天天气很好，所以我们一起走路去市场。",
    "zh-Hant": "今天天氣很好，所以我們一起走路去市場。",
    "sr-Cyrl": "Данас је лепо време, па ћемо заједно пешачити до пијаце.",
    "sr-Latn": "Danas je lepo vreme, pa ćemo zajedno pešačiti do pijace.",
}


@pytest.mark.parametrize("code, expected", [
    ("ar", "ar"), ("ara", "ar"), ("AR", "ar"), ("iw", "he"), ("in", "id"), ("swa", "sw"), ("sr-Latn", "sr-Latn"),
    ("zh-TW", "zh-TW"), ("pa-Arab", "pa-Arab"), ("ckb", "ckb"),
])
def test_known_and_deprecated_codes_normalise(code, expected):
    assert normalise_language(code) == expected


@pytest.mark.parametrize("code, hint", [("xx", None), ("qaa", None), ("und", None), ("arabic", "did you mean ar"),
                                        ("", None), ("en-", None)])
def test_codes_without_language_data_are_refused(code, hint):
    with pytest.raises(ValueError, match="unknown language code") as err:
        normalise_language(code)
    if hint:
        assert hint in str(err.value)


def test_cards_use_the_hubs_codes_and_names():
    assert [hub_code(c) for c in ("ara", "sr-Latn", "zh-Hant", "fil")] == ["ar", "sr", "zh", "fil"]
    assert display_name("sr-Latn") == "Serbian (Latin)" and display_name("sw") == "Swahili"


def test_scripts_come_from_data_and_an_explicit_subtag_wins():
    assert set(scripts("sr")) >= {"Cyrl", "Latn"} and scripts("sr-Latn") == ("Latn",)
    assert set(scripts("pa")) >= {"Guru", "Arab"} and scripts("pa-Arab") == ("Arab",)
    assert {"Latn", "Cyrl"} <= set(scripts("uz")) and {"Latn", "Arab"} <= set(scripts("ms"))
    assert scripts("zh-TW") == ("Hant",) and {"Hans", "Hant"} <= set(scripts("zh"))
    assert scripts("ur") == ("Arab",) and scripts("hi") == ("Deva",) and scripts("ja") == ("Jpan",)


@pytest.mark.parametrize("language, sentence_of, accepted", [
    ("ar", "ar", True), ("ar", "ur", True), ("ar", "fa", True), ("ar", "en", False),
    ("ur", "ur", True), ("fa", "fa", True), ("hi", "hi", True), ("hi", "ur", False),
    ("zh", "zh-Hans", True), ("zh", "zh-Hant", True), ("zh-Hant", "zh-Hant", True), ("zh", "en", False),
    ("sr", "sr-Cyrl", True), ("sr", "sr-Latn", True), ("sr-Latn", "sr-Cyrl", False), ("sr-Cyrl", "sr-Latn", False),
    ("fr", "fr", True), ("fr", "ar", False), ("sw", "sw", True), ("tr", "tr", True), ("tr", "hi", False),
])
def test_letters_are_counted_by_unicode_script(language, sentence_of, accepted):
    share = script_share(SENTENCES[sentence_of], language)
    assert (share >= 0.5) is accepted, share


def test_letters_beyond_the_old_code_point_tables_count():
    assert script_share("ںےٹڈ", "ur") == 1.0  # Urdu-specific letters
    assert script_share("𠀀𠀁𪜀", "zh") == 1.0  # CJK extension B/C ideographs
    assert script_share("مَدْرَسَةٌ", "ar") == 1.0  # vowel marks are not letters: neither side counts them


# ---- the stages ----------------------------------------------------------------------------------------------

def _dataset(folder, rows):
    import pyarrow as pa
    import pyarrow.parquet as pq

    (folder / "data").mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows), folder / "data" / "train-00000-of-00001.parquet")
    return folder


@pytest.mark.parametrize("target", ["fr", "sw", "tr"])
def test_a_latin_target_rejects_output_in_another_script(target, tmp_path, capsys):
    """The echo engine writes Arabic letters: for a Latin-script target every row must be rejected (before, the
    script check was skipped whenever source and target shared a script, and all rows passed)."""
    source = _dataset(tmp_path / "src", [{"id": str(i), "text": SENTENCES["en"]} for i in range(3)])
    code, _, err = run_cli(capsys, "translate", source, "--engine", "echo", "--schema", "fields", "--fields", "text",
                           "--target-lang", target, "--output", tmp_path / "out", "--no-cache")
    assert code == 0, err
    rejected = split_rows(tmp_path / "out", "rejected")
    assert len(rejected) == 3 and all("text: target_script" in row["translation_issues"] for row in rejected)
    card = (tmp_path / "out" / "README.md").read_text()
    assert f"- {target}\n" in card and display_name(target) in card


@pytest.mark.parametrize("command", ["translate", "judge", "mix", "chat-mix"])
@pytest.mark.parametrize("code, fragment", [("xx", "unknown language code 'xx'"),
                                            ("arabic", "did you mean ar")])
def test_every_command_refuses_an_unknown_language(command, code, fragment, tmp_path, capsys):
    option = "--source-lang" if command == "judge" else "--target-lang"
    argv = {"translate": ["translate", tmp_path, "--engine", "dry-run"],
            "judge": ["judge", tmp_path, "--judge", tmp_path],
            "mix": ["mix", "--parallel", tmp_path],
            "chat-mix": ["chat-mix", "--translated", tmp_path]}[command]
    code_, _, err = run_cli(capsys, *argv, option, code, "--output", tmp_path / "out")
    assert code_ == 2 and fragment in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_a_deprecated_code_is_read_as_its_replacement(tmp_path, capsys):
    source = _dataset(tmp_path / "src", [{"id": "0", "text": "Hello there, my friend."}])
    code, _, err = run_cli(capsys, "translate", source, "--engine", "dry-run", "--schema", "fields", "--fields", "text",
                           "--target-lang", "iw", "--output", tmp_path / "out")
    assert code == 0, err
    assert split_rows(tmp_path / "out", "train")[0]["text_he"] == "Hello there, my friend."
    provenance = json.loads((tmp_path / "out" / "hala_provenance.json").read_text())
    assert provenance["config"]["target_lang"] == "he"


def test_judge_rejects_a_side_in_the_wrong_script():
    import pyarrow as pa

    from hala_release.stages.judge.filters import PairFilterConfig, filter_reasons

    def reasons(pairs, source_lang, target_lang):
        source, target = (pa.array([pair[i] for pair in pairs]) for i in (0, 1))
        return filter_reasons(source, target, source_lang, target_lang, PairFilterConfig()).to_pylist()

    english = SENTENCES["en"]
    assert reasons([(english, SENTENCES["sr-Cyrl"]), (english, SENTENCES["sr-Latn"])], "en", "sr") == [None, None]
    assert reasons([(english, SENTENCES["sr-Latn"]), (english, SENTENCES["sr-Cyrl"])], "en", "sr-Cyrl") == \
        ["wrong_script", None]
    assert reasons([(english, SENTENCES["en"] + " Again."), (SENTENCES["ar"], SENTENCES["ar"] + " و")], "en", "ar") == \
        ["wrong_script", "wrong_script"]
    assert reasons([(english, SENTENCES["ar"])], "en", "ar") == [None]


# ---- language identification ------------------------------------------------------------------------------------

MORE = {  # a second sentence per language, so a text is long enough to judge
    "en": "Please bring your umbrella because the forecast says it may rain this evening.",
    "es": "Hoy hace buen tiempo, así que caminaremos juntos al mercado por la tarde.",
    "fr": "Apportez votre parapluie, car la météo annonce de la pluie ce soir.",
    "sw": "Tafadhali lete mwavuli wako kwa sababu utabiri unasema huenda mvua ikanyesha jioni hii.",
    "tr": "Lütfen şemsiyeni getir, çünkü hava tahmini bu akşam yağmur yağabileceğini söylüyor.",
    "ar": "من فضلك أحضر مظلتك لأن النشرة الجوية تقول إن المطر قد يهطل هذا المساء.",
    "fa": "لطفاً چترت را بیاور چون پیش‌بینی هوا می‌گوید ممکن است امشب باران ببارد.",
    "ur": "براہ کرم اپنی چھتری لے آئیں کیونکہ موسم کی پیش گوئی ہے کہ آج شام بارش ہو سکتی ہے۔",
}


def _two(language: str) -> str:
    return f"{SENTENCES[language]} {MORE[language]}" if language in SENTENCES else MORE[language]


@pytest.mark.parametrize("target, written_in, rejected", [
    ("fr", "fr", False), ("fr", "en", True), ("fr", "es", True),
    ("sw", "sw", False), ("sw", "en", True), ("sw", "es", True),
    ("tr", "tr", False), ("tr", "en", True), ("tr", "es", True),
    ("ar", "ar", False), ("ar", "fa", True), ("ar", "ur", True),
    ("ur", "ur", False), ("ur", "fa", True), ("fa", "fa", False), ("fa", "ur", True),
])
def test_language_identification_per_language(target, written_in, rejected):
    from hala_release.engines import language_id

    plain, screened = language_id.identify(_two(written_in), 40), language_id.identify(_two(written_in), 40, target)
    assert language_id.is_other_language(plain, target, 0.8) is rejected, plain  # py3langid alone
    assert language_id.is_other_language(screened, target, 0.8) is rejected, screened  # as the stages call it


def test_the_fast_screen_only_ever_accepts():
    """pycld2 may confirm the expected language; it never rejects: anything it does not confirm goes to
    py3langid (mixed text, another language, text CLD2 refuses)."""
    from hala_release.engines import language_id

    assert language_id._screen(_two("fr"), "fr").language == "fr"
    assert language_id._screen(_two("ur"), "ur") is not None and language_id._screen(_two("ur"), "ar") is None
    assert language_id._screen(_two("en"), "fr") is None
    assert language_id._screen(f"{_two('fr')} {_two('en')}", "fr") is None  # half English: py3langid decides
    assert language_id._screen(_two("fr").replace(" ", "\x00", 1), "fr") is None  # CLD2 refuses a NUL
    assert language_id.identify(_two("en"), 40, "fr").language == "en"  # py3langid's reading
    record = language_id.record(0.8, 40)
    assert record["identifier"] == "py3langid" and record["screen"] == "pycld2" and record["screen_version"]


def test_indonesian_and_malay_are_one_group_and_short_texts_are_not_judged():
    from hala_release.engines import language_id

    assert not language_id.is_other_language(language_id.Verdict("ms", 0.99), "id", 0.8)
    assert not language_id.is_other_language(language_id.Verdict("arz", 0.99), "ar", 0.8)
    assert language_id.identify("Merci beaucoup.", 40) is None
    for letters in (39, 40):  # letters among digits, punctuation and spaces; 40 is the threshold
        text = " 1, ".join(["مرحبا"] * (letters // 5) + ["abcd"[:letters % 5]]) + " 2024!"
        assert (language_id.identify(text, 40) is None) is (letters < 40), text


def _answering(monkeypatch, answers: dict[str, str]):
    """An engine that answers each segment from `answers` (whole sentences, as a model would)."""
    from hala_release.engines.base import Generation
    from hala_release.engines.echo import EchoEngine

    monkeypatch.setattr(EchoEngine, "generate", lambda self, requests, sampling: [
        Generation(answers[self._segment(request)], 0) for request in requests])


@pytest.mark.parametrize("target, output, rejected", [("fr", "fr", False), ("fr", "en", True), ("fr", "es", True),
                                                      ("sw", "sw", False), ("sw", "es", True),
                                                      ("ar", "ar", False), ("ar", "fa", True)])
def test_translate_rejects_output_in_another_language(target, output, rejected, tmp_path, capsys, monkeypatch):
    source_text = f"{SENTENCES['en']} {MORE['en']}"
    answer = _two(output) if output != "en" else source_text.replace("today", "this day")
    _answering(monkeypatch, {source_text: answer})
    source = _dataset(tmp_path / "src", [{"id": "0", "text": source_text}])
    code, _, err = run_cli(capsys, "translate", source, "--engine", "echo", "--schema", "fields", "--fields", "text",
                           "--target-lang", target, "--output", tmp_path / "out", "--no-cache")
    assert code == 0, err
    if rejected:
        row = split_rows(tmp_path / "out", "rejected")[0]
        assert "text: wrong_language" in row["translation_issues"]
    else:
        assert split_rows(tmp_path / "out", "train")[0][f"text_{target}"] == answer
    card = (tmp_path / "out" / "README.md").read_text()
    assert "## Languages found" in card and "py3langid" in card and "pycld2" in card
    stats = json.loads((tmp_path / "out" / "hala_provenance.json").read_text())["stats"]
    assert stats["language_identifier"]["min_confidence"] == 0.8 and stats["rows_wrong_language"] == int(rejected)


def test_judge_filters_pairs_with_a_side_in_another_language():
    import pyarrow as pa

    from hala_release.stages.judge.filters import PairFilterConfig, filter_reasons

    pairs = [(_two("en"), _two("ar")), (_two("en"), _two("fa")), (_two("en"), _two("ur")), (_two("es"), _two("ar"))]
    source, target = (pa.array([pair[i] for pair in pairs]) for i in (0, 1))
    reasons = filter_reasons(source, target, "en", "ar", PairFilterConfig()).to_pylist()
    assert reasons == [None, "wrong_language", "wrong_language", "wrong_language"]
    assert filter_reasons(source, target, "en", "ar", PairFilterConfig(language_id=False)).to_pylist() == [None] * 4


def test_judge_counts_languages_under_the_side_they_were_read_on(tmp_path):
    """A side whose language the identifier has no label for (Hawaiian) is not read; the other side's languages
    are still counted under its own name."""
    from collections import Counter

    import pyarrow as pa

    from hala_release.stages.judge.filters import PairFilterConfig, corpus_reasons

    found = Counter()
    corpus_reasons([(pa.array([_two("en")]), pa.array([_two("ar")]))], "haw", "ar", PairFilterConfig(), tmp_path,
                   found)
    assert found == Counter({"target:ar": 1})


def test_chat_mix_leaves_out_conversations_in_another_language(tmp_path, capsys):
    from datasets import Dataset

    from hala_release.artifacts.build import build_artifact
    from hala_release.core.provenance import CardFacts

    rows = [{"id": str(i), "question": "q", "response": "r", "system_prompt": "",
             "question_ar": question, "response_ar": _two("ar"), "system_prompt_ar": "",
             "translation_ok": True, "translation_issues": []}
            for i, question in enumerate([_two("ar"), _two("fa"), SENTENCES["ar"] + " " + MORE["ar"].replace("المساء", "الصباح")])]
    folder = tmp_path / "orca-ar"
    with build_artifact(folder, stage="unit", config={}, card=CardFacts(kind="dataset", title="t", license="mit")) as draft:
        draft.write_splits({"train": Dataset.from_list(rows)})
    code, _, err = run_cli(capsys, "chat-mix", "--translated", folder, "--eval-size", "0", "--output", tmp_path / "out")
    assert code == 0, err
    kept = split_rows(tmp_path / "out", "train")
    assert sorted(row["source_id"] for row in kept) == ["0", "2"]
    card = (tmp_path / "out" / "README.md").read_text()
    assert "| orca-ar | openorca (Open-Orca/OpenOrca) | 2 | 0 | 0 | 0 | 1 |" in card
    assert "## Languages found" in card and "| ar | ar 2, fa 1 |" in card
    stats = json.loads((tmp_path / "out" / "hala_provenance.json").read_text())["stats"]
    assert stats["language_identifier"]["screen"] == "pycld2"

"""Translated data keeps every structure a real document has: checked by a second, independent CommonMark reading.

The echo engine changes every ASCII letter it is given, so anything the segmenter fails to protect changes too. The
oracle (`tests/markdown_oracle.py`: markdown-it-py with mdit-py-plugins' own math plugins) reads source and output
and compares code blocks, inline code, link targets and math; it never calls the segmenter.
"""

from __future__ import annotations

import email
import hashlib
import json
import re
from collections import Counter
from importlib.metadata import distributions
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hala_release.core.markup import structure
from hala_release.core.segment import Segment, join, keeps_structure, segments, split
from hala_release.engines.echo import echo_text
from markdown_oracle import prose_ascii_letters, protected_items
from stage_helpers import run_cli, split_rows

DATA = Path(__file__).parent / "data"
SPEC_SHA256 = "d431b29d97b6f73e69d547109cf5081578fac931e72afe95639ebe766c1b2a20"
LAYOUTS = {"scp116k": None, "hermes3": "value", "tulu3": "content"}


def echo(text: str) -> str:
    pieces = split(text)
    return join(pieces, {s.text: echo_text(s.text) for s in segments(pieces)})


def installed_readmes() -> list[tuple[str, str]]:
    """The Markdown READMEs that the packages of this environment ship as their long description (real documents
    of every kind: badges, tables, code, relative links), read at test time."""
    found = []
    for dist in distributions():
        meta = dist.read_text("METADATA")
        if not meta:
            continue
        message = email.message_from_string(meta)
        body = message.get_payload()
        if "markdown" in (message.get("Description-Content-Type") or "") and isinstance(body, str) and body.strip():
            found.append((message.get("Name", "?"), body))
    return sorted(found)


def corpus_texts() -> list[str]:
    """Science problems and chat answers written in the layouts of SCP-116K, Hermes 3 and Tulu 3 (tests/data)."""
    texts = []
    for layout, key in LAYOUTS.items():
        for line in (DATA / f"structured_{layout}.jsonl").read_text().splitlines():
            row = json.loads(line)
            for value in row.values():
                if isinstance(value, str) and key is None:
                    texts.append(value)
                elif isinstance(value, list):
                    texts.extend(turn[key] for turn in value)
    return texts


def check_documents(documents: list[str]) -> tuple[Counter, Counter, int, int]:
    """Identity, then the echo translation read by the oracle: (items, items kept, prose letters, left as they were)."""
    items, kept = Counter(), Counter()
    letters = untranslated = 0
    for text in documents:
        assert join(split(text)) == text
        output = echo(text)
        source_items, output_items = protected_items(text), protected_items(output)
        lost = source_items - output_items
        assert not lost, f"lost {sorted(lost)[:3]} in {text[:200]!r}"
        for (kind, _), count in source_items.items():
            items[kind] += count
        for (kind, _), count in (source_items & output_items).items():
            kept[kind] += count
        letters += prose_ascii_letters(text)
        untranslated += prose_ascii_letters(output)
    return items, kept, letters, untranslated


def test_real_readmes_keep_every_protected_item_and_translate_the_prose():
    readmes = installed_readmes()
    assert len(readmes) >= 50, "the test environment ships fewer Markdown READMEs than expected"
    items, kept, letters, untranslated = check_documents([body for _, body in readmes])
    assert items == kept
    assert items["link_target"] > 1000 and items["code_block"] > 200 and items["inline_code"] > 1000
    assert untranslated <= 0.03 * letters, f"{untranslated} of {letters} prose letters left untranslated"


def test_science_and_chat_rows_keep_every_protected_item_and_translate_the_prose():
    items, kept, letters, untranslated = check_documents(corpus_texts())
    assert items == kept and items["math"] >= 50 and items["code_block"] >= 4 and items["link_target"] >= 7
    assert untranslated <= 0.03 * letters, f"{untranslated} of {letters} prose letters left untranslated"


def test_every_commonmark_spec_example_survives_identity_and_translation():
    spec = DATA / "commonmark_spec_0.31.2.json"
    assert hashlib.sha256(spec.read_bytes()).hexdigest() == SPEC_SHA256
    examples = json.loads(spec.read_text())
    assert len(examples) == 652
    for example in examples:
        text = example["markdown"]
        assert join(split(text)) == text, example["example"]
        assert not protected_items(text) - protected_items(echo(text)), example["example"]


# ---- each construct of the issue, read by the oracle where it has a reading, by eye where it has none ----------

PROTECTED = [
    ("See [the guide](tutorial/install.md#activate-the-env) now.", "tutorial/install.md#activate-the-env"),
    ("Jump to [the list](#user-dictionary) below.", "#user-dictionary"),
    ("Open [notes](<docs/my notes.md> \"Notes\") here.", "<docs/my notes.md> \"Notes\""),
    ("Use the [dictionary][dict] today.\n\n[dict]: ./docs/dict.md \"Dictionary\"\n", "[dict]: ./docs/dict.md \"Dictionary\""),
    ("Mail <help@example.org> or visit <https://example.org/a?b=c>.", "<https://example.org/a?b=c>"),
    ("Visit https://example.org/path_to/page?x=1 or write to team@example.com today.", "https://example.org/path_to/page?x=1"),
    ("Press <kbd>Ctrl</kbd> and read <b>this</b> now.", "<kbd>Ctrl</kbd>"),
    ("---\ntitle: Front matter\nauthor: someone\n---\n\nBody text here.", "title: Front matter\nauthor: someone"),
    ("Install it:\n\n    pip install cloudpickle\n    >>> import cloudpickle\n\nDone now.", "    pip install cloudpickle\n    >>> import cloudpickle"),
    ("Call `open(path,\nmode)` to read the file.", "`open(path,\nmode)`"),
    ("In $|Z(G)| \\in \\{p, p^2\\}$ the bars are math.", "$|Z(G)| \\in \\{p, p^2\\}$"),
    ("Then\n\\begin{align*}\na &= b \\\\\nc &= d\n\\end{align*}\nholds here.", "\\begin{align*}\na &= b \\\\\nc &= d\n\\end{align*}"),
    ("Nested:\n\n\\begin{equation}\n\\begin{pmatrix} a & b \\\\ c & d \\end{pmatrix}\n\\end{equation}\n", "\\begin{pmatrix} a & b \\\\ c & d \\end{pmatrix}"),
    ("Where \\begin{cases} x & y \\\\ z & w \\end{cases} holds for all.", "\\begin{cases} x & y \\\\ z & w \\end{cases}"),
    ("Inline \\(x^2 + y\\) and display\n\\[\n  \\int_a^b f\n\\]\nafter.", "\\[\n  \\int_a^b f\n\\]"),
    ("Display $$\\sum_i x_i$$ inside and $y$ too.", "$$\\sum_i x_i$$"),
    ("<details>\n<summary>Why this?</summary>\nBecause <code>x = y</code> always.\n</details>\n", "<code>x = y</code>"),
    ("Text <pre>\nkeep this text\n</pre> done.", "<pre>"),
    ("<pre>\nkeep all of this\n</pre>\n\nProse after.", "<pre>\nkeep all of this\n</pre>"),
    ("A footnote here.[^note]\n\n[^note]: The note text.", "[^note]"),
    ("Entity &amp; more &copy; text.", "&copy;"),
]


@pytest.mark.parametrize("text, kept", PROTECTED, ids=[f"construct-{i}" for i in range(len(PROTECTED))])
def test_each_construct_is_kept_byte_for_byte(text, kept):
    assert join(split(text)) == text
    output = echo(text)
    assert kept in output, output
    assert not protected_items(text) - protected_items(output)
    assert output != text  # and the prose around it was translated


TRANSLATED = [
    ("# Heading words\n", "Heading words"),
    ("- list item words\n- second item\n", "list item words"),
    ("> quoted words here\n", "quoted words here"),
    ("| name | meaning |\n|---|---|\n| alpha | first letter |\n", "first letter"),
    ("Read [the link text](a.md) now.", "the link text"),
    ("![alt text words](img.png)", "alt text words"),
    ("A note.[^n]\n\n[^n]: Footnote words here.\n", "Footnote words here"),
    ("<details>\n<summary>Summary words</summary>\nBody words.\n</details>\n", "Summary words"),
    ("Tickets cost $3 each and $5 each.", "Tickets cost"),
]


@pytest.mark.parametrize("text, words", TRANSLATED, ids=[f"prose-{i}" for i in range(len(TRANSLATED))])
def test_prose_in_every_container_is_translated(text, words):
    output = echo(text)
    assert echo_text(words) in output and words not in output, output
    assert join(split(text)) == text


def test_table_pipes_stay_and_cells_translate():
    text = "| a | `b|c` |\n|---|---|\n| word \\| pipe | $x$ |\n"
    output = echo(text)
    assert output.count("|") == text.count("|") and "\\|" in output and "$x$" in output
    assert not protected_items(text) - protected_items(output)


def test_currency_is_prose_and_math_is_not():
    assert not structure("Tickets cost $3 each and $5 each.")
    assert structure("Let $x$ be $5$.") == Counter({("math", "x"): 1, ("math", "5"): 1})


# ---- generated documents -------------------------------------------------------------------------------------

_BLOCKS = st.sampled_from([
    "Plain words in a sentence.", "# A heading", "- a list item with `code`", "1. first step", "> quoted text",
    "```python\nprint('x')\n```", "    indented code line", "$$\n\\sum_i x_i\n$$", "\\begin{align}\na &= b \\\\\nc &= d\n\\end{align}",
    "\\[ x = \\frac{1}{2} \\]", "| a | b |\n|---|---|\n| `x` | $y$ |", "<div>\nblock words\n</div>",
    "[ref]: https://example.org/ref \"Ref\"", "Text with [a link](docs/a.md#part) and ![alt](i.png).",
    "Math $|x| \\le 1$ and \\(y\\) and currency $3 each and $4.", "Code `a\nb` across lines.",
    "Mail me@example.com or https://example.org/x.", "Text<br>with <b>tags</b> &amp; entity.",
    "\\begin{cases} a & b \\\\ c & d \\end{cases} inline env", "A [ref] use and [x][ref] full.",
])


@settings(max_examples=150, deadline=None)
@given(st.lists(_BLOCKS, min_size=1, max_size=8), st.sampled_from(["\n\n", "\n", "\r\n\r\n"]))
def test_generated_documents_keep_their_structure(blocks, separator):
    text = separator.join(blocks)
    assert join(split(text)) == text
    output = echo(text)
    assert not protected_items(text) - protected_items(output)
    assert structure(output) == structure(text)


@settings(max_examples=2000, deadline=None)
@given(st.text(alphabet="ab1 .`$\\<[]()|-:~*_#>&!^/\t\n", max_size=40))
def test_texts_the_line_rules_read_hold_nothing_the_oracle_would_protect(text):
    """`needs_parser` lets plain text skip the parser: whatever it lets through, the oracle finds no code, math or
    link in, and its echo translation keeps identity."""
    from hala_release.core.markup import needs_parser

    if not needs_parser(text):
        assert not protected_items(text), text
        assert join(split(text)) == text


_SAFE_PROSE = st.text(alphabet="abc xyz,.;:!?()\"'-0123456789ابت", min_size=1, max_size=30)


@settings(max_examples=200, deadline=None)
@given(st.lists(_BLOCKS, min_size=1, max_size=6), st.data())
def test_the_structure_shortcut_never_misses_a_change(blocks, data):
    """`keeps_structure` lets the gate skip reading a translation again: whenever it says so, the translation must
    read exactly as the source (any prose without the characters it watches, markers kept in order)."""
    text = "\n\n".join(blocks)
    pieces = split(text)
    translations = {}
    for segment in segments(pieces):
        words = [data.draw(_SAFE_PROSE) for _ in range(len(segment.spans) + 1)]
        order = list(range(len(segment.spans)))
        if data.draw(st.booleans()):
            order = data.draw(st.permutations(order))
        translated = words[0] + "".join(f"⟦{n}⟧{word}" for n, word in zip(order, words[1:]))
        translations[segment.text] = translated
    output = join(pieces, translations)
    if all(keeps_structure(s, translations[s.text]) for s in segments(pieces)):
        assert structure(output) == structure(text)


def test_the_shortcut_refuses_what_can_change_structure():
    link = Segment("See ⟦0⟧docs⟦1⟧ here.", ("[", "](a.md)"))
    assert keeps_structure(link, "انظر ⟦0⟧مستندات⟦1⟧ هنا.")
    for bad in ["انظر ⟦1⟧مستندات⟦0⟧ هنا.", "انظر `⟦0⟧مستندات⟦1⟧", "- ⟦0⟧مستندات⟦1⟧", "⟦0⟧x⟦1⟧5 $", "⟦0⟧x⟦1⟧\nb"]:
        assert not keeps_structure(link, bad), bad


# ---- the translate stage: the whole-row gate and the card ------------------------------------------------------

def _write_rows(folder: Path, texts: list[str]) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    (folder / "data").mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist([{"id": str(i), "text": t} for i, t in enumerate(texts)]),
                   folder / "data" / "train-00000-of-00001.parquet")
    return folder


def test_card_counts_match_the_oracle(tmp_path, capsys):
    texts = corpus_texts()
    source = _write_rows(tmp_path / "src", texts)
    code, _, err = run_cli(capsys, "translate", source, "--engine", "echo", "--schema", "fields", "--fields", "text",
                           "--output", tmp_path / "out", "--no-cache")
    assert code == 0, err
    provenance = json.loads((tmp_path / "out" / "hala_provenance.json").read_text())
    measured = provenance["stats"]["structure"]
    kept_rows = split_rows(tmp_path / "out", "train")
    rejected_rows = split_rows(tmp_path / "out", "rejected") if (tmp_path / "out" / "data").glob("rejected-*") else []
    oracle_source, oracle_kept = Counter(), Counter()
    for text in texts:
        for (kind, _), count in protected_items(text).items():
            oracle_source[kind] += count
    for row in kept_rows:
        for (kind, _), count in (protected_items(row["text"]) & protected_items(row["text_ar"])).items():
            oracle_kept[kind] += count
    for kind in ("code_block", "inline_code", "link_target", "math"):
        assert measured[kind]["source"] == oracle_source[kind], kind
        assert measured[kind]["kept"] == oracle_kept[kind], kind
    assert sum(oracle_source.values()) > 70
    card = (tmp_path / "out" / "README.md").read_text()
    total_kept = sum(oracle_kept.values())
    assert f"{total_kept:,} of them are byte-identical in the main split" in card
    assert "| math spans | " in card and "carried over unchanged" not in card
    assert len(kept_rows) + len(rejected_rows) == len(texts)


def _reorder_markers(monkeypatch):
    """An engine that translates like echo but swaps the first two markers of a segment: every marker is still there
    once (each segment passes its own check), yet a link's brackets and destination change places."""
    from hala_release.engines.echo import EchoEngine

    def generate(self, requests, sampling):
        from hala_release.engines.base import Generation

        out = []
        for request in requests:
            text = echo_text(self._segment(request))
            if "⟦0⟧" in text and "⟦1⟧" in text:
                text = text.replace("⟦0⟧", "\0").replace("⟦1⟧", "⟦0⟧").replace("\0", "⟦1⟧")
            out.append(Generation(text, 0))
        return out

    monkeypatch.setattr(EchoEngine, "generate", generate)


def test_a_row_whose_output_moved_markers_is_retried_then_rejected(tmp_path, capsys, monkeypatch):
    _reorder_markers(monkeypatch)
    texts = ["Read [the guide](docs/guide.md) before you start the work.",
             "Plain prose with no markup at all in this sentence.",
             "Here `a` and `b` swap places, which changes no structure."]
    source = _write_rows(tmp_path / "src", texts)
    code, _, err = run_cli(capsys, "translate", source, "--engine", "echo", "--schema", "fields", "--fields", "text",
                           "--output", tmp_path / "out", "--no-cache", "--max-retries", "2")
    assert code == 0, err
    rejected = split_rows(tmp_path / "out", "rejected")
    assert [row["id"] for row in rejected] == ["0"]
    assert rejected[0]["translation_issues"] == ["text: structure_changed"]
    stats = json.loads((tmp_path / "out" / "hala_provenance.json").read_text())["stats"]
    assert stats["rows_structure_changed"] == 1 and stats["retries"] >= 2
    assert stats["structure"]["link_target"] == {"source": 1, "kept": 0, "in_rejected": 1}
    assert stats["structure"]["inline_code"] == {"source": 2, "kept": 2, "in_rejected": 0}
    card = (tmp_path / "out" / "README.md").read_text()
    assert "1 rows were rejected because their translation changed them" in card
    assert re.search(r"\| structure_changed \| 1 \|", card)

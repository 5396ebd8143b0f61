"""The demo page in a real browser: headless Debian Chromium driven by Playwright (`.ci/run` installs chromium).

Checks that the Arabic example prompts, messages and texts read right to left (computed direction, and where the
final full stop lands on screen), types an Arabic message, sees the streamed reply, switches to Translate,
translates a markdown text with a code block, and saves screenshots (paths printed; the translate one is also copied to /tmp/hala-demo-screenshot.png).
"""

import os
import re
import shutil
import socket
import unicodedata
from pathlib import Path

import pytest

from hala_release.stages.demo.run import launch_demo

CHROMIUM = os.environ.get("HALA_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-extensions", "--no-first-run"]
CODE_BLOCK = "```python\nprint('مرحبا')\n```"
LATEST_SCREENSHOT = Path("/tmp/hala-demo-screenshot.png")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _set_number(number, value: str, attempts: int = 10) -> None:
    """Type into a slider's number box until the value sticks.

    The accordion mounts its sliders when first opened; on a busy machine a value typed before the component has
    finished mounting is overwritten by the default (seen in CI: 512 instead of 40), so type again until it holds.
    """
    from playwright.sync_api import expect

    for attempt in range(1, attempts + 1):
        number.fill(value)
        number.press("Tab")
        try:
            expect(number).to_have_value(value, timeout=2_000 if attempt < attempts else 5_000)
            return
        except AssertionError:
            if attempt == attempts:
                raise


# Where a text's characters land on screen: the first letter's and the final character's left edges, and the
# element's computed direction (dir="auto" resolves to the direction of the first strong letter).
GEOMETRY_JS = """
(element) => {
  const walker = document.createTreeWalker(element, NodeFilter.SHOW_TEXT);
  const nodes = [];
  while (walker.nextNode()) if (walker.currentNode.textContent.trim()) nodes.push(walker.currentNode);
  const left = (node, index) => {
    const range = document.createRange();
    range.setStart(node, index);
    range.setEnd(node, index + 1);
    return range.getBoundingClientRect().left;
  };
  const first = nodes[0], last = nodes[nodes.length - 1];
  const start = first.textContent.length - first.textContent.trimStart().length;
  return {direction: getComputedStyle(element).direction, first: left(first, start),
          end: left(last, last.textContent.trimEnd().length - 1)};
}
"""


def _direction(text: str) -> str:
    """What dir="auto" resolves to: the direction of the first strong letter (ltr when there is none)."""
    for char in text:
        if unicodedata.bidirectional(char) in ("R", "AL"):
            return "rtl"
        if unicodedata.bidirectional(char) == "L":
            return "ltr"
    return "ltr"


def _reads_right_to_left(locator) -> None:
    """The element is right to left and its text ends at its left (the Arabic full stop where Arabic puts it)."""
    geometry = locator.evaluate(GEOMETRY_JS)
    assert geometry["direction"] == "rtl", geometry
    assert geometry["end"] < geometry["first"], geometry


def test_chat_then_translate_in_chromium(tiny_llama, tiny_lfm2, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} not found: install Chromium (apt-get install -y chromium, as .ci/run does) or set "
                    f"HALA_CHROMIUM to its path")
    running = launch_demo(str(tiny_llama), str(tiny_lfm2), port=_free_port(), block=False)
    try:
        running.wait_until_loaded(120)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="ar")
            page.goto(running.url, wait_until="load")
            expect(page.locator("#hala-status")).to_contain_text("ready", timeout=30_000)

            # The Arabic example prompts read right to left: their full stop / question mark ends at the left.
            arabic_examples = [text for text in running.app.CHAT_EXAMPLES if _direction(text) == "rtl"]
            assert arabic_examples
            for text in arabic_examples:
                example = page.get_by_text(text, exact=True).first
                expect(example).to_be_visible(timeout=30_000)
                _reads_right_to_left(example)
            english = page.get_by_text(running.app.CHAT_EXAMPLES[-1], exact=True).first
            assert english.evaluate("e => getComputedStyle(e).direction") == "ltr"
            examples_shot = tmp_path / "hala-demo-examples.png"
            page.screenshot(path=str(examples_shot), full_page=True)

            # Sampling settings live in the accordion: a short, greedy reply keeps the run quick and repeatable.
            page.get_by_text("System prompt and sampling").click()
            for slider, value in (("#hala-max-new-tokens", "40"), ("#hala-temperature", "0")):
                _set_number(page.locator(f"{slider} input[type=number]"), value)

            # Chat: the user's Arabic message shows, right to left, and a reply streams in below it.
            chat_input = page.locator("#hala-chat-input textarea")
            chat_input.fill("مرحبا! ما هي عاصمة مصر؟")
            chat_input.press("Enter")
            user_message = page.locator("#hala-chatbot .message.user").last
            expect(user_message).to_contain_text("ما هي عاصمة مصر", timeout=30_000)
            reply = page.locator("#hala-chatbot .message.bot").last
            expect(reply).to_have_text(re.compile(r"\S"), timeout=60_000)
            expect(page.locator("#hala-chat-input [data-testid=submit-button]")).to_be_visible(timeout=60_000)
            # Each paragraph takes the direction of its first strong letter (Arabic: right to left).
            style = user_message.locator("p").first.evaluate(
                "e => [getComputedStyle(e).unicodeBidi, getComputedStyle(e).textAlign]")
            assert style == ["plaintext", "start"]
            _reads_right_to_left(user_message.locator("p").first)
            reply_paragraph = reply.locator("p").first
            assert reply_paragraph.evaluate("e => getComputedStyle(e).direction") == \
                _direction(reply_paragraph.inner_text())
            chat_shot = tmp_path / "hala-demo-chat.png"
            page.screenshot(path=str(chat_shot), full_page=True)

            # Translate: a markdown text with a fenced code block; the code comes back as it was.
            page.get_by_role("tab", name="Translate").click()
            source = page.locator("#hala-source textarea")
            expect(source).to_be_visible()
            source.fill(f"Hello, how are you today?\n\n{CODE_BLOCK}\n\nSee `x = 1` at https://example.com.")
            page.locator("#hala-translate").click()
            expect(page.locator("#hala-note")).to_contain_text("translated", timeout=60_000)
            target = page.locator("#hala-target textarea")
            translation = target.input_value()
            assert CODE_BLOCK in translation and "`x = 1`" in translation and "https://example.com" in translation
            assert source.evaluate("e => getComputedStyle(e).direction") == "ltr"
            assert target.evaluate("e => getComputedStyle(e).direction") == _direction(translation)

            # The Arabic example to translate reads right to left, in the examples and once in the text box.
            arabic = next(text for text, _ in running.app.TRANSLATE_EXAMPLES if _direction(text) == "rtl")
            cell = page.get_by_text(arabic, exact=True).first
            _reads_right_to_left(cell)
            cell.click()
            expect(source).to_have_value(arabic)
            assert source.evaluate("e => getComputedStyle(e).direction") == "rtl"
            translate_shot = tmp_path / "hala-demo-translate.png"
            page.screenshot(path=str(translate_shot), full_page=True)
            browser.close()
    finally:
        running.close()
    shutil.copyfile(translate_shot, LATEST_SCREENSHOT)
    shutil.copyfile(chat_shot, LATEST_SCREENSHOT.with_name("hala-demo-chat.png"))
    print(f"\nscreenshots: {chat_shot} and {translate_shot} "
          f"(copies: {LATEST_SCREENSHOT.with_name('hala-demo-chat.png')}, {LATEST_SCREENSHOT})")
    assert chat_shot.stat().st_size > 10_000 and translate_shot.stat().st_size > 10_000
    assert examples_shot.stat().st_size > 10_000

"""The demo page in a real browser: headless Debian Chromium driven by Playwright (`.ci/run` installs chromium).

Types an Arabic message, sees the streamed reply, switches to Translate, translates a markdown text with a code
block, and saves screenshots (paths printed; the translate one is also copied to /tmp/hala-demo-screenshot.png).
"""

import os
import re
import shutil
import socket
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
            chat_shot = tmp_path / "hala-demo-chat.png"
            page.screenshot(path=str(chat_shot), full_page=True)

            # Translate: a markdown text with a fenced code block; the code comes back as it was.
            page.get_by_role("tab", name="Translate").click()
            source = page.locator("#hala-source textarea")
            expect(source).to_be_visible()
            source.fill(f"Hello, how are you today?\n\n{CODE_BLOCK}\n\nSee `x = 1` at https://example.com.")
            page.locator("#hala-translate").click()
            expect(page.locator("#hala-note")).to_contain_text("translated", timeout=60_000)
            translation = page.locator("#hala-target textarea").input_value()
            assert CODE_BLOCK in translation and "`x = 1`" in translation and "https://example.com" in translation
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

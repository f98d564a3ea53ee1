"""A real headless Chromium, driven by Playwright, using the app as a person would.

Needs Debian's chromium at /usr/bin/chromium (CI installs it). Elsewhere the test skips with a
reason, unless LSTM_TEXTGEN_REQUIRE_BROWSER=1 (set by .ci/run), where a missing browser fails.
The screenshots land in test-artifacts/ (or $LSTM_TEXTGEN_ARTIFACTS).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from pathlib import Path

import pytest
from conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))
from browser import CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.slow  # a real Chromium

ARGS = CHROMIUM_ARGS
ARTIFACTS = Path(os.environ.get("LSTM_TEXTGEN_ARTIFACTS", ROOT / "test-artifacts"))


def _browser_or_skip():
    missing = None
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        missing = f"no Chromium at {CHROMIUM} (apt-get install -y chromium)"
    else:
        if importlib.util.find_spec("playwright") is None:
            missing = "playwright is not installed (pip install -r requirements-dev.txt)"
    if missing:
        if os.environ.get("LSTM_TEXTGEN_REQUIRE_BROWSER") == "1":
            pytest.fail(f"the browser test must run here, but: {missing}")
        pytest.skip(missing)


@pytest.fixture(scope="module")
def page_url(server):
    return server[0]


def test_type_a_seed_move_a_slider_generate_and_read_the_model_tab(page_url):
    _browser_or_skip()
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 1400})
            page.goto(page_url, wait_until="load")
            seed = page.locator("#seed-words textarea")
            seed.wait_for(timeout=60_000)
            seed.fill("Congress zyzzyva")

            # move the "Number of headlines" slider from 5 to 3 with the keyboard, as a user can
            slider = page.locator("#num input[type=range]")
            slider.focus()
            for _ in range(2):
                slider.press("ArrowLeft")
            expect(page.locator("#num input[type=number]")).to_have_value("3")

            page.locator("#generate").click()
            items = page.locator("#headlines li")
            expect(items).to_have_count(3, timeout=30_000)
            expect(items.first.locator(".seed")).to_have_text("Congress Zyzzyva")
            expect(page.locator("#notices")).to_contain_text("zyzzyva", timeout=30_000)
            page.wait_for_timeout(500)
            texts = [t.strip() for t in items.all_inner_texts()]
            assert all(t.startswith("Congress Zyzzyva") and len(t.split()) > 2 for t in texts), texts
            page.screenshot(path=str(ARTIFACTS / "app-generate.png"), full_page=True)

            # Enter in the textbox generates too
            seed.fill("the senate")
            seed.press("Enter")
            expect(items.first.locator(".seed")).to_have_text("The Senate", timeout=30_000)

            page.get_by_role("tab", name="Model").click()
            expect(page.get_by_text("5-layer LSTM, embedding 32")).to_be_visible(timeout=10_000)
            expect(page.get_by_text("Vocabulary", exact=True)).to_be_visible()
            expect(page.get_by_text("Training curve")).to_be_visible()
            page.screenshot(path=str(ARTIFACTS / "app-model.png"), full_page=True)
        finally:
            browser.close()
    assert (ARTIFACTS / "app-generate.png").stat().st_size > 10_000


def test_markup_in_the_seed_is_shown_as_text_never_run(page_url):
    _browser_or_skip()
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page()
            page.on("dialog", lambda d: (_ for _ in ()).throw(AssertionError(f"a dialog opened: {d.message}")))
            page.goto(page_url, wait_until="load")
            seed = page.locator("#seed-words textarea")
            seed.wait_for(timeout=60_000)
            seed.fill('<img src=x onerror="window.__pwned=1"><script>window.__pwned=2; alert(3)</script>')
            page.locator("#generate").click()
            expect(page.locator("#headlines li")).to_have_count(5, timeout=30_000)
            expect(page.locator("#notices")).to_contain_text("Random seed used", timeout=30_000)
            assert page.evaluate("window.__pwned") is None
            assert page.locator("#headlines img, #headlines script, #notices img").count() == 0
            expect(page.locator("#headlines li").first.locator(".seed")).to_contain_text("X Onerror Window Pwned")
        finally:
            browser.close()

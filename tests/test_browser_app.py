"""The app as a first-time user meets it (issue 13), in a real headless Chromium driven by Playwright: one
test a point, at a desktop size and, for the layout, a phone's. Skips like test_browser.py without Chromium."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, free_port, running_app
from test_browser import ARGS, CHROMIUM, _browser_or_skip

import lstm_textgen as lt

pytestmark = pytest.mark.slow  # a real Chromium

DONE = "Random seed used"  # the notice that ends every successful request
MAX_SEED = str(2**63 - 1)


@pytest.fixture(scope="module")
def chromium():
    _browser_or_skip()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def bundled_url():
    """The app with the model that ships in checkpoints/: a real vocabulary, so rare words really get drawn."""
    with running_app(Path(lt.default_checkpoint()), stream_every=0.05) as url:
        yield url


def open_app(chromium, url: str, width: int = 1280, height: int = 900):
    context = chromium.new_context(viewport={"width": width, "height": height})
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = context.new_page()
    page.goto(url, wait_until="load")
    page.locator("#seed-words textarea").wait_for(timeout=60_000)
    return page


WATCH_RUNS = """() => { if (window.__runs !== undefined) return;
  window.__runs = 0; window.__states = []; let busy = false;
  new MutationObserver(() => {
    const stop = document.querySelector('#stop'), go = document.querySelector('#generate');
    const state = [!!(stop && stop.offsetParent), !!(go && go.offsetParent)];
    window.__states.push(state);
    if (state[0]) busy = true;
    else if (busy && state[1]) { busy = false; window.__runs += 1; }
  }).observe(document.body, {subtree: true, childList: true, attributes: true}); }"""


def watch_runs(page) -> int:
    """Count finished requests: Generate turns into Stop while one runs, and back at its end (error or not)."""
    page.evaluate(WATCH_RUNS)
    return page.evaluate("window.__runs")


SETTLED = """() => { const list = document.querySelector('#headlines .headlines[data-seed]');
  const notices = document.querySelector('#notices');
  return !!document.querySelector('#headlines .request-error') || (!!list && !!notices
    && notices.innerText.includes('Random seed used: ' + list.dataset.seed)); }"""


def wait_for_run(page, before: int) -> None:
    """Until the request has ended and the page shows its result (the notice is rendered after the list)."""
    page.wait_for_function(f"window.__runs > {before}", timeout=30_000)
    page.wait_for_function(SETTLED, timeout=10_000)


def generate(page, seed_words: str | None = None, **settings: str) -> None:
    """Type the seed words (and Advanced settings by elem id), press Generate, wait for the request's end."""
    if seed_words is not None:
        page.locator("#seed-words textarea").fill(seed_words)
    for elem_id, value in settings.items():
        page.locator(f"#{elem_id} input[type=number], #{elem_id} textarea, #{elem_id} input").first.fill(value)
    before = watch_runs(page)
    page.locator("#generate").click()
    wait_for_run(page, before)


def open_advanced(page) -> None:
    page.get_by_text("Advanced", exact=True).click()
    page.locator("#seed textarea, #seed input").first.wait_for()


def seed_used(page) -> str:
    return re.search(r"Random seed used: (\d+)", page.locator("#notices").inner_text()).group(1)


def generated_words(page) -> list[str]:
    return [t.strip() for t in page.locator("#word-view .token .text").all_inner_texts()]


# 1 ---------------------------------------------------------------------------------------------------------


def test_opening_advanced_leaves_the_random_seed_blank(chromium, server):
    page = open_app(chromium, server[0])
    open_advanced(page)
    seed_box = page.locator("#seed textarea, #seed input").first
    assert seed_box.input_value() == ""
    generate(page, "the senate")
    first = seed_used(page)
    generate(page)
    assert seed_used(page) != first  # still random
    assert seed_box.input_value() == ""
    page.context.close()


# 2 ---------------------------------------------------------------------------------------------------------


def test_the_word_view_shows_the_chosen_word_first_and_never_0_percent(chromium, bundled_url):
    from playwright.sync_api import expect

    page = open_app(chromium, bundled_url)
    page.locator("#temperature input[type=number]").fill("2")
    page.locator("#temperature input[type=number]").press("Enter")
    generate(page, "the senate")
    words = generated_words(page)
    expect(page.locator("#chosen .chosen-word")).to_have_text(words[2])  # the first generated word, not a favourite
    expect(page.locator("#chosen")).to_contain_text(re.compile(r"(rank \d of|not among) the model's top \d"))
    options = []
    for i in range(5):  # every headline's word list: each chosen word with its probability
        page.locator("#pick-headline input").click()
        page.locator("[role=option]").nth(i).click()
        page.locator("#word input").click()
        options += page.locator("[role=option]").all_inner_texts()
        page.keyboard.press("Escape")
    assert len(options) >= 5, options
    assert not any("(0%)" in o for o in options), options
    assert any(re.search(r"\((0\.\d%|<0\.1%)\)", o) for o in options), options  # temperature 2 draws rare words
    page.context.close()


# 3 ---------------------------------------------------------------------------------------------------------


def test_the_seed_field_takes_its_whole_range_and_refuses_clearly(chromium, server):
    page = open_app(chromium, server[0])
    open_advanced(page)
    generate(page, "the senate", seed=MAX_SEED)
    assert seed_used(page) == MAX_SEED
    assert page.locator("#headlines li").count() == 5
    for bad, said in (("1.5", "got 1.5"), ("-1", "got -1")):
        generate(page, seed=bad)
        error = page.locator("#headlines .request-error")
        assert "Random seed must be a whole number" in error.inner_text() and said in error.inner_text()
        assert page.locator("#headlines li").count() == 0  # nothing stale that looks current
        assert page.locator("#notices").inner_text().strip() == ""
        assert page.get_by_text("Error", exact=True).count() == 0  # no red badges over the outputs
    page.context.close()


# 4 ---------------------------------------------------------------------------------------------------------


def test_a_long_seed_still_gets_new_words_and_says_how_much_was_used(chromium, bundled_url):
    page = open_app(chromium, bundled_url)
    text = " ".join(["the senate votes on the budget as trump says new york will fight"] * 60)[:5000]
    generate(page, text)
    gen = [t.strip() for t in page.locator("#headlines li .gen").all_inner_texts()]
    assert len(gen) == 5 and all(gen), gen
    assert "only its last 12 words were used" in page.locator("#notices").inner_text()
    page.context.close()


# 5 ---------------------------------------------------------------------------------------------------------


def test_a_users_mistake_is_one_line_in_the_server_log(chromium, tiny_checkpoint, tmp_path):
    port = free_port()
    log = tmp_path / "server.log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "app.py", "--checkpoint", str(tiny_checkpoint), "--port", str(port)],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        deadline = time.time() + 90
        while f"127.0.0.1:{port}" not in log.read_text() and time.time() < deadline:
            time.sleep(0.2)
        page = open_app(chromium, f"http://127.0.0.1:{port}/")
        open_advanced(page)
        for bad in ("-1", "99999999999999999999"):
            generate(page, "the senate", seed=bad)
            assert "Random seed must be" in page.locator("#headlines").inner_text()
        page.context.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    text = log.read_text()
    assert "Traceback" not in text, text
    assert text.count("rejected request: Random seed must be") == 2, text


# 6 ---------------------------------------------------------------------------------------------------------


def test_on_a_phone_nothing_breaks_inside_a_word_or_hides_under_an_icon(chromium, bundled_url):
    page = open_app(chromium, bundled_url, width=390, height=844)
    generate(page, "whats going on with the plan for the senate and the house")
    # the headline picker: the text ends before the dropdown's arrow
    gap = page.evaluate(
        """() => { const i = document.querySelector('#pick-headline input');
        const a = document.querySelector('#pick-headline .icon-wrap');
        return a.getBoundingClientRect().left - (i.getBoundingClientRect().right
          - parseFloat(getComputedStyle(i).paddingRight)); }"""
    )
    assert gap >= 0, gap
    page.get_by_role("tab", name="Model").click()
    page.locator("#model-info td").first.wait_for()
    # every label of the table on one line ("Checkpoint", never "Chec / kpoint")
    lines = page.evaluate(
        """() => [...document.querySelectorAll('#model-info td:first-child')].map(td => {
          const r = document.createRange(); r.selectNodeContents(td);
          return [td.innerText, new Set([...r.getClientRects()].map(x => Math.round(x.top))).size]; })"""
    )
    assert lines and all(n == 1 for _, n in lines), lines
    # the code block's copy button covers none of the command
    overlap = page.evaluate(
        """() => { const b = document.querySelector('#model-info .copy_code_button').getBoundingClientRect();
          const r = document.createRange(); r.selectNodeContents(document.querySelector('#model-info pre code'));
          return [...r.getClientRects()].some(t => t.left < b.right && b.left < t.right && t.top < b.bottom
            && b.top < t.bottom); }"""
    )
    assert overlap is False
    page.screenshot(path=str(ROOT / "test-artifacts" / "app-phone-model.png"), full_page=True)
    page.context.close()


# 7 ---------------------------------------------------------------------------------------------------------


def test_unknown_words_are_told_once(chromium, server):
    page = open_app(chromium, server[0])
    generate(page, "senate zyzzyva")
    page.wait_for_timeout(500)  # a pop-up, if one came, would be up by now
    body = page.locator("body").inner_text()
    assert body.count("zyzzyva") == 1, body  # in the notice; the headlines print it "Zyzzyva"
    assert "zyzzyva" in page.locator("#notices").inner_text()
    page.context.close()


# 8 ---------------------------------------------------------------------------------------------------------


def test_clicking_a_word_selects_it(chromium, server):
    from playwright.sync_api import expect

    page = open_app(chromium, server[0])
    generate(page, "the senate", **{"max-words": "8"})
    words = generated_words(page)
    assert len(words) >= 4, words
    page.locator("#word-view .token").nth(3).click()  # the second new word (two seed words first)
    expect(page.locator("#chosen .chosen-word")).to_have_text(words[3])
    assert page.locator("#word input").input_value().startswith("2. ")
    page.context.close()


# 9 ---------------------------------------------------------------------------------------------------------


def test_picking_an_alternative_continues_the_headline_from_it(chromium, server):
    from playwright.sync_api import expect

    page = open_app(chromium, server[0])
    generate(page, "the senate")
    words = generated_words(page)
    page.locator("#word-view .token").nth(3).click()
    expect(page.locator("#chosen .chosen-word")).to_have_text(words[3])
    choice = page.locator("#alternatives label").first
    alternative = choice.inner_text().split(" · ")[0]
    before = watch_runs(page)
    choice.click()
    expected_seed = " ".join([*words[:3], alternative])
    expect(page.locator("#seed-words textarea")).to_have_value(expected_seed)
    wait_for_run(page, before)
    expect(page.locator("#notices")).to_contain_text(DONE)
    starts = page.locator("#headlines li .seed").all_inner_texts()
    printed = lt.headline_case(lt.clean(expected_seed).split(), complete=False).lower()
    assert starts and all(s.strip().lower() == printed for s in starts), (starts, printed)
    page.context.close()


# 10 --------------------------------------------------------------------------------------------------------


def test_a_headline_can_be_copied_and_continued(chromium, server):
    from playwright.sync_api import expect

    page = open_app(chromium, server[0])
    generate(page, "the senate")
    page.locator("#pick-headline input").click()
    page.locator("[role=option]").nth(1).click()  # the second headline
    second = page.locator("#headlines li").nth(1).inner_text().replace(" (length cap)", "").strip()
    box = page.locator("#headline-text textarea, #headline-text input").first
    expect(box).to_have_value(second)
    page.locator("#headline-text button[aria-label='Copy']").click()
    assert page.evaluate("navigator.clipboard.readText()") == second
    before = watch_runs(page)
    page.locator("#continue").click()
    expect(page.locator("#seed-words textarea")).to_have_value(second)
    wait_for_run(page, before)
    # the same words start every new headline (a small word's case follows its place: "In" last, "in" inside)
    expect(page.locator("#headlines li").first.locator(".seed")).to_have_text(re.compile(re.escape(second), re.I))
    page.context.close()


# 11 --------------------------------------------------------------------------------------------------------


def test_example_chips_are_printed_forms_and_run_at_once(chromium, bundled_url):
    from playwright.sync_api import expect

    model = lt.load_model(lt.default_checkpoint())
    printed = [model.vocab.headline(p.split(), complete=False) for p in lt.suggested_prompts(model, 8)]
    page = open_app(chromium, bundled_url)
    page.locator("#examples .gallery-item").first.wait_for()
    chips = [c.strip() for c in page.locator("#examples .gallery-item").all_inner_texts()]
    assert chips == printed and "How to" in chips, chips
    page.locator("#examples").get_by_text("How to", exact=True).click()
    expect(page.locator("#headlines li")).to_have_count(5, timeout=30_000)  # no Generate press needed
    expect(page.locator("#headlines li").first.locator(".seed")).to_have_text("How to")
    page.context.close()


# 12 --------------------------------------------------------------------------------------------------------


def test_generate_turns_into_stop_while_it_runs(chromium, bundled_url):
    from playwright.sync_api import expect

    page = open_app(chromium, bundled_url)
    for elem_id, value in (("max-words", "40"), ("num", "10"), ("temperature", "2")):
        page.locator(f"#{elem_id} input[type=number]").fill(value)
        page.locator(f"#{elem_id} input[type=number]").press("Enter")
    before = watch_runs(page)
    page.locator("#seed-words textarea").fill("the senate")
    page.locator("#generate").click()
    page.locator("#stop").wait_for(state="visible", timeout=10_000)  # a real model writing 400 words: not instant
    # (not asserted here that Generate is hidden: the run can end between the two reads; the page's own record of
    # its states, below, shows what it showed while running)
    wait_for_run(page, before)
    states = page.evaluate("window.__states")
    assert [True, False] in [list(s) for s in states], states[-10:]  # Stop shown, Generate hidden, while running
    expect(page.locator("#generate")).to_be_visible()
    assert page.locator("#stop").count() == 0 or not page.locator("#stop").is_visible()
    # Stop gives the page back at once (a request on this model takes well under a second here, so whether
    # it was cut short or had just finished cannot be told apart reliably; Gradio's cancel does the cutting)
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.locator("#seed-words textarea").fill("the house")
    before = watch_runs(page)
    page.locator("#generate").click()
    try:
        page.locator("#stop").click(timeout=3_000)
    except PlaywrightTimeout:  # it had already finished: then Generate is back by itself
        assert page.evaluate("window.__runs") > before
    expect(page.locator("#generate")).to_be_visible(timeout=2_000)
    assert page.locator("#stop").count() == 0 or not page.locator("#stop").is_visible()
    page.context.close()


# 13 --------------------------------------------------------------------------------------------------------


def test_the_model_tab_speaks_plainly(chromium, server, tiny_checkpoint):
    page = open_app(chromium, server[0])
    page.get_by_role("tab", name="Model").click()
    page.locator("#model-info th").first.wait_for()
    assert page.locator("#model-info th").first.inner_text().strip() == "About this model"
    text = page.locator("#model-explained").inner_text()
    for phrase in ("as unsure as if it had to choose among", "Lower is better", "Kneser-Ney", "'Unknown' rows"):
        assert phrase in text
    epochs = [h["epoch"] for h in lt.load_model(tiny_checkpoint).metrics["history"]]
    ticks = page.locator("#training-curve .x-tick").all_text_contents()
    assert [int(t) for t in ticks] == epochs
    titles = page.locator("#training-curve circle title").all_text_contents()
    assert titles and all(re.fullmatch(r"epoch \d+: (training|validation) loss \d+\.\d{3}", t) for t in titles)
    page.context.close()

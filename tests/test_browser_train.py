"""The Train tab (issue 14) in a real headless Chromium: upload a small file, see what was read, train, stop,
download the model and load it, generate from it; another browser session does not see it."""

from __future__ import annotations

import re
import shutil
import zipfile

import pytest
from conftest import DATA
from test_browser_app import chromium, generate, generated_words, open_app  # noqa: F401 (a fixture)

import lstm_textgen as lt

pytestmark = pytest.mark.slow  # a real Chromium and a training


def test_upload_train_stop_download_and_generate_from_your_model(chromium, server, tmp_path):  # noqa: F811
    from playwright.sync_api import expect

    page = open_app(chromium, server[0])
    assert not page.locator("#model-pick").is_visible()  # one model until the user trains one
    page.get_by_role("tab", name="Train").click()
    upload = tmp_path / "recipes.txt"
    shutil.copy(DATA / "recipes.txt", upload)
    page.locator("#train-file input[type=file]").set_input_files(str(upload))
    preview = page.locator("#train-preview")
    expect(preview).to_contain_text("160 headlines", timeout=30_000)
    expect(preview).to_contain_text("vocabulary")
    expect(page.locator("#train")).to_be_enabled()

    page.locator("#train").click()
    expect(page.locator("#train-status")).to_contain_text("Training", timeout=30_000)
    expect(page.locator("#train-samples")).to_contain_text("What it writes now", timeout=60_000)
    expect(page.locator("#train-curve svg polyline").first).to_be_attached()
    page.locator("#train-stop").click()  # keeps the best model so far
    status = page.locator("#train-status")
    expect(status).to_contain_text("Your model is ready", timeout=60_000)
    expect(status).to_contain_text("was stopped")
    expect(page.locator("#train")).to_be_visible()

    with page.expect_download() as download:
        page.locator("#train-download").click()
    zipped = tmp_path / "model.zip"
    download.value.save_as(zipped)
    with zipfile.ZipFile(zipped) as z:
        z.extractall(tmp_path / "unzipped")
    model = lt.load_model(tmp_path / "unzipped" / "recipes-model")
    recipe_words = {w for t in lt.load_headlines(DATA / "recipes.txt").texts for w in t.split()}
    assert "pancakes" in model.vocab.stoi and set(model.vocab.itos[4:]) <= recipe_words  # past the 4 markers

    page.locator("#use-model").click()
    expect(page.locator("#model-pick")).to_be_visible()
    expect(page.locator("#model-pick input")).to_have_value(re.compile(r"^Your model: recipes\.txt"), timeout=10_000)
    generate(page, "")
    words = {w.lower() for w in generated_words(page)}
    assert words and words <= recipe_words | {"<unk>"}

    other = open_app(chromium, server[0])  # another browser session sees only the bundled model
    assert not other.locator("#model-pick").is_visible()
    other.context.close()
    page.context.close()

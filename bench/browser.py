"""Debian's Chromium as every browser run here starts it (the tests, bench/speed.py, docs/screenshot.py):
headless, no sandbox, nothing that reaches the network on its own. No `playwright install`: it downloads."""

from __future__ import annotations

import os

CHROMIUM = os.environ.get("LSTM_TEXTGEN_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

"""Take the README's screenshot of the app: the bundled model, a fixed seed, a word clicked in the word view.

    python docs/screenshot.py            # writes docs/app.jpg

Needs what the browser tests need: Playwright for Python and Debian's chromium at /usr/bin/chromium.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from browser import CHROMIUM_ARGS

import app
import lstm_textgen as lt


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=str(ROOT / "docs" / "app.jpg"), help="where to write the JPEG (default docs/)")
    p.add_argument("--seed-words", default="north korea", help="what to type (default: north korea)")
    p.add_argument("--seed", default="7", help="the random seed, so the picture can be taken again (default 7)")
    p.add_argument("--chromium", default="/usr/bin/chromium", help="the browser (default /usr/bin/chromium)")
    args = p.parse_args()

    from playwright.sync_api import sync_playwright

    demo, url = app.serve(lt.load_model(lt.default_checkpoint()), port=free_port(), block=False)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1100, "height": 1250})
            page.goto(url, wait_until="load")
            page.locator("#seed-words textarea").fill(args.seed_words)
            page.get_by_text("Advanced", exact=True).click()
            page.locator("#seed textarea, #seed input").first.fill(args.seed)
            page.get_by_text("Advanced", exact=True).click()
            page.locator("#generate").click()
            page.locator("#notices").get_by_text("Random seed used").wait_for(timeout=60_000)
            page.locator("#word-view .token").nth(4).click()  # the second new word: its alternatives
            page.wait_for_timeout(800)
            page.screenshot(path=args.out, type="jpeg", quality=70, full_page=False)
            browser.close()
    finally:
        demo.close()
    print(f"wrote {args.out} ({Path(args.out).stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()

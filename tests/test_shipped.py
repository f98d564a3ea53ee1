"""The model that ships in checkpoints/nyt-headlines, as a user on a fresh machine meets it."""

import json

from conftest import ROOT
from conftest import run_cli as run

SHIPPED = ROOT / "checkpoints" / "nyt-headlines"


def test_every_shipped_file_is_under_10_mb():
    sizes = {f.name: f.stat().st_size for f in SHIPPED.iterdir()}
    assert sizes and all(size < 10 * 1024**2 for size in sizes.values()), sizes


def test_it_prints_headlines_as_the_times_does():
    proc = run(
        "generate", "--checkpoint", SHIPPED, "--prompt", "whats going on", "--temperature", "0", "--max-words", "2"
    )
    assert proc.returncode == 0, proc.stderr
    assert all(line.startswith("What’s Going On") for line in proc.stdout.strip().splitlines()), proc.stdout
    forms = json.loads((SHIPPED / "vocab.json").read_text(encoding="utf-8"))["forms"]
    assert forms["gop"] == "G.O.P." and forms["mr"] == "Mr." and forms["tv"] == "TV"


def test_its_recipe_is_recorded():
    metrics = json.loads((SHIPPED / "metrics.json").read_text())
    assert "--val-data" in metrics["command"] and "--refit" in metrics["command"]
    assert metrics["refit"]["epochs"] == metrics["best"]["epoch"]
    assert metrics["test"]["perplexity"] < metrics["test"]["baselines"]["kn4"]

"""Summarise tuning runs by their VALIDATION perplexity (the test month is never looked at here).

    python bench/tune_report.py runs/tune/*      # one row a run folder (an lstm_textgen checkpoint)

For each vocabulary in use it also fits Kneser-Ney 3-/4-grams on the run's training split and
scores them on its validation split, so every run reads as a ratio against KN on the same tokens.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from kn import KneserNey, perplexities

import lstm_textgen as lt
from lstm_textgen.vocab import BOS_ID, PAD_ID

_kn_cache: dict[tuple, dict[str, float]] = {}


def kn_on_validation(model: lt.HeadlineModel) -> dict[str, float]:
    data = model.metrics["data"]
    key = (tuple(data["paths"]), data["val_percent"], model.vocab.itos)
    if key not in _kn_cache:
        texts = lt.load_headlines(data["paths"]).texts
        train, val = lt.split(texts, data["val_percent"])
        enc = lambda ts: [model.vocab.encode_headline(t.split()) for t in ts]
        tr, va = enc(train), enc(val)
        _kn_cache[key] = {
            f"kn{n}": perplexities(KneserNey(tr, n, len(model.vocab), BOS_ID, [PAD_ID]), va)["ppl"] for n in (3, 4)
        }
    return _kn_cache[key]


def row(path: Path) -> dict:
    model = lt.load_model(path)
    m = model.metrics
    hist = m.get("history", [])
    kn = kn_on_validation(model)
    best = m["best"]["val_ppl"]
    flags = m.get("command", "").split(" --out ")[-1].split(" ", 1)[-1] if m.get("command") else ""
    return {
        "run": path.name,
        "val_ppl": best,
        "best_epoch": m["best"]["epoch"],
        "epochs": len(hist),
        "minutes": sum(h["seconds"] for h in hist) / 60,
        "params": model.num_parameters(),
        "vocab": len(model.vocab),
        "kn4_val_ppl": kn["kn4"],
        "vs_kn4": best / kn["kn4"],
        "flags": flags,
        "stopped": m.get("stopped"),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", help="checkpoint folders of tuning runs")
    p.add_argument("--json", action="store_true", help="JSON rows instead of a markdown table")
    args = p.parse_args()
    rows = [row(Path(r)) for r in args.runs if (Path(r) / "config.json").exists()]
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    print("| run | val ppl | vs KN4 (val) | best epoch / run | minutes | params | vocab | flags |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for r in sorted(rows, key=lambda r: r["val_ppl"]):
        print(
            f"| {r['run']} | {r['val_ppl']:.1f} | {r['vs_kn4']:.3f}x | {r['best_epoch']}/{r['epochs']} | "
            f"{r['minutes']:.1f} | {r['params'] / 1e6:.2f}M | {r['vocab']} | `{r['flags']}` |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Output quality of sampled headlines, per sampling setting: how many copy a training headline
verbatim, distinct-2, how many end on their own (<eos>) before the length cap, and their length
against real headlines, with a few examples of each. bench/results/quality.md explains the app's
default temperature and top-p from these figures.

    python bench/samples.py --checkpoint checkpoints/nyt-headlines --train ../shared/data/nyt [--grid] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import lstm_textgen as lt  # noqa: E402

# 20 varied seed phrases: common openings, topics, question words, rare or unknown words, and none at all
SEEDS = ["", "trump", "the", "how to", "why", "a new", "new york", "china", "what", "after the", "north korea",
         "climate", "women", "the best", "your", "police", "my", "health care", "when the", "banana"]  # fmt: skip
PER_SEED = 10
GRID = [(t, p) for t in (0.6, 0.7, 0.8, 0.9, 1.0) for p in (0.9, 0.95, 1.0)]


def measure(model: lt.HeadlineModel, train: set[str], real_len: float, temperature: float, top_p: float,
            max_words: int, seed: int = 0) -> dict:  # fmt: skip
    texts, ended, lengths = [], 0, []
    for i, prompt in enumerate(SEEDS):
        r = lt.generate(model, prompt, num=PER_SEED, max_words=max_words, temperature=temperature, top_p=top_p,
                        seed=seed + i)  # fmt: skip
        for h in r.headlines:
            words = h.prompt_words + h.words
            texts.append(" ".join(words))
            lengths.append(len(words))
            ended += h.ended
    bigrams = [(a, b) for t in texts for a, b in zip(t.split(), t.split()[1:])]
    return {
        "temperature": temperature,
        "top_p": top_p,
        "headlines": len(texts),
        "copied_share": sum(t in train for t in texts) / len(texts),
        "distinct_2": len(set(bigrams)) / max(1, len(bigrams)),
        "ended_share": ended / len(texts),
        "mean_words": statistics.mean(lengths),
        "real_mean_words": real_len,
        "examples": texts[10:13] + texts[30:32],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", default="checkpoints/nyt-headlines", help="model to sample from")
    p.add_argument("--train", nargs="+", required=True, help="the model's training headlines (to find verbatim copies)")
    d = lt.Options
    p.add_argument("--temperature", type=float, default=d.temperature,
                   help=f"sampling temperature (without --grid; default {d.temperature}, the app's)")  # fmt: skip
    p.add_argument("--top-p", type=float, default=d.top_p, help=f"nucleus size (without --grid; default {d.top_p})")
    p.add_argument("--max-words", type=int, default=d.max_words,
                   help=f"the length cap (default {d.max_words}, the app's)")  # fmt: skip
    p.add_argument("--grid", action="store_true", help="measure a grid of temperatures and top-p values")
    p.add_argument("--json", action="store_true", help="print JSON")
    args = p.parse_args(argv)
    model = lt.load_model(args.checkpoint)
    train = set(lt.load_headlines(args.train).texts)
    real_len = statistics.mean(len(t.split()) for t in train)
    settings = GRID if args.grid else [(args.temperature, args.top_p)]
    rows = [measure(model, train, real_len, t, tp, args.max_words) for t, tp in settings]
    if args.json:
        print(json.dumps({"rows": rows}, indent=1))
        return 0
    print("| temperature | top-p | copied | distinct-2 | ended with <eos> | mean words (real) | examples |")
    print("|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        examples = " / ".join(lt.headline_case(t.split()) for t in r["examples"][:3])
        print(f"| {r['temperature']} | {r['top_p']} | {r['copied_share']:.1%} | {r['distinct_2']:.3f} | "
              f"{r['ended_share']:.1%} | {r['mean_words']:.1f} ({r['real_mean_words']:.1f}) | {examples} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
